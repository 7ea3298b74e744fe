"""Instrumenting for one test, and a tracer provider of a test's own."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from autobot_activity_otel.attributes import ACTIVITY_TYPE
from autobot_activity_otel.instrumentation.kit import ActivityInstrumentor

AnyInstrumentor = TypeVar("AnyInstrumentor", bound=ActivityInstrumentor)


class Instrument(Protocol):
    """The ``instrument`` fixture: ``instrument(TerminalInstrumentor, **options)``."""

    def __call__(
        self, instrumentor: type[AnyInstrumentor], /, **options: Any
    ) -> AnyInstrumentor: ...


class Instrumented:
    """Instrumentors turned on for one test; ``undo`` turns off those still on."""

    def __init__(self) -> None:
        self._done: list[ActivityInstrumentor] = []

    def __call__(self, instrumentor: type[AnyInstrumentor], /, **options: Any) -> AnyInstrumentor:
        instance = instrumentor()
        instance.instrument(**options)
        self._done.append(instance)
        return instance

    def undo(self) -> None:
        while self._done:
            instance = self._done.pop()
            if instance.is_instrumented_by_opentelemetry:
                instance.uninstrument()


class OwnProvider:
    """A tracer provider with a resource and an in-memory exporter of its own, to check that
    an instrumentor records through the provider it was given (``tracer_provider=``)."""

    def __init__(self) -> None:
        self.resource = Resource.create({"service.name": "own-provider-test"})
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=self.resource)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def activities(self) -> list[ReadableSpan]:
        return [
            span
            for span in self.exporter.get_finished_spans()
            if span.attributes and ACTIVITY_TYPE in span.attributes
        ]

    def assert_recorded(self, scope: str) -> list[ReadableSpan]:
        """The activities recorded through this provider, each of the instrumentor's scope."""
        found = self.activities()
        assert found, "nothing recorded through the given tracer provider"
        for span in found:
            assert span.resource is self.resource
            assert span.instrumentation_scope is not None
            assert span.instrumentation_scope.name == scope
        return found
