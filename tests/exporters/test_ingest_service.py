"""``autobot-activity serve`` as a real process, logged in as the append-only writer, on the
real PostgreSQL. Senders: the SDK's own OTLP/HTTP exporter in an application process of its
own (which holds no database URL), or plain HTTP requests whose bodies the SDK's encoder built.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
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
from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy import select
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
    service_env,
    start_app,
)
from support.spans import SpanCapture
from support.tcp_proxy import TcpProxy

from autobot_activity_exporters.integrity.verify import verify
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
    sent = {uuid.UUID(key): value for key, value in report["activities"].items()}
    assert {"terminal", "file", "browser"} <= set(sent.values())
    rows = stored(database)
    assert set(rows) == set(sent)  # exactly one row each (stored() refuses a second)
    for activity_id, activity_type in sent.items():
        row = rows[activity_id]
        assert row["table"] == f"{activity_type}_activities"
        assert (row["user_id"], row["session_id"]) == (USER, "chat-7")
        assert (row["org_id"], row["team_id"]) == (ORG, TEAM)  # the org from the token
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
