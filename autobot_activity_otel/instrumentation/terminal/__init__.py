"""Terminal auto-instrumentation: each child process the application starts is one activity.

Wrapped: ``subprocess.Popen`` (so ``run``, ``call``, ``check_output`` are covered),
``asyncio.create_subprocess_exec`` / ``create_subprocess_shell``, ``os.system`` and
``pty.spawn``. The activity starts when the process is launched and ends when its exit code is
known (``wait``, ``poll``, ``communicate`` or, for asyncio, the process exiting); output is
recorded, redacted and capped, when the caller captured it through ``communicate``. Children
started through ``Popen`` and asyncio get ``TRACEPARENT`` in their environment, so a child
that is itself instrumented continues the trace, and do not get the project's own secrets
(the fingerprint key, the database URL, ingest tokens: ``secrets.own``) unless
``AUTOBOT_ACTIVITY_CHILDREN_INHERIT_SECRETS=true``. ``os.system`` and ``pty.spawn`` inherit the
parent's environment unchanged: changing ``os.environ`` would race other threads.

Usage::

    TerminalInstrumentor().instrument(capture_output=True)
"""

from __future__ import annotations

import asyncio
import asyncio.subprocess
import logging
import os
import pty
import subprocess
import threading
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any

from opentelemetry import propagate
from opentelemetry.trace import Tracer, set_span_in_context

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.arguments import parameters
from autobot_activity_otel.instrumentation.kit import (
    ActivityInstrumentor,
    Target,
    allowed,
    call_recorded,
    call_recorded_async,
)
from autobot_activity_otel.instrumentation.terminal.package import _instruments
from autobot_activity_otel.recording import ActivityRecord, start_activity
from autobot_activity_otel.secrets.own import without_own_secrets
from autobot_activity_otel.settings import children_inherit_secrets

_logger = logging.getLogger(__name__)

_ACTIVITY = "_autobot_activity"
"""Attribute of a ``Popen`` or asyncio ``Process`` holding its ``ProcessActivity``."""
_POPEN = parameters(subprocess.Popen.__init__, bound=True)
_exit_watchers: set[asyncio.Task[None]] = set()


class ProcessActivity:
    """The activity of one child process, ended exactly once when its outcome is known."""

    __slots__ = ("_done", "_lock", "capture_output", "communicating", "record")

    def __init__(self, record: ActivityRecord, capture_output: bool) -> None:
        self.record = record
        self.capture_output = capture_output
        self.communicating = False
        self._done = False
        self._lock = threading.Lock()

    def finish(self, returncode: int | None, output: tuple[object, object] | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        try:
            self.record.set(attr.PROCESS_EXIT_CODE, returncode)
            if output is not None and self.capture_output:
                self.record.set_text(attr.TERMINAL_OUTPUT, _combined(*output), "output")
        except Exception as exc:
            _logger.warning("could not record a process outcome (%s)", type(exc).__name__)
        finally:
            self.record.end()


def _combined(stdout: Any, stderr: Any) -> Any:
    """One output text: stdout, then stderr when both were captured (each str, bytes or None)."""
    if stdout and stderr:
        if isinstance(stdout, bytes) != isinstance(stderr, bytes):
            return f"{stdout!s}\n{stderr!s}"
        return stdout + (b"\n" if isinstance(stdout, bytes) else "\n") + stderr
    return stdout or stderr


def _exit_code(wait_status: int) -> int:
    try:
        return os.waitstatus_to_exitcode(wait_status)
    except ValueError:
        return wait_status


class _Launches:
    """The wrappers that start a process's activity, with the options of ``instrument()``."""

    def __init__(self, tracer: Tracer, capture_output: bool, inherit_secrets: bool) -> None:
        self.tracer = tracer
        self.capture_output = capture_output
        self.inherit_secrets = inherit_secrets

    def start(self, command: object, cwd: object, action: str = "execute") -> ActivityRecord:
        """A process's activity: command line, executable name, working directory."""
        record = start_activity(
            attr.ActivityType.TERMINAL, action, name=f"terminal {action}", tracer=self.tracer
        )
        record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
        if action == "execute" and isinstance(command, list | tuple) and command:
            record.set_text(attr.PROCESS_EXECUTABLE_NAME, os.path.basename(os.fsdecode(command[0])))
        record.set_text(attr.PROCESS_WORKING_DIRECTORY, os.getcwd() if cwd is None else cwd)
        return record

    def popen_init(
        self,
        wrapped: Callable[..., None],
        instance: subprocess.Popen[Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        if not allowed():
            return wrapped(*args, **kwargs)
        try:
            record = self.start(_POPEN.get(args, kwargs, "args"), _POPEN.get(args, kwargs, "cwd"))
            env = self.child_environment(_POPEN.get(args, kwargs, "env"), record)
            args, kwargs = _POPEN.replace(args, kwargs, "env", env)
        except Exception as exc:
            _logger.warning("process launch not tracked (%s)", type(exc).__name__)
            return wrapped(*args, **kwargs)
        call_recorded(record, wrapped, args, kwargs)
        record.set(attr.PROCESS_PID, instance.pid)
        setattr(instance, _ACTIVITY, ProcessActivity(record, self.capture_output))

    async def create_subprocess(
        self,
        wrapped: Callable[..., Awaitable[asyncio.subprocess.Process]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        command: object,
    ) -> asyncio.subprocess.Process:
        try:
            record = self.start(command, kwargs.get("cwd"))
            kwargs = {**kwargs, "env": self.child_environment(kwargs.get("env"), record)}
        except Exception as exc:
            _logger.warning("process launch not tracked (%s)", type(exc).__name__)
            return await wrapped(*args, **kwargs)
        process: asyncio.subprocess.Process = await call_recorded_async(
            record, wrapped, args, kwargs
        )
        record.set(attr.PROCESS_PID, process.pid)
        activity = ProcessActivity(record, self.capture_output)
        setattr(process, _ACTIVITY, activity)
        watcher = asyncio.get_running_loop().create_task(_finish_on_exit(process, activity))
        _exit_watchers.add(watcher)
        watcher.add_done_callback(_exit_watchers.discard)
        return process

    async def create_subprocess_exec(
        self,
        wrapped: Callable[..., Awaitable[asyncio.subprocess.Process]],
        instance: None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> asyncio.subprocess.Process:
        if not allowed() or not args:
            return await wrapped(*args, **kwargs)
        return await self.create_subprocess(wrapped, args, kwargs, list(args))

    async def create_subprocess_shell(
        self,
        wrapped: Callable[..., Awaitable[asyncio.subprocess.Process]],
        instance: None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> asyncio.subprocess.Process:
        if not allowed() or not args:
            return await wrapped(*args, **kwargs)
        return await self.create_subprocess(wrapped, args, kwargs, args[0])

    def child_environment(
        self, env: Mapping[str, str] | None, record: ActivityRecord
    ) -> dict[str, str]:
        """The child's environment (the caller's ``env``, else ours) without the project's own
        secrets (unless inherited on purpose), with ``TRACEPARENT`` (and state, baggage) for
        the process span."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=set_span_in_context(record.span))
        given = os.environ if env is None else env
        child_env = dict(given) if self.inherit_secrets else without_own_secrets(given)
        child_env.update({key.upper(): value for key, value in carrier.items()})
        return child_env

    def os_system(
        self, wrapped: Callable[..., int], instance: None, args: tuple[Any, ...], kwargs: Any
    ) -> int:
        if not allowed():
            return wrapped(*args, **kwargs)
        return self._waited(
            "execute", args[0] if args else kwargs.get("command"), wrapped, args, kwargs
        )

    def pty_spawn(
        self, wrapped: Callable[..., int], instance: None, args: tuple[Any, ...], kwargs: Any
    ) -> int:
        if not allowed():
            return wrapped(*args, **kwargs)
        argv = args[0] if args else kwargs.get("argv")
        command = [argv] if isinstance(argv, str) else argv
        return self._waited("pty_spawn", command, wrapped, args, kwargs)

    def _waited(
        self,
        action: str,
        command: object,
        wrapped: Callable[..., int],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> int:
        """A call that returns when the process has exited (``os.system``, ``pty.spawn``)."""
        try:
            record = self.start(command, None, action)
        except Exception as exc:
            _logger.warning("process launch not tracked (%s)", type(exc).__name__)
            return wrapped(*args, **kwargs)
        status: int = call_recorded(record, wrapped, args, kwargs, record.span)
        record.set(attr.PROCESS_EXIT_CODE, _exit_code(status))
        record.end()
        return status


def _popen_reaped(
    wrapped: Callable[..., Any], instance: subprocess.Popen[Any], args: Any, kwargs: Any
) -> Any:
    """``wait`` / ``poll``: end the activity once the exit code is known."""
    result = wrapped(*args, **kwargs)
    activity: ProcessActivity | None = getattr(instance, _ACTIVITY, None)
    if activity is not None and not activity.communicating and instance.returncode is not None:
        activity.finish(instance.returncode)
    return result


def _popen_communicate(
    wrapped: Callable[..., tuple[Any, Any]],
    instance: subprocess.Popen[Any],
    args: Any,
    kwargs: Any,
) -> tuple[Any, Any]:
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


async def _finish_on_exit(process: asyncio.subprocess.Process, activity: ProcessActivity) -> None:
    """End an asyncio process's activity when it exits, unless ``communicate`` will."""
    try:
        returncode = await process.wait()
    except BaseException:  # cancelled at loop shutdown: the exit code is unknown
        activity.finish(process.returncode)
        raise
    if not activity.communicating:
        activity.finish(returncode)


async def _process_communicate(
    wrapped: Callable[..., Awaitable[tuple[Any, Any]]],
    instance: asyncio.subprocess.Process,
    args: Any,
    kwargs: Any,
) -> tuple[Any, Any]:
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


class TerminalInstrumentor(ActivityInstrumentor):
    """Records child processes as ``terminal`` activities (``autobot_terminal`` entry point).

    ``instrument()`` options: ``tracer_provider``, ``capture_output`` (default True). Reads
    ``AUTOBOT_ACTIVITY_CHILDREN_INHERIT_SECRETS`` (default false) when instrumenting.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _targets(self, tracer: Tracer, options: Mapping[str, Any]) -> Iterable[Target]:
        launches = _Launches(
            tracer, bool(options.get("capture_output", True)), children_inherit_secrets()
        )
        popen, process = subprocess.Popen, asyncio.subprocess.Process
        return (
            Target(popen, "__init__", launches.popen_init),
            Target(popen, "wait", _popen_reaped),
            Target(popen, "poll", _popen_reaped),
            Target(popen, "communicate", _popen_communicate),
            Target(asyncio.subprocess, "create_subprocess_exec", launches.create_subprocess_exec),
            Target(asyncio.subprocess, "create_subprocess_shell", launches.create_subprocess_shell),
            Target(asyncio, "create_subprocess_exec", launches.create_subprocess_exec),
            Target(asyncio, "create_subprocess_shell", launches.create_subprocess_shell),
            Target(process, "communicate", _process_communicate),
            Target(os, "system", launches.os_system),
            Target(pty, "spawn", launches.pty_spawn),
        )
