"""FileInstrumentor on real files under a temporary root: one span per operation, none outside."""

from __future__ import annotations

import builtins
import io
import json
import logging
import os
import pathlib
import select
import shutil
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.threadpool
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import StatusCode
from support.instrumentors import Instrument, OwnProvider
from support.planted import plant
from support.spans import SpanCapture

from autobot_activity_exporters.rows import rows_from_span
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.instrumentation.file import FileInstrumentor, flush, ignore_path
from autobot_activity_otel.instrumentation.file.scope import SCOPE, Scope, given_text
from autobot_activity_otel.secrets import registered_secret

USER = uuid.UUID("0192f0c1-0000-7000-8000-00000000f11e")


class Roots:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "root"
        self.outside = tmp_path / "outside"
        self.root.mkdir()
        self.outside.mkdir()


@pytest.fixture
def roots(instrument: Instrument, tmp_path: Path) -> Roots:
    """Instrumented with one root; reads are not coalesced unless a test asks."""
    layout = Roots(tmp_path)
    instrument(FileInstrumentor, roots=[layout.root], coalesce_window_ms=0)
    return layout


def only(spans: SpanCapture) -> dict[str, Any]:
    """The attributes of the one file activity recorded; under ``row`` the row the exporter
    makes of it (the type and extension are derived there), under ``metadata`` the row's."""
    found = spans.activities("file")
    assert len(found) == 1, [span.attributes for span in found]
    attributes = dict(found[0].attributes or {})
    rows = rows_from_span(found[0])
    assert rows is not None
    attributes["row"] = rows.activity
    attributes["metadata"] = rows.activity["metadata"]
    return attributes


def real(path: Path) -> str:
    return os.path.realpath(path)


def test_open_for_writing_a_new_file_is_a_create_with_the_size_written(
    roots: Roots, spans: SpanCapture
) -> None:
    target = roots.root / "report.txt"
    with activity_context(user_id=USER, session_id="s-1"), open(target, "w") as handle:
        handle.write("hello world")
    found = only(spans)
    assert found[attr.ACTIVITY_ACTION] == "create"
    assert found[attr.FILE_PATH] == real(target)
    assert found[attr.FILE_SIZE] == 11
    assert attr.FILE_TYPE not in found  # left to the row, off the caller's thread
    assert found["row"]["file_type"] == "text/plain"
    assert found["row"]["metadata"][attr.FILE_EXTENSION] == "txt"
    assert found[attr.USER_ID] == str(USER)
    assert found[attr.SESSION_ID] == "s-1"
    assert found["metadata"]["chars_written"] == 11


@pytest.mark.parametrize(
    ("mode", "operation"), [("w", "update"), ("a", "update"), ("r+", "update"), ("r", "read")]
)
def test_open_of_an_existing_file_is_named_by_its_mode(
    roots: Roots, spans: SpanCapture, mode: str, operation: str
) -> None:
    target = roots.root / "data.bin"
    target.write_bytes(b"0123456789")
    spans.clear()
    with open(target, mode + "b") as handle:
        if operation == "read":
            assert handle.read() == b"0123456789"
        else:
            handle.write(b"abc")
    found = only(spans)
    assert found[attr.ACTIVITY_ACTION] == operation
    expected_size = {"w": 3, "a": 13, "r+": 10, "r": 10}[mode]
    assert found[attr.FILE_SIZE] == expected_size
    key = "bytes_read" if operation == "read" else "bytes_written"
    assert found["metadata"][key] == (10 if operation == "read" else 3)


def test_exclusive_creation_and_io_open_are_recorded(roots: Roots, spans: SpanCapture) -> None:
    with io.open(roots.root / "new.json", "x") as handle:  # noqa: UP020 - io.open is wrapped too
        handle.write("{}")
    found = only(spans)
    assert (found[attr.ACTIVITY_ACTION], found["row"]["file_type"]) == (
        "create",
        "application/json",
    )
    assert found["metadata"]["api"] == "io.open"


def test_the_returned_file_behaves_as_the_real_one(roots: Roots, spans: SpanCapture) -> None:
    target = roots.root / "lines.txt"
    target.write_text("a\nbb\nccc\n")
    spans.clear()
    with open(target) as handle:
        assert isinstance(handle, io.TextIOWrapper)
        assert [line for line in handle] == ["a\n", "bb\n", "ccc\n"]
        assert handle.name == str(target)
    assert handle.closed
    assert only(spans)["metadata"]["chars_read"] == 9


def test_a_file_never_closed_is_recorded_with_its_size_when_collected(
    roots: Roots, spans: SpanCapture
) -> None:
    open(roots.root / "leak.txt", "w").write("abcd")  # noqa: SIM115 - the idiom under test
    found = only(spans)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_SIZE]) == ("create", 4)


def test_pathlib_writes_and_reads_are_one_activity_each(roots: Roots, spans: SpanCapture) -> None:
    target = roots.root / "note.md"
    assert target.write_text("# title") == 7
    created = only(spans)
    assert (created[attr.ACTIVITY_ACTION], created[attr.FILE_SIZE]) == ("create", 7)
    assert created["metadata"] == {
        "api": "Path.write_text",
        "chars_written": 7,
        "file.extension": "md",
    }
    spans.clear()
    target.write_bytes(b"# other")
    assert only(spans)[attr.ACTIVITY_ACTION] == "update"
    spans.clear()
    assert target.read_text() == "# other"
    read = only(spans)
    assert (read[attr.ACTIVITY_ACTION], read["row"]["file_type"]) == ("read", "text/markdown")
    spans.clear()
    assert target.read_bytes() == b"# other"
    assert only(spans)["metadata"]["bytes_read"] == 7


def test_touch_creates_then_updates(roots: Roots, spans: SpanCapture) -> None:
    target = roots.root / "stamp"
    target.touch()
    assert only(spans)[attr.ACTIVITY_ACTION] == "create"
    spans.clear()
    target.touch()
    assert only(spans)[attr.ACTIVITY_ACTION] == "update"


# Looked up at call time: the wrapped functions replace the module and class attributes.
@pytest.mark.parametrize(
    "remove",
    [lambda p: os.remove(p), lambda p: os.unlink(p), lambda p: p.unlink()],
    ids=["os.remove", "os.unlink", "Path.unlink"],
)
def test_deleting_a_file_records_the_size_it_had(
    roots: Roots, spans: SpanCapture, remove: Any
) -> None:
    target = roots.root / "old.log"
    target.write_text("12345")
    spans.clear()
    remove(target)
    found = only(spans)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_SIZE]) == ("delete", 5)
    assert found[attr.FILE_PATH] == real(target)


@pytest.mark.parametrize(
    "rename",
    [
        lambda a, b: os.rename(a, b),
        lambda a, b: os.replace(a, b),
        lambda a, b: a.rename(b),
        lambda a, b: a.replace(b),
    ],
    ids=["os.rename", "os.replace", "Path.rename", "Path.replace"],
)
def test_renames_in_a_directory_and_moves_across_directories(
    roots: Roots, spans: SpanCapture, rename: Any
) -> None:
    source = roots.root / "a.csv"
    source.write_text("x,y\n")
    (roots.root / "sub").mkdir()
    spans.clear()
    rename(source, roots.root / "b.csv")
    renamed = only(spans)
    assert renamed[attr.ACTIVITY_ACTION] == "rename"
    assert renamed[attr.FILE_PATH] == real(source)
    assert renamed[attr.FILE_NEW_PATH] == real(roots.root / "b.csv")
    assert renamed[attr.FILE_SIZE] == 4
    spans.clear()
    rename(roots.root / "b.csv", roots.root / "sub" / "b.csv")
    moved = only(spans)
    assert moved[attr.ACTIVITY_ACTION] == "move"
    assert moved[attr.FILE_NEW_PATH] == real(roots.root / "sub" / "b.csv")


def test_shutil_move_into_a_directory_is_one_move_to_the_real_destination(
    roots: Roots, spans: SpanCapture
) -> None:
    source = roots.root / "doc.pdf"
    source.write_bytes(b"%PDF")
    (roots.root / "archive").mkdir()
    spans.clear()
    shutil.move(source, roots.root / "archive")
    found = only(spans)
    assert found[attr.ACTIVITY_ACTION] == "move"
    assert found[attr.FILE_NEW_PATH] == real(roots.root / "archive" / "doc.pdf")
    assert (found["row"]["file_type"], found[attr.FILE_SIZE]) == ("application/pdf", 4)


def test_moving_a_file_in_from_outside_the_roots_is_recorded(
    roots: Roots, spans: SpanCapture
) -> None:
    source = roots.outside / "incoming.txt"
    source.write_text("in")
    assert spans.activities("file") == []
    shutil.move(str(source), str(roots.root / "incoming.txt"))
    found = only(spans)
    assert (found[attr.FILE_PATH], found[attr.FILE_NEW_PATH]) == (
        real(source),
        real(roots.root / "incoming.txt"),
    )


@pytest.mark.parametrize("copy", ["copy", "copy2", "copyfile"])
def test_copies_are_one_activity(roots: Roots, spans: SpanCapture, copy: str) -> None:
    source = roots.root / "src.txt"
    source.write_text("copy me")
    spans.clear()
    getattr(shutil, copy)(source, roots.root / "dst.txt")
    found = only(spans)
    assert found[attr.ACTIVITY_ACTION] == "copy"
    assert found[attr.FILE_NEW_PATH] == real(roots.root / "dst.txt")
    assert found[attr.FILE_SIZE] == 7


def test_directory_trees_are_one_activity_each(roots: Roots, spans: SpanCapture) -> None:
    os.makedirs(roots.root / "a" / "b" / "c")
    made = only(spans)
    assert made[attr.ACTIVITY_ACTION] == "mkdir"
    assert made[attr.FILE_TYPE] == "inode/directory"
    assert attr.FILE_EXTENSION not in made["row"]["metadata"]
    assert made["metadata"]["recursive"] is True
    (roots.root / "a" / "b" / "c" / "f.txt").write_text("f")
    spans.clear()
    shutil.copytree(roots.root / "a", roots.root / "a2")
    assert only(spans)[attr.ACTIVITY_ACTION] == "copy"
    spans.clear()
    shutil.rmtree(roots.root / "a2")
    removed = only(spans)
    assert (removed[attr.ACTIVITY_ACTION], removed[attr.FILE_PATH]) == (
        "rmdir",
        real(roots.root / "a2"),
    )


@pytest.mark.parametrize("make", ["os.mkdir", "Path.mkdir", "Path.mkdir(parents)"])
def test_mkdir_and_rmdir(roots: Roots, spans: SpanCapture, make: str) -> None:
    target = roots.root / "x" / "y" if make.endswith("(parents)") else roots.root / "x"
    if make == "os.mkdir":
        os.mkdir(target)
    else:
        target.mkdir(parents=make.endswith("(parents)"))
    assert only(spans)[attr.FILE_PATH] == real(target)
    spans.clear()
    target.rmdir() if make.startswith("Path") else os.rmdir(target)
    assert only(spans)[attr.ACTIVITY_ACTION] == "rmdir"


def test_nothing_outside_the_roots_is_recorded(roots: Roots, spans: SpanCapture) -> None:
    out = roots.outside
    with open(out / "a.txt", "w") as handle:
        handle.write("a")
    (out / "a.txt").read_text()
    (out / "b.txt").write_bytes(b"b")
    os.rename(out / "b.txt", out / "c.txt")
    shutil.copy(out / "c.txt", out / "d.txt")
    shutil.move(out / "d.txt", out / "e.txt")
    os.makedirs(out / "t" / "u")
    shutil.rmtree(out / "t")
    (out / "a.txt").unlink()
    (roots.root.parent / "rootless.txt").write_text("a sibling whose name starts like the root")
    assert spans.activities("file") == []


def test_bytes_pathlike_relative_and_descriptor_paths(
    roots: Roots, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Custom:
        def __fspath__(self) -> bytes:
            return os.fsencode(roots.root / "custom.dat")

    with open(os.fsencode(roots.root / "b.dat"), "wb") as handle:
        handle.write(b"1")
    with open(Custom(), "wb") as handle:
        handle.write(b"22")
    monkeypatch.chdir(roots.root)
    with open("relative.dat", "wb") as handle:
        handle.write(b"333")
    descriptor = os.open(roots.root / "b.dat", os.O_RDONLY)
    with open(descriptor, "rb") as handle:
        handle.read()
    directory = os.open(roots.root, os.O_RDONLY)
    try:
        os.remove("custom.dat", dir_fd=directory)
    finally:
        os.close(directory)
    found = [(span.attributes or {}) for span in spans.activities("file")]
    assert [(a[attr.ACTIVITY_ACTION], a[attr.FILE_PATH]) for a in found] == [
        ("create", real(roots.root / "b.dat")),
        ("create", real(roots.root / "custom.dat")),
        ("create", real(roots.root / "relative.dat")),
        ("read", real(roots.root / "b.dat")),
        ("delete", real(roots.root / "custom.dat")),
    ]
    assert json.loads(str(found[3][attr.ACTIVITY_METADATA]))["original_path"] == f"fd:{descriptor}"


def test_invalid_utf8_and_nul_bytes_in_paths_never_break_the_call(
    roots: Roots, spans: SpanCapture
) -> None:
    odd = os.fsencode(roots.root) + b"/caf\xe9.txt"
    with open(odd, "wb") as handle:
        handle.write(b"x")
    recorded = str(only(spans)[attr.FILE_PATH])
    assert recorded.startswith(real(roots.root)) and recorded.endswith(".txt")
    recorded.encode("utf-8")  # repaired into valid text
    spans.clear()
    with pytest.raises(ValueError, match="null"):
        open(str(roots.root / "nul\x00.txt"), "w")  # noqa: SIM115

    class Broken:
        def __fspath__(self) -> str:
            raise RuntimeError("a path-like that fails")

    with pytest.raises(RuntimeError, match="fails"):
        open(Broken())  # type: ignore[call-overload]  # noqa: SIM115
    with pytest.raises(TypeError):
        open(3.5)  # type: ignore[call-overload]  # noqa: SIM115
    assert spans.activities("file") == []


def test_a_removed_working_directory_does_not_break_relative_paths(
    roots: Roots, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = roots.outside / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(FileNotFoundError):
        open("relative.txt", "w")  # noqa: SIM115
    assert spans.activities("file") == []


def test_a_path_escaping_its_root_is_flagged(roots: Roots, spans: SpanCapture) -> None:
    (roots.root / "link").symlink_to(roots.outside)
    with open(roots.root / "link" / "escaped.txt", "w") as handle:
        handle.write("x")
    through_link = only(spans)
    assert through_link[attr.FILE_PATH] == real(roots.outside / "escaped.txt")
    assert through_link["metadata"]["path_traversal"] is True
    assert through_link["metadata"]["original_path"] == str(roots.root / "link" / "escaped.txt")
    spans.clear()
    with open(f"{roots.root}/../outside/escaped.txt") as handle:
        handle.read()
    assert only(spans)["metadata"]["path_traversal"] is True
    spans.clear()
    with open(f"{roots.outside}/../root/inside.txt", "w") as handle:
        handle.write("x")
    assert "path_traversal" not in only(spans)["metadata"]


def test_exceptions_propagate_unchanged_and_are_recorded(roots: Roots, spans: SpanCapture) -> None:
    planted = OSError(28, "No space left on device")

    def full_disk(path: str, flags: int) -> int:
        raise planted

    with pytest.raises(OSError) as raised:
        open(roots.root / "big.bin", "wb", opener=full_disk)  # noqa: SIM115
    assert raised.value is planted
    failed = spans.activities("file")
    assert len(failed) == 1
    assert failed[0].status.status_code is StatusCode.ERROR
    assert (failed[0].attributes or {})[attr.ERROR_TYPE] == "OSError"
    spans.clear()
    for call, error in [
        (lambda: open(roots.root / "missing.txt"), FileNotFoundError),  # noqa: SIM115
        (lambda: os.remove(roots.root / "missing.txt"), FileNotFoundError),
        (lambda: os.mkdir(roots.root), FileExistsError),
        (lambda: shutil.rmtree(roots.root / "missing"), FileNotFoundError),
        (lambda: open(roots.root, "rb"), IsADirectoryError),  # noqa: SIM115
    ]:
        with pytest.raises(error):
            call()
        found = spans.activities("file")
        assert len(found) == 1
        assert (found[0].attributes or {})[attr.ERROR_TYPE] == error.__qualname__
        assert found[0].status.status_code is StatusCode.ERROR
        spans.clear()


def test_a_failing_write_is_recorded_on_the_activity(roots: Roots, spans: SpanCapture) -> None:
    handle = open(roots.root / "text.txt", "w")  # noqa: SIM115
    with pytest.raises(TypeError), handle:
        handle.write(b"bytes into a text file")
    found = spans.activities("file")
    assert len(found) == 1
    assert (found[0].attributes or {})[attr.ERROR_TYPE] == "TypeError"


def test_suppressed_and_ignored_paths_are_not_recorded(roots: Roots, spans: SpanCapture) -> None:
    with suppress_instrumentation():
        (roots.root / "quiet.txt").write_text("q")
        os.remove(roots.root / "quiet.txt")
    ignore_path(roots.root / "own.db")
    ignore_path(roots.root / "spool")
    (roots.root / "own.db").write_bytes(b"SQLite format 3\x00")
    (roots.root / "own.db-wal").write_bytes(b"")
    os.makedirs(roots.root / "spool" / "batches")
    (roots.root / "spool" / "batches" / "1.json").write_text("{}")
    assert spans.activities("file") == []


def test_a_secret_in_a_file_name_is_redacted(roots: Roots, spans: SpanCapture) -> None:
    secret = plant("zq9-planted-file-token")
    with registered_secret(uuid.uuid4(), secret):
        target = roots.root / f"export-token={secret}.csv"
        with open(target, "w") as handle:
            handle.write("a")
        os.rename(target, roots.root / f"{secret}.csv")
    found = spans.activities("file")
    values = [str(value) for span in found for value in (span.attributes or {}).values()]
    assert len(found) == 2
    assert not any(secret in value for value in values), "planted secret leaked"
    assert all((span.attributes or {}).get(attr.SECRETS_COUNT) for span in found)


@pytest.mark.parametrize("imported", ["before", "after"])
async def test_aiofiles_open_is_one_activity_per_file(
    roots: Roots, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch, imported: str
) -> None:
    if imported == "after":  # aiofiles imported after instrumenting captures the wrapped open
        monkeypatch.setattr(aiofiles.threadpool, "sync_open", builtins.open)
    target = roots.root / "async.txt"
    with activity_context(user_id=USER):
        async with aiofiles.open(target, "w") as handle:
            await handle.write("async!")
        async with aiofiles.open(target) as handle:
            assert [line async for line in handle] == ["async!"]
    recorded = spans.activities("file")
    found = [(span.attributes or {}) for span in recorded]
    assert [(a[attr.ACTIVITY_ACTION], a.get(attr.FILE_SIZE), a[attr.USER_ID]) for a in found] == [
        ("create", 6, str(USER)),
        ("read", 6, str(USER)),
    ]
    created = rows_from_span(recorded[0])
    assert created is not None
    assert created.activity["metadata"]["api"] == "aiofiles.open"


async def test_a_failing_aiofiles_open_propagates(roots: Roots, spans: SpanCapture) -> None:
    with pytest.raises(FileNotFoundError):
        await aiofiles.open(roots.root / "none.txt")
    assert (only(spans))[attr.ERROR_TYPE] == "FileNotFoundError"


async def test_aiofiles_on_a_descriptor_is_one_activity(
    roots: Roots, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(aiofiles.threadpool, "sync_open", builtins.open)
    descriptor = os.open(roots.root / "fd.bin", os.O_WRONLY | os.O_CREAT)
    async with aiofiles.open(descriptor, "wb") as handle:
        await handle.write(b"12")
    found = only(spans)
    assert (found[attr.ACTIVITY_ACTION], found[attr.FILE_SIZE]) == ("update", 2)


def test_reads_in_a_tight_loop_are_coalesced(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture
) -> None:
    layout = Roots(tmp_path)
    instrument(FileInstrumentor, roots=[layout.root], coalesce_window_ms=60_000)
    target = layout.root / "config.ini"
    target.write_text("[a]")
    spans.clear()
    for _ in range(25):
        with open(target) as handle:
            handle.read()
    first = only(spans)
    assert "coalesced_reads" not in first["metadata"]
    flush()
    reads = spans.activities("file")
    assert len(reads) == 2
    summary = json.loads(str((reads[1].attributes or {})[attr.ACTIVITY_METADATA]))
    assert summary["coalesced_reads"] == 24
    spans.clear()
    with activity_context(user_id=USER):
        target.read_text()  # another user: a window of its own
    assert len(spans.activities("file")) == 1


def test_a_coalesced_window_closes_by_itself(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture
) -> None:
    layout = Roots(tmp_path)
    instrument(FileInstrumentor, roots=[layout.root], coalesce_window_ms=100)
    target = layout.root / "poll.txt"
    target.write_bytes(b"1")
    for _ in range(6):
        target.read_bytes()
    deadline = time.monotonic() + 5
    while len(spans.activities("file")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    found = [span.attributes or {} for span in spans.activities("file")]
    assert [a[attr.ACTIVITY_ACTION] for a in found] == ["create", "read", "read"]
    assert json.loads(str(found[2][attr.ACTIVITY_METADATA]))["coalesced_reads"] == 5


def test_a_forked_child_coalesces_its_own_reads(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture
) -> None:
    layout = Roots(tmp_path)
    instrument(FileInstrumentor, roots=[layout.root], coalesce_window_ms=100)
    target = layout.root / "shared.txt"
    target.write_bytes(b"1")
    target.read_bytes()
    target.read_bytes()  # the parent now has a window and a flusher thread
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            spans.clear()
            for _ in range(3):
                target.read_bytes()
            time.sleep(0.6)
            os.write(write_end, bytes([len(spans.activities("file"))]))
        finally:
            os._exit(0)
    os.close(write_end)  # the child's end only: a child that dies closes it, no hang
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        reported = os.read(read_end, 1) if ready else b""
    finally:
        os.close(read_end)
        deadline = time.monotonic() + 10
        while os.waitpid(child, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                break
            time.sleep(0.02)
    assert reported == bytes([2])  # its first read, and its own summary


def test_uninstrument_restores_the_very_originals(instrument: Instrument, tmp_path: Path) -> None:
    names = {
        os: ["remove", "unlink", "rename", "replace", "mkdir", "makedirs", "rmdir"],
        shutil: ["move", "copy", "copy2", "copyfile", "copytree", "rmtree"],
        pathlib.Path: [
            "write_text",
            "write_bytes",
            "read_text",
            "read_bytes",
            "touch",
            "unlink",
            "rename",
            "replace",
            "mkdir",
            "rmdir",
        ],
        builtins: ["open"],
        io: ["open"],
        aiofiles.threadpool: ["_open"],
    }
    originals = {
        (owner, name): vars(owner)[name] for owner, group in names.items() for name in group
    }
    instrumentor = instrument(FileInstrumentor, roots=[tmp_path])
    assert all(vars(owner)[name] is not original for (owner, name), original in originals.items())
    instrumentor.uninstrument()
    assert all(vars(owner)[name] is it for (owner, name), it in originals.items())
    assert builtins.open is io.open


def test_without_roots_nothing_is_wrapped_and_the_log_says_so(
    instrument: Instrument, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOBOT_ACTIVITY_FILE_ROOTS", raising=False)
    original = builtins.open
    with caplog.at_level(logging.INFO, logger="autobot_activity_otel.instrumentation.file"):
        instrument(FileInstrumentor)
    assert builtins.open is original
    assert any("no roots configured" in record.getMessage() for record in caplog.records)


def test_roots_come_from_the_environment(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("AUTOBOT_ACTIVITY_FILE_ROOTS", f"{first}{os.pathsep}{second}")
    instrument(FileInstrumentor)
    (first / "a").write_text("a")
    (second / "b").write_text("b")
    (tmp_path / "c").write_text("c")
    recorded = [(span.attributes or {})[attr.FILE_PATH] for span in spans.activities("file")]
    assert recorded == [real(first / "a"), real(second / "b")]


def test_a_tracking_failure_never_reaches_the_caller(
    roots: Roots,
    spans: SpanCapture,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("tracking bug with /secret/detail")

    monkeypatch.setattr(recording, "ActivityRecord", broken)
    with caplog.at_level(logging.WARNING):
        with open(roots.root / "a.txt", "w") as handle:
            handle.write("still works")
        os.rename(roots.root / "a.txt", roots.root / "b.txt")
        assert (roots.root / "b.txt").read_text() == "still works"
    assert spans.activities("file") == []
    assert "RuntimeError" in caplog.text
    assert "/secret/detail" not in caplog.text
    monkeypatch.setattr(SCOPE, "resolve", broken)
    shutil.copy(roots.root / "b.txt", roots.root / "c.txt")
    assert (roots.root / "c.txt").read_text() == "still works"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.text(), st.binary(), st.integers(-5, 10**6)))
def test_any_path_value_is_classified_without_raising(raw: object) -> None:
    scope = Scope()
    scope.set_roots(["/srv/root", b"/srv/other"])
    scope.ignore("/srv/root/own.db")
    for value in (raw, f"/srv/root/{raw!s}", pathlib.PurePosixPath("/srv/root", str(raw))):
        candidate = scope.candidate(value, dir_fd=None)
        if candidate is not None:
            scope.resolve(candidate, value, follow=False)
        given_text(value).encode("utf-8", errors="surrogateescape")


def test_instrument_records_through_the_tracer_provider_it_is_given(
    instrument: Instrument, tmp_path: Path, spans: SpanCapture
) -> None:
    own = OwnProvider()
    instrument(
        FileInstrumentor, roots=[tmp_path], coalesce_window_ms=0, tracer_provider=own.provider
    )
    (tmp_path / "a.txt").write_text("a")
    with open(tmp_path / "a.txt") as handle:
        handle.read()
    assert len(own.assert_recorded("autobot_activity_otel.instrumentation.file")) == 2
    assert spans.activities("file") == []
