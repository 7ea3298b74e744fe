"""``journal status | replay | discard``: what waits to be delivered, ship it now, or drop it."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autobot_activity_exporters.cli.arguments import Parents
from autobot_activity_exporters.database import create_schema_from_env, resolve_database_url
from autobot_activity_exporters.database import safe_url as safe
from autobot_activity_exporters.exporter import sending_endpoint
from autobot_activity_exporters.journal import (
    DatabaseDestination,
    Destination,
    Journal,
    JournalDirectory,
)
from autobot_activity_otel import settings

REPLAY_TIMEOUT_SECONDS = 60.0


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    journal = commands.add_parser(
        "journal", help="activities waiting in the local journal: status, replay, discard"
    )
    journal.add_argument(
        "--journal-dir",
        type=Path,
        help=f"the journal folder (default: ${settings.JOURNAL_DIR}, else under the state dir)",
    )
    actions = journal.add_subparsers(dest="journal_command", required=True)
    status = actions.add_parser("status", help="how many activities wait, how old, for where")
    status.set_defaults(run=_status)
    replay = actions.add_parser(
        "replay",
        parents=[parents.database],
        help=f"ship every waiting activity now (to ${settings.ENDPOINT} when it is set)",
    )
    replay.add_argument(
        "--timeout",
        type=float,
        default=REPLAY_TIMEOUT_SECONDS,
        help=f"give up after this many seconds ({REPLAY_TIMEOUT_SECONDS:.0f})",
    )
    replay.set_defaults(run=_replay)
    discard = actions.add_parser("discard", help="delete every waiting activity, on purpose")
    discard.add_argument("--yes", action="store_true", help="yes, delete them")
    discard.set_defaults(run=_discard)


def _directory(args: argparse.Namespace) -> JournalDirectory:
    return JournalDirectory(args.journal_dir or settings.journal_dir())


def _status(args: argparse.Namespace) -> str:
    status = _directory(args).status()
    destination = settings.text(settings.DATABASE_URL)
    endpoint = settings.text(settings.ENDPOINT)
    oldest = (
        datetime.fromtimestamp(status.oldest_ns / 1e9, UTC).isoformat(timespec="seconds")
        if status.oldest_ns
        else "-"
    )
    lines = [
        f"journal:      {status.directory}",
        f"waiting:      {status.pending} activities ({status.pending_bytes:,} bytes)",
        f"oldest:       {oldest}",
        f"segments:     {status.segments} ({status.live_writers} open by running processes)",
        f"quarantined:  {status.quarantined} (in {status.directory / 'quarantine'})",
        "destination:  "
        + (
            f"the ingest service at {endpoint}"
            if endpoint
            else safe(resolve_database_url(destination))
            if destination
            else "not configured here"
        ),
    ]
    return "\n".join(lines)


def _replay(args: argparse.Namespace) -> int:
    destination: Destination
    endpoint = sending_endpoint(args.database_url, None)
    if endpoint is not None:
        from autobot_activity_exporters.journal import OtlpDestination

        destination = OtlpDestination(endpoint, token=settings.text(settings.TOKEN))
    else:
        url = resolve_database_url(args.database_url)
        destination = DatabaseDestination(url, create_schema=create_schema_from_env())
    directory = _directory(args)
    before = directory.status().pending
    journal = Journal(destination, directory=directory.path, exit_timeout=args.timeout)
    try:
        deadline = time.monotonic() + args.timeout
        shipped = journal.drain(deadline)
    finally:
        journal.close(0)
    left = directory.status().pending
    where = destination.description
    print(f"shipped {before - left} of {before} activities to {where}; {left} waiting")
    if not shipped:
        print("another process is shipping this journal now, or the destination did not answer")
    return 0 if left == 0 else 1


def _discard(args: argparse.Namespace) -> int:
    directory = _directory(args)
    if not args.yes:
        print(f"this deletes every activity waiting in {directory.path}; add --yes to do it")
        return 2
    dropped = directory.discard()
    print(f"discarded {dropped} activities from {directory.path}")
    return 0
