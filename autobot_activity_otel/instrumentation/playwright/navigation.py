"""Navigations an action causes: a click on a link, a form submitted by a click, by Enter or by
``requestSubmit()``, each recorded as its own ``navigate`` activity with status and redirects.

``goto`` returns its response, so its navigation is recorded from the return value; a click
returns nothing about the page it led to. What Playwright does tell, without being asked, is
that a frame navigated: the driver sends a ``navigated`` event for every navigation of every
frame, with the request of a new document, and the client keeps each request's redirect
source and, by then, its response. So the instrumentation listens to those events on the
frames that actions touch (one listener per frame, added the first time the frame is acted
on) and remembers, per page, the last action that may cause a navigation (its *cause*). A
navigation is recorded when it arrives while a cause is open:

- an action of the kinds that can navigate (click, type, submit) opens the cause, replacing
  the page's earlier one; a ``goto``, ``reload`` or history move closes it (it records its own
  navigation); a screenshot or a scroll leaves it as it is;
- the cause expires when the navigation's request started more than ``WINDOW_SECONDS``
  after the action ended (the request's start time as Playwright reports it, else the moment
  the event is seen), so a page that reloads itself later is not blamed on the last click.

Nothing is asked of the browser for an action that does not navigate: listening adds no
round trip, and the response and redirect chain of a navigation are read from what the
client already holds (one round trip for the response only in the rare case it does not).
The navigate activity is a child span of the action that caused it (so the two share a
trace), carries that action's activity id as ``caused_by`` in its metadata, and is
attributed to the ``activity_context`` of the action, not of whatever runs when the event
arrives.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.context import Context, get_current
from opentelemetry.trace import Span, Tracer, set_span_in_context

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.browser import set_navigation
from autobot_activity_otel.context import Attribution, current_attribution
from autobot_activity_otel.recording import ActivityRecord, start_activity

_logger = logging.getLogger(__name__)

WINDOW_SECONDS: Final = 5.0
"""How long after an action ended a navigation's request may start and still be its doing."""
CAUSING_ACTIONS: Final = frozenset({"click", "type", "submit"})
"""Actions whose navigations are recorded; ``navigate`` closes the cause, others keep it."""
MAX_REDIRECTS: Final = 20
_NAVIGATED: Final = "navigated"
"""The implementation frame's own event: the raw driver event, with the new document's request."""


@dataclass(slots=True)
class _Cause:
    """The action a page's next navigation would be attributed to."""

    activity_id: str
    attribution: Attribution
    span: Span
    """The action's span: the navigation's parent."""
    context: Context
    """The caller's context when the action began."""
    tracer: Tracer
    start_ns: int
    ends_ns: int | None = None
    """Set when the action returns: the window is counted from here."""

    def covers(self, request_start_ns: int) -> bool:
        if self.ends_ns is None:
            return True
        return request_start_ns <= self.ends_ns + int(WINDOW_SECONDS * 1e9)


class Navigations:
    """The listeners and causes of one instrumentor; ``release`` removes every listener."""

    def __init__(self) -> None:
        self._causes: weakref.WeakKeyDictionary[Any, _Cause] = weakref.WeakKeyDictionary()
        self._listening: weakref.WeakKeyDictionary[Any, Callable[[Mapping[str, Any]], None]] = (
            weakref.WeakKeyDictionary()
        )
        self._pending: set[asyncio.Task[None]] = set()

    def action_started(
        self, action: str, target: Any, record: ActivityRecord, span: Span, tracer: Tracer
    ) -> _Cause | None:
        """An action begins on ``target`` (an implementation ``Frame`` or ``ElementHandle``):
        open or close its page's cause. Returns the cause it opened, for ``action_ended``.
        Never raises: the action is recorded even if its navigations cannot be followed."""
        try:
            return self._start(action, target, record, span, tracer)
        except Exception as exc:
            _logger.warning("navigations not followed (%s)", type(exc).__name__)
            return None

    def _start(
        self, action: str, target: Any, record: ActivityRecord, span: Span, tracer: Tracer
    ) -> _Cause | None:
        frame = target if hasattr(target, "_parent_frame") else getattr(target, "_frame", None)
        page = getattr(frame, "_page", None)
        if page is None:
            return None
        if action == "navigate":
            self._causes.pop(page, None)
            return None
        if action not in CAUSING_ACTIONS:
            return None
        cause = _Cause(
            str(record.attributes[attr.ACTIVITY_ID]),
            current_attribution(),
            span,
            get_current(),
            tracer,
            record.start_ns,
        )
        self._causes[page] = cause
        self._listen(frame)
        self._listen(getattr(page, "_main_frame", None) or getattr(page, "main_frame", None))
        return cause

    @staticmethod
    def action_ended(cause: _Cause | None) -> None:
        if cause is not None:
            cause.ends_ns = time.time_ns()

    def release(self) -> None:
        """Stop listening (``uninstrument``); navigations still being completed finish."""
        for frame, listener in list(self._listening.items()):
            try:
                frame._event_emitter.remove_listener(_NAVIGATED, listener)
            except Exception as exc:
                _logger.debug("navigation listener not removed (%s)", type(exc).__name__)
        self._listening.clear()
        self._causes.clear()

    def _listen(self, frame: Any) -> None:
        if frame is None or frame in self._listening:
            return
        frame_ref = weakref.ref(frame)

        def listener(event: Mapping[str, Any]) -> None:
            current = frame_ref()
            if current is not None:
                self._navigated(current, event)

        frame._event_emitter.on(_NAVIGATED, listener)
        self._listening[frame] = listener

    def _navigated(self, frame: Any, event: Mapping[str, Any]) -> None:
        """A frame navigated: record it if an open cause covers it. Never raises (it runs in
        Playwright's event dispatch)."""
        try:
            page = frame._page
            cause = self._causes.get(page)
            if cause is None or event.get("error"):
                return
            request = _request_of(event)
            started = _start_ns(request, time.time_ns())
            if not cause.covers(started):
                del self._causes[page]
                return
            record = start_activity(
                attr.ActivityType.BROWSER,
                "navigate",
                attribution=cause.attribution,
                context=set_span_in_context(cause.span, cause.context),
                tracer=cause.tracer,
            )
            record.start_ns = max(cause.start_ns, started)
            record.metadata["caused_by"] = cause.activity_id
            final = request._final_request() if request is not None else None
            response = _known_response(final)
        except Exception as exc:
            _logger.warning("navigation not tracked (%s)", type(exc).__name__)
            return
        if final is None or response is not None:
            _finish(record, event, final, response)
            return
        try:  # the client has not seen the response yet: ask for it, holding nothing up
            task = asyncio.get_running_loop().create_task(self._finish_later(record, event, final))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        except Exception as exc:
            _logger.debug("navigation response not awaited (%s)", type(exc).__name__)
            _finish(record, event, final, None)

    @staticmethod
    async def _finish_later(record: ActivityRecord, event: Mapping[str, Any], final: Any) -> None:
        response = None
        try:
            response = await final.response()
        except BaseException as exc:  # the page closed, the loop is stopping: record what is known
            _logger.debug("navigation response unknown (%s)", type(exc).__name__)
        finally:
            _finish(record, event, final, response)


def _request_of(event: Mapping[str, Any]) -> Any:
    """The request of the new document a ``navigated`` event announces (None for a
    same-document navigation: an anchor, ``history.pushState``)."""
    document = event.get("newDocument")
    channel = document.get("request") if document else None
    return None if channel is None else channel._object  # Playwright's from_channel()


def _known_response(request: Any) -> Any:
    """The response the client already holds for ``request``, if any (no round trip)."""
    if request is None:
        return None
    known = getattr(request, "existing_response", None)
    return known if known is not None else getattr(request, "_response", None)


def _start_ns(request: Any, now: int) -> int:
    """When the navigation's request started (epoch ns), as the browser reports it; ``now``
    when it does not, or reports a time ahead of this clock."""
    timing = getattr(request, "_timing", None) if request is not None else None
    start_ms = timing.get("startTime") if isinstance(timing, dict) else None
    if not isinstance(start_ms, int | float) or start_ms <= 0:
        return now
    return min(int(start_ms * 1e6), now)


def _finish(record: ActivityRecord, event: Mapping[str, Any], final: Any, response: Any) -> None:
    """Status, URL and redirect chain (as ``goto`` records them), then end. Never raises."""
    try:
        if final is None:
            record.metadata["same_document"] = True
        status = getattr(response, "status", None)
        set_navigation(
            record,
            getattr(final, "url", None) or event.get("url"),
            status if isinstance(status, int) else None,
            redirect_chain(final) if final is not None else (),
        )
    except Exception as exc:
        _logger.warning("navigation partly recorded (%s)", type(exc).__name__)
    finally:
        record.end()


def redirect_chain(request: Any) -> list[str]:
    """URLs that answered with a redirect on the way to ``request``, first request first."""
    chain: list[str] = []
    hop = request.redirected_from
    while hop is not None and len(chain) < MAX_REDIRECTS:
        chain.append(hop.url)
        hop = hop.redirected_from
    chain.reverse()
    return chain
