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

from autobot_activity_exporters.cli import listing, maintenance, service
from autobot_activity_exporters.cli.arguments import build_parents, viewer_of

COMMAND_MODULES = (listing, maintenance, service)
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
    except Exception as exc:  # the message may hold a URL with a password: print the type
        print(
            f"autobot-activity: {type(exc).__name__} while talking to the database"
            " (is it reachable, and has `autobot-activity db upgrade` run?)",
            file=sys.stderr,
        )
        return 1
    if isinstance(result, int):
        return result
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
