"""The planted-secret sweep: no planted or registered value is stored, spooled or logged.

Values come from three places: ``PLANTED`` (the literals tests plant in commands, fields and
outputs, each passed through ``plant``), every value registered with the
secret registry during the run (``tests/conftest.py`` records them), and the positive cases
of the secret corpus. At the end of the run ``conftest.pytest_sessionfinish`` searches the
archives of every test database (``archive_database``: each database's rows, written before
it is truncated or dropped), the session's state, spool and log folder and pytest's
temporary folders (SQLite files, journals and their quarantines, logs) for each value, raw
and JSON-escaped. It reports the file and the value's number, never the value, and fails the
run; so does a database that could not be archived (``archive_errors``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from autobot_activity_otel import settings

PLANTED: set[str] = set()
"""Values tests plant: each test module passes its literals through ``plant()``."""
_archive_errors: list[str] = []
_registered: set[str] = set()
_origins: dict[str, str] = {}
"""Value -> the test that planted or registered it first: a sweep failure names it."""
_lock = threading.Lock()
MIN_LENGTH = 8
MIN_DISTINCT = 5
ARCHIVE: Path | None = None
"""Where ``archive_database`` writes (the session's folder, set by tests/conftest.py)."""
_CORPUS = Path(__file__).parents[1] / "secrets" / "secret_corpus.py"
_CHUNK = 8 * 1024 * 1024


def plant(value: str) -> str:
    """Add a value to the sweep (for values made up at run time); returns it."""
    with _lock:
        PLANTED.add(value)
        _origins.setdefault(value, f"planted {_during()}")
    return value


def durable_storage() -> list[Path]:
    """Where the exporter keeps what it has not delivered yet, on disk: the one place tests
    look for it (the journal, its quarantine, and the rest of the state folder)."""
    return [settings.journal_dir(), settings.state_dir()]


def record_registered(value: object) -> None:
    """Remember a value given to the secret registry, if it is distinctive enough to sweep.

    Property tests register short or repetitive strings (``0000``, ``aaaaaaaa``) that occur
    in any database file by chance; those would only make the sweep cry wolf.
    """
    if isinstance(value, str) and sweepable(value):
        with _lock:
            _registered.add(value)
            _origins.setdefault(value, f"registered {_during()}")


def origin(value: str) -> str:
    """Where a value came from, and its length (never the value): for a sweep report."""
    with _lock:
        where = _origins.get(value, "from the labelled corpus")
    return f"{len(value)} characters, {where}"


def _during() -> str:
    test = os.environ.get("PYTEST_CURRENT_TEST")
    return f"during {test.rsplit(' ', 1)[0]}" if test else "at import"


def sweepable(value: str) -> bool:
    return len(value) >= MIN_LENGTH and len(set(value)) >= MIN_DISTINCT and value.isprintable()


def values() -> list[str]:
    """Every value the sweep looks for, in a stable order (reports name them by index)."""
    with _lock:
        found = PLANTED | _registered
    return sorted(found | _corpus_secrets())


def _corpus_secrets() -> set[str]:
    spec = importlib.util.spec_from_file_location("planted_secret_corpus", _CORPUS)
    if spec is None or spec.loader is None:
        return set()
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    if spec.name not in sys.modules:
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return {case.secret for case in module.POSITIVES if case.secret and sweepable(case.secret)}


# --- where values could end up ---


def database_strings(url: str) -> list[str]:
    """Every string of every row of every table of the database at ``url`` (JSON unpacked)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return list(_sqlite_strings(parsed.database))
    found: list[str] = _run(_postgres_strings(parsed.host, parsed.port, parsed.database))
    return found


def archive_database(url: str, folder: Path | None = None) -> None:
    """Write every string of every row of the database at ``url`` to a new file in ``folder``.

    Called before a test database is truncated or dropped, so the sweep sees the whole run's
    rows. Strings are written as stored (JSON documents unpacked), one per line. A database
    that cannot be read is remembered (``archive_errors``): the sweep must not pass blind.
    """
    try:
        _archive(url, folder)
    except Exception as exc:
        where = make_url(url).render_as_string(hide_password=True)
        with _lock:
            _archive_errors.append(f"{where}: {type(exc).__name__}")


def archive_errors() -> list[str]:
    """The databases that could not be archived during the run (URL without password)."""
    with _lock:
        return list(_archive_errors)


def _archive(url: str, folder: Path | None) -> None:
    parsed = make_url(url)
    strings = database_strings(url)
    folder = folder or ARCHIVE
    if not strings or folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with _lock:
        number = len(list(folder.iterdir()))
        target = folder / f"{number:05d}-{parsed.get_backend_name()}.txt"
        target.write_text("\n".join(strings), encoding="utf-8", errors="surrogatepass")


def _sqlite_strings(database: str | None) -> Iterator[str]:
    if not database or not Path(database).exists():
        return
    connection = sqlite3.connect(database)
    try:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        for (table,) in tables.fetchall():
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    yield from _strings(value)
    finally:
        connection.close()


async def _postgres_strings(host: str | None, port: int | None, database: str | None) -> list[str]:
    connection = await asyncpg.connect(host=host, port=port, user="postgres", database=database)
    try:
        tables = await connection.fetch(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        )
        found: list[str] = []
        for schema, table in tables:
            rows = await connection.fetch(f'SELECT to_jsonb(t)::text FROM "{schema}"."{table}" t')
            for (document,) in rows:
                found.extend(_strings(json.loads(document)))
        return found
    finally:
        await connection.close()


def _strings(value: Any) -> Iterator[str]:
    """The string leaves of a value; a string holding a JSON document is unpacked too."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        yield value
        if value[:1] in ("{", "["):
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(value))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _run(coroutine: Any) -> Any:
    """Run a coroutine from sync code, even when called inside a running event loop; its
    exception is raised here."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(coroutine))
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


# --- the search ---


def find_leaks(roots: Iterable[Path], planted: Sequence[str]) -> list[str]:
    """``"<file>: planted value #<n>"`` for each value found in a file under ``roots``.

    Values are searched raw (UTF-8) and JSON-escaped, with one compiled pattern per run. A
    short value made of hex digits only (a PIN, a one-time code) counts only where no other
    hex digit touches it and no decimal point precedes it: inside a run of hex (a digest, a
    UUID) or a fraction (a timestamp's microseconds) it is there by chance, as any six digits
    are somewhere in a few megabytes of digests and timestamps.
    """
    forms: dict[bytes, int] = {}
    for index, value in enumerate(planted):
        for form in _forms(value):
            forms.setdefault(form, index)
    if not forms:
        return []
    hexlike = sorted(form for form in forms if _alone_only(form))
    rest = sorted(set(forms) - set(hexlike))
    branches = [_trie(rest)] if rest else []
    if hexlike:
        branches.append(_STANDING_ALONE % _trie(hexlike))
    pattern = re.compile(b"|".join(branches))
    overlap = max(map(len, forms))
    leaks = []
    for path in _files(roots):
        for index in sorted({forms[match] for match in _matches(path, pattern, overlap)}):
            leaks.append(f"{path}: planted value #{index}")
    return leaks


_HEX_RUN = re.compile(rb"[0-9A-Fa-f]+")
_STANDING_ALONE = rb"(?<![0-9A-Fa-f.])(?:%b)(?![0-9A-Fa-f])"


def _alone_only(form: bytes) -> bool:
    """A short form of hex digits only counts where it stands alone (see ``find_leaks``)."""
    return len(form) < 16 and _HEX_RUN.fullmatch(form) is not None


def found_in(text: str, forms: Iterable[str]) -> bool:
    """Whether any form is in ``text``, by ``find_leaks``'s rule (a per-case check)."""
    data = text.encode("utf-8", "surrogatepass")
    for form in forms:
        needle = form.encode("utf-8", "surrogatepass")
        if _alone_only(needle):
            if re.search(_STANDING_ALONE % re.escape(needle), data):
                return True
        elif needle in data:
            return True
    return False


def _trie(needles: Sequence[bytes]) -> bytes:
    """One regex for many literals, shared prefixes merged, so a scan costs one pass."""
    root: dict[int, Any] = {}
    for needle in needles:
        node = root
        for byte in needle:
            node = node.setdefault(byte, {})
        node[-1] = {}  # a needle ends here

    def render(node: dict[int, Any]) -> bytes:
        branches = []
        for byte, child in node.items():
            if byte == -1:
                continue
            run = bytearray([byte])
            while len(child) == 1 and -1 not in child:  # a chain: no recursion per byte
                ((next_byte, child),) = child.items()
                run.append(next_byte)
            branches.append(re.escape(bytes(run)) + render(child))
        if not branches:
            return b""
        body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
        if -1 in node:  # a needle ends here: the longer ones may go on
            return b"(?:" + body + b")?"
        return body

    return render(root)


def text_forms(value: str) -> set[str]:
    """The forms a stored value would take: raw and JSON-escaped."""
    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}


def _forms(value: str) -> set[bytes]:
    raw = value.encode("utf-8", "surrogatepass")
    escaped = json.dumps(value)[1:-1].encode("ascii")
    unicode_escaped = json.dumps(value, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass")
    return {raw, escaped, unicode_escaped}


def _files(roots: Iterable[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_file():
            yield root
        elif root.is_dir():
            yield from (path for path in sorted(root.rglob("*")) if path.is_file())


def _matches(path: Path, pattern: re.Pattern[bytes], overlap: int) -> set[bytes]:
    """Every needle in the file, read in chunks that overlap by the longest needle."""
    found: set[bytes] = set()
    try:
        with path.open("rb") as handle:
            tail = b""
            while chunk := handle.read(_CHUNK):
                data = tail + chunk
                found.update(match.group() for match in pattern.finditer(data))
                tail = data[-overlap:]
    except OSError:
        pass
    return found
