"""Browser tracking: explicit functions for navigations, actions and forms, and the decorator."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.browser import (
    PASSWORD_FIELD,
    check_action,
    selector_field_rule,
    set_input_value,
    set_navigation,
)
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.recording import ActivityRecord, start_activity
from autobot_activity_otel.tracking.decorators import activity_handler, result_field
from autobot_activity_otel.tracking.explicit import SecretIds, complete

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

P = ParamSpec("P")
R = TypeVar("R")


def _start(action: str, user_id: uuid.UUID | str | None, session_id: str | None) -> ActivityRecord:
    check_action(action)
    return start_activity(
        attr.ActivityType.BROWSER, action, attribution=explicit_attribution(user_id, session_id)
    )


async def track_browser_navigation(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    url: str = "",
    session_id: str | None = None,
    status_code: int | None = None,
    redirect_chain: Iterable[str] | None = None,
    *,
    secrets_used: SecretIds = None,
) -> uuid.UUID:
    """Record a page navigation; returns the activity id.

    With ``db`` (an ``AsyncSession``) the row is also written through it at once. A
    ``user_id`` that is not a UUID raises ``ValueError``.
    """
    record = _start("navigate", user_id, session_id)
    set_navigation(record, url, status_code, redirect_chain or ())
    return await complete(db, record, secrets_used=secrets_used)


async def track_browser_action(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    action: str = "click",
    url: str | None = None,
    selector: str | None = None,
    input_value: str | None = None,
    session_id: str | None = None,
    *,
    secrets_used: SecretIds = None,
    input_is_secret: bool = False,
) -> uuid.UUID:
    """Record a browser action (navigate, click, type, submit, scroll, screenshot).

    ``input_is_secret=True`` says the value was typed into a password-like field: it is then
    recorded only as a marker and a secret-usage finding, as it is when the selector names
    such a field (``#password``, ``[name=otp]``, ``[autocomplete=one-time-code]``). An
    unknown ``action`` or a non-UUID ``user_id`` raises ``ValueError``.
    """
    record = _start(action, user_id, session_id)
    record.set_text(attr.URL_FULL, url, "url")
    record.set_text(attr.BROWSER_SELECTOR, selector)
    if input_value is not None:
        rule = PASSWORD_FIELD if input_is_secret else selector_field_rule(selector)
        set_input_value(record, input_value, rule)
    return await complete(db, record, secrets_used=secrets_used)


async def track_form_submission(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    url: str | None = None,
    form_selector: str | None = None,
    secrets_used: SecretIds = None,
    session_id: str | None = None,
) -> uuid.UUID:
    """Record a form submission; ``secrets_used`` are the ids of secrets filled into it."""
    return await _element_action(
        "submit", db, user_id, url, form_selector, session_id, secrets_used
    )


async def track_element_click(
    db: AsyncSession | None = None,
    user_id: uuid.UUID | str | None = None,
    url: str | None = None,
    selector: str | None = None,
    session_id: str | None = None,
    *,
    secrets_used: SecretIds = None,
) -> uuid.UUID:
    """Record a click on an element; returns the activity id."""
    return await _element_action("click", db, user_id, url, selector, session_id, secrets_used)


async def _element_action(
    action: str,
    db: AsyncSession | None,
    user_id: uuid.UUID | str | None,
    url: str | None,
    selector: str | None,
    session_id: str | None,
    secrets_used: SecretIds,
) -> uuid.UUID:
    return await complete(
        db,
        _start(action, user_id, session_id),
        texts=((attr.URL_FULL, url, "url"), (attr.BROWSER_SELECTOR, selector, "text")),
        secrets_used=secrets_used,
    )


def _record_response(record: ActivityRecord, result: object) -> None:
    """The HTTP status from what a handler returned: a Playwright ``Response`` or a mapping."""
    status = result_field(result, "status_code", "status")
    if isinstance(status, int) and not isinstance(status, bool):
        record.set(attr.HTTP_RESPONSE_STATUS_CODE, status)


def browser_activity(action: str = "navigate") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: each call of a browser handler is one browser activity of ``action``.

    The handler's ``url``, ``selector`` (or ``form_selector``), ``user_id`` and
    ``session_id`` parameters are read by name; a returned Playwright ``Response`` (or a
    mapping with ``status_code``) gives the HTTP status. Values typed by the handler are not
    read from its parameters: the Playwright instrumentation records them, field-aware.
    """
    return activity_handler(
        attr.ActivityType.BROWSER,
        check_action(action),
        texts={
            "url": (attr.URL_FULL, "url"),
            "selector": (attr.BROWSER_SELECTOR, "text"),
            "form_selector": (attr.BROWSER_SELECTOR, "text"),
        },
        on_result=_record_response,
    )
