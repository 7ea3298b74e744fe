"""Argument types and the option groups several commands share."""

from __future__ import annotations

import argparse
import shutil
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from autobot_activity_exporters.retention import parse_duration
from autobot_activity_exporters.viewer import Role, Viewer
from autobot_activity_otel import settings
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.secrets import redact

if TYPE_CHECKING:
    from autobot_activity_exporters.report.waiting import JournalStatus

SHOWN_VALUE_CHARS = 40
"""A refused value is echoed up to this many characters (a typo is seen, a paste is not)."""
ROLE_NEEDS = {
    Role.USER: ("--viewer-user", "the viewer's user id"),
    Role.TEAM_ADMIN: ("--viewer-team", "one of the viewer's team ids"),
    Role.ORG_ADMIN: ("--viewer-org", "the viewer's org id"),
    Role.AUDITOR: ("--viewer-org", "the viewer's org id"),
}
"""The flag each viewer role cannot do without (its scope is keyed on it)."""


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
            f"{shown(value)} is neither an ISO 8601 time nor an age like 15m, 2h, 7d"
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
    """An id option: a UUID, with or without hyphens."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{shown(value)} is not a UUID (32 hex digits, as in"
            " 0192f0c1-0000-7000-8000-00000000c1c1)"
        ) from None


def positive(value: str) -> int:
    """``--limit``: a whole number of at least 1."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{shown(value)} is not a whole number of at least 1")
    return number


def shown(value: str) -> str:
    """A refused value as an error message may repeat it: quoted, short, never a secret."""
    if redact(value, kind="text").findings:
        return "the value given (it looks like a secret, so it is not repeated)"
    if len(value) > SHOWN_VALUE_CHARS:
        return f"{value[:SHOWN_VALUE_CHARS]!r}… ({len(value)} characters)"
    return repr(value)


@dataclass(frozen=True)
class Parents:
    """Option groups a command can inherit.

    ``database``: where to read; ``viewer``: whose view (with the database); ``scope``: the
    user and time filters (with the viewer); ``listing``: the session filter and the
    order (with the scope); ``display``: JSON or a table, and its width; ``activity``: the
    activity filters of ``activities`` and ``export``.
    """

    database: argparse.ArgumentParser
    viewer: argparse.ArgumentParser
    scope: argparse.ArgumentParser
    listing: argparse.ArgumentParser
    display: argparse.ArgumentParser
    activity: argparse.ArgumentParser


def build_parents() -> Parents:
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--database-url",
        help=f"SQLAlchemy URL (default: ${settings.DATABASE_URL}, else ./autobot_activity.db)",
    )
    viewer = argparse.ArgumentParser(add_help=False, parents=[database])
    group = viewer.add_argument_group("viewer (default: the system viewer, every row)")
    group.add_argument(
        "--viewer-role",
        choices=[role.value for role in Role if role is not Role.SYSTEM],
        help="show what this role sees",
    )
    group.add_argument("--viewer-user", type=uuid_argument, help="the viewer's user id")
    group.add_argument("--viewer-org", type=uuid_argument, help="the viewer's org id")
    group.add_argument(
        "--viewer-team", type=uuid_argument, action="append", default=[], help="a team of theirs"
    )
    scope = argparse.ArgumentParser(add_help=False, parents=[viewer])
    scope.add_argument("--user", type=uuid_argument, help="only this user id")
    scope.add_argument(
        "--since", type=moment, help="from this time on (ISO 8601, or an age: 15m, 2h, 7d)"
    )
    scope.add_argument("--until", type=moment, help="before this time (ISO 8601, or an age)")
    listing = argparse.ArgumentParser(add_help=False, parents=[scope])
    listing.add_argument("--session", help="only this session id")
    listing.add_argument(
        "--order",
        choices=["asc", "desc"],
        default="desc",
        help="oldest first (asc) or newest first (desc, the default)",
    )
    display = argparse.ArgumentParser(add_help=False)
    display.add_argument("--json", action="store_true", help="print JSON instead of a table")
    display.add_argument(
        "--wide",
        action="store_true",
        help="never cut a column (the default when the output is not a terminal)",
    )
    activity = argparse.ArgumentParser(add_help=False)
    activity.add_argument(
        "--type",
        choices=[kind.value for kind in ActivityType],
        help="only this type of activity",
    )
    activity.add_argument(
        "--id",
        dest="ids",
        metavar="ID",
        type=uuid_argument,
        action="append",
        help="only the activity with this id (repeat for several)",
    )
    activity.add_argument(
        "--grep",
        metavar="TEXT",
        help="only activities whose command, path, URL, selector or window title contains"
        " TEXT (any case)",
    )
    return Parents(database, viewer, scope, listing, display, activity)


def add_limit(parser: argparse.ArgumentParser, default: int | None, what: str = "rows") -> None:
    """``--limit``: at most this many (``default`` None: every match)."""
    told = "every match" if default is None else str(default)
    parser.add_argument(
        "--limit", type=positive, default=default, help=f"at most this many {what} ({told})"
    )


def add_journal(parser: argparse.ArgumentParser) -> None:
    """``--journal-dir`` / ``--no-journal``: show the activities still waiting to be delivered."""
    group = parser.add_argument_group("activities not yet in the database")
    group.add_argument(
        "--journal-dir",
        type=Path,
        metavar="DIR",
        help="also show the session's activities waiting in this journal folder (default:"
        f" ${settings.JOURNAL_DIR}, else the journal under the state folder)",
    )
    group.add_argument(
        "--no-journal", action="store_true", help="show only what the database holds"
    )


def journal_of(args: argparse.Namespace) -> JournalStatus | None:
    """The journal ``add_journal``'s options name, or None with ``--no-journal``."""
    if args.no_journal:
        return None
    from autobot_activity_exporters.report.waiting import JournalStatus

    return JournalStatus(args.journal_dir or settings.journal_dir())


def journal_note(journal: JournalStatus | None) -> str | None:
    """A line for standard error when the journal could not be read."""
    if journal is None or journal.unreadable is None:
        return None
    return f"autobot-activity: journal not read ({journal.unreadable}); showing the database only"


def viewer_of(args: argparse.Namespace) -> Viewer:
    """The viewer the options name, or the system viewer when ``--viewer-role`` is absent."""
    if args.viewer_role is None:
        if args.viewer_user or args.viewer_org or args.viewer_team:
            raise ValueError("--viewer-user/--viewer-org/--viewer-team need --viewer-role")
        return Viewer.system()
    role = Role(args.viewer_role)
    flag, what = ROLE_NEEDS[role]
    given = {
        "--viewer-user": args.viewer_user,
        "--viewer-org": args.viewer_org,
        "--viewer-team": args.viewer_team,
    }
    if not given[flag]:
        raise ValueError(f"--viewer-role {role.value} needs {flag} ({what})")
    return Viewer(args.viewer_user, args.viewer_org, frozenset(args.viewer_team), role)


def output_width(args: argparse.Namespace) -> int | None:
    """The terminal's width, or None (nothing cut) with ``--wide`` or when not a terminal."""
    if getattr(args, "wide", False) or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns
