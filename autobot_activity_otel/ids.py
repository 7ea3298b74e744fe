"""Time-ordered activity ids (UUIDv7, RFC 9562), generated on the client.

A client-generated id makes every write idempotent: the exporter, a replay and a direct
``db=`` write of the same activity all insert the same primary key.
"""

import os
import threading
import time
import uuid

_last_ms = 0
_counter = 0
_RANDOM_IDS = 256
"""Ids' worth of random bits read from the OS at once (one ``getrandom`` per 256 ids)."""
_random = ""
_offset = 0
_lock = threading.Lock()


def new_activity_id() -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then a 12-bit counter and 62 random bits."""
    return uuid.UUID(new_activity_text())


def new_activity_text() -> str:
    """A new UUIDv7 in its canonical text form, built without a ``uuid.UUID`` (the span
    attribute is text, and most activities never need the object)."""
    global _last_ms, _counter, _random, _offset, _stamp
    ms = time.time_ns() // 1_000_000
    with _lock:
        start = _offset
        if start >= len(_random):  # 80 random bits (20 hex digits) per id
            _random, start = os.urandom(10 * _RANDOM_IDS).hex(), 0
            if not _fork_hook:  # registered with the first bits there are to forget
                os.register_at_fork(after_in_child=_forget_random_bits)
                _fork_hook.append(True)
        _offset = start + 20
        random = _random[start : start + 20]
        if ms > _last_ms:
            _last_ms, _counter = ms, int(random[:3], 16) & 0x3FF  # a random start, low 10 bits
        else:  # same millisecond (or a clock step back): keep ids increasing in this process
            ms, _counter = _last_ms, _counter + 1
        counter = _counter & 0xFFF
    stamp = _stamp  # one object: a thread that rebinds it meanwhile cannot mix two milliseconds
    if stamp[0] != ms:
        digits = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
        stamp = _stamp = (ms, f"{digits[:8]}-{digits[8:]}-7")
    # 64 random bits after the counter's: the variant keeps the low 2 of the first digit
    return f"{stamp[1]}{counter:03x}-{_VARIANT[random[4]]}{random[5:8]}-{random[8:20]}"


_VARIANT = {digit: "89ab"[int(digit, 16) & 0x3] for digit in "0123456789abcdef"}
"""RFC 9562 variant ``10``: the first digit of the fourth group is 8, 9, a or b."""
_fork_hook: list[bool] = []
"""Whether ``_forget_random_bits`` is registered (once per process, not at import)."""
_stamp: tuple[int, str] = (-1, "")
"""The last millisecond and its text (``01a231d9-363a-7``): ids come in bursts."""


def _forget_random_bits() -> None:
    """A forked child reads its own random bits, never its parent's."""
    global _random, _offset
    _random, _offset = "", 0


def parse_uuid(value: object, what: str) -> uuid.UUID:
    """Coerce an id given by a caller, or raise a ``ValueError`` that says which one is wrong."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise ValueError(f"{what} must be a UUID, got a {type(value).__name__}") from None
