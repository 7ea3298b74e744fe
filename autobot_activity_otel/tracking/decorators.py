"""Decorators that turn a handler call into one activity, reading its parameters by name."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from autobot_activity_otel.arguments import parameters
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import Attribution, explicit_attribution
from autobot_activity_otel.recording import ActivityRecord, running, start_activity
from autobot_activity_otel.secrets import Kind

_logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
ResultHook = Callable[[ActivityRecord, Any], None]
"""Reads what a handler returned (any value) into its activity."""
ParamsHook = Callable[[ActivityRecord, Mapping[str, Any]], None]
"""Derives attributes from a handler's parameters (any values), by name."""


def activity_handler(
    activity_type: ActivityType,
    action: str,
    *,
    texts: Mapping[str, tuple[str, Kind]] | None = None,
    values: Mapping[str, str] | None = None,
    reads: Iterable[str] = (),
    on_params: ParamsHook | None = None,
    on_result: ResultHook | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call of the decorated function (sync or async) as one activity.

    ``texts`` maps a parameter name to the attribute and redaction kind of its value, ``values``
    a parameter name to the attribute of a non-secret value; parameters named ``user_id`` and
    ``session_id`` attribute the activity. ``on_params`` derives attributes from the
    parameters named in ``reads`` (those the handler has; the others read as None);
    ``on_result`` reads the return value. A failure of the handler marks the activity failed
    and propagates unchanged; a failure of the tracking itself is logged and the handler runs
    as if undecorated.
    """
    texts = texts or {}
    values = values or {}
    wanted = ("user_id", "session_id", *texts, *values, *reads)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        arguments = parameters(func)
        names = [param for param in dict.fromkeys(wanted) if param in arguments]
        handler_texts = [(param, *text) for param, text in texts.items() if param in arguments]
        handler_values = [(param, key) for param, key in values.items() if param in arguments]
        name = f"{activity_type.value} {func.__qualname__}"

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActivityRecord | None:
            try:
                params = arguments.read(args, kwargs, names)
                attribution, unparsed_user = _attribution(params)
                record = start_activity(activity_type, action, name=name, attribution=attribution)
                if unparsed_user is not None:  # kept, unattributed, with the raw id
                    record.metadata["unparsed_user_id"] = unparsed_user[:200]
                for param, key, kind in handler_texts:
                    record.set_text(key, params[param], kind)
                for param, key in handler_values:
                    record.set(key, params[param])
                if on_params is not None:
                    on_params(record, params)
                return record
            except Exception as exc:
                _logger.warning("activity tracking skipped for a call (%s)", type(exc).__name__)
                return None

        def finish(record: ActivityRecord, result: object) -> None:
            if on_result is not None:
                try:
                    on_result(record, result)
                except Exception as exc:
                    _logger.warning("could not read a handler's result (%s)", type(exc).__name__)
            record.end()

        if inspect.iscoroutinefunction(func):
            call_async = cast(Callable[P, Awaitable[Any]], func)

            @functools.wraps(func)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                record = start(args, kwargs)
                if record is None:
                    return await call_async(*args, **kwargs)
                with running(record, record.span):
                    result = await call_async(*args, **kwargs)
                finish(record, result)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            record = start(args, kwargs)
            if record is None:
                return func(*args, **kwargs)
            with running(record, record.span):
                result = func(*args, **kwargs)
            finish(record, result)
            return result

        return wrapper

    return decorate


def result_field(result: object, *names: str) -> object:
    """A handler's result field under the first of ``names`` it has that is not None: a key
    of a mapping, else an attribute (results come in both shapes)."""
    for name in names:
        value = result.get(name) if isinstance(result, Mapping) else getattr(result, name, None)
        if value is not None:
            return value
    return None


def _attribution(params: Mapping[str, Any]) -> tuple[Attribution, str | None]:
    """The current attribution, overridden by the handler's ``user_id`` / ``session_id``.

    A ``user_id`` that is not a UUID does not raise here (the handler did not ask us to
    validate it): it is returned raw, for the metadata, and the activity stays unattributed.
    """
    user_id, session_id = params.get("user_id"), params.get("session_id")
    try:
        return explicit_attribution(user_id, session_id), None
    except ValueError:
        return explicit_attribution(None, session_id), str(user_id)
