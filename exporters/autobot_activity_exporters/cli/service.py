"""``serve`` (the OTLP ingest service) and ``token new`` (a sender's credential)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from autobot_activity_exporters.cli.arguments import Parents, uuid_argument
from autobot_activity_otel import settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_FLAG_VARIABLES = {
    "database_url": settings.DATABASE_URL,
    "tokens": settings.INGEST_TOKENS,
    "host": settings.INGEST_HOST,
    "port": settings.INGEST_PORT,
    "workers": settings.INGEST_WORKERS,
    "max_body_bytes": settings.INGEST_MAX_BODY_BYTES,
    "max_concurrent": settings.INGEST_MAX_CONCURRENT,
    "retry_after": settings.INGEST_RETRY_AFTER,
    "body_timeout": settings.INGEST_BODY_TIMEOUT,
}
"""Each flag of ``serve`` and the variable it overrides."""


def register(commands: argparse._SubParsersAction[Any], parents: Parents) -> None:
    serve = commands.add_parser(
        "serve",
        parents=[parents.database],
        help="receive activity spans over OTLP/HTTP and store them (docs/deploy.md)",
    )
    serve.add_argument(
        "--tokens", help=f"the ingest token file (default: ${settings.INGEST_TOKENS})"
    )
    serve.add_argument("--host", help=f"address to listen on (${settings.INGEST_HOST}, 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port (${settings.INGEST_PORT}, 4318)")
    serve.add_argument(
        "--workers", type=int, help=f"worker processes (${settings.INGEST_WORKERS}, 1)"
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        help=f"largest body, also once gunzipped (${settings.INGEST_MAX_BODY_BYTES}, 16 MiB)",
    )
    serve.add_argument(
        "--max-concurrent",
        type=int,
        help=f"requests a worker takes at once, then 429 (${settings.INGEST_MAX_CONCURRENT}, 8)",
    )
    serve.add_argument(
        "--retry-after",
        type=int,
        help=f"Retry-After seconds when the database is down (${settings.INGEST_RETRY_AFTER}, 5)",
    )
    serve.add_argument(
        "--body-timeout",
        type=int,
        help=f"seconds a body may take to arrive, then 408 (${settings.INGEST_BODY_TIMEOUT}, 30)",
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="manage ingest tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    new = token_commands.add_parser(
        "new", help="create a sender's token: printed once, its SHA-256 appended to the file"
    )
    new.add_argument("--name", required=True, help="who sends with it (shown in logs)")
    new.add_argument("--org", type=uuid_argument, required=True, help="the org it appends for")
    new.add_argument(
        "--team",
        type=uuid_argument,
        action="append",
        default=[],
        help="a team its spans may name (repeat for more)",
    )
    new.add_argument("--tokens", help=f"the token file (default: ${settings.INGEST_TOKENS})")
    new.set_defaults(run=_new_token)


def _serve(args: argparse.Namespace) -> int:
    try:
        from autobot_activity_exporters.service.config import ConfigError, ServiceConfig
        from autobot_activity_exporters.service.server import serve
        from autobot_activity_exporters.service.tokens import TokenFileError, load_tokens
    except ImportError as exc:
        return _fail(f"{exc.name} is missing: pip install 'autobot-activity-exporters[service]'")
    for flag, variable in _FLAG_VARIABLES.items():
        value = getattr(args, flag)
        if value is not None:
            os.environ[variable] = str(value)
    try:
        config = ServiceConfig.from_env()
        tokens = load_tokens(config.tokens)  # a bad file stops the start here, with its reason
    except (ConfigError, TokenFileError) as exc:
        return _fail(str(exc))
    if not tokens:
        print(f"autobot-activity: {config.tokens} holds no token yet: 401 for all", file=sys.stderr)
    return serve(config, log_level=args.log_level)


def _new_token(args: argparse.Namespace) -> str | int:
    try:
        from autobot_activity_exporters.service.tokens import TokenFileError, new_token
    except ImportError as exc:
        return _fail(f"{exc.name} is missing: pip install 'autobot-activity-exporters[service]'")
    path = args.tokens or settings.text(settings.INGEST_TOKENS)
    if not path:
        return _fail(f"name the token file: --tokens FILE or ${settings.INGEST_TOKENS}")
    try:
        token = new_token(Path(path), args.name.strip(), args.org, args.team)
    except (TokenFileError, OSError) as exc:
        return _fail(str(exc))
    return (
        f"{token}\n\n"
        f"This token is shown once: {path} keeps only its SHA-256. A sender passes it as\n"
        f"  OTEL_EXPORTER_OTLP_HEADERS='authorization=Bearer {token}'\n"
        "Running services take it after SIGHUP."
    )


def _fail(message: str) -> int:
    print(f"autobot-activity: {message}", file=sys.stderr)
    return 2
