"""The durable spool: what the database did not take survives, in order, and nothing more."""

from __future__ import annotations

import uuid

import pytest

from autobot_activity_exporters.rows import ActivityRows, rows_from_activity
from autobot_activity_exporters.spool import (
    DEFAULT_MAX_BYTES,
    QuarantineFull,
    Spool,
    default_spool_dir,
)
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.snapshot import ActivitySnapshot

PLANTED = "hunter2-spool-planted"


def terminal_rows(command: str) -> ActivityRows:
    record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
    record.set(attr.PROCESS_EXIT_CODE, 0)
    record.declare_secrets([uuid.UUID(int=7)])
    record.end()
    rows = rows_from_activity(
        ActivitySnapshot(record.name, 1, 2, record.start_ns, record.end_ns, record.attributes)
    )
    assert rows is not None
    return rows


def test_batches_round_trip_in_order_and_survive_a_restart(tmp_path):
    first, second = [terminal_rows("ls -la")], [terminal_rows("make"), terminal_rows("pwd")]
    spool = Spool(tmp_path)
    assert spool.put(first) and spool.put(second)

    reopened = Spool(tmp_path)  # a new process
    assert [reopened.load(path) for path in reopened.pending()] == [first, second]
    reopened.remove(reopened.pending()[0])
    assert reopened.put(first)
    assert [reopened.load(path) for path in reopened.pending()] == [second, first]


def test_a_full_spool_refuses_a_whole_batch(tmp_path):
    batch = [terminal_rows("ls")]
    spool = Spool(tmp_path, max_bytes=len(str(batch)) * 3)
    accepted = [spool.put(batch) for _ in range(10)]
    assert accepted[0] and not accepted[-1]
    assert len(spool.pending()) == accepted.count(True)


def test_holds_only_redacted_text(tmp_path):
    spool = Spool(tmp_path)
    spool.put([terminal_rows(f"mysql -u root -p{PLANTED} shop")])
    stored = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert stored and PLANTED.encode() not in stored, "planted secret reached the spool"


def test_a_half_written_file_is_not_a_batch(tmp_path):
    spool = Spool(tmp_path)
    (tmp_path / ".00000000000000000001.batch.deadbeef.tmp").write_bytes(b"[{")
    assert spool.pending() == []
    assert spool.put([terminal_rows("ls")]) and len(spool.pending()) == 1


def test_quarantine_keeps_the_reason(tmp_path):
    rows = terminal_rows("ls")
    path = Spool(tmp_path).quarantine(rows, "DataError: value out of range")
    assert path.parent.name == "quarantine" and "DataError" in path.read_text()


def test_spool_dir_is_per_database_and_hides_the_password(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOBOT_ACTIVITY_SPOOL_DIR", str(tmp_path))
    one = default_spool_dir("postgresql+asyncpg://app:pw1@db/one")
    assert one.parent == tmp_path
    assert one != default_spool_dir("postgresql+asyncpg://app:pw1@db/two")
    assert one == default_spool_dir("postgresql+asyncpg://app:pw2@db/one")


def test_two_writers_on_one_spool_never_overwrite_each_other(tmp_path):
    """Two processes' spools on one folder (a server's workers): every batch is kept."""
    one, other = Spool(tmp_path), Spool(tmp_path)
    batches = [[terminal_rows(f"job {index}")] for index in range(20)]
    for index, batch in enumerate(batches):
        assert (one if index % 2 else other).put(batch)
    assert [one.load(path) for path in one.pending()] == batches
    assert one.has_pending() and not Spool(tmp_path / "elsewhere").has_pending()


def test_one_drainer_at_a_time(tmp_path):
    spool, other = Spool(tmp_path), Spool(tmp_path)
    with spool.draining() as mine, other.draining() as theirs:
        assert mine and not theirs
    with other.draining() as theirs:
        assert theirs


def test_metadata_that_looks_like_a_tag_comes_back_as_it_was(tmp_path):
    rows = terminal_rows("ls")
    rows.activity["metadata"]["odd"] = {"$uuid": "not-a-uuid"}
    spool = Spool(tmp_path)
    spool.put([rows])
    assert spool.load(spool.pending()[0])[0].activity["metadata"]["odd"] == {"$uuid": "not-a-uuid"}


def test_an_unreadable_batch_is_set_aside_with_its_reason(tmp_path):
    spool = Spool(tmp_path)
    spool.put([terminal_rows("ls")])
    (path,) = spool.pending()
    path.write_bytes(b"{ not json")
    moved = spool.quarantine_file(path, "JSONDecodeError")
    assert not spool.has_pending() and moved.read_bytes() == b"{ not json"
    assert (moved.parent / f"{path.name}.reason").read_text() == "JSONDecodeError"


def test_a_quarantined_span_keeps_names_and_types_never_values(tmp_path):
    path = Spool(tmp_path).quarantine_span(
        "attribute process.exit.code is not a 64-bit integer",
        {"process.exit.code": f"code {PLANTED}", "activity.action": "execute"},
    )
    stored = path.read_text()
    assert PLANTED not in stored and "execute" not in stored, "a value was quarantined"
    assert '"process.exit.code": "str"' in stored


def test_the_quarantine_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr("autobot_activity_exporters.spool.QUARANTINE_MAX_FILES", 2)
    spool = Spool(tmp_path)
    spool.quarantine_span("bad", {})
    spool.quarantine(terminal_rows("ls"), "DataError")
    with pytest.raises(QuarantineFull):
        spool.quarantine_span("bad", {})
    assert len(list((tmp_path / "quarantine").iterdir())) == 2


def test_a_bad_size_setting_falls_back_to_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOBOT_ACTIVITY_SPOOL_MAX_BYTES", "lots")
    assert Spool(tmp_path).max_bytes == DEFAULT_MAX_BYTES
    monkeypatch.setenv("AUTOBOT_ACTIVITY_SPOOL_MAX_BYTES", "4096")
    assert Spool(tmp_path).max_bytes == 4096
