"""The row builder reads a terminal output once, after its command, and finds a secret
registered after a text first passed through it."""

from __future__ import annotations

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
