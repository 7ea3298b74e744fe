"""``autobot-activity serve`` as a real process, logged in as the append-only writer, on the
real PostgreSQL. Senders: the SDK's own OTLP/HTTP exporter in an application process of its
own (which holds no database URL), or plain HTTP requests whose bodies the SDK's encoder built.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import requests
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from support import planted, require
from support.browser_site import CHROMIUM_ARGS, CHROMIUM_MISSING, chromium_installed
from support.browser_site import serve as serve_site
from support.database import PG_HOST, PG_PORT, on_engine, pg_available, run_async, truncate_all
from support.ingest import (
    CLI,
    JSON,
    PROTOBUF,
    WRITER_LOGIN,
    ServiceProcess,
    app_report,
    as_login,
    ensure_writer_login,
    json_body,
    make_token,
    outdated_database,
    partial_success,
    protobuf_body,
    run_app,
    run_app_logged,
    service_env,
    start_app,
)
from support.spans import SpanCapture
from support.tcp_proxy import TcpProxy

from autobot_activity_exporters.integrity.verify import verify
from autobot_activity_exporters.journal import JournalDirectory
from autobot_activity_exporters.models import ACTIVITY_TABLES
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.ids import new_activity_id
from autobot_activity_otel.recording import ActivityRecord

ORG = uuid.UUID("0195f000-0000-7000-8000-0000000c0101")
OTHER_ORG = uuid.UUID("0195f000-0000-7000-8000-0000000c0102")
TEAM = uuid.UUID("0195f000-0000-7000-8000-0000000c0201")
USER = uuid.UUID("0195f000-0000-7000-8000-0000000c0001")
PASSWORD = planted.plant("Ingest-Service-planted-Pw-5150")


@dataclass(frozen=True)
class Tokens:
    path: Path
    team: str
    """For ``ORG`` and its team ``TEAM``."""
    other: str
    """For ``OTHER_ORG``."""


@pytest.fixture
def database(postgres_activity_url: str | None) -> Iterator[str]:
    """The session's database (migrated by its owner), emptied; the owner's URL."""
    require(postgres_activity_url is not None, "PostgreSQL not reachable on 127.0.0.1:5432")
    assert postgres_activity_url is not None
    ensure_writer_login()
    planted.archive_database(postgres_activity_url)
    run_async(on_engine(postgres_activity_url, truncate_all))
    yield postgres_activity_url
    planted.archive_database(postgres_activity_url)


@pytest.fixture
def tokens(tmp_path: Path) -> Tokens:
    path = tmp_path / "tokens.toml"
    team = planted.plant(make_token(path, "agents-team", ORG, [TEAM]))
    other = planted.plant(make_token(path, "agents-other-org", OTHER_ORG))
    return Tokens(path, team, other)


@pytest.fixture
def service(database: str, tokens: Tokens, tmp_path: Path) -> Iterator[ServiceProcess]:
    process = ServiceProcess(as_login(database, WRITER_LOGIN), tokens.path, tmp_path).start()
    yield process
    assert process.stop() == 0, process.output()[-3000:]


def stored(url: str) -> dict[uuid.UUID, dict[str, Any]]:
    """Every activity row, by id, with its table under ``"table"``."""

    async def fetch(engine: AsyncEngine) -> dict[uuid.UUID, dict[str, Any]]:
        rows: dict[uuid.UUID, dict[str, Any]] = {}
        async with engine.connect() as connection:  # postgres is a superuser: no RLS
            for table in ACTIVITY_TABLES.values():
                for row in await connection.execute(select(table)):
                    assert row.id not in rows, "an activity stored twice"
                    rows[row.id] = {**row._mapping, "table": table.name}
        return rows

    return run_async(on_engine(url, fetch))


def count_rows(url: str) -> int:
    return len(stored(url))


def terminal_spans(spans: SpanCapture, count: int = 1, **context: Any) -> list[ReadableSpan]:
    spans.clear()
    with activity_context(user_id=USER, session_id="svc", **context):
        for index in range(count):
            record = ActivityRecord(ActivityType.TERMINAL, "execute")
            record.set_text(attr.PROCESS_COMMAND_LINE, f"make step-{index}", "command")
            record.set(attr.PROCESS_EXIT_CODE, 0)
            record.end()
    return spans.activities()


def stored_once_each(url: str, report: dict[str, Any], session: str) -> dict[uuid.UUID, Any]:
    """The rows of an application's terminal, file and browser activities: exactly one each,
    attributed to its user and session and to the token's org and team."""
    sent = {uuid.UUID(key): value for key, value in report["activities"].items()}
    assert {"terminal", "file", "browser"} <= set(sent.values())
    rows = stored(url)
    assert set(rows) == set(sent)  # exactly one row each (stored() refuses a second)
    for activity_id, activity_type in sent.items():
        row = rows[activity_id]
        assert row["table"] == f"{activity_type}_activities"
        assert (row["user_id"], row["session_id"]) == (USER, session)
        assert (row["org_id"], row["team_id"]) == (ORG, TEAM)  # the org from the token
    return rows


def ids_of(spans: list[ReadableSpan]) -> set[uuid.UUID]:
    return {uuid.UUID(str((span.attributes or {})[attr.ACTIVITY_ID])) for span in spans}


def app_env(tmp_path: Path) -> dict[str, str]:
    """The application's environment: no ``AUTOBOT_ACTIVITY_DATABASE_URL``, no token."""
    env = service_env(tmp_path / "app-state")
    assert not any("DATABASE_URL" in name for name in env)
    return env


# --- the application process, through the SDK's OTLP/HTTP exporter ---


def test_an_application_sends_terminal_file_and_browser_activities(
    service: ServiceProcess, database: str, tokens: Tokens, tmp_path: Path
) -> None:
    require(chromium_installed(), CHROMIUM_MISSING)
    workdir = tmp_path / "agent"
    workdir.mkdir()
    with serve_site() as site:
        report = run_app(
            {
                "mode": "activities",
                "endpoint": f"{service.url}/v1/traces",
                "token": tokens.team,
                "gzip": True,
                "context": {"user_id": str(USER), "session_id": "chat-7", "team_id": str(TEAM)},
                "workdir": str(workdir),
                "site": site,
                "chromium_args": CHROMIUM_ARGS,
            },
            app_env(tmp_path),
        )
    assert report["environment_has_database_url"] is False
    assert report["child_saw_token"] is False and report["child_saw_database_url"] is False
    rows = stored_once_each(database, report, "chat-7")
    assert any(row.get("command") == "env" for row in rows.values())


# --- what the OTLP/HTTP specification asks of a receiver ---


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("media", [PROTOBUF, JSON])
def test_protobuf_and_json_bodies_are_stored_and_answered_alike(
    service: ServiceProcess,
    database: str,
    tokens: Tokens,
    spans: SpanCapture,
    media: str,
    gzipped: bool,
) -> None:
    sent = terminal_spans(spans, 3)
    body = protobuf_body(sent) if media == PROTOBUF else json_body(sent)
    response = service.post(body, tokens.team, media, gzipped=gzipped)
    assert response.status_code == 200
    assert response.headers["content-type"] == media
    assert partial_success(response) == (0, "")  # full success: partial_success unset
    if media == PROTOBUF:
        assert response.content == b""
    rows = stored(database)
    assert set(rows) == ids_of(sent)
    assert {row["org_id"] for row in rows.values()} == {ORG}


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer autobot_ingest_not-a-real-token", "Basic dXNlcjpwdw==", "Bearer"],
    ids=["none", "unknown", "basic", "empty"],
)
def test_without_a_valid_token_401_and_nothing_is_stored(
    service: ServiceProcess, database: str, spans: SpanCapture, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = service.post(protobuf_body(terminal_spans(spans)), None, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROTOBUF
    assert count_rows(database) == 0


def test_a_span_claiming_another_org_is_rejected_and_the_rest_stored(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    forged = terminal_spans(spans, 1, org_id=OTHER_ORG)
    own = terminal_spans(spans, 1, org_id=ORG)
    unattributed = terminal_spans(spans, 1)
    other_team = terminal_spans(spans, 1, org_id=ORG, team_id=uuid.UUID(int=0xBAD))
    for media, body in ((PROTOBUF, protobuf_body), (JSON, json_body)):
        response = service.post(
            body([*forged, *own, *unattributed, *other_team]), tokens.team, media
        )
        rejected, message = partial_success(response)
        assert rejected == 2, message
        assert "org other than the token's" in message and "team the token is not for" in message
    rows = stored(database)
    assert set(rows) == ids_of(own) | ids_of(unattributed)
    assert {row["org_id"] for row in rows.values()} == {ORG}


def test_non_activity_spans_are_ignored_not_rejected(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    sent = terminal_spans(spans, 1)
    with trace.get_tracer("tests").start_as_current_span("GET /health"):
        pass
    assert len(spans.all()) == 2
    response = service.post(protobuf_body(spans.all()), tokens.team)
    assert partial_success(response) == (0, "")
    assert set(stored(database)) == ids_of(sent)


def test_the_service_re_checks_what_a_sender_did_not_redact(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """A sender in another language sets the command line raw: the service redacts it."""
    spans.clear()
    span = trace.get_tracer("a-sender").start_span(
        "terminal execute",
        attributes={
            attr.ACTIVITY_TYPE: "terminal",
            attr.ACTIVITY_ID: str(new_activity_id()),
            attr.ACTIVITY_ACTION: "execute",
            attr.PROCESS_COMMAND_LINE: f"mysql -uroot -p{PASSWORD} shop",
        },
    )
    span.end()
    assert partial_success(service.post(protobuf_body(spans.all()), tokens.team)) == (0, "")
    [row] = stored(database).values()
    assert PASSWORD not in row["command"] and "mysql -uroot -p" in row["command"]


def test_a_secret_sent_as_bytes_is_redacted_not_stored_as_base64(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """OTLP bytes values (other SDKs send them) are read as the text they hold: as base64
    the redaction would not see the token, and the row would keep it one decode away."""
    made_up = planted.plant("ghp_" + secrets.token_hex(18))
    request = ExportTraceServiceRequest.FromString(protobuf_body(terminal_spans(spans, 1)))
    blob = request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="app.blob")
    blob.value.bytes_value = f"pushed with {made_up}".encode()
    response = service.post(request.SerializeToString(), tokens.team)
    assert partial_success(response) == (0, "")
    [row] = stored(database).values()
    redacted = row["metadata"]["app.blob"].startswith("pushed with [REDACTED")
    encoded = base64.b64encode(made_up.encode()).decode()[:40]
    hidden = encoded not in json.dumps(row, default=str)
    assert redacted and hidden  # booleans: a failure prints no value


def test_a_session_id_too_long_to_index_is_rejected_before_the_database(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """PostgreSQL refuses the index entry only at the write, failing the transaction of
    every request grouped with it: each such span cost a split (measured: 300 in a request
    held the worker's commits for 1.5 s)."""
    sent = terminal_spans(spans, 1)
    too_long = ExportTraceServiceRequest.FromString(protobuf_body(terminal_spans(spans, 1)))
    session = too_long.resource_spans[0].scope_spans[0].spans[0].attributes.add(key=attr.SESSION_ID)
    session.value.string_value = secrets.token_hex(1500)  # random: an index cannot compress it
    too_long.MergeFrom(ExportTraceServiceRequest.FromString(protobuf_body(sent)))
    rejected, message = partial_success(service.post(too_long.SerializeToString(), tokens.team))
    assert rejected == 1 and "session.id is longer than 1024 bytes" in message
    assert set(stored(database)) == ids_of(sent)


def test_metadata_nested_too_deep_is_rejected_not_retried_for_ever(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """400 levels mapped, then failed the writer's transaction like an outage: 503 for the
    request and everything committed with it, sent again and failing again for ever."""
    sent = terminal_spans(spans, 1)
    deep = ExportTraceServiceRequest.FromString(protobuf_body(terminal_spans(spans, 1)))
    metadata = (
        deep.resource_spans[0].scope_spans[0].spans[0].attributes.add(key=attr.ACTIVITY_METADATA)
    )
    metadata.value.string_value = '{"a": ' + "[" * 400 + "]" * 400 + "}"
    deep.MergeFrom(ExportTraceServiceRequest.FromString(protobuf_body(sent)))
    rejected, message = partial_success(service.post(deep.SerializeToString(), tokens.team))
    assert rejected == 1 and "nested deeper than 64 levels" in message
    assert set(stored(database)) == ids_of(sent)


def test_a_request_being_mapped_keeps_no_other_request_waiting(
    service: ServiceProcess, tokens: Tokens, spans: SpanCapture
) -> None:
    """A request's mapping (its redaction re-check) pauses for the event loop: text dense with
    secrets takes about a second a MiB, and meanwhile every other request, another
    tenant's or ``/healthz``, waited for the whole of it (16 MiB: 15 s). Here ``/healthz``
    answers again and again while such a request is mapped; its spans are refused after
    their redaction (a ``session.id`` too long), so no commit follows the mapping."""
    heavy = ExportTraceServiceRequest.FromString(protobuf_body(terminal_spans(spans, 15)))
    for span in heavy.resource_spans[0].scope_spans[0].spans:
        span.attributes.add(key=attr.SESSION_ID).value.string_value = "s" * 2000
        for number in range(2):
            note = span.attributes.add(key=f"app.note{number}")
            note.value.string_value = "password=x " * 4000
    done = threading.Event()

    def send() -> None:
        rejected, _ = partial_success(service.post(heavy.SerializeToString(), tokens.team))
        assert rejected == 15
        done.set()

    sender = threading.Thread(target=send)
    sender.start()
    answered_meanwhile = 0
    while not done.is_set() and sender.is_alive():
        health = requests.get(f"{service.url}/healthz", timeout=60)
        answered_meanwhile += health.status_code == 200 and not done.is_set()
    sender.join()
    assert done.is_set()
    assert answered_meanwhile >= 3  # none before (0 in every run)


def test_the_service_keeps_only_a_marker_of_a_senders_value_typed_into_a_password_field(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """A sender that typed into ``#password`` and sent the value raw: the service keeps what
    the recording would have kept, the marker."""
    spans.clear()
    span = trace.get_tracer("a-sender").start_span(
        "browser type",
        attributes={
            attr.ACTIVITY_TYPE: "browser",
            attr.ACTIVITY_ID: str(new_activity_id()),
            attr.ACTIVITY_ACTION: "type",
            attr.BROWSER_SELECTOR: "#password",
            attr.BROWSER_INPUT_VALUE: PASSWORD,
        },
    )
    span.end()
    assert partial_success(service.post(protobuf_body(spans.all()), tokens.team)) == (0, "")
    [row] = stored(database).values()
    leaked = PASSWORD in repr(row)
    assert not leaked and row["input_value"] == "[REDACTED:password-field]"


@pytest.mark.parametrize(
    ("body", "media", "encoding"),
    [
        (b"\xff\xfe\xfd not protobuf", PROTOBUF, None),
        (b'{"resourceSpans": [', JSON, None),
        (b"\x1f\x8b\x08 broken gzip", PROTOBUF, "gzip"),
    ],
    ids=["protobuf", "json", "gzip"],
)
def test_an_undecodable_body_is_400(
    service: ServiceProcess,
    database: str,
    tokens: Tokens,
    body: bytes,
    media: str,
    encoding: str | None,
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    response = service.post(body, tokens.team, media, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == media
    assert "retry-after" not in response.headers
    assert count_rows(database) == 0


def test_other_content_types_and_encodings_are_415(
    service: ServiceProcess, tokens: Tokens, spans: SpanCapture
) -> None:
    body = protobuf_body(terminal_spans(spans))
    assert service.post(body, tokens.team, "text/plain").status_code == 415
    response = service.post(zlib.compress(body), tokens.team, headers={"Content-Encoding": "br"})
    assert response.status_code == 415


def test_bodies_above_the_limit_are_413_even_once_gunzipped(
    database: str, tokens: Tokens, tmp_path: Path, spans: SpanCapture
) -> None:
    limit = 64 * 1024
    service = ServiceProcess(
        as_login(database, WRITER_LOGIN), tokens.path, tmp_path, "--max-body-bytes", str(limit)
    ).start()
    try:
        big = protobuf_body(terminal_spans(spans, 1)) + b"\x00" * limit
        assert service.post(big, tokens.team).status_code == 413
        bomb = gzip.compress(bytes(64 * 1024 * 1024))  # 64 MiB of zeros in about 64 KiB
        assert len(bomb) < limit
        response = service.post(bomb, tokens.team, headers={"Content-Encoding": "gzip"})
        assert response.status_code == 413
        small = terminal_spans(spans, 2)
        assert service.post(protobuf_body(small), tokens.team, gzipped=True).status_code == 200
        assert set(stored(database)) == ids_of(small)
    finally:
        assert service.stop() == 0


def test_a_body_of_many_gzip_members_is_400_before_they_are_read(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """Each member's end copies the input after it: 50,000 empty members (1 MB) would cost
    25 GB of copying, blocking every tenant's requests meanwhile."""
    sent = terminal_spans(spans, 1)
    members = gzip.compress(protobuf_body(sent)) + gzip.compress(b"") * 50_000
    response = service.post(members, tokens.team, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert count_rows(database) == 0
    few = gzip.compress(protobuf_body(sent)) + gzip.compress(b"") * 3
    assert service.post(few, tokens.team, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert set(stored(database)) == ids_of(sent)


# --- outages, draining, operations ---


def test_a_database_outage_is_503_with_retry_after_then_everything_arrives_once(
    database: str, tokens: Tokens, tmp_path: Path, spans: SpanCapture
) -> None:
    proxy = TcpProxy(PG_HOST, PG_PORT)
    proxy.restore()
    name = database.rsplit("/", 1)[1]
    through_proxy = f"postgresql+asyncpg://{WRITER_LOGIN}@127.0.0.1:{proxy.port}/{name}"
    service = ServiceProcess(through_proxy, tokens.path, tmp_path, "--retry-after", "1").start()
    try:
        before = terminal_spans(spans, 2)
        assert service.post(protobuf_body(before), tokens.team).status_code == 200
        proxy.cut()
        during = terminal_spans(spans, 2)
        response = service.post(protobuf_body(during), tokens.team)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 503
        # the SDK's exporter in the application keeps sending; it honours Retry-After
        config = {
            "mode": "load",
            "seconds": 10.0,
            "count": 600,
            "endpoint": f"{service.url}/v1/traces",
            "token": tokens.team,
            "timeout": 30,
            "acknowledged": str(tmp_path / "acknowledged.txt"),
            "context": {"user_id": str(USER)},
        }
        app = start_app(config, app_env(tmp_path), tmp_path / "app.json")
        time.sleep(3)
        proxy.restore()
        assert app.wait(120) == 0
        report = app_report(tmp_path / "app.json")
        assert service.post(protobuf_body(during), tokens.team).status_code == 200  # the retry
        assert service.post(protobuf_body(before), tokens.team).status_code == 200  # a duplicate
        assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 200
    finally:
        assert service.stop() == 0
        proxy.cut()
    sent = {uuid.UUID(key) for key in report["activities"]}
    assert len(sent) == report["made"] > 0
    acknowledged = {uuid.UUID(line) for line in (tmp_path / "acknowledged.txt").read_text().split()}
    assert acknowledged == sent  # every batch got through once the database was back
    assert set(stored(database)) == sent | ids_of(before) | ids_of(during)  # each once
    # Concurrent requests, the outage's failed commits and the duplicates: every chain whole.
    report = run_async(on_engine(database, verify))
    assert report.findings == [], report.lines()
    assert report.chains >= 1 and report.rows >= len(stored(database))


def test_sigterm_under_load_loses_nothing_acknowledged(
    database: str, tokens: Tokens, tmp_path: Path
) -> None:
    """The application keeps sending; a request is held in flight by a table lock when
    SIGTERM arrives; the service waits for it, commits it, answers and exits 0. Every
    activity the application saw acknowledged is stored."""
    service = ServiceProcess(as_login(database, WRITER_LOGIN), tokens.path, tmp_path).start()
    acknowledged_file = tmp_path / "acknowledged.txt"
    config = {
        "mode": "load",
        "seconds": 8.0,
        "delay_ms": 20,
        "endpoint": f"{service.url}/v1/traces",
        "token": tokens.team,
        "gzip": True,
        "timeout": 3,
        "acknowledged": str(acknowledged_file),
        "context": {"user_id": str(USER)},
    }
    app = start_app(config, app_env(tmp_path), tmp_path / "app.json")
    assert _eventually(acknowledged_file.exists, 30)
    with TableLock(database, "terminal_activities") as lock:
        assert _eventually(lock.writer_waits, 30), "no request reached the database"
        service.signal(signal.SIGTERM)
        time.sleep(1.0)
        assert service.process is not None and service.process.poll() is None  # draining
        held = len(acknowledged_file.read_text().split())
    assert service.stop(signal.SIGTERM) == 0, service.output()[-3000:]
    assert "Waiting for connections to close" in service.output()
    assert app.wait(120) == 0
    acknowledged = {uuid.UUID(line) for line in acknowledged_file.read_text().split()}
    assert len(acknowledged) > held  # the request held in flight was answered 200
    rows = stored(database)
    assert acknowledged <= set(rows), f"{len(acknowledged - set(rows))} acknowledged, not stored"
    assert app_report(tmp_path / "app.json")["environment_has_database_url"] is False


class TableLock:
    """The owner holds a lock that makes the writer's INSERT wait, until the block ends."""

    def __init__(self, url: str, table: str) -> None:
        self.database = url.rsplit("/", 1)[1]
        self.table = table
        self._release = threading.Event()
        self._locked = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._hold(),), daemon=True)

    def __enter__(self) -> TableLock:
        self._thread.start()
        assert self._locked.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join(30)

    async def _hold(self) -> None:
        connection = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user="postgres", database=self.database
        )
        try:
            async with connection.transaction():
                await connection.execute(f"LOCK TABLE {self.table} IN SHARE ROW EXCLUSIVE MODE")
                self._locked.set()
                await asyncio.to_thread(self._release.wait)
        finally:
            await connection.close()

    def writer_waits(self) -> bool:
        """Whether a statement of the writer login is waiting for a lock."""

        async def query() -> bool:
            connection = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user="postgres", database=self.database
            )
            try:
                return bool(
                    await connection.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE usename = $1 AND wait_event_type = 'Lock'",
                        WRITER_LOGIN,
                    )
                )
            finally:
                await connection.close()

        return run_async(query())


def test_above_max_concurrent_requests_429_with_retry_after(
    database: str, tokens: Tokens, tmp_path: Path, spans: SpanCapture
) -> None:
    service = ServiceProcess(
        as_login(database, WRITER_LOGIN), tokens.path, tmp_path, "--max-concurrent", "1"
    ).start()
    held = protobuf_body(terminal_spans(spans, 1))
    try:
        with TableLock(database, "terminal_activities") as lock:
            first: list[requests.Response] = []
            sender = threading.Thread(target=lambda: first.append(service.post(held, tokens.team)))
            sender.start()
            assert _eventually(lock.writer_waits, 30)
            busy = service.post(protobuf_body(terminal_spans(spans, 1)), tokens.team)
            assert busy.status_code == 429 and busy.headers["retry-after"] == "1"
        sender.join(30)
        assert first[0].status_code == 200  # the held request, once the lock is gone
    finally:
        assert service.stop() == 0


def test_a_body_that_does_not_arrive_is_408_and_frees_its_place_quietly(
    database: str, tokens: Tokens, tmp_path: Path, spans: SpanCapture
) -> None:
    """A token holder trickling bodies in would hold every one of the ``--max-concurrent``
    places, and every other tenant would get 429 for as long as it likes."""
    service = ServiceProcess(
        as_login(database, WRITER_LOGIN),
        tokens.path,
        tmp_path,
        *("--max-concurrent", "1", "--body-timeout", "1"),
    ).start()
    try:
        with socket.create_connection(("127.0.0.1", service.port), timeout=60) as stalled:
            head = (
                "POST /v1/traces HTTP/1.1\r\nHost: ingest\r\nContent-Length: 1000\r\n"
                f"Content-Type: {PROTOBUF}\r\nAuthorization: Bearer {tokens.team}\r\n\r\n"
            )
            stalled.sendall(head.encode() + b"\n\x02")
            assert stalled.recv(1024).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection(("127.0.0.1", service.port), timeout=60) as gone:
            gone.sendall(head.encode() + b"\n\x02")  # and goes away before the rest
        sent = protobuf_body(terminal_spans(spans, 1))  # 429 until the one gone is noticed
        assert _eventually(lambda: service.post(sent, tokens.other).status_code == 200)
        assert len(stored(database)) == 1
    finally:
        assert service.stop() == 0
    assert "Traceback" not in service.output()  # a sender going away is not our error


def test_requests_waiting_for_a_commit_are_committed_together_each_told_its_own_refusals(
    service: ServiceProcess, database: str, tokens: Tokens, spans: SpanCapture
) -> None:
    """Group commit: while one commit waits (a table lock), five requests arrive; they are
    committed in one transaction, and the row the database refuses is reported to the one
    request that sent it, the rest of every request stored."""
    refuse = (
        "ALTER TABLE terminal_activities ADD CONSTRAINT test_refuse_one"
        " CHECK (command IS DISTINCT FROM 'refuse me')"
    )
    run_async(on_engine(database, lambda engine: _execute(engine, refuse)))
    try:
        bodies = []
        for index in range(6):
            batch = terminal_spans(spans, 3)
            if index == 2:
                spans.clear()
                record = ActivityRecord(ActivityType.TERMINAL, "execute")
                record.set_text(attr.PROCESS_COMMAND_LINE, "refuse me", "command")
                record.end()
                refused = spans.activities()
                batch = [*batch[:2], *refused]
            bodies.append(batch)
        answers: dict[int, requests.Response] = {}

        def send(index: int) -> None:
            answers[index] = service.post(protobuf_body(bodies[index]), tokens.team)

        with TableLock(database, "terminal_activities") as lock:
            first = threading.Thread(target=send, args=(0,))
            first.start()
            assert _eventually(lock.writer_waits, 30)
            others = [threading.Thread(target=send, args=(index,)) for index in range(1, 6)]
            for thread in others:
                thread.start()
            assert _eventually(lambda: _received(service) == 18, 30)
            time.sleep(0.5)  # mapped and waiting for the commit
        for thread in [first, *others]:
            thread.join(60)
        outcomes = {index: partial_success(answers[index]) for index in range(6)}
    finally:
        drop = "ALTER TABLE terminal_activities DROP CONSTRAINT test_refuse_one"
        run_async(on_engine(database, lambda engine: _execute(engine, drop)))
    assert outcomes[2][0] == 1 and "refused by the database" in outcomes[2][1]
    assert all(outcomes[index] == (0, "") for index in (0, 1, 3, 4, 5))
    sent = set().union(*(ids_of(batch) for batch in bodies))
    assert set(stored(database)) == sent - ids_of(refused)
    values = _samples(requests.get(f"{service.url}/metrics", timeout=10).text)
    assert values["autobot_activity_ingest_write_seconds_count"] == 2  # the first, the five
    assert values['autobot_activity_ingest_spans_rejected_total{reason="database_refused"}'] == 1


async def _execute(engine: AsyncEngine, statement: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(statement))


def _received(service: ServiceProcess) -> float:
    values = _samples(requests.get(f"{service.url}/metrics", timeout=10).text)
    return values.get("autobot_activity_ingest_spans_received_total", 0)


def test_healthz_and_metrics(service: ServiceProcess, tokens: Tokens, spans: SpanCapture) -> None:
    health = requests.get(f"{service.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    forged = terminal_spans(spans, 1, org_id=OTHER_ORG)
    own = terminal_spans(spans, 2)
    service.post(protobuf_body([*forged, *own]), tokens.team)
    service.post(b"nonsense", tokens.team)
    text = requests.get(f"{service.url}/metrics", timeout=10).text
    values = _samples(text)
    assert values["autobot_activity_ingest_spans_received_total"] == 3
    assert values["autobot_activity_ingest_spans_stored_total"] == 2
    assert values['autobot_activity_ingest_spans_rejected_total{reason="other_org"}'] == 1
    assert values['autobot_activity_ingest_requests_total{code="200"}'] == 1
    assert values['autobot_activity_ingest_requests_total{code="400"}'] == 1
    assert values["autobot_activity_ingest_write_seconds_count"] == 1


def test_the_access_log_shows_no_path_or_query_a_sender_made_up(
    service: ServiceProcess, tokens: Tokens
) -> None:
    """A sender's text in the request line (a query string, another path) would reach the
    log as sent: it is replaced, our own paths still shown."""
    made_up = planted.plant("ghp_" + uuid.uuid4().hex + "Zq7XkP2m")
    headers = {"Authorization": f"Bearer {tokens.team}", "Content-Type": JSON}
    requests.post(f"{service.url}/v1/traces?api_key={made_up}", headers=headers, timeout=10)
    assert requests.get(f"{service.url}/{made_up}", timeout=10).status_code == 404
    assert requests.get(f"{service.url}/healthz", timeout=10).status_code == 200
    log = service.output()
    assert made_up not in log
    assert '"POST /v1/traces?[query] HTTP/1.1" 400' in log
    assert '"GET /[other] HTTP/1.1" 404' in log
    assert '"GET /healthz HTTP/1.1" 200' in log


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_sighup_reloads_the_token_file_and_a_bad_file_keeps_the_old_tokens(
    service: ServiceProcess, tokens: Tokens, spans: SpanCapture
) -> None:
    body = protobuf_body(terminal_spans(spans))
    late = planted.plant(make_token(tokens.path, "late", ORG))
    assert service.post(body, late).status_code == 401
    service.signal(signal.SIGHUP)
    assert _eventually(lambda: service.post(body, late).status_code == 200)
    tokens.path.chmod(0o644)
    service.signal(signal.SIGHUP)
    assert _eventually(lambda: "not reloaded" in service.output())
    assert service.post(body, late).status_code == 200
    tokens.path.chmod(0o600)


def _eventually(check: Any, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_token_file_open_to_others_stops_the_start(
    database: str, tokens: Tokens, tmp_path: Path
) -> None:
    tokens.path.chmod(0o644)
    result = subprocess.run(
        [str(CLI), "serve", "--database-url", database, "--tokens", str(tokens.path)],
        capture_output=True,
        text=True,
        env=service_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2
    assert "chmod 600" in result.stderr


def test_two_workers_share_one_socket_one_database_one_set_of_metrics_and_reload(
    database: str, tokens: Tokens, tmp_path: Path, spans: SpanCapture
) -> None:
    service = ServiceProcess(
        as_login(database, WRITER_LOGIN), tokens.path, tmp_path, workers=2
    ).start()
    try:
        sent: set[uuid.UUID] = set()
        for _ in range(8):  # new connections: the kernel spreads them over the workers
            batch = terminal_spans(spans, 5)
            response = requests.post(
                f"{service.url}/v1/traces",
                data=protobuf_body(batch),
                headers={
                    "Content-Type": PROTOBUF,
                    "Authorization": f"Bearer {tokens.team}",
                    "Connection": "close",
                },
                timeout=30,
            )
            assert response.status_code == 200
            sent |= ids_of(batch)
        assert set(stored(database)) == sent
        values = _samples(requests.get(f"{service.url}/metrics", timeout=10).text)
        assert values["autobot_activity_ingest_spans_stored_total"] == 40  # all workers' sum
        late = planted.plant(make_token(tokens.path, "late", ORG))
        body = protobuf_body(terminal_spans(spans, 1))
        service.signal(signal.SIGHUP)  # the parent replaces the workers, which read the file
        assert _eventually(lambda: service.post(body, late).status_code == 200, 60)
    finally:
        assert service.stop() == 0, service.output()[-3000:]


def test_a_schema_behind_the_code_is_503_saying_what_to_run(
    tokens: Tokens, tmp_path: Path, spans: SpanCapture
) -> None:
    require(pg_available(), "PostgreSQL not reachable on 127.0.0.1:5432")
    with outdated_database() as url:
        service = ServiceProcess(as_login(url, WRITER_LOGIN), tokens.path, tmp_path).start()
        try:
            response = service.post(json_body(terminal_spans(spans)), tokens.team, JSON)
            assert response.status_code == 503
            assert "autobot-activity db upgrade" in response.json()["message"]
            health = requests.get(f"{service.url}/healthz", timeout=10)
            assert health.status_code == 503 and "db upgrade" in health.json()["reason"]
        finally:
            assert service.stop() == 0


def test_serve_needs_a_database_and_a_token_file(tmp_path: Path) -> None:
    env = service_env(tmp_path)
    for argv, problem in (
        (["serve", "--tokens", "x.toml"], "no database"),
        (["serve", "--database-url", "postgresql://nowhere/db"], "no token file"),
    ):
        result = subprocess.run(
            [str(CLI), *argv], capture_output=True, text=True, env=env, timeout=60
        )
        assert result.returncode == 2 and problem in result.stderr
    assert settings.INGEST_TOKENS not in os.environ


# --- an application configured with AUTOBOT_ACTIVITY_ENDPOINT: through its journal ---


def configured_env(tmp_path: Path, service: ServiceProcess, token: str) -> dict[str, str]:
    """An application that sends through ``configure()``: the endpoint and the token in its
    environment, its journal in the test's folder (checked for leftovers), no database URL."""
    env = app_env(tmp_path)
    env[settings.ENDPOINT] = service.url
    env[settings.TOKEN] = token
    env[settings.JOURNAL_DIR] = str(tmp_path / "app-journal")
    return env


def load(count: int, *, seconds: float = 60.0, flush_seconds: float = 60, **extra: Any) -> Any:
    """The application's configuration for ``count`` terminal activities through the journal."""
    return {
        "mode": "load",
        "sender": "configure",
        "seconds": seconds,
        "count": count,
        "flush_seconds": flush_seconds,
        "token": "",
        "context": {"user_id": str(USER)},
        **extra,
    }


def journal_pending(tmp_path: Path) -> int:
    return JournalDirectory(tmp_path / "app-journal").status().pending


def test_a_configured_application_sends_terminal_file_and_browser_activities(
    service: ServiceProcess, database: str, tokens: Tokens, tmp_path: Path
) -> None:
    """``configure()`` with ``AUTOBOT_ACTIVITY_ENDPOINT``: the journal ships to the service
    with the SDK's OTLP/HTTP exporter; no database URL, no database driver in the app."""
    require(chromium_installed(), CHROMIUM_MISSING)
    workdir = tmp_path / "agent"
    workdir.mkdir()
    with serve_site() as site:
        report = run_app(
            {
                "mode": "activities",
                "sender": "configure",
                "token": tokens.team,
                "context": {"user_id": str(USER), "session_id": "chat-8", "team_id": str(TEAM)},
                "workdir": str(workdir),
                "site": site,
                "chromium_args": CHROMIUM_ARGS,
            },
            configured_env(tmp_path, service, tokens.team),
        )
    assert report["flushed"] is True
    assert report["environment_has_database_url"] is False
    assert report["child_saw_database_url"] is False
    assert report["drivers_imported"] == []
    stored_once_each(database, report, "chat-8")
    assert journal_pending(tmp_path) == 0


def test_children_of_a_configured_application_see_no_token(
    service: ServiceProcess, database: str, tokens: Tokens, tmp_path: Path
) -> None:
    workdir = tmp_path / "agent"
    workdir.mkdir()
    report = run_app(
        {
            "mode": "activities",
            "sender": "configure",
            "token": tokens.team,
            "context": {"user_id": str(USER)},
            "workdir": str(workdir),
        },
        configured_env(tmp_path, service, tokens.team),
    )
    assert report["flushed"] is True
    assert report["child_saw_token"] is False


def test_a_wrong_token_is_401_nothing_stored_and_the_journal_keeps_everything(
    service: ServiceProcess, database: str, tokens: Tokens, tmp_path: Path
) -> None:
    wrong = planted.plant("autobot_ingest_" + "Wrong-Token-planted-4711" * 2)
    env = configured_env(tmp_path, service, wrong) | {settings.EXIT_TIMEOUT: "1"}
    report, log = run_app_logged(load(30, flush_seconds=4), env)
    assert report["flushed"] is False
    assert count_rows(database) == 0
    assert journal_pending(tmp_path) == 30  # kept, for the token to be fixed
    refused = [line for line in log.splitlines() if "refused the token" in line]
    assert len(refused) == 1, log[-3000:]  # said once, naming the endpoint and what to do
    assert f"{service.url}/v1/traces" in refused[0] and settings.TOKEN in refused[0]
    assert "Failed to export" not in log  # the SDK's error per attempt is held back
    assert wrong not in log
    values = _samples(requests.get(f"{service.url}/metrics", timeout=10).text)
    assert values['autobot_activity_ingest_requests_total{code="401"}'] >= 1
    # the token fixed: `journal replay` (or the application's next start) ships what waited
    fixed = configured_env(tmp_path, service, tokens.team)
    status = subprocess.run(
        [str(CLI), "journal", "status"], env=fixed, capture_output=True, text=True, timeout=60
    )
    assert f"the ingest service at {service.url}" in status.stdout
    assert "waiting:      30 activities" in status.stdout
    replay = subprocess.run(
        [str(CLI), "journal", "replay"], env=fixed, capture_output=True, text=True, timeout=120
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr[-2000:]
    assert "shipped 30 of 30 activities to the ingest service at" in replay.stdout
    assert set(stored(database)) == {uuid.UUID(key) for key in report["activities"]}
    assert journal_pending(tmp_path) == 0


def test_a_span_claiming_another_org_is_rejected_said_once_and_not_sent_again(
    service: ServiceProcess, database: str, tokens: Tokens, tmp_path: Path
) -> None:
    config = load(10, forged=3, forged_org=str(OTHER_ORG))
    report, log = run_app_logged(config, configured_env(tmp_path, service, tokens.team))
    assert report["flushed"] is True
    made = [uuid.UUID(key) for key in report["activities"]]
    rows = stored(database)
    assert set(rows) == set(made[3:])  # the rest of the request is stored
    assert {row["org_id"] for row in rows.values()} == {ORG}
    assert journal_pending(tmp_path) == 0  # acknowledged: not retried forever
    # said once, whether the three arrived in one request or (a slow machine) in several
    [said] = [line for line in log.splitlines() if "rejected by the ingest service" in line]
    assert "org other than the token's" in said
    values = _samples(requests.get(f"{service.url}/metrics", timeout=10).text)
    assert values['autobot_activity_ingest_spans_rejected_total{reason="other_org"}'] == 3


@pytest.mark.leaves_journal  # the activity above the service's limit is quarantined (asserted)
def test_a_batch_above_the_body_limit_is_split_and_only_the_culprit_quarantined(
    database: str, tokens: Tokens, tmp_path: Path
) -> None:
    """413 is about the request: the journal halves the batch until the activity at fault is
    alone, stores the rest, and quarantines that one as the database would have stored it."""
    limit = 16 * 1024
    service = ServiceProcess(
        as_login(database, WRITER_LOGIN), tokens.path, tmp_path, "--max-body-bytes", str(limit)
    ).start()
    try:
        config = load(8, big=1, big_lines=limit // 3)
        report = run_app(config, configured_env(tmp_path, service, tokens.team))
    finally:
        assert service.stop() == 0
    made = [uuid.UUID(key) for key in report["activities"]]
    assert report["flushed"] is True
    assert set(stored(database)) == set(made[1:])
    quarantine = tmp_path / "app-journal" / "quarantine"
    [entry] = quarantine.glob("*.json")
    kept = json.loads(entry.read_text())
    assert entry.stem == str(made[0]) and "413" in kept["reason"]
    assert kept["table"] == "terminal_activities" and kept["rows"][0]["id"] == str(made[0])


def test_a_database_outage_while_a_configured_application_sends_loses_and_doubles_nothing(
    database: str, tokens: Tokens, tmp_path: Path
) -> None:
    proxy = TcpProxy(PG_HOST, PG_PORT)
    proxy.restore()
    name = database.rsplit("/", 1)[1]
    through_proxy = f"postgresql+asyncpg://{WRITER_LOGIN}@127.0.0.1:{proxy.port}/{name}"
    service = ServiceProcess(through_proxy, tokens.path, tmp_path, "--retry-after", "1").start()
    try:
        proxy.cut()
        env = configured_env(tmp_path, service, tokens.team)
        app = start_app(load(600, seconds=8.0), env, tmp_path / "app.json")
        time.sleep(4)
        assert count_rows(database) == 0
        proxy.restore()
        assert app.wait(120) == 0, (tmp_path / "app.json.log").read_text()[-3000:]
        report = app_report(tmp_path / "app.json")
        values = _samples(requests.get(f"{service.url}/metrics", timeout=10).text)
    finally:
        assert service.stop() == 0
        proxy.cut()
    assert report["flushed"] is True
    assert values['autobot_activity_ingest_requests_total{code="503"}'] >= 1
    sent = {uuid.UUID(key) for key in report["activities"]}
    assert len(sent) == report["made"] > 0
    rows = stored(database)  # refuses an activity stored twice
    assert set(rows) == sent
    assert journal_pending(tmp_path) == 0


def test_sigterm_to_the_service_under_a_configured_applications_load_loses_nothing(
    database: str, tokens: Tokens, tmp_path: Path
) -> None:
    """SIGTERM while a request is held in flight: the service commits it and exits 0; what
    the application journals meanwhile waits, and reaches the service that takes its place."""
    writer = as_login(database, WRITER_LOGIN)
    service = ServiceProcess(writer, tokens.path, tmp_path).start()
    env = configured_env(tmp_path, service, tokens.team)
    app = start_app(load(1_000_000, seconds=8.0), env, tmp_path / "app.json")
    assert _eventually(lambda: count_rows(database) > 0, 30)
    with TableLock(database, "terminal_activities") as lock:
        assert _eventually(lock.writer_waits, 30), "no request reached the database"
        service.signal(signal.SIGTERM)
        time.sleep(1.0)
        assert service.process is not None and service.process.poll() is None  # draining
    assert service.stop(signal.SIGTERM) == 0, service.output()[-3000:]
    successor = ServiceProcess(writer, tokens.path, tmp_path, port=service.port).start()
    try:
        assert app.wait(120) == 0, (tmp_path / "app.json.log").read_text()[-3000:]
    finally:
        assert successor.stop() == 0
    report = app_report(tmp_path / "app.json")
    assert report["flushed"] is True
    sent = {uuid.UUID(key) for key in report["activities"]}
    assert len(sent) == report["made"] > 0
    assert set(stored(database)) == sent
    assert journal_pending(tmp_path) == 0


def test_opentelemetry_instrument_sends_to_the_service_with_the_endpoint(
    service: ServiceProcess, database: str, tokens: Tokens, tmp_path: Path
) -> None:
    """The package's configurator under ``opentelemetry-instrument`` reads the endpoint too."""
    env = configured_env(tmp_path, service, tokens.team)
    env["OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"] = "autobot_file,autobot_playwright,autobot_vnc"
    done = subprocess.run(
        [
            str(CLI.with_name("opentelemetry-instrument")),
            sys.executable,
            str(Path(__file__).parents[2] / "examples" / "instrumented_app.py"),
            "instrumented-to-service",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [row] = stored(database).values()
    assert (row["command"], row["session_id"], row["org_id"]) == (
        "uname -s",
        "instrumented-to-service",
        ORG,
    )
    assert journal_pending(tmp_path) == 0
