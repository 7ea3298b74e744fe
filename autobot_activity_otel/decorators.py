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
from autobot_activity_otel.context import current_attribution
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
                params = signature.bind_partial(*args, **kwargs).arguments
                record = ActivityRecord(
                    activity_type,
                    action,
                    name=f"{activity_type.value} {func.__qualname__}",
                    attribution=_attribution(params),
                )
                if "user_id" in params and params["user_id"] is not None:
                    _note_unparsed_user(record, params["user_id"])
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


def _attribution(params: Mapping[str, Any]) -> Any:
    """The current attribution, overridden by the handler's ``user_id`` / ``session_id``."""
    attribution = current_attribution()
    user_id, session_id = params.get("user_id"), params.get("session_id")
    if user_id is not None:
        try:
            attribution = replace(attribution, user_id=parse_uuid(user_id, "user_id"))
        except ValueError:
            attribution = replace(attribution, user_id=None)
    if session_id is not None:
        attribution = replace(attribution, session_id=str(session_id))
    return attribution


def _note_unparsed_user(record: ActivityRecord, user_id: Any) -> None:
    """A handler's user id that is not a UUID: keep the activity, unattributed, with the raw id."""
    try:
        parse_uuid(user_id, "user_id")
    except ValueError:
        record.metadata["unparsed_user_id"] = str(user_id)[:200]
