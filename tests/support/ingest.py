"""The ingest service as the tests run it: a real ``autobot-activity serve`` process, a writer
login, token files, and OTLP requests built by the SDK's own encoder."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
from alembic import command
from alembic.script import ScriptDirectory
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from autobot_activity_exporters.schema import alembic_config, head_revision, upgrade
from autobot_activity_exporters.service.tokens import new_token
from autobot_activity_otel import settings
from support.database import PG_HOST, PG_PORT, on_engine, pg_admin, run_async

CLI = Path(sys.executable).parent / "autobot-activity"
APP = Path(__file__).with_name("ingest_app.py")
"""The application process of the end-to-end tests (SDK + OTLP/HTTP exporter + instrumentors)."""
WRITER_LOGIN = "autobot_activity_test_writer"
"""A login in ``autobot_activity_writer``; cluster-wide, shared by sessions, never dropped."""
PROTOBUF, JSON = "application/x-protobuf", "application/json"


def ensure_writer_login() -> None:
    """Create the writer login if missing (race-safe: other sessions may create it too)."""
    run_async(
        pg_admin(
            f"""
            DO $$
            BEGIN
                CREATE ROLE {WRITER_LOGIN} LOGIN IN ROLE autobot_activity_writer;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END
            $$
            """
        )
    )


def as_login(url: str, login: str) -> str:
    """The same database, connecting as ``login`` (trust authentication: no password)."""
    database = url.rsplit("/", 1)[1]
    return f"postgresql+asyncpg://{login}@{PG_HOST}:{PG_PORT}/{database}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_token(path: Path, name: str, org: uuid.UUID, teams: Sequence[uuid.UUID] = ()) -> str:
    return new_token(path, name, org, list(teams))


def service_env(state: Path) -> dict[str, str]:
    """The service's environment: this one, less our variables, with a state folder of its
    own and the tests' fingerprint key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOBOT_ACTIVITY_")}
    env[settings.STATE_DIR] = str(state)
    env[settings.FINGERPRINT_KEY] = "tests-secrets-fingerprint-key"
    return env


class ServiceProcess:
    """``autobot-activity serve`` in a process of its own, its output in a log file."""

    def __init__(
        self,
        database_url: str,
        tokens: Path,
        folder: Path,
        *extra: str,
        workers: int = 1,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        self.args = [
            str(CLI),
            "serve",
            "--database-url",
            database_url,
            "--tokens",
            str(tokens),
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            *extra,
        ]
        self.env = service_env(folder / "service-state")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> ServiceProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited {self.process.returncode}: {self.output()}")
            try:
                requests.get(f"{self.url}/healthz", timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"serve did not answer in {timeout} s: {self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` and wait for the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def post(
        self,
        body: bytes,
        token: str | None,
        content_type: str = PROTOBUF,
        *,
        gzipped: bool = False,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        sent = {"Content-Type": content_type, **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if gzipped:
            body = gzip.compress(body)
            sent["Content-Encoding"] = "gzip"
        return requests.post(f"{self.url}/v1/traces", data=body, headers=sent, timeout=30)


def protobuf_body(spans: Sequence[ReadableSpan]) -> bytes:
    """The body the SDK's OTLP/HTTP exporter would send for these spans."""
    return encode_spans(spans).SerializeToString()


def json_body(spans: Sequence[ReadableSpan]) -> bytes:
    """The same request in OTLP JSON: lowerCamelCase, hex ids, integer enums."""
    document = json_format.MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _base64_to_hex(span[key])
    return json.dumps(document).encode()


def _base64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex().upper()  # hex ids are case-insensitive


def partial_success(response: requests.Response) -> tuple[int, str]:
    """``(rejected_spans, error_message)`` of a 200 response, in its own content type."""
    assert response.status_code == 200, response.status_code
    message = ExportTraceServiceResponse()
    if response.headers["content-type"] == PROTOBUF:
        message.ParseFromString(response.content)
    else:
        json_format.Parse(response.content, message)
    return message.partial_success.rejected_spans, message.partial_success.error_message


def run_app(config: dict[str, Any], env: dict[str, str], timeout: float = 120) -> dict[str, Any]:
    """Run the application process with ``config`` on its stdin; returns what it printed."""
    return run_app_logged(config, env, timeout)[0]


def run_app_logged(
    config: dict[str, Any], env: dict[str, str], timeout: float = 120
) -> tuple[dict[str, Any], str]:
    """``run_app``, and what the application logged (its standard error)."""
    result = subprocess.run(
        [sys.executable, str(APP)],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1])), result.stderr


def start_app(config: dict[str, Any], env: dict[str, str], output: Path) -> subprocess.Popen[str]:
    """Start the application process in the background, its report going to ``output`` and
    its log to ``output`` with ``.log`` added."""
    with output.open("w") as out, output.with_name(output.name + ".log").open("w") as log:
        app = subprocess.Popen(
            [sys.executable, str(APP)],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=log,
            text=True,
            env=env,
        )
    assert app.stdin is not None
    app.stdin.write(json.dumps(config))
    app.stdin.close()
    return app


def app_report(output: Path) -> dict[str, Any]:
    return dict(json.loads(output.read_text().strip().splitlines()[-1]))


async def _downgrade_one(engine: AsyncEngine) -> None:
    """Take the newest migration back (its downgrade), as its owner."""

    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "-1")

    async with engine.begin() as connection:
        await connection.run_sync(downgrade)


def revision_behind() -> str:
    """The revision before the newest shipped one."""
    head = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision())
    assert head is not None and isinstance(head.down_revision, str)
    return head.down_revision


@contextlib.contextmanager
def outdated_database() -> Iterator[str]:
    """A database of this process's own, migrated by its owner, then marked as one revision
    behind: what a writer login finds before the owner has run ``db upgrade``."""
    name = f"autobot_activity_outdated_{os.getpid()}"
    run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    run_async(pg_admin(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    try:
        run_async(on_engine(url, upgrade))
        ensure_writer_login()
        run_async(on_engine(url, _downgrade_one))
        yield url
    finally:
        run_async(pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
