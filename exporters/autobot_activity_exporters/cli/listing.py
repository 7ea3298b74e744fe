"""``activities`` and ``secrets``: what a viewer may see, as a table or JSON."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from autobot_activity_exporters import tables
from autobot_activity_exporters.cli.arguments import (
    Parents,
    add_limit,
    output_width,
    uuid_argument,
    viewer_of,
)
from autobot_activity_exporters.records import AnyActivity, SecretUse
from autobot_activity_exporters.store import ActivityStore
from autobot_activity_exporters.viewer import Role
from autobot_activity_otel.attributes import ActivityType

APPLICATION_ROLE_NOTE = (
    "this database login is a member of the application role (autobot_activity_app): as the"
    " system viewer it sees no row; name a viewer with --viewer-role"
)


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    activities = commands.add_parser(
        "activities",
        parents=[parents.listing, parents.display, parents.activity],
        help="list activities",
        description="List activities, newest first; every filter narrows the viewer's scope.",
    )
    add_limit(activities, 100)
    activities.set_defaults(run=run_activities)
    secrets = commands.add_parser(
        "secrets",
        parents=[parents.listing, parents.display],
        help="list the secret-usage audit",
        description="List the secret-usage audit: which secret, by which rule, in which"
        " activity of which session (never the value).",
    )
    add_limit(secrets, 100)
    secrets.add_argument("--secret", type=uuid_argument, help="only this secret id")
    secrets.add_argument("--activity", type=uuid_argument, help="only this activity id")
    secrets.set_defaults(run=run_secrets)


def activity_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The store's filters named by the ``listing`` and ``activity`` option groups."""
    return {
        "activity_type": args.type,
        "user_id": args.user,
        "session_id": args.session,
        "since": args.since,
        "until": args.until,
        "activity_ids": args.ids,
        "grep": args.grep,
    }


def run_activities(args: argparse.Namespace) -> str:
    records, more, blind = asyncio.run(_activities(args))
    if args.json:
        return _json(records, more, blind)
    shown = tables.render(records, tables.activity_columns(records), output_width(args))
    return shown + _closing(more, blind)


async def _activities(args: argparse.Namespace) -> tuple[list[AnyActivity], int, bool]:
    filters = activity_filters(args)
    async with ActivityStore(args.database_url, viewer=viewer_of(args)) as store:
        records = await store.activities(**filters, limit=args.limit, order=args.order)
        more = 0
        if len(records) == args.limit:
            more = await store.count_activities(**filters) - len(records)
        return records, more, not records and await _blind(store)


def run_secrets(args: argparse.Namespace) -> str:
    usage, described, more, blind = asyncio.run(_secrets(args))
    if args.json:
        return _json(usage, more, blind)
    columns = tables.secret_columns(described)
    return tables.render(usage, columns, output_width(args)) + _closing(more, blind)


async def _secrets(
    args: argparse.Namespace,
) -> tuple[list[SecretUse], dict[uuid.UUID, AnyActivity], int, bool]:
    filters = {"user_id": args.user, "session_id": args.session, "since": args.since}
    filters.update(until=args.until, secret_id=args.secret, activity_id=args.activity)
    async with ActivityStore(args.database_url, viewer=viewer_of(args)) as store:
        usage = await store.secret_usage(**filters, limit=args.limit, order=args.order)
        more = 0
        if len(usage) == args.limit:
            more = await store.count_secret_usage(**filters) - len(usage)
        described = {} if args.json else await activities_of(store, usage)
        return usage, described, more, not usage and await _blind(store)


async def activities_of(
    store: ActivityStore, usage: Iterable[SecretUse]
) -> dict[uuid.UUID, AnyActivity]:
    """The activities these secret uses belong to (those the viewer may see), by id."""
    wanted: dict[ActivityType, set[uuid.UUID]] = defaultdict(set)
    for use in usage:
        wanted[use.activity_type].add(use.activity_id)
    found: dict[uuid.UUID, AnyActivity] = {}
    for kind, ids in wanted.items():
        for record in await store.activities(kind, activity_ids=ids, limit=len(ids)):
            found[record.id] = record
    return found


async def _blind(store: ActivityStore) -> bool:
    """Whether an empty answer is the application role's system viewer seeing nothing."""
    return store.viewer.role is Role.SYSTEM and await store.connects_as_application_role()


def _json(records: Sequence[AnyActivity | SecretUse], more: int, blind: bool) -> str:
    """The rows as JSON on stdout (its shape unchanged); notes go to stderr."""
    note = _closing(more, blind).strip()
    if note:
        print(note, file=sys.stderr)
    return tables.as_json(records)


def _closing(more: int, blind: bool) -> str:
    if blind:
        return f"\n{APPLICATION_ROLE_NOTE}"
    if more > 0:
        return f"\n{more} more; use --limit"
    return ""
