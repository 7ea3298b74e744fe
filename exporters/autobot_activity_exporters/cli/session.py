"""``session ID``: one session in the terminal, oldest first, one line per activity."""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from typing import Any

from autobot_activity_exporters import tables
from autobot_activity_exporters.cli.arguments import Parents, add_limit, output_width, viewer_of
from autobot_activity_exporters.records import AnyActivity, SecretUse
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
    session.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    records, usage, total = asyncio.run(_session(args))
    if args.json:
        return tables.as_json(records)
    return render_session(args.session_id, records, usage, total, output_width(args))


def render_session(
    session_id: str,
    records: list[AnyActivity],
    usage: list[SecretUse],
    total: int,
    width: int | None,
) -> str:
    """A title line, the activities in time order, and a closing line if cut."""
    if not records:
        return f"session {tables.one_line(session_id)}: no activity this viewer may see"
    counts = Counter(record.type.value for record in records)
    first, last = records[0].timestamp, records[-1].timestamp
    title = (
        f"session {tables.one_line(session_id)}: {total} activities"
        f" ({', '.join(f'{count} {kind}' for kind, count in sorted(counts.items()))}),"
        f" {first:%Y-%m-%d %H:%M:%S} to {last:%H:%M:%S} UTC, {len(usage)} secret uses"
    )
    secret_counts = Counter(use.activity_id for use in usage)
    columns = tables.activity_columns(records, who=False, secret_counts=secret_counts)
    lines = [tables.print_to_text(title, width), tables.render(records, columns, width)]
    if total > len(records):
        lines.append(f"{total - len(records)} more; use --limit")
    return "\n".join(lines)


async def _session(args: argparse.Namespace) -> tuple[list[AnyActivity], list[SecretUse], int]:
    filters = {"user_id": args.user, "session_id": args.session_id}
    filters.update(since=args.since, until=args.until)
    async with ActivityStore(args.database_url, viewer=viewer_of(args)) as store:
        records = await store.activities(**filters, limit=args.limit, order="asc")
        total = len(records)
        if total == args.limit:
            total = await store.count_activities(**filters)
        usage = await store.secret_usage(**filters, limit=None, order="asc")
        return records, usage, total
