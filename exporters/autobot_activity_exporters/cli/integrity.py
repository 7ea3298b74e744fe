"""``verify`` and ``keys new``: check the tamper-evident chain; make a checkpoint signing key."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from autobot_activity_exporters.cli.arguments import Parents, moment
from autobot_activity_exporters.database import create_engine, resolve_database_url
from autobot_activity_exporters.integrity.notes import (
    DEFAULT_KEY_NAME,
    read_verifier,
    write_key_pair,
)
from autobot_activity_exporters.integrity.verify import Report, verify


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    checking = commands.add_parser(
        "verify",
        parents=[parents.database],
        help="recompute every batch hash and walk each writer's chain (docs/integrity.md)",
    )
    checking.add_argument(
        "--public-key", type=Path, help="signing.pub: check checkpoint signatures"
    )
    checking.add_argument(
        "--checkpoints", type=Path, help="the checkpoint folder kept outside the database"
    )
    checking.add_argument(
        "--since", type=moment, help="check rows of batches from this time on (ISO 8601 or 7d)"
    )
    checking.add_argument("--json", action="store_true", help="the report as JSON")
    checking.set_defaults(run=_verify)
    keys = commands.add_parser("keys", help="checkpoint signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    new = key_commands.add_parser("new", help="write signing.key (0600) and signing.pub")
    new.add_argument("--out", type=Path, required=True, help="the folder to write them to")
    new.add_argument("--name", default=DEFAULT_KEY_NAME, help="the key's name in signatures")
    new.set_defaults(run=_new_key)


def _verify(args: argparse.Namespace) -> int:
    verifier = read_verifier(args.public_key) if args.public_key else None
    report = asyncio.run(_run(args, verifier))
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.intact else 1


async def _run(args: argparse.Namespace, verifier: Any) -> Report:
    engine = create_engine(resolve_database_url(args.database_url))
    try:
        if not sys.stderr.isatty() or args.json:
            return await verify(
                engine, verifier=verifier, checkpoint_dir=args.checkpoints, since=args.since
            )
        from rich.console import Console  # a bar on a terminal only
        from rich.progress import Progress

        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("verifying rows", total=None)
            return await verify(
                engine,
                verifier=verifier,
                checkpoint_dir=args.checkpoints,
                since=args.since,
                progress=lambda rows: bar.advance(task, rows),
            )
    finally:
        await engine.dispose()


def _new_key(args: argparse.Namespace) -> str:
    try:
        private, public = write_key_pair(args.out, args.name)
    except FileExistsError:
        raise ValueError(f"{args.out / 'signing.key'} exists; not overwritten") from None
    return f"wrote {private} (keep it secret) and {public}"
