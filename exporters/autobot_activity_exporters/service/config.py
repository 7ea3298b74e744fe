"""The service's settings: flags of ``autobot-activity serve`` or ``AUTOBOT_ACTIVITY_*``
variables (``autobot_activity_otel.settings``); a flag wins over its variable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autobot_activity_otel import settings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4318
"""The OTLP/HTTP default port (OTLP specification)."""
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
"""A 512-span SDK batch of terminal activities with long outputs stays well below this."""
DEFAULT_MAX_CONCURRENT = 8
"""Requests one worker handles at once (each holds a database connection); more get 429."""
DEFAULT_RETRY_AFTER_SECONDS = 5
DEFAULT_BODY_TIMEOUT_SECONDS = 30
"""A body must have arrived this long after its request began: one trickling in holds one of
the ``max_concurrent`` places meanwhile (16 MiB in 30 s is 4.5 Mbit/s)."""


class ConfigError(ValueError):
    """A setting the service cannot start with; the message names it."""


@dataclass(frozen=True)
class ServiceConfig:
    database_url: str
    tokens: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    retry_after: int = DEFAULT_RETRY_AFTER_SECONDS
    body_timeout: int = DEFAULT_BODY_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls) -> ServiceConfig:
        """The settings the environment gives (how each worker process reads them)."""
        database_url = settings.text(settings.DATABASE_URL)
        tokens = settings.text(settings.INGEST_TOKENS)
        if not database_url:
            raise ConfigError(f"no database: pass --database-url or set {settings.DATABASE_URL}")
        if not tokens:
            raise ConfigError(
                f"no token file: pass --tokens or set {settings.INGEST_TOKENS}"
                " (create one with `autobot-activity token new`)"
            )
        return cls(
            database_url=database_url,
            tokens=Path(tokens),
            host=settings.text(settings.INGEST_HOST) or DEFAULT_HOST,
            port=settings.positive_int(settings.INGEST_PORT, DEFAULT_PORT),
            workers=settings.positive_int(settings.INGEST_WORKERS, 1),
            max_body_bytes=settings.positive_int(
                settings.INGEST_MAX_BODY_BYTES, DEFAULT_MAX_BODY_BYTES
            ),
            max_concurrent=settings.positive_int(
                settings.INGEST_MAX_CONCURRENT, DEFAULT_MAX_CONCURRENT
            ),
            retry_after=settings.positive_int(
                settings.INGEST_RETRY_AFTER, DEFAULT_RETRY_AFTER_SECONDS
            ),
            body_timeout=settings.positive_int(
                settings.INGEST_BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT_SECONDS
            ),
        )

    def environ(self) -> dict[str, str]:
        """The variables that make ``from_env`` return this config (for worker processes)."""
        return {
            settings.DATABASE_URL: self.database_url,
            settings.INGEST_TOKENS: str(self.tokens),
            settings.INGEST_HOST: self.host,
            settings.INGEST_PORT: str(self.port),
            settings.INGEST_WORKERS: str(self.workers),
            settings.INGEST_MAX_BODY_BYTES: str(self.max_body_bytes),
            settings.INGEST_MAX_CONCURRENT: str(self.max_concurrent),
            settings.INGEST_RETRY_AFTER: str(self.retry_after),
            settings.INGEST_BODY_TIMEOUT: str(self.body_timeout),
        }
