"""The adversarial corpus, end to end: no planted value survives anywhere we keep anything.

All cases of ``adversarial.py`` are delivered once per module (their registered values
registered for the whole run), through recording, spans, the real ``ActivitySpanExporter``
and real databases (SQLite and PostgreSQL). Each case then looks for its value, raw and
JSON-escaped and in the forms it names, in its spans (attributes, names, events, status), in
every string of every row of both databases, in every log record (the project's loggers at
DEBUG) and in the exporter's durable storage. Ids name the case, never the value.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from adversarial import CASES, Case, register_all
from opentelemetry.sdk.trace import ReadableSpan
from support import planted, require
from support.database import on_engine, run_async, truncate_all
from support.spans import MEMORY

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_otel.attributes import ACTIVITY_ID
from autobot_activity_otel.secrets import KeyEvent, typed_fields, unregister_secret

CLASSES = {
    "commands",
    "output",
    "exceptions",
    "file-names",
    "seed-parameters",
    "registered",
    "foreign-spans",
    "keystrokes",
    "browser",
    "subprocess",
    "own-logs",
    "own-secrets",
}


@dataclass
class Outcome:
    """Everything the corpus left behind, gathered once."""

    spans: dict[str, list[ReadableSpan]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    databases: dict[str, str] = field(default_factory=dict)
    logs: str = ""
    durable: str = ""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.exc_text or ''}")


@pytest.fixture(scope="module")
def outcome(
    tmp_path_factory: pytest.TempPathFactory, postgres_activity_url: str | None
) -> Iterator[Outcome]:
    result = Outcome()
    records = _Records()
    logging.getLogger().addHandler(records)
    ids = register_all()
    try:
        MEMORY.clear()
        for case in CASES:
            before = len(MEMORY.get_finished_spans())
            try:
                case.deliver()
            except Exception as exc:  # a broken case must fail its test, not the corpus
                result.errors[case.name] = type(exc).__name__
            result.spans[case.name] = list(MEMORY.get_finished_spans()[before:])
        every = list(MEMORY.get_finished_spans())
        urls = {"sqlite": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('corpus') / 'a.db'}"}
        require(postgres_activity_url is not None, "PostgreSQL not reachable on 127.0.0.1:5432")
        if postgres_activity_url is not None:
            planted.archive_database(postgres_activity_url)
            run_async(on_engine(postgres_activity_url, truncate_all))
            urls["postgresql"] = postgres_activity_url
        for dialect, url in urls.items():
            exporter = ActivitySpanExporter(url, timeout=120)
            try:
                exporter.export(every)
            finally:
                exporter.shutdown()
            result.databases[dialect] = "\n".join(planted.database_strings(url))
            if dialect == "postgresql":
                planted.archive_database(url)  # the end-of-run sweep sees these rows too
        result.logs = "\n".join(records.lines)
        result.durable = "\n".join(_durable_texts())
        yield result
    finally:
        logging.getLogger().removeHandler(records)
        for secret_id in ids:
            unregister_secret(secret_id)
        MEMORY.clear()


def _durable_texts() -> Iterator[str]:
    for root in planted.durable_storage():
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    yield path.read_bytes().decode("utf-8", "replace")


def _span_strings(spans: list[ReadableSpan]) -> Iterator[str]:
    for span in spans:
        yield span.name
        if span.status.description:
            yield span.status.description
        for key, value in (span.attributes or {}).items():
            yield key
            yield from _values(value)
        for event in span.events:
            yield event.name
            for key, value in (event.attributes or {}).items():
                yield key
                yield from _values(value)


def _values(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, tuple | list):
        for item in value:
            yield from _values(item)


_KEY_TOKEN = re.compile(r"<([^<>\n]{1,40})>|(.)", re.DOTALL)


def _replayed(text: str) -> list[str]:
    """Stored typed text replayed as key events: what a reader could rebuild from it (a
    modifier shown alone applies to the key after it)."""
    events: list[KeyEvent | str] = []
    held = ""
    for match in _KEY_TOKEN.finditer(text):
        name, char = match.group(1), match.group(2)
        if name is not None and name.lower().startswith(("shift", "lshift", "rshift")):
            held = "shift-"
            continue
        events.append(f"{held}{char}" if char and held else (name or char))
        held = ""
    return typed_fields(events)


def _where(case: Case, result: Outcome) -> list[str]:
    forms = planted.text_forms(case.secret) | set(case.forms)
    places: dict[str, str] = dict(result.databases)
    if not case.foreign:
        places["spans"] = "\n".join(_span_strings(result.spans[case.name]))
    places["logs"] = result.logs
    places["durable storage"] = result.durable
    found = [place for place, text in places.items() if planted.found_in(text, forms)]
    if case.keystrokes:
        for place, text in places.items():
            if any(case.secret in field for field in _replayed(text)):
                found.append(f"{place} (replayed keystrokes)")
    return found


def test_the_corpus_is_large_and_covers_every_class() -> None:
    assert len(CASES) >= 300
    assert {case.kind for case in CASES} == CLASSES
    assert len({case.name for case in CASES}) == len(CASES)
    assert len({case.secret for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_the_planted_value_is_nowhere(case: Case, outcome: Outcome) -> None:
    if case.name in outcome.errors:
        raise RuntimeError(f"the case failed to deliver: {outcome.errors[case.name]}")
    spans = outcome.spans[case.name]
    assert spans, "the case recorded nothing"
    activity_ids = [
        uuid.UUID(str(span.attributes[ACTIVITY_ID]))
        for span in spans
        if span.attributes and ACTIVITY_ID in span.attributes
    ]
    for dialect, text in outcome.databases.items():
        stored = [str(i) in text or i.hex in text for i in activity_ids]  # SQLite keeps hex
        assert all(stored), f"no row in {dialect}"
    found = _where(case, outcome)
    assert not found, f"planted value of {case.name} found in: {', '.join(found)}"


def test_a_leaked_value_is_found_where_it_is() -> None:
    """The search itself works: a value put in each place is found there, named by place."""
    value = str(uuid.uuid4())
    marked = Outcome(
        spans={"probe": []},
        databases={"sqlite": f"x{value}y"},
        logs=value,
        durable=f'"{value}"',
    )
    assert _where(Case("probe", "commands", value, lambda: None), marked) == [
        "sqlite",
        "logs",
        "durable storage",
    ]
