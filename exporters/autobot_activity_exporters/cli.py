"""``autobot-activity``: list activities and secret usage, prune, upgrade the schema, demo.

Listings are made for a viewer: by default the system viewer (every row), because whoever
runs this command already holds the database credentials; ``--viewer-role`` with
``--viewer-user``/``--viewer-org``/``--viewer-team`` shows exactly what that viewer sees. On
PostgreSQL, logins that are members of the application role never get the system viewer's
rows: they must name a viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from autobot_activity_exporters import report
from autobot_activity_exporters.database import (
    DATABASE_URL_ENV,
    create_engine,
    resolve_database_url,
)
from autobot_activity_exporters.retention import parse_duration, prune
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Role, Viewer
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.ids import parse_uuid


def moment(value: str) -> datetime:
    """``--since``/``--until``: an ISO 8601 time (UTC if no offset), or an age like 15m, 2h, 7d."""
    try:
        return datetime.now(UTC) - parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected an ISO 8601 time or an age like 15m, 2h, 7d"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def age(value: str) -> timedelta:
    """``--older-than``: a positive age like 365d, 12h, 30m."""
    try:
        parsed = parse_duration(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if parsed <= timedelta(0):
        raise argparse.ArgumentTypeError("the age must be positive")
    return parsed


def uuid_argument(value: str) -> Any:
    try:
        return parse_uuid(value, "id")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        help=f"SQLAlchemy URL (default: ${DATABASE_URL_ENV}, else ./autobot_activity.db)",
    )
    query = argparse.ArgumentParser(add_help=False, parents=[common])
    query.add_argument("--user", type=uuid_argument, help="only this user id")
    query.add_argument("--session", help="only this session id")
    query.add_argument("--since", type=moment, help="from this time on (ISO 8601, or 15m, 2h, 7d)")
    query.add_argument("--until", type=moment, help="before this time")
    query.add_argument("--limit", type=int, default=100, help="at most this many rows (100)")
    query.add_argument("--json", action="store_true", help="print JSON instead of a table")
    viewer = query.add_argument_group("viewer (default: the system viewer, every row)")
    viewer.add_argument(
        "--viewer-role",
        choices=[role.value for role in Role if role is not Role.SYSTEM],
        help="show what this role sees",
    )
    viewer.add_argument("--viewer-user", type=uuid_argument, help="the viewer's user id")
    viewer.add_argument("--viewer-org", type=uuid_argument, help="the viewer's org id")
    viewer.add_argument(
        "--viewer-team", type=uuid_argument, action="append", default=[], help="a team of theirs"
    )

    parser = argparse.ArgumentParser(prog="autobot-activity", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    activities = commands.add_parser("activities", parents=[query], help="list activities")
    activities.add_argument("--type", choices=[kind.value for kind in ActivityType])
    secrets = commands.add_parser("secrets", parents=[query], help="list the secret-usage audit")
    secrets.add_argument("--secret", type=uuid_argument, help="only this secret id")
    secrets.add_argument("--activity", type=uuid_argument, help="only this activity id")
    pruning = commands.add_parser(
        "prune", parents=[common], help="delete old activities with their secret usage"
    )
    pruning.add_argument(
        "--older-than", type=age, required=True, help="recorded longer ago than this (365d)"
    )
    pruning.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    db = commands.add_parser("db", help="manage the schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", parents=[common], help="apply the shipped migrations")
    commands.add_parser("demo", parents=[common], help="record a few real commands and show them")
    return parser


async def _query(args: argparse.Namespace, viewer: Viewer) -> list[dict[str, Any]]:
    filters = {"user_id": args.user, "session_id": args.session, "since": args.since}
    filters.update(until=args.until, limit=args.limit)
    async with ActivityStore(args.database_url, viewer=viewer) as store:
        if args.command == "activities":
            return await store.activities(args.type, **filters)
        return await store.secret_usage(secret_id=args.secret, activity_id=args.activity, **filters)


def viewer_of(args: argparse.Namespace) -> Viewer:
    """The viewer the options name, or the system viewer when ``--viewer-role`` is absent."""
    if args.viewer_role is None:
        if args.viewer_user or args.viewer_org or args.viewer_team:
            raise ValueError("--viewer-user/--viewer-org/--viewer-team need --viewer-role")
        return Viewer.system()
    return Viewer(args.viewer_user, args.viewer_org, frozenset(args.viewer_team), args.viewer_role)


async def _prune(args: argparse.Namespace) -> str:
    engine = create_engine(resolve_database_url(args.database_url))
    try:
        result = await prune(engine, args.older_than, dry_run=args.dry_run)
    finally:
        await engine.dispose()
    verb = "would delete" if result.dry_run else "deleted"
    counts = ", ".join(f"{table} {count}" for table, count in result.deleted.items())
    return f"{verb} {result.total} rows recorded before {result.cutoff.isoformat()}: {counts}"


async def _upgrade(database_url: str | None) -> str | None:
    from autobot_activity_exporters.schema import upgrade  # Alembic only when needed

    engine = create_engine(resolve_database_url(database_url))
    try:
        return await upgrade(engine)
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    viewer = Viewer.system()
    if args.command in ("activities", "secrets"):
        try:
            viewer = viewer_of(args)
        except ValueError as exc:
            parser.error(str(exc))
    if args.command == "demo":
        from autobot_activity_exporters.demo import run_demo

        return run_demo(args.database_url)
    try:
        if args.command == "db":
            print(f"activity schema at revision {asyncio.run(_upgrade(args.database_url))}")
            return 0
        if args.command == "prune":
            print(asyncio.run(_prune(args)))
            return 0
        rows = asyncio.run(_query(args, viewer))
    except Exception as exc:  # the message may hold a URL with a password: print the type
        print(
            f"autobot-activity: {type(exc).__name__} while talking to the database"
            " (is it reachable, and has `autobot-activity db upgrade` run?)",
            file=sys.stderr,
        )
        return 1
    columns = report.ACTIVITY_COLUMNS if args.command == "activities" else report.SECRET_COLUMNS
    print(report.as_json(rows) if args.json else report.table(rows, columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
