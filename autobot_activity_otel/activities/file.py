"""One file activity: the attributes every file record carries, instrumented or explicit."""

from __future__ import annotations

import functools
import mimetypes
import os

from opentelemetry.trace import Tracer

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.context import Attribution
from autobot_activity_otel.recording import ActivityRecord, start_activity, to_text
from autobot_activity_otel.secrets import redact

OPERATIONS = (
    "create",
    "read",
    "update",
    "delete",
    "rename",
    "move",
    "copy",
    "mkdir",
    "rmdir",
    "upload",
    "download",
)
"""Every file operation recorded; the seed's six first."""
DIRECTORY_TYPE = "inode/directory"
_API = f"{attr.METADATA_PREFIX}api"
"""The function that did the operation (``os.rename``), in the row's metadata as ``api``."""


def check_operation(operation: object) -> str:
    """An explicit caller's operation, or a ``ValueError`` that names the allowed ones."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown file operation; allowed: {', '.join(OPERATIONS)}")
    return str(operation)


def file_type(path: str) -> str | None:
    """The media type its suffixes imply (``text/plain``), or None when unknown."""
    name = os.path.basename(path)
    dot = name.find(".", 1)
    return None if dot < 0 else _type_of_suffixes(name[dot:].lower())


@functools.lru_cache(maxsize=1024)
def _type_of_suffixes(suffixes: str) -> str | None:
    """``mimetypes`` parses a URL on every call; the answer depends on the suffixes only."""
    return mimetypes.guess_type(f"file{suffixes}", strict=False)[0]


def extension(path: str) -> str | None:
    """The last suffix without its dot (``gz`` for ``a.tar.gz``), as the conventions define it."""
    name = path.rstrip("/").rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot + 1 :] or None if dot > 0 else None


def start_file_activity(
    operation: str,
    path: str,
    *,
    new_path: str | None = None,
    given: str | None = None,
    traversal: bool = False,
    kind_of_file: str | None = None,
    attribution: Attribution | None = None,
    api: str | None = None,
    tracer: Tracer | None = None,
    implied: bool = True,
) -> ActivityRecord:
    """A file activity with its paths (redacted), type and extension set.

    ``given`` is the path as the caller wrote it, kept in the metadata when it differs from
    the recorded one; ``kind_of_file`` overrides the type the suffix implies; ``api`` names
    the function that did the operation (``os.rename``), for the metadata; ``implied``: see
    ``describe_path``.
    """
    record = start_activity(
        attr.ActivityType.FILE, operation, attribution=attribution, tracer=tracer
    )
    describe_path(record, path, kind_of_file, implied=implied)
    record.set_text(attr.FILE_NEW_PATH, new_path)
    note_origin(record, path, given, traversal)
    if api is not None:  # one of this package's names: an attribute, no JSON (see attributes)
        record.set(_API, api)
    return record


def describe_path(
    record: ActivityRecord, path: str, kind_of_file: str | None = None, *, implied: bool = True
) -> None:
    """Set the path (redacted), and the type and extension it implies.

    With ``implied`` False the span leaves out what the path implies (the type, unless
    ``kind_of_file`` says it, and the extension): the row builder derives both from the
    stored path, so the file instrumentation does not spend the caller's time on them.
    """
    recorded = record.set_text(attr.FILE_PATH, path) or ""
    if kind_of_file == DIRECTORY_TYPE:
        record.set(attr.FILE_TYPE, DIRECTORY_TYPE)
        return
    if kind_of_file is not None:
        record.set_text(attr.FILE_TYPE, kind_of_file)
    if not implied:
        return
    # Type and extension come from the redacted path: nothing there is left to redact.
    if kind_of_file is None:
        record.set(attr.FILE_TYPE, file_type(recorded))
    record.set(attr.FILE_EXTENSION, extension(recorded))


def note_origin(record: ActivityRecord, path: str, given: str | None, traversal: bool) -> None:
    """The path as the caller wrote it, when it differs; whether it escaped its root."""
    if given is not None and given != path:
        note_text(record, "original_path", given)
    if traversal:
        record.metadata["path_traversal"] = True


def note_text(record: ActivityRecord, key: str, value: object) -> None:
    """Put a text into the metadata, redacted; findings not already on the record are added."""
    redaction = redact(to_text(value)[0][: record.max_text_chars], kind="text")
    known = {finding.fingerprint for _, finding in record.findings}
    record.findings.extend(
        (attr.ACTIVITY_METADATA, finding)
        for finding in redaction.findings
        if finding.fingerprint not in known
    )
    record.metadata[key] = redaction.text
