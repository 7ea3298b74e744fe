"""Where the ingest service is, for an application that sends its activities there
(``AUTOBOT_ACTIVITY_ENDPOINT``) instead of writing them to a database: one place for
``configure()``, the exporter and ``journal replay``."""

from __future__ import annotations

import importlib.util
from urllib.parse import urlsplit, urlunsplit

from autobot_activity_otel import settings

TRACES_PATH = "/v1/traces"
OTLP_EXTRA = "pip install 'autobot-activity-exporters[otlp]'"


def resolve_endpoint(endpoint: str | None = None) -> str | None:
    """The traces URL to send to: ``endpoint``, else ``AUTOBOT_ACTIVITY_ENDPOINT``, with
    ``/v1/traces`` appended unless it ends so; None when neither is set.

    ``ValueError`` naming the source for a URL that is not ``http(s)://host[:port][/path]``
    or that carries a user or password (the token goes in ``AUTOBOT_ACTIVITY_TOKEN``), and
    when the ``otlp`` extra is not installed.
    """
    source = "endpoint" if endpoint else settings.ENDPOINT
    url = endpoint or settings.text(settings.ENDPOINT)
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"{source} is not an http:// or https:// URL of the ingest service")
    if parts.username or parts.password:
        raise ValueError(
            f"{source} holds a user or password: put the ingest token in {settings.TOKEN}"
        )
    try:
        installed = importlib.util.find_spec("opentelemetry.exporter.otlp.proto.http") is not None
    except ModuleNotFoundError:
        installed = False
    if not installed:
        raise ValueError(
            f"{source} is set, but the OTLP/HTTP exporter is not installed: {OTLP_EXTRA}"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
