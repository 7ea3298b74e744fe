"""The tamper-evident chain (docs/integrity.md), on real SQLite and PostgreSQL.

A real exporter writes a few batches (with secret usage and metadata) and signs its
checkpoints into the database and a folder; then the database owner tampers, and
``verify`` must say what happened, naming ids.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from opentelemetry.sdk.trace import ReadableSpan
from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from support import planted
from support.cli import cli
from support.database import ActivityDB, on_engine, run_async
from support.ingest import WRITER_LOGIN, as_login, ensure_writer_login

from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_exporters.integrity import canonical
from autobot_activity_exporters.integrity.notes import read_signer, read_verifier, write_key_pair
from autobot_activity_exporters.integrity.verify import Report, verify
from autobot_activity_exporters.models import (
    CHAIN,
    CHECKPOINTS,
    SECRET_USAGE,
    TABLES,
)
from autobot_activity_exporters.retention import prune
from autobot_activity_exporters.schema import alembic_config, head_revision, upgrade
from autobot_activity_otel import attributes as attr
from autobot_activity_otel import settings
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

USER, ORG = uuid.UUID(int=0xC01), uuid.UUID(int=0xC02)
PASSWORD = planted.plant("Chain-planted-Pw-5521")
TERMINAL = TABLES["terminal_activities"]


@dataclasses.dataclass
class Keys:
    public: Path
    checkpoints: Path


@pytest.fixture
def signing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Keys:
    """A signing key and a checkpoint folder in the environment, before any writer starts."""
    private, public = write_key_pair(tmp_path / "keys")
    monkeypatch.setenv(settings.SIGNING_KEY, str(private))
    monkeypatch.setenv(settings.CHECKPOINT_DIR, str(tmp_path / "checkpoints"))
    return Keys(public, tmp_path / "checkpoints")


@pytest.fixture
def signed_db(signing: Keys, activity_db: ActivityDB) -> ActivityDB:
    """The database behind an exporter built once the signing key is set."""
    return activity_db


@pytest.fixture
def written(signing: Keys, activity_db: ActivityDB, spans: Any) -> Iterator[ActivityDB]:
    """Three batches written and the writer shut down (its closing checkpoint signed)."""
    for batch in range(3):
        spans.clear()
        record(batch)
        activity_db.export(spans.activities())
    activity_db.exporter.shutdown()
    yield activity_db


def record(batch: int) -> None:
    with activity_context(user_id=USER, org_id=ORG, session_id=f"chain-{batch}"):
        terminal = ActivityRecord(ActivityType.TERMINAL, "execute")
        terminal.set_text(
            attr.PROCESS_COMMAND_LINE, f"mysql -p{PASSWORD} -e 'select {batch}'", "command"
        )
        terminal.end()
        file = ActivityRecord(ActivityType.FILE, "read")
        file.end()


def check(db: ActivityDB, keys: Keys | None = None) -> Report:
    async def run(engine: AsyncEngine) -> Report:
        return await verify(
            engine,
            verifier=read_verifier(keys.public) if keys else None,
            checkpoint_dir=keys.checkpoints if keys else None,
        )

    return run_async(on_engine(db.url, run))


def kinds(report: Report) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.kind, []).append(finding.message)
    return found


def tamper(db: ActivityDB, *statements: Any) -> None:
    async def run(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(statement)

    run_async(on_engine(db.url, run))


def terminal_rows(db: ActivityDB) -> list[dict[str, Any]]:
    return db.rows("terminal_activities")


def test_a_normal_run_verifies(written: ActivityDB, signing: Keys) -> None:
    report = check(written, signing)
    assert report.findings == []
    assert report.chains == 1
    assert report.rows == 9  # three times: a command, its secret use, a file read
    assert report.checkpoints_verified == 2  # the closing checkpoint, in the database and a file
    assert report.summary() == (
        f"intact: 9 rows in {report.batches} batches on 1 chains; 2 checkpoints verified"
    )
    assert all(row["chain_id"] is not None for row in terminal_rows(written))


@pytest.mark.parametrize("change", ["exit_code", "metadata key"])
def test_an_edited_column_is_named(written: ActivityDB, signing: Keys, change: str) -> None:
    row = terminal_rows(written)[1]
    if change == "exit_code":
        values: dict[str, Any] = {"exit_code": (row["exit_code"] or 0) + 1}
    else:
        metadata = dict(row["metadata"])
        key = next(iter(metadata), "note")
        metadata[key] = "rewritten"
        values = {"metadata": metadata}
    tamper(written, update(TERMINAL).where(TERMINAL.c.id == row["id"]).values(**values))
    found = kinds(check(written, signing))
    assert list(found) == ["row edited"]
    assert found["row edited"] == [
        f"terminal_activities {row['id']}"
        f" (batch chain {row['chain_id']} sequence {row['chain_sequence']})"
    ]


def test_a_deleted_row_is_named(written: ActivityDB, signing: Keys) -> None:
    usage = written.rows("secret_usage")[0]
    tamper(written, delete(SECRET_USAGE).where(SECRET_USAGE.c.id == usage["id"]))
    found = kinds(check(written, signing))
    assert list(found) == ["row deleted"]
    assert str(usage["id"]) in found["row deleted"][0]


def test_a_deleted_last_batch_is_caught_by_the_checkpoint_files(
    written: ActivityDB, signing: Keys
) -> None:
    (chain,) = {row["chain_id"] for row in terminal_rows(written)}
    sequence = max(row["chain_sequence"] for row in written.rows("file_activities"))
    tamper(
        written,
        *(
            delete(table).where(table.c.chain_id == chain, table.c.chain_sequence == sequence)
            for table in TABLES.values()
        ),
        delete(CHAIN).where(CHAIN.c.chain_id == chain, CHAIN.c.sequence == sequence),
        delete(CHECKPOINTS).where(CHECKPOINTS.c.chain_id == chain),
    )
    assert check(written).findings == []  # the database alone looks whole
    found = kinds(check(written, signing))
    assert sorted(found) == ["checkpoint missing from database", "tail truncated"]
    assert found["tail truncated"] == [
        f"chain {chain} ends at sequence {sequence - 1}, but a signed checkpoint"
        f" (file {chain}.checkpoints) names sequence {sequence}"
    ]


@pytest.mark.parametrize("claims", ["no chain", "an existing batch"])
def test_a_row_inserted_with_a_fresh_id_is_named(
    written: ActivityDB, signing: Keys, claims: str
) -> None:
    row = terminal_rows(written)[0]
    forged = {**row, "id": uuid.uuid4(), "command": "ls"}
    if claims == "no chain":
        forged["chain_id"] = forged["chain_sequence"] = None
    tamper(written, insert(TERMINAL).values(**forged))
    found = kinds(check(written, signing))
    assert list(found) == ["row inserted outside the chain"]
    assert str(forged["id"]) in found["row inserted outside the chain"][0]


def test_an_altered_checkpoint_signature_is_named(written: ActivityDB, signing: Keys) -> None:
    (stored,) = _checkpoints(written)
    body, signature = stored["note"].split("\n— ")
    name, encoded = signature.split(" ")
    flipped = encoded[:10] + ("A" if encoded[10] != "A" else "B") + encoded[11:]
    tamper(
        written,
        update(CHECKPOINTS)
        .where(CHECKPOINTS.c.chain_id == stored["chain_id"])
        .values(note=f"{body}\n— {name} {flipped}"),
    )
    found = kinds(check(written, signing))
    assert list(found) == ["bad signature"]
    assert str(stored["chain_id"]) in found["bad signature"][0]


def _checkpoints(db: ActivityDB) -> list[dict[str, Any]]:
    async def run(engine: AsyncEngine) -> list[dict[str, Any]]:
        async with engine.connect() as connection:
            return [dict(r) for r in (await connection.execute(select(CHECKPOINTS))).mappings()]

    return run_async(on_engine(db.url, run))


def test_a_chain_rewritten_to_match_edited_rows_is_caught_by_the_signed_checkpoint(
    written: ActivityDB, signing: Keys
) -> None:
    """The owner edits a row, recomputes its batch's manifest and every hash after it: the
    database is consistent again; only the signed head disagrees."""

    async def rewrite(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            await apply_system_viewer(connection)
            row = dict((await connection.execute(select(TERMINAL).limit(1))).mappings().one())
            await connection.execute(
                update(TERMINAL).where(TERMINAL.c.id == row["id"]).values(command="ls")
            )
            entries = [
                dict(e)
                for e in (
                    await connection.execute(select(CHAIN).order_by(CHAIN.c.sequence))
                ).mappings()
            ]
            previous = canonical.ZERO_HASH
            for entry in entries:
                items = []
                for item in canonical.manifest_items(entry["manifest"]):
                    if item.id == row["id"]:
                        digest = canonical.FORMS[item.table].digest({**row, "command": "ls"})
                        item = dataclasses.replace(item, digest=digest)
                    items.append(item.encode())
                entry["manifest"] = canonical.manifest(items)
                entry["batch_hash"] = canonical.batch_hash(entry["manifest"])
                entry["previous_hash"] = previous
                entry["entry_hash"] = previous = canonical.entry_hash(
                    chain_id=entry["chain_id"],
                    sequence=entry["sequence"],
                    previous=entry["previous_hash"],
                    batch=entry["batch_hash"],
                    row_count=entry["row_count"],
                    first=entry["first_timestamp"],
                    last=entry["last_timestamp"],
                    committed_at=entry["committed_at"],
                )
                await connection.execute(
                    update(CHAIN)
                    .where(
                        CHAIN.c.chain_id == entry["chain_id"], CHAIN.c.sequence == entry["sequence"]
                    )
                    .values(
                        **{
                            k: entry[k]
                            for k in ("manifest", "batch_hash", "previous_hash", "entry_hash")
                        }
                    )
                )

    run_async(on_engine(written.url, rewrite))
    found = kinds(check(written, signing))
    assert list(found) == ["chain rewritten"]
    assert "the signed checkpoint (file" in found["chain rewritten"][0]


async def apply_system_viewer(connection: Any) -> None:
    from autobot_activity_exporters.viewer import Viewer, apply_viewer

    await apply_viewer(connection, Viewer.system())


def test_a_replay_and_a_second_writer_each_verify(
    written: ActivityDB, signing: Keys, spans: Any, tmp_path: Path
) -> None:
    """The same spans again through another writer (a replay after an outage): its batch
    lists rows another chain wrote, and both chains verify."""
    spans.clear()
    record(9)
    again = [*spans.activities()]
    first = ActivitySpanExporter(written.url, timeout=30, journal_dir=tmp_path / "first")
    second = ActivitySpanExporter(written.url, timeout=30, journal_dir=tmp_path / "second")
    try:
        export(first, again)
        export(second, again)
    finally:
        first.shutdown()
        second.shutdown()
    report = check(written, signing)
    assert report.findings == []
    assert report.chains == 3
    assert report.rows == 9 + 3 + 3  # the replayed rows are listed by both chains


def export(exporter: ActivitySpanExporter, activities: list[ReadableSpan]) -> None:
    exporter.export(activities)
    assert exporter.force_flush(30_000)


def test_without_a_key_the_chain_is_written_and_checkpoints_are_unsigned(
    activity_db: ActivityDB, spans: Any, tmp_path: Path
) -> None:
    spans.clear()
    record(0)
    activity_db.export(spans.activities())
    activity_db.exporter.shutdown()
    report = check(activity_db)
    assert report.findings == []
    assert report.summary() == (
        f"intact: 3 rows in {report.batches} batches on 1 chains; 0 checkpoints verified"
        " (1 unsigned)"
    )


def test_rows_from_before_the_chain_are_outside_it(activity_db: ActivityDB, spans: Any) -> None:
    """A row no batch lists (written before revision 0011, or by hand) is reported."""
    activity_db.ensure_schema()
    row = {
        "id": uuid.uuid4(),
        "timestamp": datetime.now(UTC) - timedelta(days=1),
        "metadata": {},
        "secrets_used": [],
        "command": "ls",
    }
    tamper(activity_db, insert(TERMINAL).values(**row))
    found = kinds(check(activity_db))
    assert found == {
        "row inserted outside the chain": [
            f"terminal_activities {row['id']} has no chain and no batch lists it"
        ]
    }


@pytest.mark.parametrize("activity_db", ["postgresql"], indirect=True)
def test_a_writer_login_appends_its_chain(
    activity_db: ActivityDB, signing: Keys, spans: Any, tmp_path: Path
) -> None:
    """The append-only role writes rows, entries and checkpoints, and reads none of them."""
    ensure_writer_login()
    spans.clear()
    record(0)
    exporter = ActivitySpanExporter(  # its own journal, so no other login ships these
        as_login(activity_db.url, WRITER_LOGIN), timeout=30, journal_dir=tmp_path / "writer"
    )
    try:
        export(exporter, spans.activities())
        export(exporter, spans.activities())  # again: every row exists, the chain lists them
    finally:
        exporter.shutdown()
    report = check(activity_db, signing)
    assert report.findings == []
    assert (report.chains, report.rows, report.checkpoints_verified) == (1, 6, 2)


def test_two_writer_processes_each_keep_their_own_chain(
    activity_db: ActivityDB, signing: Keys, tmp_path: Path
) -> None:
    activity_db.ensure_schema()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_PROCESS, activity_db.url, str(tmp_path / f"j{n}")],
            env={**os.environ, "AUTOBOT_ACTIVITY_TEST_WRITER": str(n)},
        )
        for n in range(2)
    ]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    report = check(activity_db, signing)
    assert report.findings == []
    assert report.chains == 2
    assert report.rows == 2 * 20 * 2  # per process 20 batches of two file reads
    assert report.checkpoints_verified == 2 * 2


WRITER_PROCESS = """
import sys, uuid
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from autobot_activity_exporters import ActivitySpanExporter
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord

memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
trace.set_tracer_provider(provider)
exporter = ActivitySpanExporter(sys.argv[1], timeout=30, journal_dir=sys.argv[2])
for batch in range(20):
    memory.clear()
    with activity_context(user_id=uuid.uuid4(), session_id=f"w{batch}"):
        for _ in range(2):
            ActivityRecord(ActivityType.FILE, "read").end()
    exporter.export(memory.get_finished_spans())
    assert exporter.force_flush(30_000)
exporter.shutdown()
"""


def aged(kind: ActivityType, days: float) -> None:
    """An activity that began ``days`` ago."""
    activity = ActivityRecord(kind, "read")
    activity.start_ns = time.time_ns() - int(days * 86_400 * 10**9)
    activity.end(activity.start_ns + 1_000_000)


def test_a_pruned_prefix_verifies_as_pruned(
    signed_db: ActivityDB, signing: Keys, spans: Any
) -> None:
    """Old batches go whole with their entries; a kept batch's old rows go by time; both
    are stated by the signed pruning record, and nothing is reported broken."""
    activity_db = signed_db
    with activity_context(user_id=USER, session_id="retention"):
        for batch in (("old", 400), ("old", 390), ("mixed", 0)):
            spans.clear()
            aged(ActivityType.FILE, batch[1])
            if batch[0] == "mixed":
                aged(ActivityType.FILE, 380)
            activity_db.export(spans.activities())
    activity_db.exporter.shutdown()
    (chain,) = {row["chain_id"] for row in activity_db.rows("file_activities")}

    async def run(engine: AsyncEngine) -> None:
        await prune(engine, timedelta(days=365))

    run_async(on_engine(activity_db.url, run))
    (kept,) = activity_db.rows("file_activities")
    report = check(activity_db, signing)
    assert report.findings == []
    lines = report.lines()
    # The first kept batch holds the new row; the 380-day-old one went with its batch, or
    # by its time from a kept batch (the journal may have shipped the two apart).
    assert lines[0].startswith(
        f"pruned: chain {chain} before sequence {kept['chain_sequence']} at "
    )
    assert lines[1:] == [
        *(["pruned: 1 older rows of kept batches"] if report.pruned_rows else []),
        f"intact: 1 rows in {report.batches} batches on 1 chains; 3 checkpoints verified",
    ]


def test_the_verify_command_says_one_line_and_exits_by_the_outcome(
    written: ActivityDB, signing: Keys
) -> None:
    ok = cli(
        "verify",
        "--database-url",
        written.url,
        "--public-key",
        str(signing.public),
        "--checkpoints",
        str(signing.checkpoints),
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert re.fullmatch(
        r"intact: 9 rows in \d+ batches on 1 chains; 2 checkpoints verified\n", ok.stdout
    )
    row = terminal_rows(written)[0]
    tamper(written, update(TERMINAL).where(TERMINAL.c.id == row["id"]).values(output="x"))
    bad = cli("verify", "--database-url", written.url, "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["intact"] is False
    assert report["findings"] == [
        {
            "kind": "row edited",
            "message": f"terminal_activities {row['id']}"
            f" (batch chain {row['chain_id']} sequence {row['chain_sequence']})",
        }
    ]
    assert PASSWORD not in bad.stdout + ok.stdout


def test_keys_new_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    made = cli("keys", "new", "--out", str(tmp_path / "k"))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE((tmp_path / "k" / "signing.key").stat().st_mode) == 0o600
    signer = read_signer(tmp_path / "k" / "signing.key")
    assert read_verifier(tmp_path / "k" / "signing.pub") == signer.verifier
    again = cli("keys", "new", "--out", str(tmp_path / "k"))
    assert again.returncode == 1 and "not overwritten" in again.stderr
    assert read_signer(tmp_path / "k" / "signing.key").text() == signer.text()


async def test_the_migrations_go_down_past_the_chain_and_up_again(empty_database_url: str) -> None:
    def downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), "0010_writer_role")

    def names(connection: Connection) -> tuple[set[str], set[str]]:
        inspector = inspect(connection)
        columns = {c["name"] for c in inspector.get_columns("secret_usage")}
        return set(inspector.get_table_names()), columns

    async def check(engine: AsyncEngine) -> None:
        assert await upgrade(engine) == head_revision()
        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            tables, columns = await connection.run_sync(names)
        assert not tables & {"activity_chain", "activity_checkpoints", "activity_chain_prunes"}
        assert "secret_usage" in tables and not columns & {"chain_id", "chain_sequence"}
        assert await upgrade(engine) == head_revision()

    await on_engine(empty_database_url, check)


def test_a_checkpoint_file_removed_or_rewritten_is_named(
    written: ActivityDB, signing: Keys
) -> None:
    (path,) = signing.checkpoints.glob("*.checkpoints")
    text = path.read_text()
    path.write_text(text.replace("time ", "time 1", 1))  # the signed text changed
    found = kinds(check(written, signing))
    assert list(found) == ["bad signature"]
    assert f"(file {path.name})" in found["bad signature"][0]
    path.unlink()
    found = kinds(check(written, signing))
    assert list(found) == ["checkpoint missing from files"]


def test_since_checks_only_the_rows_of_newer_batches(written: ActivityDB, signing: Keys) -> None:
    row = terminal_rows(written)[0]
    tamper(written, update(TERMINAL).where(TERMINAL.c.id == row["id"]).values(output="x"))

    async def run(engine: AsyncEngine, since: datetime) -> Report:
        return await verify(engine, since=since)

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert run_async(on_engine(written.url, lambda engine: run(engine, later))).findings == []
    earlier = datetime.now(UTC) - timedelta(hours=1)
    report = run_async(on_engine(written.url, lambda engine: run(engine, earlier)))
    assert [finding.kind for finding in report.findings] == ["row edited"]
