"""The row builder's redaction re-check uses the record's memo of clean texts: a text it has
found clean is only asked about again against the known secrets, and so a secret registered
after the text was remembered is still redacted in the row."""

from __future__ import annotations

import uuid

from support import planted

from autobot_activity_exporters.rows import rows_from_activity
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import _clean_texts, forget_clean_texts
from autobot_activity_otel.secrets import add_rule, add_secret_names, registered_secret
from autobot_activity_otel.snapshot import ActivitySnapshot


def _working_directory(directory: str) -> object:
    snapshot = ActivitySnapshot(
        "terminal execute",
        1,
        2,
        1,
        2,
        {
            attr.ACTIVITY_TYPE: "terminal",
            attr.ACTIVITY_ID: str(uuid.uuid4()),
            attr.ACTIVITY_ACTION: "execute",
            attr.PROCESS_COMMAND_LINE: "ls",
            attr.PROCESS_WORKING_DIRECTORY: directory,
        },
    )
    mapped = rows_from_activity(snapshot)
    assert mapped is not None
    return mapped.activity["working_directory"]


def test_a_row_text_remembered_clean_is_redacted_once_it_holds_a_registered_secret() -> None:
    secret = planted.plant("Row-Remembered-Then-Registered-41")
    directory = f"/srv/{secret}/app"
    forget_clean_texts()
    assert _working_directory(directory) == directory
    assert (directory, "text") in _clean_texts  # the re-check remembered it
    secret_id = uuid.uuid4()
    with registered_secret(secret_id, secret):
        stored = _working_directory(directory)
    assert secret not in str(stored)
    assert f"[REDACTED:secret:{secret_id}]" in str(stored)


def _output(command: str, output: str) -> object:
    snapshot = ActivitySnapshot(
        "terminal execute",
        1,
        2,
        1,
        2,
        {
            attr.ACTIVITY_TYPE: "terminal",
            attr.ACTIVITY_ID: str(uuid.uuid4()),
            attr.ACTIVITY_ACTION: "execute",
            attr.PROCESS_COMMAND_LINE: command,
            attr.TERMINAL_OUTPUT: output,
        },
    )
    mapped = rows_from_activity(snapshot)
    assert mapped is not None
    return mapped.activity["output"]


def test_an_output_remembered_clean_is_redacted_once_its_name_is_added() -> None:
    """The rules change at run time (``add_secret_names``): what the memo found clean under
    the old rules is read again under the new ones."""
    secret = planted.plant("Wq7-Named-After-Memo-63")
    output = f"GLIMMERKEY={secret}\n"
    remembered = _output("cat app.env", output) == output  # no such name yet: clean
    add_secret_names("GLIMMERKEY")
    leaked = secret in str(_output("cat app.env", output))
    assert remembered and not leaked


def test_an_output_remembered_clean_is_redacted_once_a_rule_matches_it() -> None:
    secret = planted.plant("K7Q2M9X4R8T3")
    output = f"licence: ZORBLIC-{secret}\n"
    remembered = _output("cat licence", output) == output
    add_rule("zorb-licence", r"ZORBLIC-([0-9A-Z]{12})", keywords=["zorblic-"], group=1)
    leaked = secret in str(_output("cat licence", output))
    assert remembered and not leaked
