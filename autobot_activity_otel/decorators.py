"""Decorators that turn a handler call into one activity, reading its parameters by name."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import Attribution, explicit_attribution
from autobot_activity_otel.recording import ActivityRecord, in_span
from autobot_activity_otel.secrets import Kind

_logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
ResultHook = Callable[[ActivityRecord, Any], None]
ParamsHook = Callable[[ActivityRecord, Mapping[str, Any]], None]


def activity_handler(
    activity_type: ActivityType,
    action: str,
    *,
    texts: Mapping[str, tuple[str, Kind]] = {},
    values: Mapping[str, str] = {},
    reads: Iterable[str] = (),
    on_params: ParamsHook | None = None,
    on_result: ResultHook | None = None,
) -> Callable[[F], F]:
    """Record each call of the decorated function (sync or async) as one activity.

    ``texts`` maps a parameter name to the attribute and redaction kind of its value, ``values``
    a parameter name to the attribute of a non-secret value; parameters named ``user_id`` and
    ``session_id`` attribute the activity. ``on_params`` derives attributes from the
    parameters named in ``reads`` (those the handler has; the others read as None);
    ``on_result`` reads the return value. A failure of the
    handler marks the activity failed and propagates unchanged; a failure of the tracking
    itself is logged and the handler runs as if undecorated.
    """

    def decorate(func: F) -> F:
        read = _parameter_reader(func, {"user_id", "session_id", *texts, *values, *reads})

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActivityRecord | None:
            try:
                params = read(args, kwargs)
                attribution, unparsed_user = _attribution(params)
                record = ActivityRecord(
                    activity_type,
                    action,
                    name=f"{activity_type.value} {func.__qualname__}",
                    attribution=attribution,
                )
                if unparsed_user is not None:  # kept, unattributed, with the raw id
                    record.metadata["unparsed_user_id"] = unparsed_user[:200]
                for param, (key, kind) in texts.items():
                    record.set_text(key, params.get(param), kind)
                for param, key in values.items():
                    record.set(key, params.get(param))
                if on_params is not None:
                    on_params(record, params)
                return record
            except Exception as exc:
                _logger.warning("activity tracking skipped for a call (%s)", type(exc).__name__)
                return None

        def finish(record: ActivityRecord, result: Any) -> None:
            if on_result is not None:
                try:
                    on_result(record, result)
                except Exception as exc:
                    _logger.warning("could not read a handler's result (%s)", type(exc).__name__)
            record.end()

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                record = start(args, kwargs)
                if record is None:
                    return await func(*args, **kwargs)
                with in_span(record):
                    result = await func(*args, **kwargs)
                finish(record, result)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            record = start(args, kwargs)
            if record is None:
                return func(*args, **kwargs)
            with in_span(record):
                result = func(*args, **kwargs)
            finish(record, result)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _parameter_reader(
    func: Callable[..., Any], names: set[str]
) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """A fast reader of the named parameters of a call (``Signature.bind`` is too slow here)."""
    positions: dict[str, tuple[int | None, Any]] = {}
    for index, param in enumerate(inspect.signature(func).parameters.values()):
        if param.name in names:
            positional = param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD)
            default = None if param.default is param.empty else param.default
            positions[param.name] = (index if positional else None, default)

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name, (index, default) in positions.items():
            if name in kwargs:
                values[name] = kwargs[name]
            elif index is not None and index < len(args):
                values[name] = args[index]
            else:
                values[name] = default
        return values

    return read


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
