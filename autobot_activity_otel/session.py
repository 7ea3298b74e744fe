"""A session as one trace: ``activity_session`` is ``activity_context`` plus a session span.

Each activity is its own span, and without a common parent each is its own trace: a tracing
backend shows a session's hundred commands as a hundred one-span traces. Inside
``activity_session`` a span for the session is current, so every activity started there (in
this thread or task, and wherever the context is carried: asyncio tasks, threads started
with a copied context, Playwright's navigation events, coalesced file and desktop
activities) is its descendant and shares its trace id; any OTLP backend shows the session as
one tree, and the report groups its activities under that trace.

The session span is not an activity row: it has no type of its own among the four tables, it
says nothing a reviewer does not see from the rows (its ids are on every row, its extent is
that of its activities), and a row for it would be written only when the session ends, so a
crash would leave the rows without it anyway. It is exported to whatever else the tracer
provider feeds (an OTLP exporter), with the session's ids as attributes and, if the block
raised, an error status naming the exception's type (never its message).
"""

from __future__ import annotations

import logging
import uuid
from contextvars import Token
from types import TracebackType

from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider, set_span_in_context

from autobot_activity_otel.context import Attribution, activity_context
from autobot_activity_otel.recording import start_session_span

_logger = logging.getLogger(__name__)


class activity_session(activity_context):
    """Attribute the activities inside to a session, as ``activity_context`` does, and make
    them one trace under a session span.

    ``with activity_session(user_id=..., session_id=...):``, ``async with``, or a decorator.
    ``tracer_provider``: the provider of the session span (default: the global one, as the
    activities' own). Each entry opens a new span: a session entered twice is two traces.
    Tracking never raises: a session span that cannot be started leaves the block running
    with attribution only.
    """

    def __init__(
        self,
        user_id: uuid.UUID | str | None = None,
        session_id: str | None = None,
        org_id: uuid.UUID | str | None = None,
        team_id: uuid.UUID | str | None = None,
        *,
        window_title: str | None = None,
        application: str | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        super().__init__(
            user_id,
            session_id,
            org_id,
            team_id,
            window_title=window_title,
            application=application,
        )
        self._tracer_provider = tracer_provider
        self._open: list[tuple[Span, Token[Context]] | None] = []

    def __enter__(self) -> Attribution:
        attribution = super().__enter__()
        try:
            span = start_session_span(attribution, self._tracer_provider)
            self._open.append((span, attach(set_span_in_context(span))))
        except Exception as exc:
            _logger.warning("session span not started (%s)", type(exc).__name__)
            self._open.append(None)
        return attribution

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        opened = self._open.pop()
        try:
            if opened is not None:
                span, token = opened
                detach(token)
                if exc_type is not None:
                    span.set_status(Status(StatusCode.ERROR, exc_type.__qualname__))
                span.end()
        except Exception as error:
            _logger.warning("session span not ended (%s)", type(error).__name__)
        finally:
            super().__exit__(exc_type, exc, tb)
