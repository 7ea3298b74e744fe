"""The durable spool: what the database did not take survives, in order, and nothing more."""

from __future__ import annotations

import uuid

from autobot_activity_exporters.rows import ActivityRows, rows_from_attributes
from autobot_activity_exporters.spool import Spool, default_spool_dir
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord

PLANTED = "hunter2-spool-planted"


def terminal_rows(command: str) -> ActivityRows:
    record = ActivityRecord(attr.ActivityType.TERMINAL, "execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, command, "command")
    record.set(attr.PROCESS_EXIT_CODE, 0)
    record.declare_secrets([uuid.UUID(int=7)])
    record.end()
    rows = rows_from_attributes(record.attributes, 1, 2, record.start_ns, record.end_ns)
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
