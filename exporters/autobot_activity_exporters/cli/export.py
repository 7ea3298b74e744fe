"""``export``: activities as JSON Lines or CSV, with the filters of ``activities``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from autobot_activity_exporters import export
from autobot_activity_exporters.cli.arguments import Parents, add_limit, viewer_of
from autobot_activity_exporters.cli.listing import activity_filters
from autobot_activity_exporters.records import AnyActivity
from autobot_activity_exporters.store import ActivityStore


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    exporting = commands.add_parser(
        "export",
        parents=[parents.listing, parents.activity],
        help="write activities as JSON Lines or CSV",
        description="Write the stored rows of activities, oldest or newest first, as JSON"
        " Lines (exactly as --json) or CSV (one column per stored column; cells that a"
        " spreadsheet would run as a formula get a leading quote).",
    )
    add_limit(exporting, None, "activities")
    exporting.add_argument(
        "--format", choices=["jsonl", "csv"], default="jsonl", help="jsonl (default) or csv"
    )
    exporting.add_argument(
        "-o", "--output", type=Path, help="write to this file (default: standard output)"
    )
    exporting.set_defaults(run=run)


CSV_ON_TERMINAL = (
    "autobot-activity: CSV holds stored text as it is, control characters included, so it is"
    " not written to a terminal: use -o FILE, a pipe, or --format jsonl"
)


def run(args: argparse.Namespace) -> int:
    if args.output is None and args.format == "csv" and sys.stdout.isatty():
        print(CSV_ON_TERMINAL, file=sys.stderr)  # as gzip refuses to, for the same reason
        return 1
    records = asyncio.run(_records(args))
    if args.output is None:
        export.write(records, sys.stdout, args.format)
        return 0
    try:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            count = export.write(records, out, args.format)
    except OSError as exc:
        print(f"autobot-activity: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"{count} activities written to {args.output}", file=sys.stderr)
    return 0


async def _records(args: argparse.Namespace) -> list[AnyActivity]:
    async with ActivityStore(args.database_url, viewer=viewer_of(args)) as store:
        return await store.activities(**activity_filters(args), limit=args.limit, order=args.order)
