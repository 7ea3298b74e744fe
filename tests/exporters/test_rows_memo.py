"""The row builder's redaction re-check uses the record's memo of clean texts: a text it has
found clean is only asked about again against the known secrets, and so a secret registered
after the text was remembered is still redacted in the row."""

from __future__ import annotations

import uuid

from support import planted

from autobot_activity_exporters.rows import rows_from_activity
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import _clean_texts, forget_clean_texts
from autobot_activity_otel.secrets import registered_secret
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
