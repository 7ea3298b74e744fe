"""Terminal auto-instrumentation: each child process the application starts is one activity.

Wrapped: ``subprocess.Popen`` (so ``run``, ``call``, ``check_output`` are covered),
``asyncio.create_subprocess_exec`` / ``create_subprocess_shell``, ``os.system`` and
``pty.spawn``. The activity starts when the process is launched and ends when its exit code is
known (``wait``, ``poll``, ``communicate`` or, for asyncio, the process exiting); output is
recorded, redacted and capped, when the caller captured it through ``communicate``. Children
started through ``Popen`` and asyncio get ``TRACEPARENT`` in their environment, so a child
that is itself instrumented continues the trace. ``os.system`` and ``pty.spawn`` inherit the
parent's environment unchanged: changing ``os.environ`` would race other threads.

Usage::

    TerminalInstrumentor().instrument(capture_output=True)
"""

from __future__ import annotations

import asyncio
import asyncio.subprocess
import contextvars
import inspect
import logging
import os
import pty
import subprocess
import threading
from collections.abc import Collection
from typing import Any

from opentelemetry import propagate
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.trace import set_span_in_context
from wrapt import wrap_function_wrapper

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.instrumentation.terminal.package import _instruments
from autobot_activity_otel.recording import ActivityRecord, recording

_logger = logging.getLogger(__name__)

_ACTIVITY = "_autobot_activity"
"""Attribute of a ``Popen`` or asyncio ``Process`` holding its ``ProcessActivity``."""
_launch_recorded: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autobot_activity_launch_recorded", default=False
)
"""Set while an outer wrapper records a launch, so the ``Popen`` it makes is not a second row."""
_POPEN_SIGNATURE = inspect.signature(subprocess.Popen)
_exit_watchers: set[asyncio.Task[None]] = set()
_capture_output = True


class ProcessActivity:
    """The activity of one child process, ended exactly once when its outcome is known."""

    __slots__ = ("_done", "_lock", "communicating", "record")

    def __init__(self, record: ActivityRecord) -> None:
        self.record = record
        self.communicating = False
        self._done = False
        self._lock = threading.Lock()

    def finish(self, returncode: int | None, output: tuple[Any, Any] | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            self.record.set(attr.PROCESS_EXIT_CODE, returncode)
            if output is not None and _capture_output:
                self.record.set_text(attr.TERMINAL_OUTPUT, _combined(*output), "output")
        except Exception as exc:
            _logger.warning("could not record a process outcome (%s)", type(exc).__name__)
        finally:
            self.record.end()


def _combined(stdout: Any, stderr: Any) -> Any:
    """One output text: stdout, then stderr when both were captured."""
    if stdout and stderr:
        if isinstance(stdout, bytes) != isinstance(stderr, bytes):
            return f"{stdout!s}\n{stderr!s}"
        return stdout + (b"\n" if isinstance(stdout, bytes) else "\n") + stderr
    return stdout or stderr


def _start_record(command: Any, cwd: Any) -> ActivityRecord:
    """A running process's activity: command line, working directory, trace to pass on."""
    record = ActivityRecord(attr.ActivityType.TERMINAL, "execute", name="terminal execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
    argv0 = command[0] if isinstance(command, list | tuple) and command else None
    if argv0 is not None:
        record.set_text(attr.PROCESS_EXECUTABLE_NAME, os.path.basename(os.fsdecode(argv0)))
    record.set_text(attr.PROCESS_WORKING_DIRECTORY, os.getcwd() if cwd is None else cwd)
    return record


def _with_traceparent(env: Any, record: ActivityRecord) -> dict[str, str]:
    """The child's environment with ``TRACEPARENT`` (and state, baggage) for the process span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=set_span_in_context(record.span))
    child_env = dict(os.environ if env is None else env)
    child_env.update({key.upper(): value for key, value in carrier.items()})
    return child_env


def _popen_init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
    if not is_instrumentation_enabled() or _launch_recorded.get():
        return wrapped(*args, **kwargs)
    try:
        bound = _POPEN_SIGNATURE.bind(*args, **kwargs)
        record = _start_record(bound.arguments["args"], bound.arguments.get("cwd"))
        bound.arguments["env"] = _with_traceparent(bound.arguments.get("env"), record)
        args, kwargs = bound.args, bound.kwargs
    except Exception as exc:
        _logger.warning("process launch not tracked (%s)", type(exc).__name__)
        return wrapped(*args, **kwargs)
    try:
        wrapped(*args, **kwargs)
    except BaseException as exc:
        record.fail(exc)
        record.end()
        raise
    record.set(attr.PROCESS_PID, instance.pid)
    setattr(instance, _ACTIVITY, ProcessActivity(record))


def _popen_reaped(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    """``wait`` / ``poll``: end the activity once the exit code is known."""
    result = wrapped(*args, **kwargs)
    activity: ProcessActivity | None = getattr(instance, _ACTIVITY, None)
    if activity is not None and not activity.communicating and instance.returncode is not None:
        activity.finish(instance.returncode)
    return result


def _popen_communicate(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    activity: ProcessActivity | None = getattr(instance, _ACTIVITY, None)
    if activity is None:
        return wrapped(*args, **kwargs)
    activity.communicating = True
    try:
        output = wrapped(*args, **kwargs)
    finally:
        activity.communicating = False
    if instance.returncode is not None:
        activity.finish(instance.returncode, output)
    return output


async def _create_subprocess(wrapped: Any, args: Any, kwargs: Any, command: Any) -> Any:
    try:
        record = _start_record(command, kwargs.get("cwd"))
        kwargs = {**kwargs, "env": _with_traceparent(kwargs.get("env"), record)}
    except Exception as exc:
        _logger.warning("process launch not tracked (%s)", type(exc).__name__)
        return await wrapped(*args, **kwargs)
    token = _launch_recorded.set(True)
    try:
        process = await wrapped(*args, **kwargs)
    except BaseException as exc:
        record.fail(exc)
        record.end()
        raise
    finally:
        _launch_recorded.reset(token)
    record.set(attr.PROCESS_PID, process.pid)
    activity = ProcessActivity(record)
    setattr(process, _ACTIVITY, activity)
    watcher = asyncio.get_running_loop().create_task(_finish_on_exit(process, activity))
    _exit_watchers.add(watcher)
    watcher.add_done_callback(_exit_watchers.discard)
    return process


async def _finish_on_exit(process: asyncio.subprocess.Process, activity: ProcessActivity) -> None:
    """End an asyncio process's activity when it exits, unless ``communicate`` will."""
    try:
        returncode = await process.wait()
    except BaseException:  # cancelled at loop shutdown: the exit code is unknown
        activity.finish(process.returncode)
        raise
    if not activity.communicating:
        activity.finish(returncode)


async def _create_subprocess_exec(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not is_instrumentation_enabled() or not args:
        return await wrapped(*args, **kwargs)
    return await _create_subprocess(wrapped, args, kwargs, list(args))


async def _create_subprocess_shell(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not is_instrumentation_enabled() or not args:
        return await wrapped(*args, **kwargs)
    return await _create_subprocess(wrapped, args, kwargs, args[0])


async def _process_communicate(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    activity: ProcessActivity | None = getattr(instance, _ACTIVITY, None)
    if activity is None:
        return await wrapped(*args, **kwargs)
    activity.communicating = True
    try:
        output = await wrapped(*args, **kwargs)
    finally:
        activity.communicating = False
    activity.finish(instance.returncode, output)
    return output


def _exit_code(wait_status: int) -> int:
    try:
        return os.waitstatus_to_exitcode(wait_status)
    except ValueError:
        return wait_status


def _os_system(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    with recording(attr.ActivityType.TERMINAL, "execute", name="terminal execute") as record:
        record.set_text(
            attr.PROCESS_COMMAND_LINE, args[0] if args else kwargs.get("command"), "command"
        )
        record.set_text(attr.PROCESS_WORKING_DIRECTORY, os.getcwd())
        status = wrapped(*args, **kwargs)
        record.set(attr.PROCESS_EXIT_CODE, _exit_code(status))
    return status


def _pty_spawn(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not is_instrumentation_enabled():
        return wrapped(*args, **kwargs)
    argv = args[0] if args else kwargs.get("argv")
    with recording(attr.ActivityType.TERMINAL, "pty_spawn", name="terminal pty_spawn") as record:
        record.set_text(
            attr.PROCESS_COMMAND_LINE, [argv] if isinstance(argv, str) else argv, "command"
        )
        record.set_text(attr.PROCESS_WORKING_DIRECTORY, os.getcwd())
        status = wrapped(*args, **kwargs)
        record.set(attr.PROCESS_EXIT_CODE, _exit_code(status))
    return status


_WRAPPED: tuple[tuple[Any, str, Any], ...] = (
    (subprocess, "Popen.__init__", _popen_init),
    (subprocess, "Popen.wait", _popen_reaped),
    (subprocess, "Popen.poll", _popen_reaped),
    (subprocess, "Popen.communicate", _popen_communicate),
    (asyncio.subprocess, "create_subprocess_exec", _create_subprocess_exec),
    (asyncio.subprocess, "create_subprocess_shell", _create_subprocess_shell),
    (asyncio, "create_subprocess_exec", _create_subprocess_exec),
    (asyncio, "create_subprocess_shell", _create_subprocess_shell),
    (asyncio.subprocess, "Process.communicate", _process_communicate),
    (os, "system", _os_system),
    (pty, "spawn", _pty_spawn),
)


class TerminalInstrumentor(BaseInstrumentor):
    """Records child processes as ``terminal`` activities (``autobot_terminal`` entry point)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        global _capture_output
        _capture_output = bool(kwargs.get("capture_output", True))
        for module, name, wrapper in _WRAPPED:
            wrap_function_wrapper(module, name, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        for module, name, _ in _WRAPPED:
            owner_name, _, attribute = name.rpartition(".")
            unwrap(getattr(module, owner_name) if owner_name else module, attribute)
