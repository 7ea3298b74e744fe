"""Walk every chain against the stored rows and the checkpoints (``autobot-activity verify``).

One pass, streamed: the chain entries in (chain, sequence) order and, beside them, each
table's chained rows in the same order (server-side cursors), so memory holds one batch at
a time. Each row's digest is recomputed and compared with its batch's manifest; each
manifest with its batch hash; each entry's hash with its fields and with the next entry's
``previous``; each checkpoint (database and files) with its signature and with the entry
it names. Findings name tables, ids, chains and sequences, never a stored value.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from autobot_activity_exporters.integrity import canonical
from autobot_activity_exporters.integrity.chain import ORIGIN_PREFIX
from autobot_activity_exporters.integrity.notes import Note, Verifier, parse_notes
from autobot_activity_exporters.integrity.pruning import pruning_body_prefix
from autobot_activity_exporters.models import (
    ACTIVITY_TABLES,
    CHAIN,
    CHECKPOINTS,
    PRUNES,
    SECRET_USAGE,
)
from autobot_activity_exporters.viewer import Viewer, apply_viewer

ROW_TABLES: tuple[Table, ...] = (*ACTIVITY_TABLES.values(), SECRET_USAGE)
_FETCH = 2000
_FETCH_ENTRIES = 32
"""Entries per fetch: each carries its manifest (57 bytes a row, 29 KB for 512 rows)."""
_LOOKUP_CHUNK = 1000
_NEVER = -(2**63)


@dataclass(frozen=True)
class Finding:
    """One problem: what kind, and a sentence naming ids (never a value)."""

    kind: str
    message: str


@dataclass
class Report:
    """What verify found."""

    rows: int = 0
    batches: int = 0
    chains: int = 0
    checkpoints_verified: int = 0
    checkpoints_unsigned: int = 0
    checkpoints_unchecked: int = 0
    findings: list[Finding] = field(default_factory=list)
    pruned: list[tuple[uuid.UUID, int, datetime]] = field(default_factory=list)
    pruned_rows: int = 0
    """Rows a kept batch lists that retention removed (older than a signed cut-off)."""

    @property
    def intact(self) -> bool:
        return not self.findings

    def add(self, kind: str, message: str) -> None:
        self.findings.append(Finding(kind, message))

    def summary(self) -> str:
        text = (
            f"{self.rows} rows in {self.batches} batches on {self.chains} chains;"
            f" {self.checkpoints_verified} checkpoints verified"
        )
        if self.checkpoints_unsigned:
            text += f" ({self.checkpoints_unsigned} unsigned)"
        if self.checkpoints_unchecked:
            text += f" ({self.checkpoints_unchecked} not checked: no public key)"
        return (
            "intact: " if self.intact else f"NOT intact ({len(self.findings)} findings): "
        ) + text

    def lines(self) -> list[str]:
        """The findings, then what was pruned, then the summary line."""
        pruned = [
            f"pruned: chain {chain} before sequence {first} at {canonical.timestamp(cutoff)}"
            for chain, first, cutoff in self.pruned
        ]
        if self.pruned_rows:
            pruned.append(f"pruned: {self.pruned_rows} older rows of kept batches")
        return [f"{f.kind}: {f.message}" for f in self.findings] + pruned + [self.summary()]

    def as_json(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "rows": self.rows,
            "batches": self.batches,
            "chains": self.chains,
            "checkpoints_verified": self.checkpoints_verified,
            "checkpoints_unsigned": self.checkpoints_unsigned,
            "checkpoints_unchecked": self.checkpoints_unchecked,
            "pruned_rows": self.pruned_rows,
            "pruned": [
                {"chain": str(c), "first_kept_sequence": s, "cutoff": canonical.timestamp(t)}
                for c, s, t in self.pruned
            ],
            "findings": [{"kind": f.kind, "message": f.message} for f in self.findings],
        }


@dataclass(frozen=True)
class CheckpointNote:
    """A checkpoint as read from a note: which chain, which sequence, which head."""

    chain_id: uuid.UUID
    sequence: int
    head: bytes
    note: Note
    where: str


def read_checkpoint(note: Note, where: str) -> CheckpointNote | None:
    """The checkpoint a note states, or None when it is not one of ours."""
    lines = note.body.split("\n")
    if len(lines) < 4 or not lines[0].startswith(ORIGIN_PREFIX):
        return None
    try:
        return CheckpointNote(
            uuid.UUID(lines[0][len(ORIGIN_PREFIX) :]),
            int(lines[1]),
            base64.b64decode(lines[2], validate=True),
            note,
            where,
        )
    except ValueError:
        return None


def read_checkpoint_files(directory: Path) -> list[CheckpointNote]:
    """Every checkpoint in the folder's ``*.checkpoints`` files."""
    found: list[CheckpointNote] = []
    for path in sorted(directory.glob("*.checkpoints")):
        for note in parse_notes(path.read_text(encoding="utf-8", errors="replace")):
            checkpoint = read_checkpoint(note, f"file {path.name}")
            if checkpoint is not None:
                found.append(checkpoint)
    return found


class _Peek:
    """An async iterator of rows that can look at its next row."""

    def __init__(self, rows: AsyncIterator[Any]) -> None:
        self._rows = rows
        self.next: Any = None
        self.done = False

    async def advance(self) -> None:
        try:
            self.next = await anext(self._rows)
        except StopAsyncIteration:
            self.next, self.done = None, True


async def _stream(
    connection: AsyncConnection, statement: Any, fetch: int = _FETCH
) -> AsyncIterator[Any]:
    result = await connection.stream(statement.execution_options(yield_per=fetch))
    async for row in result:
        yield row._mapping


class Verification:
    """One run of verify over a connection (see the module docstring)."""

    def __init__(
        self,
        connection: AsyncConnection,
        *,
        verifier: Verifier | None,
        checkpoint_dir: Path | None,
        since: datetime | None,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.connection = connection
        self.verifier = verifier
        self.checkpoint_dir = checkpoint_dir
        self.since = since
        self.progress = progress or (lambda rows: None)
        self.report = Report()
        self.expected_heads: dict[tuple[uuid.UUID, int], tuple[bytes, str]] = {}
        self.first_kept: dict[uuid.UUID, int] = {}
        self.last_sequence: dict[uuid.UUID, int] = {}
        self.pruned_before: dict[uuid.UUID, int] = {}
        """Per chain, the newest signed cut-off (microseconds): older rows may be gone."""
        self.pending: dict[tuple[str, uuid.UUID], list[tuple[canonical.Item, str, uuid.UUID]]] = {}
        self.covered: set[tuple[str, uuid.UUID]] = set()

    async def run(self) -> Report:
        await self._prunes()
        await self._checkpoints()
        await self._walk()
        await self._resolve_pending()
        await self._unchained()
        self._tails()
        return self.report

    # --- signatures -------------------------------------------------------------------

    def _signature(self, note: Note, what: str) -> bool:
        """Count and check one note's signature; False when it is bad."""
        if not note.signatures:
            self.report.checkpoints_unsigned += 1
            if self.verifier is not None:
                self.report.add("unsigned", f"{what} carries no signature")
            return True
        if self.verifier is None:
            self.report.checkpoints_unchecked += 1
            return True
        good = self.verifier.verify(note)
        if good:
            self.report.checkpoints_verified += 1
            return True
        self.report.add(
            "bad signature",
            f"{what}: "
            + ("the signature does not verify" if good is False else "not signed by this key"),
        )
        return False

    async def _prunes(self) -> None:
        result = await self.connection.execute(select(PRUNES).order_by(PRUNES.c.chain_id))
        for row in result.mappings():
            chain, first = row["chain_id"], row["first_kept_sequence"]
            notes = parse_notes(row["note"])
            what = f"pruning record of chain {chain} (first kept {first})"
            body_ok = bool(notes) and notes[0].body.startswith(pruning_body_prefix(chain, first))
            if not body_ok:
                self.report.add("bad pruning record", f"{what}: its note does not state it")
            elif self._signature(notes[0], what) is False:
                continue
            self.first_kept[chain] = max(self.first_kept.get(chain, 0), first)
            cutoff = canonical.micros(row["cutoff"])
            self.pruned_before[chain] = max(self.pruned_before.get(chain, _NEVER), cutoff)
            self.report.pruned.append((chain, first, row["cutoff"]))

    async def _checkpoints(self) -> None:
        stored: dict[tuple[uuid.UUID, int], CheckpointNote] = {}
        result = await self.connection.execute(select(CHECKPOINTS))
        for row in result.mappings():
            notes = parse_notes(row["note"])
            checkpoint = read_checkpoint(notes[0], "database") if notes else None
            key = (row["chain_id"], row["sequence"])
            if checkpoint is None or (checkpoint.chain_id, checkpoint.sequence) != key:
                self.report.add(
                    "bad checkpoint",
                    f"database checkpoint of chain {key[0]} sequence {key[1]}: its note names"
                    " another chain or sequence",
                )
                continue
            if checkpoint.head != row["head_hash"]:
                self.report.add(
                    "bad checkpoint",
                    f"database checkpoint of chain {key[0]} sequence {key[1]}: head column"
                    " differs from its note",
                )
            stored[key] = checkpoint
        outside: dict[tuple[uuid.UUID, int], CheckpointNote] = {}
        if self.checkpoint_dir is not None:
            for checkpoint in read_checkpoint_files(self.checkpoint_dir):
                outside[(checkpoint.chain_id, checkpoint.sequence)] = checkpoint
            for key in sorted(outside.keys() - stored.keys()):
                self.report.add(
                    "checkpoint missing from database",
                    f"chain {key[0]} sequence {key[1]} is in the checkpoint files only",
                )
            for key in sorted(stored.keys() - outside.keys()):
                self.report.add(
                    "checkpoint missing from files",
                    f"chain {key[0]} sequence {key[1]} is in the database only",
                )
        for key in sorted(stored.keys() | outside.keys()):
            copies = [c for c in (outside.get(key), stored.get(key)) if c is not None]
            trusted: CheckpointNote | None = None
            for copy in copies:
                what = f"checkpoint of chain {key[0]} sequence {key[1]} ({copy.where})"
                if self._signature(copy.note, what) and trusted is None:
                    trusted = copy
            if len(copies) == 2 and copies[0].head != copies[1].head:
                self.report.add(
                    "checkpoint mismatch",
                    f"chain {key[0]} sequence {key[1]}: the database and the files sign"
                    " different heads",
                )
            if trusted is not None:
                self.expected_heads[key] = (trusted.head, trusted.where)

    # --- the walk ---------------------------------------------------------------------

    async def _walk(self) -> None:
        entries = _Peek(
            _stream(
                self.connection,
                select(CHAIN).order_by(CHAIN.c.chain_id, CHAIN.c.sequence),
                _FETCH_ENTRIES,
            )
        )
        tables = {
            table.name: _Peek(_stream(self.connection, self._chained_rows(table)))
            for table in ROW_TABLES
        }
        await entries.advance()
        for peek in tables.values():
            await peek.advance()
        chain: uuid.UUID | None = None
        previous: dict[str, Any] | None = None
        while not entries.done:
            entry = dict(entries.next)
            await entries.advance()
            if entry["chain_id"] != chain:
                chain, previous = entry["chain_id"], None
                self.report.chains += 1
            self._check_entry(entry, previous)
            previous = entry
            self.last_sequence[chain] = entry["sequence"]
            key = (entry["chain_id"], entry["sequence"])
            checked = self.since is None or entry["first_timestamp"] >= self.since
            rows: dict[tuple[str, uuid.UUID], Any] = {}
            for name, peek in tables.items():
                while not peek.done and (peek.next["chain_id"], peek.next["chain_sequence"]) < key:
                    self._orphan(name, peek.next)
                    await peek.advance()
                while not peek.done and (peek.next["chain_id"], peek.next["chain_sequence"]) == key:
                    rows[(name, peek.next["id"])] = peek.next
                    await peek.advance()
            if checked:
                self._check_rows(entry, rows)
            self.report.batches += 1
            await self._maybe_resolve()
        for name, peek in tables.items():
            while not peek.done:
                self._orphan(name, peek.next)
                await peek.advance()

    def _chained_rows(self, table: Table) -> Any:
        statement = select(table).where(table.c.chain_id.is_not(None))
        if self.since is not None:
            statement = statement.where(table.c.timestamp >= self.since)
        return statement.order_by(table.c.chain_id, table.c.chain_sequence)

    def _check_entry(self, entry: dict[str, Any], previous: dict[str, Any] | None) -> None:
        chain, sequence = entry["chain_id"], entry["sequence"]
        where = f"chain {chain} sequence {sequence}"
        recomputed = canonical.entry_hash(
            chain_id=chain,
            sequence=sequence,
            previous=entry["previous_hash"],
            batch=entry["batch_hash"],
            row_count=entry["row_count"],
            first=entry["first_timestamp"],
            last=entry["last_timestamp"],
            committed_at=entry["committed_at"],
        )
        if recomputed != entry["entry_hash"]:
            self.report.add("entry altered", f"{where}: its hash does not match its fields")
        if canonical.batch_hash(entry["manifest"]) != entry["batch_hash"]:
            self.report.add("entry altered", f"{where}: its manifest does not match its batch hash")
        if len(entry["manifest"]) != entry["row_count"] * canonical.ITEM_SIZE:
            self.report.add("entry altered", f"{where}: its row count does not match its manifest")
        if previous is None:
            first = self.first_kept.get(chain, 1)
            if sequence > first:
                self.report.add(
                    "entries missing",
                    f"chain {chain}: sequences {first} to {sequence - 1} are missing"
                    " (no pruning record covers them)",
                )
            elif sequence == 1 and entry["previous_hash"] != canonical.ZERO_HASH:
                self.report.add("link broken", f"{where}: a first entry that names a previous one")
        else:
            if sequence != previous["sequence"] + 1:
                self.report.add(
                    "entries missing",
                    f"chain {chain}: sequences {previous['sequence'] + 1} to {sequence - 1}"
                    " are missing",
                )
            elif entry["previous_hash"] != previous["entry_hash"]:
                self.report.add(
                    "link broken", f"{where} does not link to sequence {previous['sequence']}"
                )
        expected = self.expected_heads.get((chain, sequence))
        if expected is not None and expected[0] != entry["entry_hash"]:
            self.report.add(
                "chain rewritten",
                f"{where}: the signed checkpoint ({expected[1]}) states another head",
            )

    def _check_rows(self, entry: dict[str, Any], rows: dict[tuple[str, uuid.UUID], Any]) -> None:
        chain = entry["chain_id"]
        batch = f"chain {chain} sequence {entry['sequence']}"
        for item in canonical.manifest_items(entry["manifest"]):
            key = (item.table, item.id)
            row = rows.pop(key, None)
            self.report.rows += 1
            if row is None:  # stored by an earlier write (a replay, db=), pruned, or deleted
                self.pending.setdefault(key, []).append((item, batch, chain))
                continue
            if canonical.FORMS[item.table].digest(row) != item.digest:
                self.report.add("row edited", f"{item.table} {item.id} (batch {batch})")
        for table, row_id in rows:
            self.report.add(
                "row inserted outside the chain",
                f"{table} {row_id} claims batch {batch}, whose manifest does not list it",
            )
        self.progress(entry["row_count"])

    def _orphan(self, table: str, row: Any) -> None:
        chain, sequence = row["chain_id"], row["chain_sequence"]
        if sequence < self.first_kept.get(chain, 0):
            return  # a pruned batch's row that retention has not removed (yet)
        self.report.add(
            "row inserted outside the chain",
            f"{table} {row['id']} claims batch chain {chain} sequence {sequence}, which has"
            " no chain entry",
        )

    async def _maybe_resolve(self) -> None:
        if len(self.pending) >= _LOOKUP_CHUNK * 5:
            await self._resolve_pending()

    async def _resolve_pending(self) -> None:
        """Rows a manifest lists that its batch did not write: find them by id."""
        by_table: dict[str, list[uuid.UUID]] = {}
        for name, listed in self.pending:
            by_table.setdefault(name, []).append(listed)
        for table_name, ids in by_table.items():
            table = next(t for t in ROW_TABLES if t.name == table_name)
            for start in range(0, len(ids), _LOOKUP_CHUNK):
                chunk = ids[start : start + _LOOKUP_CHUNK]
                found = await self.connection.execute(select(table).where(table.c.id.in_(chunk)))
                for row in found.mappings():
                    key = (table_name, row["id"])
                    digest = canonical.FORMS[table_name].digest(row)
                    for expected, batch, _chain in self.pending.pop(key, []):
                        if digest != expected.digest:
                            self.report.add(
                                "row edited", f"{table_name} {row['id']} (batch {batch})"
                            )
                    if row["chain_id"] is None:
                        self.covered.add(key)
        for (table_name, row_id), missing in sorted(
            self.pending.items(), key=lambda item: str(item[0])
        ):
            for item, batch, chain in missing:
                if item.micros < self.pruned_before.get(chain, _NEVER):
                    self.report.rows -= 1
                    self.report.pruned_rows += 1
                else:
                    self.report.add("row deleted", f"{table_name} {row_id} (batch {batch})")
        self.pending.clear()

    async def _unchained(self) -> None:
        """Rows with no chain columns (written through ``db=`` or before the chain): each
        must be listed by some batch's manifest."""
        for table in ROW_TABLES:
            statement = select(table.c.id).where(table.c.chain_id.is_(None))
            if self.since is not None:
                statement = statement.where(table.c.timestamp >= self.since)
            async for row in _stream(self.connection, statement.order_by(table.c.id)):
                if (table.name, row["id"]) not in self.covered:
                    self.report.add(
                        "row inserted outside the chain",
                        f"{table.name} {row['id']} has no chain and no batch lists it",
                    )

    def _tails(self) -> None:
        newest: dict[uuid.UUID, tuple[int, str]] = {}
        for (chain, sequence), (_head, where) in self.expected_heads.items():
            if sequence > newest.get(chain, (0, ""))[0]:
                newest[chain] = (sequence, where)
        for chain, (sequence, where) in sorted(newest.items()):
            stored = self.last_sequence.get(chain, 0)
            if stored < sequence and sequence >= self.first_kept.get(chain, 0):
                self.report.add(
                    "tail truncated",
                    f"chain {chain} ends at sequence {stored}, but a signed checkpoint"
                    f" ({where}) names sequence {sequence}",
                )


async def verify(
    engine: AsyncEngine,
    *,
    verifier: Verifier | None = None,
    checkpoint_dir: Path | None = None,
    since: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Verify every chain of the database (see the module docstring)."""
    async with engine.connect() as connection:
        await apply_viewer(connection, Viewer.system())
        return await Verification(
            connection,
            verifier=verifier,
            checkpoint_dir=checkpoint_dir,
            since=since,
            progress=progress,
        ).run()
