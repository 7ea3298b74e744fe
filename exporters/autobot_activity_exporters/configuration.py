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
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from autobot_activity_exporters.database import resolve_database_url
from autobot_activity_exporters.exporter import ActivitySpanExporter

_logger = logging.getLogger(__name__)

EXPORTER_NAME = "autobot_activity"
"""This exporter's name in the ``opentelemetry_traces_exporter`` entry-point group."""
INSTRUMENTATION_DISTRIBUTION = "autobot-activity-otel"
_DISABLED_ENV = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
SDK_INTERNAL_METRICS_ENV = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"
"""Read by each BatchSpanProcessor when built: its queue-full drop counter is off without it."""
_configured: weakref.WeakKeyDictionary[TracerProvider, set[str]] = weakref.WeakKeyDictionary()
"""Database URLs already attached to each provider, so ``configure()`` twice writes once."""


class ActivityConfigurator(_OTelSDKConfigurator):
    """The SDK's own configurator, for ``opentelemetry-instrument`` without a distro.

    Like opentelemetry-distro it initialises the SDK from the ``OTEL_*`` variables; unlike
    the distro's default (OTLP), traces go to the activity exporter when
    ``OTEL_TRACES_EXPORTER`` is not set, which is why one installs this package.
    """

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(SDK_INTERNAL_METRICS_ENV, "true")  # as configure() does
        if not os.environ.get(OTEL_TRACES_EXPORTER):
            kwargs.setdefault("trace_exporter_names", [EXPORTER_NAME])
        super()._configure(**kwargs)  # type: ignore[no-untyped-call]  # the SDK's is untyped


def configure(database_url: str | None = None, *, instrument: bool = True) -> TracerProvider:
    """Record activities from this process into ``database_url`` (default: the environment).

    Uses the SDK tracer provider already set, or sets one; adds a ``BatchSpanProcessor``
    with an ``ActivitySpanExporter`` (once per database), and with ``instrument`` turns on
    every instrumentor of autobot-activity-otel whose library is installed.

    Turns on the SDK's own metrics (``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``, unless set)
    so a full batch queue's dropped spans are counted, not only logged.
    """
    os.environ.setdefault(SDK_INTERNAL_METRICS_ENV, "true")
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    url = resolve_database_url(database_url)
    attached = _configured.setdefault(provider, set())
    if url not in attached:
        provider.add_span_processor(BatchSpanProcessor(ActivitySpanExporter(url)))
        attached.add(url)
    if instrument:
        instrument_all()
    return provider


def instrument_all(**options: Any) -> list[str]:
    """Instrument with each ``opentelemetry_instrumentor`` entry point of autobot-activity-otel.

    Names in ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` are skipped, as are instrumentors whose
    library is not installed; returns the names instrumented.
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
            entry_point.load()().instrument(**options)
        except ModuleNotFoundError:
            continue
        except Exception as exc:  # one broken instrumentor must not stop the application
            _logger.warning("instrumentor %s failed (%s)", entry_point.name, type(exc).__name__)
            continue
        done.append(entry_point.name)
    return done


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()
