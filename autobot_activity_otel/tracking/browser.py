"""Browser tracking with the seed's function names and parameters, and the handler decorator.

The helpers that turn a field value, a URL and a redirect chain into redacted attributes
(``set_input_value``, ``set_navigation``) are shared with the Playwright instrumentation, so
an explicit call and an instrumented Playwright action record the same way.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import explicit_attribution
from autobot_activity_otel.decorators import activity_handler
from autobot_activity_otel.recording import ActivityRecord, persist, to_text
from autobot_activity_otel.secrets import Finding, fingerprint, known_secret_id, secret_id_for

F = TypeVar("F", bound=Callable[..., Any])

BROWSER_ACTIONS: Final = frozenset({"navigate", "click", "type", "submit", "scroll", "screenshot"})
"""The seed's five actions, plus ``screenshot`` (``Page.screenshot`` and friends)."""

PASSWORD_FIELD: Final = "password-field"
"""Rule of a value typed into an ``<input type="password">`` (or autocomplete=*-password)."""
SECRET_FIELD: Final = "secret-field"
"""Rule of a value typed into a field whose name or id says it holds a secret."""

_SECRET_NAME = re.compile(
    r"pass(?:word|wd|phrase|code)|secret|token|api[-_ ]?key|access[-_ ]?key|private[-_ ]?key"
    r"|card[-_ ]?(?:number|num|no)|cc[-_ ]?(?:number|num|csc|cvc|cvv)|one[-_ ]?time[-_ ]?code"
    r"|(?<![a-z])(?:otp|pwd|cvv|cvc|csc|pin)(?![a-z])",
    re.IGNORECASE,
)
"""Words in a field's name, id or autocomplete hint that mark its value as a secret."""


def secret_field_rule(input_type: str, name: str, element_id: str, autocomplete: str) -> str | None:
    """Which secret rule a field falls under, from its type, name, id and autocomplete hint."""
    if input_type.lower() == "password" or "password" in autocomplete.lower():
        return PASSWORD_FIELD
    if any(_SECRET_NAME.search(hint) for hint in (name, element_id, autocomplete) if hint):
        return SECRET_FIELD
    return None


def set_input_value(record: ActivityRecord, value: object, secret_rule: str | None) -> None:
    """Record a typed value: a secret field's value only as a marker and a finding.

    The finding (whole value, keyed fingerprint) becomes a ``secret_usage`` row. Its secret id
    is the registered secret's when the value holds one, else the stable id the engine derives
    from the fingerprint, so the same password typed twice is recognisably the same secret.
    Any other value goes through the redactor like every text.
    """
    if secret_rule is None:
        record.set_text(attr.BROWSER_INPUT_VALUE, value, "text")
        return
    text, _ = to_text(value)
    if text:
        digest = fingerprint(text)
        secret_id = known_secret_id(text) or secret_id_for(digest)
        finding = Finding(secret_rule, 0, len(text), digest, secret_id)
        record.findings.append((attr.BROWSER_INPUT_VALUE, finding))
    record.set(attr.BROWSER_INPUT_VALUE, f"[REDACTED:{secret_rule}]" if text else "")


def set_navigation(
    record: ActivityRecord,
    url: object,
    status_code: int | None = None,
    redirect_chain: Iterable[object] = (),
) -> None:
    """URL (through the URL redactor), response status and redirect chain of a navigation.

    ``redirect_chain`` lists the URLs that answered with a redirect, first request first;
    ``url`` is where the navigation ended.
    """
    record.set_text(attr.URL_FULL, url, "url")
    if status_code is not None:
        record.set(attr.HTTP_RESPONSE_STATUS_CODE, int(status_code))
    # set_text redacts each hop (its findings name the chain attribute); the list replaces them.
    chain = [
        record.set_text(attr.BROWSER_REDIRECT_CHAIN, hop, "url") or "" for hop in redirect_chain
    ]
    if chain:
        record.set(attr.BROWSER_REDIRECT_CHAIN, chain)


def _record(action: str, user_id: uuid.UUID | str | None, session_id: str | None) -> ActivityRecord:
    if action not in BROWSER_ACTIONS:
        raise ValueError(f"action must be one of {sorted(BROWSER_ACTIONS)}")
    return ActivityRecord(
        attr.ActivityType.BROWSER, action, attribution=explicit_attribution(user_id, session_id)
    )


async def track_browser_navigation(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    url: str = "",
    session_id: str | None = None,
    status_code: int | None = None,
    redirect_chain: Iterable[str] | None = None,
    *,
    secrets_used: Iterable[uuid.UUID | str] | None = None,
) -> uuid.UUID:
    """Record a page navigation; returns the activity id.

    With ``db`` (an ``AsyncSession``) the row is also written through it at once. A
    ``user_id`` that is not a UUID raises ``ValueError``.
    """
    record = _record("navigate", user_id, session_id)
    set_navigation(record, url, status_code, redirect_chain or ())
    record.declare_secrets(secrets_used)
    return await persist(record, db)


async def track_browser_action(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    action: str = "click",
    url: str | None = None,
    selector: str | None = None,
    input_value: str | None = None,
    session_id: str | None = None,
    *,
    secrets_used: Iterable[uuid.UUID | str] | None = None,
    input_is_secret: bool = False,
) -> uuid.UUID:
    """Record a browser action (navigate, click, type, submit, scroll, screenshot).

    ``input_is_secret=True`` says the value was typed into a password-like field: it is then
    recorded only as a marker and a secret-usage finding. An unknown ``action`` or a
    non-UUID ``user_id`` raises ``ValueError``.
    """
    record = _record(action, user_id, session_id)
    record.set_text(attr.URL_FULL, url, "url")
    record.set_text(attr.BROWSER_SELECTOR, selector)
    if input_value is not None:
        set_input_value(record, input_value, PASSWORD_FIELD if input_is_secret else None)
    record.declare_secrets(secrets_used)
    return await persist(record, db)


async def track_form_submission(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    url: str | None = None,
    form_selector: str | None = None,
    secrets_used: Iterable[uuid.UUID | str] | None = None,
    session_id: str | None = None,
) -> uuid.UUID:
    """Record a form submission; ``secrets_used`` are the ids of secrets filled into it."""
    record = _record("submit", user_id, session_id)
    record.set_text(attr.URL_FULL, url, "url")
    record.set_text(attr.BROWSER_SELECTOR, form_selector)
    record.declare_secrets(secrets_used)
    return await persist(record, db)


async def track_element_click(
    db: Any | None = None,
    user_id: uuid.UUID | str | None = None,
    url: str | None = None,
    selector: str | None = None,
    session_id: str | None = None,
    *,
    secrets_used: Iterable[uuid.UUID | str] | None = None,
) -> uuid.UUID:
    """Record a click on an element; returns the activity id."""
    record = _record("click", user_id, session_id)
    record.set_text(attr.URL_FULL, url, "url")
    record.set_text(attr.BROWSER_SELECTOR, selector)
    record.declare_secrets(secrets_used)
    return await persist(record, db)


def _record_response(record: ActivityRecord, result: Any) -> None:
    """The HTTP status from what a handler returned: a Playwright ``Response`` or a mapping."""
    get = result.get if isinstance(result, Mapping) else lambda key: getattr(result, key, None)
    status = get("status_code")
    if status is None:
        status = get("status")
    if isinstance(status, int) and not isinstance(status, bool):
        record.set(attr.HTTP_RESPONSE_STATUS_CODE, status)


def browser_activity(action: str = "navigate") -> Callable[[F], F]:
    """Decorator: each call of a browser handler is one browser activity of ``action``.

    The handler's ``url``, ``selector`` (or ``form_selector``), ``user_id`` and
    ``session_id`` parameters are read by name; a returned Playwright ``Response`` (or a
    mapping with ``status_code``) gives the HTTP status. Values typed by the handler are not
    read from its parameters: the Playwright instrumentation records them, field-aware.
    """
    if action not in BROWSER_ACTIONS:
        raise ValueError(f"action must be one of {sorted(BROWSER_ACTIONS)}")
    return activity_handler(
        attr.ActivityType.BROWSER,
        action,
        texts={
            "url": (attr.URL_FULL, "url"),
            "selector": (attr.BROWSER_SELECTOR, "text"),
            "form_selector": (attr.BROWSER_SELECTOR, "text"),
        },
        on_result=_record_response,
    )
