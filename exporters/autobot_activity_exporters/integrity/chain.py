"""A writer's chains: the next entry for a batch, its checkpoints, and the head in memory.

Every committed batch becomes the next entry of one chain (docs/integrity.md). A writer
keeps its chains' heads in memory and never reads the chain table (the append-only role
may not): an entry is built inside the batch's transaction and the head moves only once
the commit returned. A transaction that failed before its commit changes nothing; one whose
commit failed may or may not have landed, so that chain is closed there and the next batch
starts a new chain (both outcomes verify). Concurrent transactions of one writer (the
ingest service's requests) each take a chain of their own from a pool.
"""

from __future__ import annotations

import base64
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autobot_activity_exporters.integrity import canonical
from autobot_activity_exporters.integrity.notes import Signer, read_signer, unsigned
from autobot_activity_otel import settings

_logger = logging.getLogger(__name__)

DEFAULT_EVERY_BATCHES = 100
DEFAULT_EVERY_SECONDS = 60.0
ORIGIN_PREFIX = "autobot-activity/chain/"
"""A checkpoint note's origin line: this prefix and the chain id."""


def checkpoint_body(chain_id: uuid.UUID, sequence: int, head: bytes, at: datetime) -> str:
    """A C2SP tlog-checkpoint body: origin, size (the sequence), base64 head, time."""
    return (
        f"{ORIGIN_PREFIX}{chain_id}\n{sequence}\n{base64.b64encode(head).decode()}\n"
        f"time {canonical.timestamp(at)}\n"
    )


@dataclass(frozen=True)
class Policy:
    """When a writer signs a checkpoint, with which key, and where files go."""

    every_batches: int = DEFAULT_EVERY_BATCHES
    every_seconds: float = DEFAULT_EVERY_SECONDS
    directory: Path | None = None
    signer: Signer | None = None

    @classmethod
    def from_env(cls) -> Policy:
        """The ``AUTOBOT_ACTIVITY_CHECKPOINT_*`` and ``_SIGNING_KEY`` settings; a key that
        cannot be read is reported and the checkpoints go unsigned."""
        signer = None
        key_path = settings.text(settings.SIGNING_KEY)
        if key_path:
            try:
                signer = read_signer(key_path)
            except (OSError, ValueError) as exc:
                _logger.warning(
                    "%s could not be read (%s); checkpoints are unsigned",
                    settings.SIGNING_KEY,
                    type(exc).__name__,
                )
        directory = settings.text(settings.CHECKPOINT_DIR)
        return cls(
            every_batches=settings.positive_int(
                settings.CHECKPOINT_EVERY_BATCHES, DEFAULT_EVERY_BATCHES
            ),
            every_seconds=settings.non_negative_float(
                settings.CHECKPOINT_SECONDS, DEFAULT_EVERY_SECONDS
            ),
            directory=Path(directory) if directory else None,
            signer=signer,
        )

    def note(self, body: str) -> str:
        return self.signer.sign(body) if self.signer is not None else unsigned(body)

    def keep_outside(self, chain_id: uuid.UUID, note: str) -> None:
        """Append the note to the chain's file in the checkpoint folder (fsynced); a
        failure is logged, never raised: the database copy is already committed."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with open(self.directory / f"{chain_id}.checkpoints", "a", encoding="utf-8") as file:
                file.write(note)
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            _logger.warning("checkpoint file not written (%s)", type(exc).__name__)


@dataclass(frozen=True)
class Pending:
    """An entry (and maybe a checkpoint) written in a batch's transaction, not yet committed."""

    sequence: int
    entry: dict[str, Any]
    checkpoint: dict[str, Any] | None


@dataclass
class Lane:
    """One chain of a writer: its id and, after each commit, its head."""

    policy: Policy
    chain_id: uuid.UUID = field(default_factory=uuid.uuid4)
    sequence: int = 0
    head: bytes = canonical.ZERO_HASH
    checkpointed: int = 0
    checkpointed_at: float = field(default_factory=time.monotonic)

    def stamp(self, tables: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Stamp the rows with the chain and its next sequence (the rows' dicts are changed
        in place: they gain ``chain_id`` and ``chain_sequence``)."""
        sequence = self.sequence + 1
        for rows in tables.values():
            for row in rows:
                row["chain_id"], row["chain_sequence"] = self.chain_id, sequence

    def seal(self, tables: Mapping[str, Sequence[dict[str, Any]]]) -> Pending:
        """The stamped rows' entry (and a checkpoint when one is due): their digests, the
        manifest and the entry's hash, linked to the head."""
        items: dict[bytes, bytes] = {}  # (code, id) -> item: a repeated id keeps its first row
        for name, rows in tables.items():
            for item in canonical.FORMS[name].items(rows):
                items.setdefault(item[: canonical.KEY_SIZE], item)
        times = [row["timestamp"] for rows in tables.values() for row in rows]
        first, last = min(times), max(times)
        sequence = self.sequence + 1
        manifest = canonical.manifest(items.values())
        batch = canonical.batch_hash(manifest)
        now = datetime.now(UTC)
        entry_hash = canonical.entry_hash(
            chain_id=self.chain_id,
            sequence=sequence,
            previous=self.head,
            batch=batch,
            row_count=len(items),
            first=first,
            last=last,
            committed_at=now,
        )
        entry = {
            "chain_id": self.chain_id,
            "sequence": sequence,
            "previous_hash": self.head,
            "batch_hash": batch,
            "entry_hash": entry_hash,
            "row_count": len(items),
            "first_timestamp": first,
            "last_timestamp": last,
            "committed_at": now,
            "manifest": manifest,
        }
        due = (
            sequence - self.checkpointed >= self.policy.every_batches
            or time.monotonic() - self.checkpointed_at >= self.policy.every_seconds
        )
        return Pending(sequence, entry, self._checkpoint(sequence, entry_hash) if due else None)

    def _checkpoint(self, sequence: int, head: bytes) -> dict[str, Any]:
        now = datetime.now(UTC)
        note = self.policy.note(checkpoint_body(self.chain_id, sequence, head, now))
        return {
            "chain_id": self.chain_id,
            "sequence": sequence,
            "head_hash": head,
            "created_at": now,
            "note": note,
        }

    def committed(self, pending: Pending) -> None:
        """The transaction committed: the head moves, a checkpoint is also kept outside."""
        self.sequence = pending.sequence
        self.head = pending.entry["entry_hash"]
        if pending.checkpoint is not None:
            self.checkpointed_now(pending.checkpoint)

    def checkpointed_now(self, checkpoint: dict[str, Any]) -> None:
        """A checkpoint of this chain committed: remember it, and keep its note outside."""
        self.checkpointed, self.checkpointed_at = checkpoint["sequence"], time.monotonic()
        self.policy.keep_outside(self.chain_id, checkpoint["note"])

    def closing_checkpoint(self) -> dict[str, Any] | None:
        """A checkpoint of the head, if it moved since the last one (for shutdown)."""
        if self.sequence == 0 or self.sequence == self.checkpointed:
            return None
        return self._checkpoint(self.sequence, self.head)

    def restart(self) -> None:
        """A commit of unknown outcome: this chain ends; the next batch starts a new one."""
        self.chain_id, self.sequence, self.head = uuid.uuid4(), 0, canonical.ZERO_HASH
        self.checkpointed, self.checkpointed_at = 0, time.monotonic()


class Chains:
    """The chains of one writer (process): a pool of lanes, one per concurrent transaction."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy if policy is not None else Policy.from_env()
        self._idle: list[Lane] = []
        self._lanes: list[Lane] = []
        self._pid = os.getpid()

    @asynccontextmanager
    async def lane(self) -> AsyncIterator[Lane]:
        """A chain no other transaction of this writer is using (a new one if all are)."""
        if self._pid != os.getpid():  # a forked child: its own chains
            self._idle, self._lanes, self._pid = [], [], os.getpid()
        if self._idle:
            lane = self._idle.pop()
        else:
            lane = Lane(self.policy)
            self._lanes.append(lane)
        try:
            yield lane
        finally:
            self._idle.append(lane)

    def closing_checkpoints(self) -> list[tuple[Lane, dict[str, Any]]]:
        """Checkpoints of every chain whose head moved since its last one."""
        found = [(lane, lane.closing_checkpoint()) for lane in self._lanes]
        return [(lane, checkpoint) for lane, checkpoint in found if checkpoint is not None]

    @staticmethod
    def checkpoints_committed(written: Iterable[tuple[Lane, dict[str, Any]]]) -> None:
        """The closing checkpoints committed: each lane keeps its note outside."""
        for lane, checkpoint in written:
            lane.checkpointed_now(checkpoint)
