"""``db upgrade``, ``prune`` and ``demo``: the owner's commands."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from autobot_activity_exporters.cli.arguments import Parents, age, output_width
from autobot_activity_exporters.database import create_engine, resolve_database_url
from autobot_activity_exporters.partitions import ensure_partitions
from autobot_activity_exporters.retention import prune


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    pruning = commands.add_parser(
        "prune", parents=[parents.database], help="delete old activities with their secret usage"
    )
    pruning.add_argument(
        "--older-than", type=age, required=True, help="recorded longer ago than this (365d)"
    )
    pruning.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    pruning.set_defaults(run=lambda args: asyncio.run(_prune(args)))
    db = commands.add_parser("db", help="manage the schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", parents=[parents.database], help="apply the shipped migrations"
    )
    upgrade.set_defaults(run=_upgrade)
    demo = commands.add_parser(
        "demo", parents=[parents.database], help="record a few real commands and show them"
    )
    demo.set_defaults(run=_demo)


async def _prune(args: argparse.Namespace) -> str:
    engine = create_engine(resolve_database_url(args.database_url))
    try:
        result = await prune(engine, args.older_than, dry_run=args.dry_run)
    finally:
        await engine.dispose()
    verb = "would delete" if result.dry_run else "deleted"
    counts = ", ".join(f"{table} {count}" for table, count in result.deleted.items())
    return f"{verb} {result.total} rows recorded before {result.cutoff.isoformat()}: {counts}"


def _upgrade(args: argparse.Namespace) -> str:
    from autobot_activity_exporters.schema import upgrade  # Alembic only when needed

    async def run() -> tuple[str | None, int]:
        engine = create_engine(resolve_database_url(args.database_url))
        try:
            return await upgrade(engine), await ensure_partitions(engine)
        finally:
            await engine.dispose()

    revision, made = asyncio.run(run())
    partitions = f"; {made} monthly partitions made" if made else ""
    return f"activity schema at revision {revision}{partitions}"


def _demo(args: argparse.Namespace) -> int:
    from autobot_activity_exporters.demo import run_demo

    return run_demo(args.database_url, output_width(args))
