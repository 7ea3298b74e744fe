"""``session ID``: one session in the terminal, oldest first, one line per activity."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections import Counter
from collections.abc import Set
from dataclasses import dataclass
from typing import Any

from autobot_activity_exporters import tables
from autobot_activity_exporters.cli.arguments import (
    Parents,
    add_journal,
    add_limit,
    journal_note,
    journal_of,
    output_width,
    viewer_of,
)
from autobot_activity_exporters.records import AnyActivity, SecretUse
from autobot_activity_exporters.report.waiting import JournalStatus
from autobot_activity_exporters.store import ActivityStore

DEFAULT_LIMIT = 1000


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    session = commands.add_parser(
        "session",
        parents=[parents.scope, parents.display],
        help="show one session, oldest first, fitted to the terminal",
        description="One session in time order: per activity the columns that matter for its"
        " type (a command's exit code and directory, a page's status and selector, a file's"
        " size and new path, a desktop action's window and coordinates) and its secret uses.",
    )
    session.add_argument("session_id", metavar="ID", help="the session id")
    add_limit(session, DEFAULT_LIMIT, "activities")
    add_journal(session)
    session.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    journal = None if args.json else journal_of(args)  # --json prints stored rows only
    shown = asyncio.run(_session(args, journal))
    note = journal_note(journal)
    if note:
        print(note, file=sys.stderr)
    if args.json:
        return tables.as_json(shown.records)
    return render_session(
        args.session_id,
        shown.records,
        shown.usage,
        shown.total,
        output_width(args),
        waiting=shown.waiting,
    )


def render_session(
    session_id: str,
    records: list[AnyActivity],
    usage: list[SecretUse],
    total: int,
    width: int | None,
    *,
    waiting: Set[uuid.UUID] = frozenset(),
) -> str:
    """A title line, the activities in time order, and a closing line if cut; ``waiting``
    are the ids of activities still in the journal (marked, and counted in the title)."""
    if not records:
        return f"session {tables.one_line(session_id)}: no activity this viewer may see"
    counts = Counter(record.type.value for record in records)
    first, last = records[0].timestamp, records[-1].timestamp
    held = f", {len(waiting)} waiting in the journal" if waiting else ""
    end = f"{last:%H:%M:%S}" if last.date() == first.date() else f"{last:%Y-%m-%d %H:%M:%S}"
    title = (
        f"session {tables.one_line(session_id)}: {total} activities"
        f" ({', '.join(f'{count} {kind}' for kind, count in sorted(counts.items()))}),"
        f" {first:%Y-%m-%d %H:%M:%S} to {end} UTC, {len(usage)} secret uses{held}"
    )
    secret_counts = Counter(use.activity_id for use in usage)
    columns = tables.activity_columns(records, who=False, secret_counts=secret_counts)
    if waiting:
        columns.append(
            tables.Column(
                "delivery", lambda record: "waiting" if record.id in waiting else None, True
            )
        )
    lines = [tables.print_to_text(title, width), tables.render(records, columns, width)]
    if total > len(records):
        lines.append(f"{total - len(records)} more; use --limit")
    return "\n".join(lines)


@dataclass(frozen=True)
class Shown:
    """What the view shows: the records (stored and waiting), their secret uses, how many
    there are in all, and which are still in the journal."""

    records: list[AnyActivity]
    usage: list[SecretUse]
    total: int
    waiting: frozenset[uuid.UUID]


async def _session(args: argparse.Namespace, journal: JournalStatus | None) -> Shown:
    filters = {"user_id": args.user, "session_id": args.session_id}
    filters.update(since=args.since, until=args.until)
    async with ActivityStore(args.database_url, viewer=viewer_of(args)) as store:
        records = await store.activities(**filters, limit=args.limit, order="asc")
        total = len(records)
        if total == args.limit:
            total = await store.count_activities(**filters)
        usage = await store.secret_usage(**filters, limit=None, order="asc")
        if journal is None:
            return Shown(records, usage, total, frozenset())
        held, held_usage = journal.waiting(
            store.viewer, args.session_id, user_id=args.user, since=args.since, until=args.until
        )
        if held:  # a record shipped while we read is the database's, even past --limit
            ids = [record.id for record in held]
            stored = {record.id for record in await store.activities(activity_ids=ids, limit=None)}
            held = [record for record in held if record.id not in stored]
        waiting = frozenset(record.id for record in held)
        records = sorted([*records, *held], key=lambda record: record.timestamp)
        usage = sorted(
            [*usage, *(use for use in held_usage if use.activity_id in waiting)],
            key=lambda use: use.timestamp,
        )
        return Shown(records, usage, total + len(waiting), waiting)
