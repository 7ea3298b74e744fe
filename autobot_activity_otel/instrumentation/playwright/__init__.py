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
chain; and a navigation that a click, typing or a submit caused, see ``navigation``), click
(``click``, ``dblclick``, ``tap``, ``check``, ``uncheck``, ``set_checked``), type (``fill``,
``type``, ``press_sequentially``, ``press``, ``select_option``, ``set_input_files``), submit
(a click on a form's submit control, Enter in a form's text field, an ``evaluate`` that
calls ``requestSubmit()`` or ``submit()``), scroll (``mouse.wheel``,
``scroll_into_view_if_needed``) and screenshot (page, locator, element). Playwright's own
driver process is not recorded by the terminal instrumentation (see ``driver``).

Usage::

    PlaywrightInstrumentor().instrument()
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import re
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.activities.browser import (
    selector_field_rule,
    set_input_value,
    set_navigation,
)
from autobot_activity_otel.arguments import Parameters, parameters
from autobot_activity_otel.instrumentation.kit import (
    ActivityInstrumentor,
    Target,
    Wrapper,
    allowed,
    call_recorded,
    call_recorded_async,
)
from autobot_activity_otel.instrumentation.playwright import fields
from autobot_activity_otel.instrumentation.playwright.driver import driver_targets
from autobot_activity_otel.instrumentation.playwright.navigation import Navigations, redirect_chain
from autobot_activity_otel.instrumentation.playwright.package import _instruments
from autobot_activity_otel.recording import ActivityRecord, start_activity

_logger = logging.getLogger(__name__)

_SUBMIT_SCRIPT = re.compile(r"\b(?:requestSubmit|submit)\s*\(")
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
    (``selector`` None). Playwright's objects are untyped here: they are read by attribute.
    """

    element: Any
    selector: str | None
    url: str | None


def _url_of(frame: object) -> str | None:
    url = getattr(frame, "url", None)
    return url if isinstance(url, str) else None


@dataclass(frozen=True, slots=True)
class _Method:
    """One recorded public method: how it is recorded, its parameters, how to find its target."""

    spec: _Spec
    arguments: Parameters
    locate: Callable[[Any, _Method, tuple[Any, ...], dict[str, Any]], _Target]


def _frame_target(
    frame: Any, method: _Method, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Target:
    if not method.spec.on_element:
        return _Target(frame, None, _url_of(frame))
    selector = method.arguments.get(args, kwargs, "selector")
    return _Target(frame, selector if isinstance(selector, str) else None, _url_of(frame))


def _page(instance: Any, method: _Method, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Target:
    return _frame_target(instance._impl_obj.main_frame, method, args, kwargs)


def _frame(
    instance: Any, method: _Method, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Target:
    return _frame_target(instance._impl_obj, method, args, kwargs)


def _locator(
    instance: Any, method: _Method, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Target:
    impl = instance._impl_obj
    return _Target(impl._frame, impl._selector, _url_of(impl._frame))


def _handle(
    instance: Any, method: _Method, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Target:
    impl = instance._impl_obj
    return _Target(impl, None, _url_of(getattr(impl, "_frame", None)))


def _mouse(
    instance: Any, method: _Method, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> _Target:
    return _Target(None, None, _url_of(instance._impl_obj._page))


_ELEMENT_METHODS = (
    *("click", "dblclick", "tap", "check", "uncheck", "set_checked"),
    *("fill", "type", "press", "select_option", "set_input_files"),
)
_CLASSES: dict[
    str, tuple[Callable[[Any, _Method, tuple[Any, ...], dict[str, Any]], _Target], tuple[str, ...]]
] = {
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

    def __init__(
        self,
        method: _Method,
        target: _Target,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        tracer: Tracer,
        navigations: Navigations,
    ) -> None:
        spec = self.spec = method.spec
        self.target = target
        self.value = None if spec.value is None else method.arguments.get(args, kwargs, spec.value)
        self.field: fields.Field | None = None
        self.look: asyncio.Task[fields.Field | None] | None = None
        self.record: ActivityRecord = start_activity(
            attr.ActivityType.BROWSER, spec.action, tracer=tracer
        )
        if spec.action != "navigate":
            self.record.set_text(attr.URL_FULL, target.url, "url")
            self.record.set_text(attr.BROWSER_SELECTOR, target.selector)
        if spec.action == "scroll" and target.element is None:
            for name in ("delta_x", "delta_y"):
                delta = method.arguments.get(args, kwargs, name)
                if isinstance(delta, int | float):
                    self.record.metadata[name] = delta
        self.span = self.record.span  # started here, where a failure is still harmless
        self.cause = navigations.action_started(
            spec.action, target.element, self.record, self.span, tracer
        )

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

    async def probe(self) -> fields.Field | None:
        return await fields.probe(self.target.element, self.target.selector)

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

    def fail(self, exc: BaseException) -> None:
        """The call raised: its probe is cancelled, its failure recorded."""
        if self.look is not None and not self.look.done():
            self.look.cancel()
        Navigations.action_ended(self.cause)
        try:
            if self.spec.action == "navigate":
                set_navigation(self.record, self.value or self.target.url)
            self.record.fail(exc)
        except Exception as error:
            _logger.warning("browser action failure not recorded (%s)", type(error).__name__)

    def end(self) -> None:
        self.record.end()

    def finish(self, result: Any) -> None:
        """The call returned ``result`` (a Playwright object, bytes, None...): complete, end."""
        Navigations.action_ended(self.cause)
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
                chain = redirect_chain(result.request)
                set_navigation(record, result.url, result.status, chain)
        elif action == "screenshot" and isinstance(result, bytes):
            record.metadata["screenshot_bytes"] = len(result)
        elif action == "click" and field is not None and field.submits_on_click:
            record.rename("submit")
        elif action == "type":
            self._typed(result)

    def _typed(self, result: Any) -> None:
        field, record = self.field, self.record
        named_key = self.spec.value == "key" and isinstance(self.value, str) and len(self.value) > 1
        if named_key and self.value == "Enter" and field is not None and field.submits_on_enter:
            record.rename("submit")
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
            rule = field.secret_rule or selector_field_rule(self.target.selector)
            set_input_value(record, self.value, rule)


def _file_names(files: Any) -> list[str]:
    """Names of the files given to ``set_input_files`` (paths or payloads, as the caller passed
    them), never contents."""
    items = files if isinstance(files, list | tuple) else [files]
    return [
        str(item.get("name", "")) if isinstance(item, dict) else os.path.basename(os.fsdecode(item))
        for item in items
    ]


def _begin(
    method: _Method,
    tracer: Tracer,
    navigations: Navigations,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> _Call | None:
    """The call's record (its probe started), or None when it is not to be recorded."""
    if not allowed():
        return None
    if method.spec.action == "submit":  # evaluate: recorded only when the script submits a form
        script = method.arguments.get(args, kwargs, "expression")
        if not (isinstance(script, str) and _SUBMIT_SCRIPT.search(script)):
            return None
    try:
        target = method.locate(instance, method, args, kwargs)
        call = _Call(method, target, args, kwargs, tracer, navigations)
        call.start_probe(instance._loop)
    except Exception as exc:
        _logger.warning("browser action not tracked (%s)", type(exc).__name__)
        return None
    return call


async def _await(awaitable: Awaitable[fields.Field | None]) -> fields.Field | None:
    return await awaitable


def _async_wrapper(method: _Method, tracer: Tracer, navigations: Navigations) -> Wrapper:
    async def wrapper(
        wrapped: Callable[..., Awaitable[Any]],
        instance: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        call = _begin(method, tracer, navigations, instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        result = await call_recorded_async(call, wrapped, args, kwargs, call.span)
        try:
            if call.look is not None:
                call.probed(await call.look)
            if call.needs_second_probe():
                call.probed(await call.probe())
        finally:
            call.finish(result)
        return result

    return wrapper


def _sync_wrapper(method: _Method, tracer: Tracer, navigations: Navigations) -> Wrapper:
    def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        call = _begin(method, tracer, navigations, instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        result = call_recorded(call, wrapped, args, kwargs, call.span)
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
        return result

    return wrapper


def _recorded_methods() -> Iterator[tuple[type, str, _Method, bool]]:
    """(public class, method name, how it is recorded, whether async) for both APIs."""
    for api, is_async in (("async_api", True), ("sync_api", False)):
        module = importlib.import_module(f"playwright.{api}")
        for class_name, (locate, methods) in _CLASSES.items():
            cls = getattr(module, class_name)
            for name in methods:
                if name in vars(cls):
                    arguments = parameters(getattr(cls, name), bound=True)
                    yield cls, name, _Method(_SPECS[name], arguments, locate), is_async


class PlaywrightInstrumentor(ActivityInstrumentor):
    """Records Playwright browser actions as ``browser`` activities (``autobot_playwright``).

    ``instrument()`` options: ``tracer_provider``.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    _navigations: Navigations | None = None

    def _targets(self, tracer: Tracer, options: Mapping[str, Any]) -> Iterable[Target]:
        navigations = self._navigations = Navigations()
        wrappers = {True: _async_wrapper, False: _sync_wrapper}
        return [
            *driver_targets(),
            *(
                Target(cls, name, wrappers[is_async](method, tracer, navigations))
                for cls, name, method, is_async in _recorded_methods()
            ),
        ]

    def _release(self) -> None:
        if self._navigations is not None:
            self._navigations.release()
            self._navigations = None
