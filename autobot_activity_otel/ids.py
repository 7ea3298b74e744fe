"""Time-ordered activity ids (UUIDv7, RFC 9562), generated on the client.

A client-generated id makes every write idempotent: the exporter, a replay and a direct
``db=`` write of the same activity all insert the same primary key.
"""

import os
import time
import uuid

_last_ms = 0
_counter = 0


def new_activity_id() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter and 62 random bits."""
    global _last_ms, _counter
    ms = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10))
    if ms > _last_ms:
        _last_ms, _counter = ms, random >> 70  # a random start in the lower 10 bits
    else:  # same millisecond (or a clock step back): keep ids increasing within this process
        ms, _counter = _last_ms, _counter + 1
    rand_b = random & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76 | (_counter & 0xFFF) << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def parse_uuid(value: object, what: str) -> uuid.UUID:
    """Coerce an id given by a caller, or raise a ``ValueError`` that says which one is wrong."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"{what} must be a UUID, got a {type(value).__name__}") from None
