"""Playwright auto-instrumentation: each browser action a script takes is one activity.

What is wrapped, and why there: Playwright's public classes (``playwright.async_api`` and
``playwright.sync_api``) are generated shells over one implementation layer
(``playwright._impl``), and the sync API runs the same implementation coroutines on its own
event loop. Wrapping the implementation once would cover both APIs, but Playwright names
each call (in error messages such as ``Page.click: Timeout 30000ms exceeded``, in its logs
and traces) after the deepest library frame called from non-library code: a wrapper inside
the implementation layer would turn ``Page.click`` into ``Frame.click`` in the user's
exceptions. So the public methods are wrapped, in both APIs, with an ``async`` and a sync
wrapper that share all their logic; each user call passes exactly one wrapper, whatever
``Page``, ``Frame`` and ``Locator`` route through underneath, and a context variable keeps
any wrapped call made inside another from being recorded twice.

Recorded: navigate (``goto``, ``reload``, ``go_back``, ``go_forward``: status and redirect
chain), click (``click``, ``dblclick``, ``tap``, ``check``, ``uncheck``, ``set_checked``),
type (``fill``, ``type``, ``press_sequentially``, ``press``, ``select_option``,
``set_input_files``), submit (a click on a form's submit control, Enter in a form's text
field, an ``evaluate`` that calls ``requestSubmit()`` or ``submit()``), scroll
(``mouse.wheel``, ``scroll_into_view_if_needed``) and screenshot (page, locator, element).

Usage::

    PlaywrightInstrumentor().instrument()
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import logging
import os
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap
from opentelemetry.trace import Span
from wrapt import wrap_function_wrapper

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.instrumentation.playwright import fields
from autobot_activity_otel.instrumentation.playwright.package import _instruments
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.tracking.browser import set_input_value, set_navigation

_logger = logging.getLogger(__name__)

_recording: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "autobot_playwright_recording", default=False
)
"""Set while a wrapped call records, so a wrapped call made inside it is not recorded again."""
_SUBMIT_SCRIPT = re.compile(r"\b(?:requestSubmit|submit)\s*\(")
_MAX_REDIRECTS = 20
UNVERIFIED = "[REDACTED:unverified-field]"
"""Input value recorded when the element could not be inspected: it may have been a secret."""


@dataclass(frozen=True, slots=True)
class _Spec:
    """How a public method is recorded: its action, the parameter holding the typed value."""

    action: str
    value: str | None = None
    probe: bool = False

    @property
    def on_element(self) -> bool:
        """Whether ``Page`` / ``Frame`` take a selector first for this method."""
        return self.action in ("click", "type")


_SPECS: dict[str, _Spec] = {
    "goto": _Spec("navigate", "url"),
    "reload": _Spec("navigate"),
    "go_back": _Spec("navigate"),
    "go_forward": _Spec("navigate"),
    "click": _Spec("click", probe=True),
    "dblclick": _Spec("click", probe=True),
    "tap": _Spec("click", probe=True),
    "check": _Spec("click"),
    "uncheck": _Spec("click"),
    "set_checked": _Spec("click"),
    "fill": _Spec("type", "value", probe=True),
    "type": _Spec("type", "text", probe=True),
    "press_sequentially": _Spec("type", "text", probe=True),
    "press": _Spec("type", "key", probe=True),
    "select_option": _Spec("type"),
    "set_input_files": _Spec("type", "files"),
    "screenshot": _Spec("screenshot"),
    "scroll_into_view_if_needed": _Spec("scroll"),
    "wheel": _Spec("scroll"),
    "evaluate": _Spec("submit", "expression"),
}


@dataclass(frozen=True, slots=True)
class _Target:
    """Where a call acts: the implementation object to inspect, its selector and URL.

    ``element`` is an implementation ``Frame`` (with ``selector``) or ``ElementHandle``
    (``selector`` None); ``first`` is the position of the call's own first parameter after
    the selector.
    """

    element: Any
    selector: str | None
    url: str | None
    first: int


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if index < len(args) else None


def _url_of(frame: Any) -> str | None:
    url = getattr(frame, "url", None)
    return url if isinstance(url, str) else None


Args = tuple[Any, ...]
Kwargs = dict[str, Any]


def _frame_target(frame: Any, spec: _Spec, args: Args, kwargs: Kwargs) -> _Target:
    if not spec.on_element:
        return _Target(frame, None, _url_of(frame), 0)
    selector = _arg(args, kwargs, 0, "selector")
    selector = selector if isinstance(selector, str) else None
    return _Target(frame, selector, _url_of(frame), 1)


def _page(instance: Any, spec: _Spec, args: Args, kwargs: Kwargs) -> _Target:
    return _frame_target(instance._impl_obj.main_frame, spec, args, kwargs)


def _frame(instance: Any, spec: _Spec, args: Args, kwargs: Kwargs) -> _Target:
    return _frame_target(instance._impl_obj, spec, args, kwargs)


def _locator(instance: Any, spec: _Spec, args: Args, kwargs: Kwargs) -> _Target:
    impl = instance._impl_obj
    return _Target(impl._frame, impl._selector, _url_of(impl._frame), 0)


def _handle(instance: Any, spec: _Spec, args: Args, kwargs: Kwargs) -> _Target:
    impl = instance._impl_obj
    return _Target(impl, None, _url_of(getattr(impl, "_frame", None)), 0)


def _mouse(instance: Any, spec: _Spec, args: Args, kwargs: Kwargs) -> _Target:
    return _Target(None, None, _url_of(instance._impl_obj._page), 0)


_ELEMENT_METHODS = (
    *("click", "dblclick", "tap", "check", "uncheck", "set_checked"),
    *("fill", "type", "press", "select_option", "set_input_files"),
)
_CLASSES: dict[str, tuple[Callable[..., _Target], tuple[str, ...]]] = {
    "Page": (
        _page,
        ("goto", "reload", "go_back", "go_forward", "screenshot", "evaluate", *_ELEMENT_METHODS),
    ),
    "Frame": (_frame, ("goto", "evaluate", *_ELEMENT_METHODS)),
    "Locator": (
        _locator,
        (
            "press_sequentially",
            "screenshot",
            "scroll_into_view_if_needed",
            "evaluate",
            *_ELEMENT_METHODS,
        ),
    ),
    "ElementHandle": (_handle, ("screenshot", "scroll_into_view_if_needed", *_ELEMENT_METHODS)),
    "JSHandle": (_handle, ("evaluate",)),
    "Mouse": (_mouse, ("wheel",)),
}
"""Public class -> how to find its target, and which of its methods are recorded."""


class _Call:
    """One public Playwright call being recorded; none of its methods raises."""

    def __init__(self, spec: _Spec, target: _Target, args: Args, kwargs: Kwargs) -> None:
        self.spec = spec
        self.target = target
        self.value = (
            _arg(args, kwargs, target.first, spec.value) if spec.value is not None else None
        )
        self.field: fields.Field | None = None
        self.look: asyncio.Task[fields.Field | None] | None = None
        self.record = ActivityRecord(attr.ActivityType.BROWSER, spec.action)
        if spec.action != "navigate":
            self.record.set_text(attr.URL_FULL, target.url, "url")
            self.record.set_text(attr.BROWSER_SELECTOR, target.selector)
        if spec.action == "scroll" and target.element is None:
            for index, name in enumerate(("delta_x", "delta_y")):
                delta = _arg(args, kwargs, index, name)
                if isinstance(delta, int | float):
                    self.record.metadata[name] = delta
        self.span: Span = self.record.span  # started here, where a failure is still harmless

    @property
    def _cache_key(self) -> tuple[Any, str, str]:
        return self.target.element, self.target.url or "", self.target.selector or ""

    def start_probe(self, loop: asyncio.AbstractEventLoop) -> None:
        """Look at the element concurrently with the action, unless already known."""
        if not self.spec.probe or self.target.element is None:
            return
        try:
            self.field = fields.cached(*self._cache_key)
            if self.field is None:
                self.look = loop.create_task(self.probe())
        except Exception as exc:
            _logger.warning("element not inspected (%s)", type(exc).__name__)

    def probe(self) -> Any:
        return fields.probe(self.target.element, self.target.selector)

    def needs_second_probe(self) -> bool:
        """A typed value whose element was not there yet when the first look ran."""
        return self.look is not None and self.field is None and self.spec.action == "type"

    def probed(self, field: fields.Field | None) -> None:
        if field is not None:
            self.field = field
            try:
                fields.remember(*self._cache_key, field)
            except Exception as exc:
                _logger.debug("element not cached (%s)", type(exc).__name__)

    @contextmanager
    def current(self) -> Iterator[None]:
        """The activity's span is current during the call; the call's exception propagates."""
        with trace.use_span(
            self.span,
            end_on_exit=False,
            record_exception=False,
            set_status_on_exception=False,
        ):
            try:
                yield
            except BaseException as exc:
                self.failed(exc)
                raise

    def failed(self, exc: BaseException) -> None:
        if self.look is not None and not self.look.done():
            self.look.cancel()
        try:
            if self.spec.action == "navigate":
                set_navigation(self.record, self.value or self.target.url)
            self.record.fail(exc)
        except Exception as error:
            _logger.warning("browser action failure not recorded (%s)", type(error).__name__)
        finally:
            self.record.end()

    def finish(self, result: Any) -> None:
        try:
            self._complete(result)
        except Exception as exc:
            _logger.warning("browser action partly recorded (%s)", type(exc).__name__)
        finally:
            self.record.end()

    def _complete(self, result: Any) -> None:
        action, field, record = self.spec.action, self.field, self.record
        if action == "navigate":
            if result is None:  # same-document navigation, about:blank, no history entry
                set_navigation(record, _url_of(self.target.element))
            else:
                chain = _redirect_chain(result)
                set_navigation(record, result.url, result.status, chain)
        elif action == "screenshot" and isinstance(result, bytes):
            record.metadata["screenshot_bytes"] = len(result)
        elif action == "click" and field is not None and field.submits_on_click:
            self._rename("submit")
        elif action == "type":
            self._typed(result)

    def _typed(self, result: Any) -> None:
        field, record = self.field, self.record
        named_key = self.spec.value == "key" and isinstance(self.value, str) and len(self.value) > 1
        if named_key and self.value == "Enter" and field is not None and field.submits_on_enter:
            self._rename("submit")
            return
        if named_key:  # "Tab", "Control+A": a key's name is no field content, even in a password
            record.set_text(attr.BROWSER_INPUT_VALUE, self.value)
        elif self.spec.value is None:  # select_option: what ended up selected
            record.set_text(attr.BROWSER_INPUT_VALUE, ", ".join(map(str, result or ())))
        elif self.spec.value == "files":
            record.set_text(attr.BROWSER_INPUT_VALUE, ", ".join(_file_names(self.value)))
        elif field is None:
            record.set(attr.BROWSER_INPUT_VALUE, UNVERIFIED)
            record.metadata["field_check"] = "failed"
        else:
            set_input_value(record, self.value, field.secret_rule)

    def _rename(self, action: str) -> None:
        self.record.set(attr.ACTIVITY_ACTION, action)
        self.span.update_name(f"{attr.ActivityType.BROWSER.value} {action}")


def _redirect_chain(response: Any) -> list[str]:
    """URLs that answered with a redirect on the way to ``response``, first request first."""
    chain: list[str] = []
    request = response.request.redirected_from
    while request is not None and len(chain) < _MAX_REDIRECTS:
        chain.append(request.url)
        request = request.redirected_from
    chain.reverse()
    return chain


def _file_names(files: Any) -> list[str]:
    """Names of the files given to ``set_input_files`` (paths or payloads), never contents."""
    items = files if isinstance(files, list | tuple) else [files]
    return [
        str(item.get("name", "")) if isinstance(item, dict) else os.path.basename(os.fsdecode(item))
        for item in items
    ]


def _begin(
    spec: _Spec, locate: Callable[..., _Target], instance: Any, args: Any, kwargs: Any
) -> _Call | None:
    """The call's record (its probe started), or None when it is not to be recorded."""
    if _recording.get() or not is_instrumentation_enabled():
        return None
    if spec.action == "submit":  # evaluate: recorded only when the script submits a form
        script = _arg(args, kwargs, 0, "expression")
        if not (isinstance(script, str) and _SUBMIT_SCRIPT.search(script)):
            return None
    try:
        call = _Call(spec, locate(instance, spec, args, kwargs), args, kwargs)
        call.start_probe(instance._loop)
    except Exception as exc:
        _logger.warning("browser action not tracked (%s)", type(exc).__name__)
        return None
    return call


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _async_wrapper(spec: _Spec, locate: Callable[..., _Target]) -> Any:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        call = _begin(spec, locate, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = _recording.set(True)
        try:
            with call.current():
                result = await wrapped(*args, **kwargs)
            try:
                if call.look is not None:
                    call.probed(await call.look)
                if call.needs_second_probe():
                    call.probed(await call.probe())
            finally:
                call.finish(result)
        finally:
            _recording.reset(token)
        return result

    return wrapper


def _sync_wrapper(spec: _Spec, locate: Callable[..., _Target]) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        call = _begin(spec, locate, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = _recording.set(True)
        try:
            with call.current():
                result = wrapped(*args, **kwargs)
            # Probes run as tasks on Playwright's own loop, which turns only inside _sync.
            try:
                if call.look is not None:
                    call.probed(instance._sync(_await(call.look)))
                if call.needs_second_probe():
                    call.probed(instance._sync(call.probe()))
            except Exception as exc:  # the connection closed under the probe
                _logger.debug("element not inspected (%s)", type(exc).__name__)
            finally:
                call.finish(result)
        finally:
            _recording.reset(token)
        return result

    return wrapper


def _wrapped() -> Iterator[tuple[Any, str, Any]]:
    """(public class, method, wrapper) for each recorded method of both APIs."""
    for api, make in (("async_api", _async_wrapper), ("sync_api", _sync_wrapper)):
        module = importlib.import_module(f"playwright.{api}")
        for class_name, (locate, methods) in _CLASSES.items():
            cls = getattr(module, class_name)
            for method in methods:
                if method in vars(cls):
                    yield cls, method, make(_SPECS[method], locate)


class PlaywrightInstrumentor(BaseInstrumentor):
    """Records Playwright browser actions as ``browser`` activities (``autobot_playwright``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        for cls, method, wrapper in _wrapped():
            wrap_function_wrapper(cls, method, wrapper)

    def _uninstrument(self, **kwargs: Any) -> None:
        for cls, method, _ in _wrapped():
            unwrap(cls, method)
