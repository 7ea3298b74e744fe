"""The seed's browser tracking functions and the browser handler decorator, to real rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from sqlalchemy.ext.asyncio import AsyncSession
from support.database import ActivityDB, on_engine
from support.planted import plant
from support.spans import SpanCapture

from autobot_activity_exporters.database import create_engine
from autobot_activity_exporters.schema import upgrade
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.browser import (
    PASSWORD_FIELD,
    SECRET_FIELD,
    secret_field_rule,
    selector_field_rule,
)
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.tracking.browser import (
    browser_activity,
    track_browser_action,
    track_browser_navigation,
    track_element_click,
    track_form_submission,
)

USER = uuid.UUID("0195f000-0000-7000-8000-0000000b0003")
URL_PASSWORD = plant("Url-pl4nted-pw")


@pytest.mark.parametrize(
    ("input_type", "name", "element_id", "autocomplete", "rule"),
    [
        ("password", "", "", "", PASSWORD_FIELD),
        ("text", "login", "", "current-password", PASSWORD_FIELD),
        ("text", "user_password", "", "", SECRET_FIELD),
        ("text", "", "apiKey", "", SECRET_FIELD),
        ("text", "api_key", "", "", SECRET_FIELD),
        ("text", "", "", "cc-number", SECRET_FIELD),
        ("tel", "", "card-number", "", SECRET_FIELD),
        ("text", "", "", "one-time-code", SECRET_FIELD),
        ("text", "otp", "", "", SECRET_FIELD),
        ("text", "client_secret", "", "", SECRET_FIELD),
        ("text", "access_token", "", "", SECRET_FIELD),
        ("text", "pass", "", "", SECRET_FIELD),
        ("text", "pw", "", "", SECRET_FIELD),
        ("tel", "", "pinCode", "", SECRET_FIELD),
        ("text", "", "totp-code", "", SECRET_FIELD),
        ("text", "cvv", "", "", SECRET_FIELD),
        ("text", "", "", "cc-exp", SECRET_FIELD),
        ("text", "", "", "new-password", PASSWORD_FIELD),
        ("text", "username", "email", "username", None),
        ("text", "passenger", "pinterest-url", "", None),
        ("text", "spinner", "opts", "postal-code", None),
        ("text", "shipping", "hotpink", "", None),
        ("search", "q", "", "off", None),
    ],
)
def test_which_fields_hold_secrets(
    input_type: str, name: str, element_id: str, autocomplete: str, rule: str | None
) -> None:
    assert secret_field_rule(input_type, name, element_id, autocomplete) == rule


def test_a_field_labelled_as_a_secret_holds_one() -> None:
    assert secret_field_rule("text", "f1", "f1", "", "Verification code", "") == SECRET_FIELD
    assert secret_field_rule("text", "f1", "f1", "", "", "Your PIN") == SECRET_FIELD
    assert secret_field_rule("text", "f1", "f1", "", "Shipping address", "Street") is None


@pytest.mark.parametrize(
    ("selector", "rule"),
    [
        ("#password", PASSWORD_FIELD),
        ("input[type=password]", PASSWORD_FIELD),
        ("[name=pw]", SECRET_FIELD),
        ("input[name='pass']", SECRET_FIELD),
        ("#otpInput", SECRET_FIELD),
        ("input[autocomplete=one-time-code]", SECRET_FIELD),
        ("input[autocomplete=cc-csc]", SECRET_FIELD),
        ("label=PIN", SECRET_FIELD),
        ("[placeholder='Security code']", SECRET_FIELD),
        ("#search", None),
        ("input[name=passenger]", None),
        ("text=Forgot your pin?", None),
        ("#spinner-port", None),
        ("", None),
        (None, None),
    ],
)
def test_which_selectors_name_a_secret_field(selector: str | None, rule: str | None) -> None:
    assert selector_field_rule(selector) == rule


async def test_a_value_typed_into_a_field_the_selector_names_as_secret_is_a_marker(
    spans: SpanCapture,
) -> None:
    value = plant("Otp-Typed-Pl4nted-662")
    await track_browser_action(action="type", selector="input[name=otp]", input_value=value)
    (span,) = spans.all()
    assert (span.attributes or {})[attr.BROWSER_INPUT_VALUE] == f"[REDACTED:{SECRET_FIELD}]"


async def test_seed_functions_write_redacted_rows_with_status_and_chain(
    spans: SpanCapture, activity_db: ActivityDB
) -> None:
    declared = uuid.uuid4()
    with activity_context(session_id="seed-browser"):
        navigation = await track_browser_navigation(
            user_id=USER,
            url=f"https://alice:{URL_PASSWORD}@example.test/home",
            status_code=200,
            redirect_chain=["https://example.test/start", "https://example.test/sso"],
        )
        typed = await track_browser_action(
            None, USER, "type", "https://example.test/login", "#pw", "hunter2", input_is_secret=True
        )
        submitted = await track_form_submission(
            user_id=USER,
            url="https://example.test/login",
            form_selector="form#login",
            secrets_used=[declared],
        )
        clicked = await track_element_click(
            user_id=str(USER), url="https://example.test/", selector="a.next"
        )

    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    rows = {row["id"]: row for row in activity_db.rows("browser_activities")}
    assert list(rows) == [navigation, typed, submitted, clicked]
    assert {(r["user_id"], r["session_id"]) for r in rows.values()} == {(USER, "seed-browser")}
    nav = rows[navigation]
    assert nav["action"] == "navigate" and URL_PASSWORD not in nav["url"], "URL password leaked"
    assert nav["metadata"][attr.HTTP_RESPONSE_STATUS_CODE] == 200
    assert nav["metadata"][attr.BROWSER_REDIRECT_CHAIN] == [
        "https://example.test/start",
        "https://example.test/sso",
    ]
    assert (rows[typed]["action"], rows[typed]["input_value"]) == (
        "type",
        "[REDACTED:password-field]",
    )
    assert (rows[submitted]["action"], rows[submitted]["selector"]) == ("submit", "form#login")
    assert rows[submitted]["secrets_used"] == [declared]
    assert (rows[clicked]["action"], rows[clicked]["selector"]) == ("click", "a.next")

    usage = activity_db.rows("secret_usage")
    by_activity = {(u["activity_id"], u["rule"]) for u in usage}
    assert (navigation, "url-password") in by_activity
    assert (typed, PASSWORD_FIELD) in by_activity
    assert [u["secret_id"] for u in usage if u["activity_id"] == submitted] == [declared]


async def test_a_registered_secret_typed_through_track_browser_action_is_attributed(
    spans: SpanCapture,
) -> None:
    secret_id = uuid.uuid4()
    with registered_secret(secret_id, "gh-planted-Zq81xW"):
        await track_browser_action(action="type", selector="#pw", input_value="gh-planted-Zq81xW")
        await track_browser_action(
            action="type", selector="#pw", input_value="gh-planted-Zq81xW", input_is_secret=True
        )
    plain, secret = (span.attributes or {} for span in spans.activities("browser"))
    assert plain[attr.SECRETS_IDS] == secret[attr.SECRETS_IDS] == (str(secret_id),)
    assert secret[attr.BROWSER_INPUT_VALUE] == "[REDACTED:password-field]"
    assert "gh-planted-Zq81xW" not in str(plain[attr.BROWSER_INPUT_VALUE]), "secret leaked"


async def test_bad_ids_and_actions_raise_value_error(spans: SpanCapture) -> None:
    with pytest.raises(ValueError, match="user_id"):
        await track_element_click(user_id="not-a-uuid", selector="a")
    with pytest.raises(ValueError, match="action"):
        await track_browser_action(action="hover", selector="a")
    with pytest.raises(ValueError, match="action"):
        browser_activity("drag")
    assert spans.activities("browser") == []


async def test_db_session_writes_the_row_at_once(
    spans: SpanCapture, activity_db: ActivityDB
) -> None:
    await on_engine(activity_db.url, upgrade)
    engine = create_engine(activity_db.url)
    try:
        async with AsyncSession(engine) as session:
            clicked = await track_element_click(
                session, USER, "https://example.test/", "button#save"
            )
            await session.commit()
    finally:
        await engine.dispose()
    assert [row["id"] for row in activity_db.rows("browser_activities")] == [clicked]
    assert activity_db.export(spans.all()) is SpanExportResult.SUCCESS
    assert activity_db.pending() == 0
    assert [row["id"] for row in activity_db.rows("browser_activities")] == [clicked]


async def test_the_decorator_records_a_handler_call(spans: SpanCapture) -> None:
    @browser_activity("submit")
    async def submit_form(
        user_id: str, url: str, form_selector: str, password: str
    ) -> dict[str, Any]:
        return {"submitted": True, "status_code": 302}

    @browser_activity()
    def open_page(url: str, session_id: str | None = None) -> int:
        return 1

    result = await submit_form(str(USER), "https://example.test/login", "form#login", "pw-xyz")
    assert result == {"submitted": True, "status_code": 302}
    assert open_page("https://example.test/", session_id="s-1") == 1
    submitted, opened = (span.attributes or {} for span in spans.activities("browser"))
    assert (submitted[attr.ACTIVITY_ACTION], submitted[attr.BROWSER_SELECTOR]) == (
        "submit",
        "form#login",
    )
    assert (submitted[attr.USER_ID], submitted[attr.HTTP_RESPONSE_STATUS_CODE]) == (str(USER), 302)
    assert "pw-xyz" not in str(submitted), "handler's password parameter leaked"
    assert (opened[attr.ACTIVITY_ACTION], opened[attr.URL_FULL], opened[attr.SESSION_ID]) == (
        "navigate",
        "https://example.test/",
        "s-1",
    )
