"""``activities`` and ``secrets``: what a viewer may see, as a table or JSON."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from autobot_activity_exporters import report
from autobot_activity_exporters.cli.arguments import Parents, uuid_argument, viewer_of
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Viewer
from autobot_activity_otel.attributes import ActivityType


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    activities = commands.add_parser("activities", parents=[parents.query], help="list activities")
    activities.add_argument("--type", choices=[kind.value for kind in ActivityType])
    activities.set_defaults(run=run)
    secrets = commands.add_parser(
        "secrets", parents=[parents.query], help="list the secret-usage audit"
    )
    secrets.add_argument("--secret", type=uuid_argument, help="only this secret id")
    secrets.add_argument("--activity", type=uuid_argument, help="only this activity id")
    secrets.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    rows = asyncio.run(_query(args, viewer_of(args)))
    columns = report.ACTIVITY_COLUMNS if args.command == "activities" else report.SECRET_COLUMNS
    return report.as_json(rows) if args.json else report.table(rows, columns)


async def _query(args: argparse.Namespace, viewer: Viewer) -> list[dict[str, Any]]:
    filters = {"user_id": args.user, "session_id": args.session, "since": args.since}
    filters.update(until=args.until, limit=args.limit)
    async with ActivityStore(args.database_url, viewer=viewer) as store:
        if args.command == "activities":
            return await store.activities(args.type, **filters)
        return await store.secret_usage(secret_id=args.secret, activity_id=args.activity, **filters)
