"""Retention the chain understands: a signed record of what was removed, and from when.

The rule (docs/integrity.md): retention removes rows older than the cut-off by their time
(``retention.prune``, or a partition drop), in the transaction that calls
``record_pruning``. For every chain with a batch holding such rows, that records (signed, as
a checkpoint is) the cut-off and the first kept sequence ``S``: the chain's first batch with
a row at or after the cut-off (its head + 1 when none has). Entries before ``S`` are
deleted with their rows, as whole batches; a kept batch may lose its rows older than the
cut-off, which its manifest dates. Verify then reports "pruned before sequence S at T" and
counts those rows as pruned, not deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from autobot_activity_exporters.integrity import canonical
from autobot_activity_exporters.integrity.chain import Policy
from autobot_activity_exporters.models import CHAIN, PRUNES


def pruning_body_prefix(chain_id: uuid.UUID, first_kept: int) -> str:
    """How a pruning note begins: its origin and the first kept sequence."""
    return f"autobot-activity/prune/{chain_id}\n{first_kept}\n"


def pruning_body(chain_id: uuid.UUID, first_kept: int, cutoff: datetime, at: datetime) -> str:
    """A pruning note's text: origin, first kept sequence, cut-off, time."""
    return (
        pruning_body_prefix(chain_id, first_kept)
        + f"cutoff {canonical.timestamp(cutoff)}\ntime {canonical.timestamp(at)}\n"
    )


@dataclass(frozen=True)
class ChainCut:
    """One chain's batches before ``first_kept`` are removed."""

    chain_id: uuid.UUID
    first_kept: int


async def cuts(connection: AsyncConnection, cutoff: datetime) -> list[ChainCut]:
    """Per chain holding a row older than the cut-off: where its kept entries begin."""
    first_new = func.min(case((CHAIN.c.last_timestamp >= cutoff, CHAIN.c.sequence)))
    rows = await connection.execute(
        select(CHAIN.c.chain_id, func.max(CHAIN.c.sequence), first_new)
        .group_by(CHAIN.c.chain_id)
        .having(func.min(CHAIN.c.first_timestamp) < cutoff)
        .order_by(CHAIN.c.chain_id)
    )
    return [
        ChainCut(chain_id, newest + 1 if first is None else first)
        for chain_id, newest, first in rows
    ]


async def record_pruning(
    connection: AsyncConnection, cutoff: datetime, policy: Policy | None = None
) -> list[ChainCut]:
    """Delete the entries before each chain's first kept sequence and record, signed, the
    cut-off (in the caller's transaction, the one that removes the rows)."""
    policy = policy if policy is not None else Policy.from_env()
    now = datetime.now(UTC)
    found = await cuts(connection, cutoff)
    for cut in found:
        await connection.execute(
            delete(CHAIN).where(CHAIN.c.chain_id == cut.chain_id, CHAIN.c.sequence < cut.first_kept)
        )
        note = policy.note(pruning_body(cut.chain_id, cut.first_kept, cutoff, now))
        await connection.execute(
            insert(PRUNES).values(
                chain_id=cut.chain_id,
                first_kept_sequence=cut.first_kept,
                cutoff=cutoff,
                pruned_at=now,
                note=note,
            )
        )
    return found
