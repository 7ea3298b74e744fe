"""What every instrumentor of this package shares: the tracer, the table of wrapped targets,
the nested-call guard, and the way a wrapped call is run as an activity.

- The tracer is built in ``instrument()`` from its ``tracer_provider`` option (else the
  global provider), named after the instrumentor's module, as opentelemetry-python-contrib's
  instrumentors do; it is handed to the wrappers, never kept in a module global.
- An instrumentor declares what it wraps once, as ``Target``s from ``_targets``;
  ``instrument()`` wraps them all (or none, if one fails) and ``uninstrument()`` unwraps
  exactly those.
- One guard says "do not record what happens inside me": while a wrapped call records, the
  wrapped calls it makes are part of it, whichever instrumentor wraps them (``shutil.move``
  calling ``os.rename``, an asyncio subprocess calling ``Popen``). ``allowed`` also honours
  ``suppress_instrumentation()``.
- ``instrument()`` registers the project's own secrets first (``secrets.own``), so an
  instrumented process never records them, whoever set it up.
- ``call_recorded`` runs the wrapped call under the guard; its exception marks the activity
  failed, ends it and propagates unchanged. Activities start in ``recording.start_activity``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.trace import Span, Tracer, get_tracer
from wrapt import wrap_function_wrapper

from autobot_activity_otel.attributes import SCHEMA_URL
from autobot_activity_otel.recording import Outcome, running
from autobot_activity_otel.secrets import register_own_secrets
from autobot_activity_otel.version import __version__

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
"""A wrapt wrapper: ``(wrapped, instance, args, kwargs)``, all as the library passes them."""


class Target(NamedTuple):
    """One attribute to wrap: ``owner.name`` (a module function or a class's method)."""

    owner: object
    name: str
    wrapper: Wrapper


_inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autobot_activity_inside", default=False
)


def allowed() -> bool:
    """Whether a wrapped call may record: not inside another recorded call, not suppressed."""
    return not _inside.get() and is_instrumentation_enabled()


class Inside:
    """Mark the enclosed code as part of a recorded call (the tracker's own work included)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _inside.set(True)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _inside.reset(self._token)


def call_recorded(
    activity: Outcome,
    wrapped: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    current: Span | None = None,
) -> Any:
    """Run the wrapped call as ``activity``'s operation (``current`` the current span).

    Without a current span (a file's open), what ``Inside`` and ``running`` do is written out:
    two context managers are a measurable share of a tracked ``open()``.
    """
    if current is not None:
        with Inside(), running(activity, current):
            return wrapped(*args, **kwargs)
    token = _inside.set(True)
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        activity.fail(exc)
        activity.end()
        raise
    finally:
        _inside.reset(token)


async def call_recorded_async(
    activity: Outcome,
    wrapped: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    current: Span | None = None,
) -> Any:
    """``call_recorded`` for a coroutine function: the activity lasts until it completes."""
    with Inside(), running(activity, current):
        return await wrapped(*args, **kwargs)


def wrap_all(targets: Iterable[Target]) -> list[Target]:
    """Wrap every target; if one cannot be wrapped, unwrap the others and raise."""
    done: list[Target] = []
    try:
        for target in targets:
            wrap_function_wrapper(target.owner, target.name, target.wrapper)
            done.append(target)
    except BaseException:
        unwrap_all(done)
        raise
    return done


def unwrap_all(targets: Iterable[Target]) -> None:
    """Restore the originals, last wrapped first."""
    for target in reversed(list(targets)):
        unwrap(target.owner, target.name)


class ActivityInstrumentor(BaseInstrumentor):  # type: ignore[misc]  # the base is untyped
    """An instrumentor whose wrappers are the ``Target``s its ``_targets`` declares.

    Subclasses implement ``instrumentation_dependencies``, ``_targets`` (given the tracer and
    the options of ``instrument()``) and, when they hold more than wraps, ``_release``.
    """

    _wrapped: tuple[Target, ...] = ()

    def _instrument(self, **options: Any) -> None:
        register_own_secrets()  # before anything is recorded: none of ours is ever stored
        tracer = get_tracer(
            type(self).__module__,
            __version__,
            options.get("tracer_provider"),
            schema_url=SCHEMA_URL,
        )
        self._wrapped = tuple(wrap_all(self._targets(tracer, options)))

    def _uninstrument(self, **options: Any) -> None:
        wrapped, self._wrapped = self._wrapped, ()
        unwrap_all(wrapped)
        self._release()

    def _targets(self, tracer: Tracer, options: Mapping[str, Any]) -> Iterable[Target]:
        raise NotImplementedError

    def _release(self) -> None:
        """Undo what ``_targets`` set up besides the wraps (threads, timers, hooks)."""
