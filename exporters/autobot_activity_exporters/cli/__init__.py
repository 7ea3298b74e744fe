"""``autobot-activity``: list activities and secret usage, prune, upgrade the schema, demo,
serve OTLP ingest and mint ingest tokens.

Listings are made for a viewer: by default the system viewer (every row), because whoever
runs this command already holds the database credentials; ``--viewer-role`` with
``--viewer-user``/``--viewer-org``/``--viewer-team`` shows exactly what that viewer sees. On
PostgreSQL, logins that are members of the application role never get the system viewer's
rows: they must name a viewer.

Each command lives in a module of this package with a ``register(commands, parents)`` that
adds its parser and sets ``run``: a function of the parsed arguments returning the text to
print, or an exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from autobot_activity_exporters.cli import journal, listing, maintenance, service
from autobot_activity_exporters.cli.arguments import build_parents, viewer_of
from autobot_activity_exporters.database import resolve_database_url, safe_url
from autobot_activity_exporters.delivery import explain

COMMAND_MODULES = (listing, maintenance, journal, service)
"""The modules whose commands ``autobot-activity`` offers, in help order."""


def build_parser() -> argparse.ArgumentParser:
    parents = build_parents()
    parser = argparse.ArgumentParser(prog="autobot-activity", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "viewer_role"):
        try:
            viewer_of(args)
        except ValueError as exc:
            parser.error(str(exc))
    try:
        result = args.run(args)
    except ValueError as exc:  # a setting refused before any work: its message says which
        print(f"autobot-activity: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"autobot-activity: {_failure(args, exc)}", file=sys.stderr)
        return 1
    if isinstance(result, int):
        return result
    print(result)
    return 0


def _failure(args: argparse.Namespace, error: Exception) -> str:
    """The real cause (``delivery.explain``: never a value, never a password) and where."""
    cause = explain(error)
    if not hasattr(args, "database_url"):
        return cause
    try:
        where = safe_url(resolve_database_url(args.database_url))
    except ValueError:
        return cause
    return f"{cause} (database {where})"


if __name__ == "__main__":
    sys.exit(main())
