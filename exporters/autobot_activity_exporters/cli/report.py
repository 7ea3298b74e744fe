"""``report``: one session as a self-contained HTML file, for the viewer it is run as."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from autobot_activity_exporters import report
from autobot_activity_exporters.cli.arguments import (
    Parents,
    add_journal,
    age,
    journal_note,
    journal_of,
    viewer_of,
)
from autobot_activity_exporters.report.waiting import JournalStatus
from autobot_activity_exporters.store import ActivityStore


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    reporting = commands.add_parser(
        "report",
        parents=[parents.scope],
        help="write one session as a self-contained HTML report",
        description="Write one session as a single HTML file that opens from disk and fetches"
        " nothing: a time axis with a lane per activity type (idle gaps collapsed), every"
        " secret use marked, a searchable list, and a detail panel per activity.",
    )
    reporting.add_argument("--session", required=True, help="the session id")
    reporting.add_argument(
        "-o", "--output", type=Path, required=True, metavar="FILE.html", help="where to write it"
    )
    reporting.add_argument(
        "--idle-gap",
        type=age,
        default=report.IDLE_GAP,
        metavar="AGE",
        help="collapse pauses longer than this on the time axis (default 30s)",
    )
    add_journal(reporting)
    reporting.set_defaults(run=run)


def run(args: argparse.Namespace) -> str | int:
    journal = journal_of(args)
    session = asyncio.run(_read(args, journal))
    note = journal_note(journal)
    if note:
        print(note, file=sys.stderr)
    try:
        report.write(args.output, session, idle_gap=args.idle_gap)
    except OSError as exc:
        print(f"autobot-activity: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    uses = len(session.secret_usage)
    waiting = f" ({session.waiting} waiting in the journal)" if session.waiting else ""
    return (
        f"{len(session.activities)} activities{waiting} and {uses} secret uses of session"
        f" {args.session} written to {args.output.resolve()}"
    )


async def _read(args: argparse.Namespace, journal: JournalStatus | None) -> report.SessionData:
    async with ActivityStore(args.database_url, viewer=viewer_of(args)) as store:
        return await report.read_session(
            store,
            args.session,
            user_id=args.user,
            since=args.since,
            until=args.until,
            journal=journal,
        )
