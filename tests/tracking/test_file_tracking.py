"""Seed file tracking: explicit calls and the upload/download handler decorator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import StatusCode
from support.planted import plant
from support.spans import SpanCapture

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.file import OPERATIONS
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.tracking.file import (
    file_activity,
    track_file_download,
    track_file_operation,
    track_file_upload,
)

USER = uuid.UUID("0192f0c1-0000-7000-8000-0000000f5eed")


def attributes_of(spans: SpanCapture) -> list[dict[str, Any]]:
    found = []
    for span in spans.activities("file"):
        values = dict(span.attributes or {})
        values["metadata"] = json.loads(str(values.get(attr.ACTIVITY_METADATA, "{}")))
        found.append(values)
    return found


async def test_track_file_operation_records_the_seed_fields_and_returns_the_id(
    spans: SpanCapture,
) -> None:
    activity_id = await track_file_operation(
        user_id=str(USER),
        operation="create",
        path="/srv/uploads/./reports/q3.pdf",
        session_id="chat-9",
        size_bytes=2048,
    )
    [found] = attributes_of(spans)
    assert found[attr.ACTIVITY_ID] == str(activity_id)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_PATH]) == (
        "create",
        "/srv/uploads/reports/q3.pdf",
    )
    assert (found[attr.FILE_SIZE], found[attr.FILE_TYPE], found[attr.FILE_EXTENSION]) == (
        2048,
        "application/pdf",
        "pdf",
    )
    assert (found[attr.USER_ID], found[attr.SESSION_ID]) == (str(USER), "chat-9")
    assert found["metadata"]["original_path"] == "/srv/uploads/./reports/q3.pdf"


async def test_a_rename_keeps_both_paths_and_the_callers_file_type(spans: SpanCapture) -> None:
    await track_file_operation(
        operation="rename", path="a/draft.txt", new_path="a/final.txt", file_type="text/x-memo"
    )
    [found] = attributes_of(spans)
    assert (found[attr.FILE_NEW_PATH], found[attr.FILE_TYPE]) == ("a/final.txt", "text/x-memo")
    assert attr.USER_ID not in found  # no user: kept, unattributed


async def test_a_climbing_path_is_flagged_and_attribution_comes_from_the_context(
    spans: SpanCapture,
) -> None:
    with activity_context(user_id=USER, session_id="ctx"):
        await track_file_upload(path=b"uploads/../../etc/passwd", size_bytes="12")
    [found] = attributes_of(spans)
    assert found[attr.ACTIVITY_ACTION] == "upload"
    assert found[attr.FILE_PATH] == "../etc/passwd"
    assert found["metadata"]["path_traversal"] is True
    assert (found[attr.USER_ID], found[attr.SESSION_ID], found[attr.FILE_SIZE]) == (
        str(USER),
        "ctx",
        12,
    )


async def test_download_takes_path_like_objects(spans: SpanCapture, tmp_path: Path) -> None:
    await track_file_download(user_id=USER, path=tmp_path / "out.tar.gz", size_bytes=0)
    [found] = attributes_of(spans)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_EXTENSION], found[attr.FILE_SIZE]) == (
        "download",
        "gz",
        0,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"operation": "explode", "path": "x"},
        {"operation": "", "path": "x"},
        {"operation": "read", "path": "x", "user_id": "alice"},
        {"operation": "read", "path": ""},
        {"operation": "read", "path": "x", "size_bytes": "big"},
    ],
)
async def test_explicit_calls_reject_bad_arguments(spans: SpanCapture, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as raised:
        await track_file_operation(**bad)
    if bad["operation"] in ("explode", ""):
        assert all(name in str(raised.value) for name in OPERATIONS)
    assert spans.activities("file") == []


async def test_a_secret_in_a_path_is_redacted(spans: SpanCapture) -> None:
    secret = plant("qq-planted-upload-secret")
    with registered_secret(uuid.uuid4(), secret):
        await track_file_upload(path=f"/in/./token={secret}.txt")
    [found] = attributes_of(spans)
    assert not any(secret in str(value) for value in found.values()), "planted secret leaked"
    assert found[attr.SECRETS_COUNT] >= 1


def test_decorated_sync_upload_handler(spans: SpanCapture) -> None:
    @file_activity("upload")
    def save_upload(user_id: str, file_path: str, size: int, session_id: str | None = None) -> dict:
        return {"success": True}

    assert save_upload(str(USER), "/data/in/photo.png", 512, session_id="s") == {"success": True}
    [found] = attributes_of(spans)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_PATH], found[attr.FILE_SIZE]) == (
        "upload",
        "/data/in/photo.png",
        512,
    )
    assert (found[attr.FILE_TYPE], found[attr.USER_ID], found[attr.SESSION_ID]) == (
        "image/png",
        str(USER),
        "s",
    )


async def test_decorated_async_download_handler_reads_size_from_its_result(
    spans: SpanCapture,
) -> None:
    @file_activity("download", path="name")
    async def send(name: str) -> dict:
        return {"size_bytes": 77}

    await send("report.csv")
    [found] = attributes_of(spans)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_SIZE], found[attr.FILE_TYPE]) == (
        "download",
        77,
        "text/csv",
    )


async def test_a_failing_handler_propagates_and_is_recorded(spans: SpanCapture) -> None:
    planted = PermissionError("quota exceeded")

    @file_activity("upload")
    async def refuse(file_path: str) -> None:
        raise planted

    with pytest.raises(PermissionError) as raised:
        await refuse("/data/x.bin")
    assert raised.value is planted
    [span] = spans.activities("file")
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})[attr.ERROR_TYPE] == "PermissionError"


def test_the_decorator_rejects_an_unknown_operation() -> None:
    with pytest.raises(ValueError, match="allowed: create"):
        file_activity("teleport")
