"""The row builder reads a terminal output once, after its command, and finds a secret
registered after a text first passed through it."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from support.planted import plant

from autobot_activity_exporters import rows as row_mapping
from autobot_activity_exporters.rows import rows_from_activity
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.ids import new_activity_id
from autobot_activity_otel.secrets import register_secret, unregister_secret
from autobot_activity_otel.snapshot import ActivitySnapshot

PASSWORD = plant("Clean-texts-planted-Pw-8086")
LATE = plant("walnut-harbor-42x")


def terminal(command: str, output: str) -> ActivitySnapshot:
    return ActivitySnapshot(
        name="terminal execute",
        trace_id=1,
        span_id=2,
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_000_100_000_000,
        attributes={
            attr.ACTIVITY_TYPE: "terminal",
            attr.ACTIVITY_ID: str(new_activity_id()),
            attr.ACTIVITY_ACTION: "execute",
            attr.SESSION_ID: "chat-9",
            attr.PROCESS_COMMAND_LINE: command,
            attr.PROCESS_WORKING_DIRECTORY: "/srv/app",
            attr.TERMINAL_OUTPUT: output,
        },
    )


@pytest.fixture
def redactions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text the row builder hands to the redactor."""
    seen: list[str] = []
    real = row_mapping.redact

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(row_mapping, "redact", counting)
    return seen


def test_the_output_is_read_once_after_its_command(redactions: list[str]) -> None:
    """``printenv DB_PASSWORD`` then the value alone: one pass, with the command as context."""
    rows = rows_from_activity(terminal("printenv DB_PASSWORD", f"{PASSWORD}\n"))
    assert rows is not None
    assert PASSWORD not in rows.activity["output"] and "[REDACTED" in rows.activity["output"]
    assert redactions.count(f"{PASSWORD}\n") == 1


def test_an_output_whose_command_comes_only_as_argv_is_read_after_it() -> None:
    """A sender in another language may give ``process.command_args`` and no command line:
    the output is still read after the command the argv spells."""
    snapshot = terminal("", f"{PASSWORD}\n")
    attributes = dict(snapshot.attributes)
    del attributes[attr.PROCESS_COMMAND_LINE]
    attributes[attr.PROCESS_COMMAND_ARGS] = ("printenv", "DB_PASSWORD")
    rows = rows_from_activity(dataclasses.replace(snapshot, attributes=attributes))
    assert rows is not None
    assert PASSWORD not in rows.activity["output"] and "[REDACTED" in rows.activity["output"]


def test_a_secret_registered_between_batches_is_found_in_the_next() -> None:
    """A text the rules let through is not trusted once the value is known."""
    text = f"release name: {LATE}"
    before = rows_from_activity(terminal("deploy", text))
    assert before is not None and before.activity["output"] == text  # nothing said secret
    secret_id = uuid.uuid4()
    register_secret(secret_id, LATE)
    try:
        after = rows_from_activity(terminal("deploy", text))
    finally:
        unregister_secret(secret_id)
    assert after is not None and LATE not in after.activity["output"]
    assert f"[REDACTED:secret:{secret_id}]" in after.activity["output"]


SENT = plant("Sender-Raw-Pw-Kq4411")


def _activity(activity_type: str, extra: dict[str, Any]) -> ActivitySnapshot:
    attributes: dict[str, Any] = {
        attr.ACTIVITY_TYPE: activity_type,
        attr.ACTIVITY_ID: str(new_activity_id()),
        attr.ACTIVITY_ACTION: "type",
    }
    attributes.update(extra)
    return ActivitySnapshot("x", 1, 2, 1_700_000_000_000_000_000, None, attributes)


def _stored(snapshot: ActivitySnapshot) -> str:
    mapped = rows_from_activity(snapshot)
    assert mapped is not None
    return repr((mapped.activity, mapped.secret_usage))


def test_a_senders_secret_summary_is_read_again() -> None:
    """Another producer's summary arrays are free text to the service: a rule, field or
    fingerprint holding a value is stored redacted like every other string."""
    entry = f"password={SENT}"
    stored = _stored(
        _activity(
            "terminal",
            {
                attr.SECRETS_RULES: (entry,),
                attr.SECRETS_IDS: ("",),
                attr.SECRETS_FINGERPRINTS: (entry,),
                attr.SECRETS_FIELDS: (entry,),
            },
        )
    )
    leaked = SENT in stored
    assert not leaked


@pytest.mark.parametrize("selector", ["input[type=password]", "#password", "[name=otp]"])
def test_a_senders_value_typed_into_a_secret_field_is_kept_only_as_a_marker(
    selector: str,
) -> None:
    """The recording keeps a secret field's value as a marker; a sender that did not is
    read by the same selector rule, so the service does what the recording would have."""
    stored = _stored(
        _activity("browser", {attr.BROWSER_SELECTOR: selector, attr.BROWSER_INPUT_VALUE: SENT})
    )
    leaked = SENT in stored
    assert not leaked and "[REDACTED:" in stored
