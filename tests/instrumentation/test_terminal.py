"""Terminal activity: instrumented processes, the seed functions and the handler decorator."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pty
import subprocess
import sys
import uuid

import pytest
from support.instrumentors import OwnProvider
from support.planted import plant

from autobot_activity_otel import (
    activity_context,
    terminal_activity,
    track_command_execution,
    track_pty_session_creation,
)
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.instrumentation.terminal import TerminalInstrumentor

USER = uuid.UUID("0195f000-0000-7000-8000-000000000001")
PLANTED = plant("Sup3rS3cret-planted-pw")


pytestmark = pytest.mark.instrumentor.with_args(TerminalInstrumentor)


def only(spans):
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0].attributes


def no_plant(values) -> bool:
    return not any(PLANTED in str(value) for value in values)


def test_subprocess_run_is_one_activity_with_exit_code_output_and_attribution(instrumented, spans):
    with activity_context(user_id=USER, session_id="chat-1"):
        result = subprocess.run(
            [sys.executable, "-c", "print('hello'); raise SystemExit(3)"],
            capture_output=True,
            text=True,
        )
    assert result.returncode == 3 and result.stdout == "hello\n"
    attrs = only(spans.activities("terminal"))
    assert attrs[attr.USER_ID] == str(USER)
    assert attrs[attr.SESSION_ID] == "chat-1"
    assert attrs[attr.PROCESS_EXIT_CODE] == 3
    assert attrs[attr.TERMINAL_OUTPUT] == "hello\n"
    assert attrs[attr.PROCESS_COMMAND_LINE].endswith(
        "-c 'print('\"'\"'hello'\"'\"'); raise SystemExit(3)'"
    )
    assert attrs[attr.PROCESS_WORKING_DIRECTORY] == os.getcwd()
    uuid.UUID(attrs[attr.ACTIVITY_ID])


def test_check_output_and_call_and_popen_wait(instrumented, spans):
    assert subprocess.check_output(["echo", "out"]) == b"out\n"
    assert subprocess.call(["true"]) == 0
    with subprocess.Popen(["false"]) as proc:
        proc.wait()
    codes = sorted(span.attributes[attr.PROCESS_EXIT_CODE] for span in spans.activities())
    assert codes == [0, 0, 1]


def test_child_process_continues_the_trace(instrumented, spans):
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['TRACEPARENT'])"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.strip()
    span = spans.activities()[0]
    assert out.startswith(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-")


OWN_KEY = plant("own-Fpr1nt-Key-c0ffee-7731")
OWN_URL_PASSWORD = plant("Own-Db-Pw-5512")
_PRINT_OURS = (
    "import os; print(sorted(k for k in os.environ if k.startswith(('AUTOBOT_ACTIVITY_',"
    " 'OTEL_EXPORTER_OTLP_HEADERS'))))"
)


@pytest.fixture
def own_environment(monkeypatch):
    monkeypatch.setenv("AUTOBOT_ACTIVITY_FINGERPRINT_KEY", OWN_KEY)
    monkeypatch.setenv(
        "AUTOBOT_ACTIVITY_DATABASE_URL", f"postgresql://w:{OWN_URL_PASSWORD}@db/audit"
    )
    monkeypatch.setenv("AUTOBOT_ACTIVITY_TOKEN", "tok-" + OWN_KEY[::-1])
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20x" + OWN_KEY)
    monkeypatch.setenv("AUTOBOT_ACTIVITY_KEYSTROKES", "redacted")
    monkeypatch.delenv("AUTOBOT_ACTIVITY_CHILDREN_INHERIT_SECRETS", raising=False)


@pytest.mark.parametrize("given_env", [False, True])
def test_children_do_not_inherit_the_projects_own_secrets(
    instrument, spans, own_environment, given_env
):
    instrument(TerminalInstrumentor)
    env = dict(os.environ) if given_env else None
    shown = subprocess.run(
        [sys.executable, "-c", _PRINT_OURS], capture_output=True, text=True, env=env
    ).stdout
    assert "'AUTOBOT_ACTIVITY_KEYSTROKES'" in shown  # a setting that is no secret stays
    assert not any(name in shown for name in ("FINGERPRINT", "DATABASE", "_TOKEN'", "OTLP"))


def test_children_inherit_them_when_the_switch_says_so(
    instrument, spans, own_environment, monkeypatch
):
    monkeypatch.setenv("AUTOBOT_ACTIVITY_CHILDREN_INHERIT_SECRETS", "true")
    instrument(TerminalInstrumentor)
    shown = subprocess.run(
        [sys.executable, "-c", _PRINT_OURS], capture_output=True, text=True
    ).stdout
    assert "AUTOBOT_ACTIVITY_FINGERPRINT_KEY" in shown and "AUTOBOT_ACTIVITY_TOKEN" in shown


def test_own_secrets_are_registered_when_instrumenting(instrument, spans, own_environment):
    instrument(TerminalInstrumentor)
    # printed by a command the child runs, not inherited: still redacted, by registration
    subprocess.run(
        [sys.executable, "-c", f"print('key {OWN_KEY} db {OWN_URL_PASSWORD}')"],
        capture_output=True,
        text=True,
    )
    output = only(spans.activities("terminal"))[attr.TERMINAL_OUTPUT]
    leaked = OWN_KEY in output or OWN_URL_PASSWORD in output  # a bool: failures show no value
    assert not leaked, "an own secret was recorded"
    assert output.count("[REDACTED:secret:") == 2, "not both redacted as known secrets"


def test_planted_password_reaches_no_span_and_no_log(instrumented, spans, caplog):
    caplog.set_level(logging.DEBUG)
    subprocess.run(["sh", "-c", "exit 0", "--", f"--password={PLANTED}"], check=True)
    attrs = only(spans.activities())
    assert no_plant(attrs.values()), "planted password leaked into the span"
    assert no_plant(r.getMessage() for r in caplog.records), "planted password leaked into logs"
    assert attrs[attr.SECRETS_COUNT] >= 1


async def test_asyncio_exec_is_one_activity(instrumented, spans):
    process = await asyncio.create_subprocess_exec(
        "sh", "-c", "echo from-async; exit 4", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert stdout == b"from-async\n" and process.returncode == 4
    attrs = only(spans.activities())
    assert attrs[attr.PROCESS_EXIT_CODE] == 4
    assert attrs[attr.TERMINAL_OUTPUT] == "from-async\n"


async def test_asyncio_shell_ends_on_wait_without_communicate(instrumented, spans):
    process = await asyncio.create_subprocess_shell("exit 2")
    assert await process.wait() == 2
    for _ in range(100):  # the exit watcher runs as its own task
        if spans.activities():
            break
        await asyncio.sleep(0.01)
    assert only(spans.activities())[attr.PROCESS_EXIT_CODE] == 2


def test_os_system_and_pty_spawn(instrumented, spans):
    assert os.system("exit 5") >> 8 == 5
    assert os.waitstatus_to_exitcode(pty.spawn(["true"])) == 0
    by_action = {s.attributes[attr.ACTIVITY_ACTION]: s.attributes for s in spans.activities()}
    assert by_action["execute"][attr.PROCESS_EXIT_CODE] == 5
    assert by_action["pty_spawn"][attr.PROCESS_EXIT_CODE] == 0


def test_launch_failure_propagates_unchanged_and_is_recorded(instrumented, spans):
    with pytest.raises(FileNotFoundError):
        subprocess.run(["/nonexistent/binary-xyz"])
    attrs = only(spans.activities())
    assert attrs[attr.ERROR_TYPE] == "FileNotFoundError"


def test_tracking_failure_never_reaches_the_caller(instrumented, spans, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug in attribute extraction")

    from autobot_activity_otel import recording

    monkeypatch.setattr(recording, "ActivityRecord", broken)
    assert subprocess.run(["echo", "still works"], capture_output=True).stdout == b"still works\n"
    assert spans.activities() == []


def test_uninstrument_restores_the_very_originals():
    originals = {
        name: subprocess.Popen.__dict__[name]
        for name in ("__init__", "wait", "poll", "communicate")
    }
    system, spawn = os.system, pty.spawn
    exec_, shell = asyncio.create_subprocess_exec, asyncio.create_subprocess_shell
    communicate = asyncio.subprocess.Process.__dict__["communicate"]
    instrumentor = TerminalInstrumentor()
    instrumentor.instrument()
    assert subprocess.Popen.__dict__["__init__"] is not originals["__init__"]
    assert os.system is not system
    instrumentor.uninstrument()
    for name, original in originals.items():
        assert subprocess.Popen.__dict__[name] is original
    assert os.system is system and pty.spawn is spawn
    assert asyncio.create_subprocess_exec is exec_
    assert asyncio.create_subprocess_shell is shell
    assert asyncio.subprocess.create_subprocess_exec is exec_
    assert asyncio.subprocess.Process.__dict__["communicate"] is communicate


def test_suppressed_instrumentation_records_nothing(instrumented, spans):
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    with suppress_instrumentation():
        subprocess.run(["true"])
    assert spans.activities() == []


async def test_track_command_execution_redacts_and_returns_the_id(spans):
    activity_id = await track_command_execution(
        user_id=str(USER),
        command=f"mysql -u root -p{PLANTED} shop",
        session_id="s-9",
        working_directory="/srv",
        exit_code=0,
        output=b"ok\x00\xff",
        shell_type="bash",
    )
    attrs = only(spans.activities())
    assert attrs[attr.ACTIVITY_ID] == str(activity_id)
    assert no_plant(attrs.values()), "planted password leaked into the span"
    assert attrs[attr.PROCESS_COMMAND_LINE].startswith("mysql -u root -p[REDACTED")
    assert attrs[attr.TERMINAL_OUTPUT] == "ok\u2400\ufffd"
    notes = json.loads(attrs[attr.ACTIVITY_METADATA])["text_notes"][attr.TERMINAL_OUTPUT]
    assert notes == ["invalid_utf8", "nul_bytes"]


async def test_explicit_calls_reject_a_non_uuid_user():
    with pytest.raises(ValueError, match="user_id must be a UUID"):
        await track_command_execution(user_id="alice", command="ls")


async def test_pty_session_creation(spans):
    await track_pty_session_creation(user_id=USER, session_id="s", pty_id="pty-7", shell_type="zsh")
    attrs = only(spans.activities())
    assert attrs[attr.ACTIVITY_ACTION] == "pty_session_created"
    assert json.loads(attrs[attr.ACTIVITY_METADATA]) == {"pty_id": "pty-7"}


def test_decorated_sync_handler(spans):
    @terminal_activity
    def run_command(user_id, command, session_id=None):
        return subprocess.CompletedProcess(command, 7, stdout="done")

    assert run_command(str(USER), "make build", session_id="s-1").returncode == 7
    attrs = only(spans.activities())
    assert attrs[attr.USER_ID] == str(USER)
    assert attrs[attr.SESSION_ID] == "s-1"
    assert attrs[attr.PROCESS_COMMAND_LINE] == "make build"
    assert attrs[attr.PROCESS_EXIT_CODE] == 7
    assert attrs[attr.TERMINAL_OUTPUT] == "done"


async def test_decorated_async_handler_failure_propagates(spans):
    @terminal_activity
    async def run_command(command, user_id="not-a-uuid"):
        raise PermissionError("denied")

    with pytest.raises(PermissionError, match="denied"):
        await run_command("rm -rf /data")
    attrs = only(spans.activities())
    assert attrs[attr.ERROR_TYPE] == "PermissionError"
    assert attr.USER_ID not in attrs  # kept, unattributed, with the raw id in metadata
    assert json.loads(attrs[attr.ACTIVITY_METADATA])["unparsed_user_id"] == "not-a-uuid"


async def test_context_follows_tasks_and_copied_threads(spans):
    async def in_task():
        await track_command_execution(command="ls")

    with activity_context(user_id=USER):
        await asyncio.create_task(in_task())
        await asyncio.to_thread(asyncio.run, track_command_execution(command="pwd"))
    assert [s.attributes[attr.USER_ID] for s in spans.activities()] == [str(USER)] * 2


def test_an_argv_password_with_shell_characters_is_redacted(instrumented, spans, tmp_path):
    mysql = tmp_path / "mysql"
    mysql.write_text("#!/bin/sh\nexit 0\n")
    mysql.chmod(0o755)
    subprocess.run([str(mysql), "-u", "root", f"-p{PLANTED}!x", "shop"], check=True)
    command = only(spans.activities())[attr.PROCESS_COMMAND_LINE]
    assert no_plant([command]), "planted password leaked into the command line"
    assert command.endswith("-u root '-p[REDACTED:mysql-password]' shop")


def test_instrument_records_through_the_tracer_provider_it_is_given(instrument, spans):
    own = OwnProvider()
    instrument(TerminalInstrumentor, tracer_provider=own.provider)
    subprocess.run(["true"], check=True)
    os.system("true")
    assert len(own.assert_recorded("autobot_activity_otel.instrumentation.terminal")) == 2
    assert spans.activities() == []
