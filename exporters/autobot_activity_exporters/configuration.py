"""Setting up an application: under ``opentelemetry-instrument``, or with one call in code."""

from __future__ import annotations

import logging
import os
import re
import weakref
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from sqlalchemy.engine import make_url

from autobot_activity_exporters.database import resolve_database_url
from autobot_activity_exporters.exporter import ActivitySpanExporter, sending_endpoint
from autobot_activity_exporters.processor import ActivitySpanProcessor
from autobot_activity_otel.secrets import register_own_secrets

_logger = logging.getLogger(__name__)

EXPORTER_NAME = "autobot_activity"
"""This exporter's name in the ``opentelemetry_traces_exporter`` entry-point group."""
INSTRUMENTATION_DISTRIBUTION = "autobot-activity-otel"
_DISABLED_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
_configured: weakref.WeakKeyDictionary[TracerProvider, set[str]] = weakref.WeakKeyDictionary()
"""Destinations (database URLs, endpoints) already attached to each provider, so
``configure()`` twice delivers once."""


def processor_for(exporter: SpanExporter) -> SpanProcessor:
    """The processor in front of an exporter the SDK built: ours journals on span end; any
    other exporter gets the SDK's default ``BatchSpanProcessor``."""
    if isinstance(exporter, ActivitySpanExporter):
        return ActivitySpanProcessor(exporter)
    return BatchSpanProcessor(exporter)


class ActivityConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator, for ``opentelemetry-instrument`` without a distro.

    Like opentelemetry-distro it initialises the SDK from the ``OTEL_*`` variables; unlike
    the distro's default (OTLP), traces go to the activity exporter when
    ``OTEL_TRACES_EXPORTER`` is not set, which is why one installs this package. The SDK
    wraps each exporter in the processor ``export_span_processor`` returns (its
    ``_init_tracing``, opentelemetry-python#4806): ours gets an ``ActivitySpanProcessor``.
    """

    def _configure(self, **kwargs: Any) -> None:
        register_own_secrets()
        if not os.environ.get(OTEL_TRACES_EXPORTER):
            kwargs.setdefault("trace_exporter_names", [EXPORTER_NAME])
        kwargs.setdefault("export_span_processor", processor_for)
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]  # the SDK's is untyped


def configure(
    database_url: str | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    instrument: bool = True,
) -> TracerProvider:
    """Record activities from this process into ``database_url``, or send them to the ingest
    service at ``endpoint`` with ``token`` (default: the environment's
    ``AUTOBOT_ACTIVITY_DATABASE_URL``, or ``AUTOBOT_ACTIVITY_ENDPOINT`` and
    ``AUTOBOT_ACTIVITY_TOKEN``).

    Checks the destination first: ``ValueError`` naming the variable for a URL that could
    never be used, or when both a database URL and an endpoint are set. Then registers the
    project's own secrets (``secrets.own``: this URL's password, the token) so that no activity
    records them. Uses the SDK tracer provider already set, or sets one; adds an
    ``ActivitySpanProcessor`` (once per destination), which journals each activity span as it
    ends; with ``instrument`` turns on every instrumentor of autobot-activity-otel whose
    library is installed.
    """
    options: dict[str, Any]
    service = sending_endpoint(database_url, endpoint)
    if service is not None:
        key, options = service, {"endpoint": service, "token": token}
    else:
        key = resolve_database_url(database_url)
        options = {"database_url": key}
    register_own_secrets(_url_secrets(database_url))
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    attached = _configured.setdefault(provider, set())
    if key not in attached:
        provider.add_span_processor(ActivitySpanProcessor(ActivitySpanExporter(**options)))
        attached.add(key)
    if instrument:
        instrument_all()
    return provider


def _url_secrets(database_url: str | None) -> dict[str, str]:
    """A database URL given in code, and its password, as own secrets (one from the
    environment is registered under its variable)."""
    if database_url is None:
        return {}
    found = {"configure:database_url": database_url}
    password = make_url(database_url).password if "@" in database_url else None
    if password:
        found["configure:database_url#password"] = str(password)
    return found if password else {}


def instrument_all(**options: Any) -> list[str]:
    """Instrument with each ``opentelemetry_instrumentor`` entry point of autobot-activity-otel.

    Names in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` are skipped, as are instrumentors whose
    library is not installed (said at DEBUG: not having Playwright is not an error); returns
    the names instrumented.
    """
    disabled = {name.strip() for name in os.environ.get(_DISABLED_ENV, "").split(",")}
    done = []
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        dist = entry_point.dist
        if dist is None or _normalized(dist.name) != INSTRUMENTATION_DISTRIBUTION:
            continue
        if entry_point.name in disabled:
            continue
        try:
            instrumentor = entry_point.load()()
            # checked here: BaseInstrumentor.instrument() logs a missing library as an ERROR
            conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
            if conflict is not None:
                _logger.debug("instrumentor %s skipped: %s", entry_point.name, conflict)
                continue
            instrumentor.instrument(**options)
        except ModuleNotFoundError as exc:
            _logger.debug(
                "instrumentor %s skipped: %s is not installed", entry_point.name, exc.name
            )
            continue
        except Exception as exc:  # one broken instrumentor must not stop the application
            _logger.warning("instrumentor %s failed (%s)", entry_point.name, type(exc).__name__)
            continue
        done.append(entry_point.name)
    return done


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()
