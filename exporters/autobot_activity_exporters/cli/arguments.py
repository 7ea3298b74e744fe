"""Argument types and the option groups several commands share."""

from __future__ import annotations

import argparse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from autobot_activity_exporters.retention import parse_duration
from autobot_activity_exporters.viewer import Role, Viewer
from autobot_activity_otel import settings
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


def uuid_argument(value: str) -> uuid.UUID:
    try:
        return parse_uuid(value, "id")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True)
class Parents:
    """Option groups a command can inherit: the database, and a viewer's query filters."""

    database: argparse.ArgumentParser
    query: argparse.ArgumentParser


def build_parents() -> Parents:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--database-url",
        help=f"SQLAlchemy URL (default: ${settings.DATABASE_URL}, else ./autobot_activity.db)",
    )
    query = argparse.ArgumentParser(add_help=False, parents=[database])
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
    return Parents(database, query)


def viewer_of(args: argparse.Namespace) -> Viewer:
    """The viewer the options name, or the system viewer when ``--viewer-role`` is absent."""
    if args.viewer_role is None:
        if args.viewer_user or args.viewer_org or args.viewer_team:
            raise ValueError("--viewer-user/--viewer-org/--viewer-team need --viewer-role")
        return Viewer.system()
    return Viewer(args.viewer_user, args.viewer_org, frozenset(args.viewer_team), args.viewer_role)
