"""Which database failures are a row's fault, and how a batch gets past a bad row.

A failure is *permanent* when the database (or the driver, before sending) refuses a value:
retrying the same row can never succeed, so it is isolated and quarantined. Everything else
(connection refused or reset, timeouts, a missing table, a lock, an unknown error) is
*transient*: the batch is kept and retried, because losing it would be worse than waiting.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Awaitable, Callable, Iterator

from sqlalchemy import exc as sa_exc

from autobot_activity_exporters.rows import ActivityRows

PERMANENT_SQLSTATE_CLASSES = frozenset({"22", "23", "54"})
"""Data exception, integrity constraint violation, program limit exceeded (PostgreSQL)."""
_REFUSED = (sa_exc.IntegrityError, sa_exc.DataError, sqlite3.IntegrityError, sqlite3.DataError)
"""The database's refusals of a value (where no SQLSTATE says more)."""
_UNENCODABLE = (TypeError, ValueError, OverflowError, AttributeError)
"""A driver's refusals of a value while encoding it (asyncpg's client-side ``DataError`` is a
``ValueError``); raised by our own code instead, they are a bug, not bad data."""


class NotDelivered(RuntimeError):
    """A destination's transient failure that it explains itself (the ingest service's answer):
    the message names the cause and never a value, and is shown as it is; ``retry_after`` is
    the least wait the destination asked for, in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps (SQLAlchemy's ``orig``, then explicit causes)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = getattr(current, "orig", None) or current.__cause__


def sqlstate(error: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE (or SQLite error name) anywhere in the chain."""
    for current in _chain(error):
        code = getattr(current, "sqlstate", None) or getattr(current, "sqlite_errorname", None)
        if isinstance(code, str):
            return code
    return None


def is_permanent(error: BaseException) -> bool:
    """Whether the database refuses this data whatever happens (see the module docstring).

    PostgreSQL says so through the SQLSTATE class; elsewhere the exception types decide. A
    bug of ours must not quarantine every row, so an encoding error only counts when it
    comes from the driver layer (wrapped by SQLAlchemy, or raised by asyncpg).
    """
    code = sqlstate(error)
    if code is not None and not code.startswith("SQLITE"):
        return code[:2] in PERMANENT_SQLSTATE_CLASSES
    chain = list(_chain(error))
    if any(isinstance(current, _REFUSED) for current in chain):
        return True
    from_driver = any(
        isinstance(current, sa_exc.StatementError) or type(current).__module__.startswith("asyncpg")
        for current in chain
    )
    return from_driver and any(isinstance(current, _UNENCODABLE) for current in chain)


_NAMED_CAUSE_CLASSES = frozenset({"08", "0A", "28", "3D", "3F", "42", "53", "55", "57"})
"""SQLSTATE classes whose server message names a cause, not a value: connection, feature,
authorisation, catalog, schema, syntax/privilege/undefined object, resources, state,
operator intervention. (A data exception's message can quote the value: never shown.)"""
_MAX_CAUSE_CHARS = 200


def explain(error: BaseException) -> str:
    """What went wrong, for a person: ``describe`` plus the cause where it holds no value
    (an OS error's text, a connection or catalog error's server message), and a hint.

    Never a password: URLs are not part of these messages, and the caller's own URL is
    shown through ``database.safe_url``.
    """
    cause = None
    for current in _chain(error):
        if isinstance(current, NotDelivered):
            return str(current)
        code = getattr(current, "sqlstate", None)
        if isinstance(code, str) and code[:2] in _NAMED_CAUSE_CLASSES:
            cause = str(current)
            if code == "42P01":
                cause += " (has `autobot-activity db upgrade` run?)"
            break
        if isinstance(current, sqlite3.OperationalError):  # no such table, locked, unopenable
            cause = str(current)
            if cause.startswith("no such table"):
                cause += " (has `autobot-activity db upgrade` run?)"
            break
        if isinstance(current, ModuleNotFoundError):
            cause = f"module {current.name} is not installed"
            break
        if isinstance(current, TimeoutError):
            cause = str(current) or "timed out"
            break
        if isinstance(current, OSError):
            cause = current.strerror or str(current)
            break
    described = describe(error)
    if not cause:
        return described
    return f"{described}: {cause.strip()[:_MAX_CAUSE_CHARS]}"


def describe(error: BaseException) -> str:
    """A reason without values: the exception types down the chain and the SQLSTATE."""
    types = list(dict.fromkeys(type(current).__name__ for current in _chain(error)))
    code = sqlstate(error)
    return " <- ".join(types) + (f" (SQLSTATE {code})" if code else "")


async def deliver(
    batch: list[ActivityRows],
    write: Callable[[list[ActivityRows]], Awaitable[None]],
    quarantine: Callable[[ActivityRows, str], None],
) -> None:
    """Write the batch; on a permanent failure split it, so only the bad activity is set aside.

    A transient failure propagates (the caller keeps the batch). Each half is its own
    transaction, so k bad rows in n cost O(k log n) extra round trips, and a half written
    before a later transient failure is written again harmlessly (inserts are idempotent).
    """
    try:
        await write(batch)
    except Exception as error:
        if not is_permanent(error):
            raise
        if len(batch) == 1:
            quarantine(batch[0], describe(error))
            return
        middle = len(batch) // 2
        await deliver(batch[:middle], write, quarantine)
        await deliver(batch[middle:], write, quarantine)


def backoff(failures: int, base: float, cap: float) -> float:
    """Seconds to wait after ``failures`` failures in a row: exponential, "equal jitter"."""
    ceiling = min(cap, base * 2.0 ** min(failures, 32))
    return ceiling / 2 + random.uniform(0, ceiling / 2)
