"""Decorators that turn a handler call into one activity, reading its parameters by name."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from opentelemetry import trace

from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import Attribution, current_attribution
from autobot_activity_otel.ids import parse_uuid
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.secrets import Kind

_logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
ResultHook = Callable[[ActivityRecord, Any], None]


def activity_handler(
    activity_type: ActivityType,
    action: str,
    *,
    texts: Mapping[str, tuple[str, Kind]] = {},
    values: Mapping[str, str] = {},
    on_result: ResultHook | None = None,
) -> Callable[[F], F]:
    """Record each call of the decorated function (sync or async) as one activity.

    ``texts`` maps a parameter name to the attribute and redaction kind of its value, ``values``
    a parameter name to the attribute of a non-secret value; parameters named ``user_id`` and
    ``session_id`` attribute the activity. ``on_result`` reads the return value. A failure of the
    handler marks the activity failed and propagates unchanged; a failure of the tracking
    itself is logged and the handler runs as if undecorated.
    """

    def decorate(func: F) -> F:
        signature = inspect.signature(func)

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActivityRecord | None:
            try:
                bound = signature.bind_partial(*args, **kwargs)
                bound.apply_defaults()
                params = bound.arguments
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
                    if params.get(param) is not None:
                        record.set_text(key, params[param], kind)
                for param, key in values.items():
                    record.set(key, params.get(param))
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
                with trace.use_span(
                    record.span,
                    end_on_exit=False,
                    record_exception=False,
                    set_status_on_exception=False,
                ):
                    try:
                        result = await func(*args, **kwargs)
                    except BaseException as exc:
                        record.fail(exc)
                        record.end()
                        raise
                finish(record, result)
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            record = start(args, kwargs)
            if record is None:
                return func(*args, **kwargs)
            with trace.use_span(
                record.span,
                end_on_exit=False,
                record_exception=False,
                set_status_on_exception=False,
            ):
                try:
                    result = func(*args, **kwargs)
                except BaseException as exc:
                    record.fail(exc)
                    record.end()
                    raise
            finish(record, result)
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def _attribution(params: Mapping[str, Any]) -> tuple[Attribution, str | None]:
    """The current attribution, overridden by the handler's ``user_id`` / ``session_id``.

    A ``user_id`` that is not a UUID does not raise here (the handler did not ask us to
    validate it): it is returned raw, for the metadata, and the activity stays unattributed.
    """
    attribution = current_attribution()
    user_id, session_id = params.get("user_id"), params.get("session_id")
    unparsed = None
    if user_id is not None:
        try:
            attribution = replace(attribution, user_id=parse_uuid(user_id, "user_id"))
        except ValueError:
            attribution, unparsed = replace(attribution, user_id=None), str(user_id)
    if session_id is not None:
        attribution = replace(attribution, session_id=str(session_id))
    return attribution, unparsed
