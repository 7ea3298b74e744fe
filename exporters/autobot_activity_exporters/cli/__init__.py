"""``autobot-activity``: the command line of the activity audit trail (see ``DESCRIPTION``).

Each command lives in a module of this package with a ``register(commands, parents)`` that
adds its parser and sets ``run``: a function of the parsed arguments returning the text to
print, or an exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from autobot_activity_exporters.cli import (
    export,
    integrity,
    journal,
    listing,
    maintenance,
    report,
    service,
    session,
)
from autobot_activity_exporters.cli.arguments import build_parents, viewer_of
from autobot_activity_exporters.database import resolve_database_url, safe_url
from autobot_activity_exporters.delivery import explain

COMMAND_MODULES = (listing, session, report, export, maintenance, integrity, journal, service)
"""The modules whose commands ``autobot-activity`` offers, in help order."""
DESCRIPTION = """\
Read the activity audit trail: list activities and secret uses, show one session in the
terminal or as an HTML report, export rows; prune old rows, upgrade the schema, run a demo;
verify the tamper-evident chain and make its signing key;
see and replay what waits in the local journal; serve OTLP ingest and mint its tokens.

Everything is read for a viewer: by default the system viewer (every row), because whoever
runs this command already holds the database credentials. --viewer-role with --viewer-user,
--viewer-org or --viewer-team shows exactly what that viewer sees. On PostgreSQL a login
that is a member of the application role (autobot_activity_app) sees nothing as the system
viewer: it must name a viewer.
"""


def build_parser() -> argparse.ArgumentParser:
    parents = build_parents()
    parser = argparse.ArgumentParser(
        prog="autobot-activity",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
        if not isinstance(result, int):
            print(result)
            sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ValueError as exc:  # a setting refused before any work: its message says which
        print(f"autobot-activity: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        print(f"autobot-activity: {_failure(args, exc)}", file=sys.stderr)
        return 1
    return result if isinstance(result, int) else 0


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
