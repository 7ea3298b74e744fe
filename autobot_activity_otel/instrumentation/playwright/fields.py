"""What kind of element an action targets: one look in the page, cached per page and selector.

The instrumentation needs three facts about an element before it records an action: whether
a value typed into it is a secret (password type, or a name, id, autocomplete hint, label,
placeholder or aria-label that says so), whether a click on it submits a form, and whether
Enter in it submits one. One evaluation answers all three; it runs concurrently with the
action itself and its answer is cached for the frame's current URL, so a repeated action on
the same selector costs no round trip.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any, Final

from autobot_activity_otel.activities.browser import secret_field_rule

_logger = logging.getLogger(__name__)

PROBE: Final = """(e) => {
  let c = e;
  if (c.tagName === 'LABEL' && c.control) c = c.control;
  else if (c.closest) c = c.closest('button, input, select, textarea') || c;
  const s = (v) => (typeof v === 'string' ? v : '').slice(0, 200);
  const a = (n) => (c.getAttribute ? c.getAttribute(n) : '');
  const label = c.labels && c.labels.length ? c.labels[0].textContent : '';
  return [s(c.tagName).toLowerCase(), s(c.type).toLowerCase(), s(a('name')), s(c.id),
          s(a('autocomplete')), !!c.form, s(label), s(a('placeholder')), s(a('aria-label'))];
}"""
"""Runs on the element (a label is read as its control, a child as its button or input)."""
PROBE_FIRST: Final = f"(es) => (es.length ? ({PROBE})(es[0]) : null)"
"""The same on the first element a selector matches (``$$eval`` answers faster than ``$eval``)."""

_NOT_TEXT = frozenset(
    {"button", "checkbox", "radio", "file", "submit", "image", "reset", "hidden", "range", "color"}
)
_MAX_CACHED = 256
"""Selectors remembered per frame; past this the frame's cache starts afresh."""


@dataclass(frozen=True, slots=True)
class Field:
    """The facts about an element that decide how an action on it is recorded."""

    tag: str
    type: str
    secret_rule: str | None
    in_form: bool

    @property
    def submits_on_click(self) -> bool:
        return self.in_form and (
            (self.tag == "button" and self.type == "submit")
            or (self.tag == "input" and self.type in ("submit", "image"))
        )

    @property
    def submits_on_enter(self) -> bool:
        return self.in_form and self.tag == "input" and self.type not in _NOT_TEXT

    @classmethod
    def parse(cls, raw: Any) -> Field | None:
        """A ``Field`` from the probe's answer; None for anything unexpected."""
        if not (
            isinstance(raw, list)
            and len(raw) == 9
            and all(isinstance(v, str) for v in (*raw[:5], *raw[6:]))
        ):
            return None
        tag, input_type, name, element_id, autocomplete, in_form, *labels = raw
        rule = secret_field_rule(input_type, name, element_id, autocomplete, *labels)
        return cls(tag, input_type, rule, in_form is True)


_cache: weakref.WeakKeyDictionary[Any, tuple[str, dict[str, Field]]] = weakref.WeakKeyDictionary()


def cached(target: Any, url: str, selector: str) -> Field | None:
    """The field seen at ``selector`` on this target while it showed ``url``, if any."""
    entry = _cache.get(target)
    if entry is None or entry[0] != url:
        return None
    return entry[1].get(selector)


def remember(target: Any, url: str, selector: str, field: Field) -> None:
    entry = _cache.get(target)
    if entry is None or entry[0] != url or len(entry[1]) >= _MAX_CACHED:
        entry = (url, {})
        _cache[target] = entry
    entry[1][selector] = field


async def probe(target: Any, selector: str | None) -> Field | None:
    """Look at the element once: the first match of a frame's ``selector``, or the handle.

    None when nothing matches yet; never raises (a detached element, a navigation, a closed
    page all give None), except for cancellation.
    """
    try:
        if selector is None:
            raw = await target.evaluate(expression=PROBE, arg=None)
        else:
            raw = await target.eval_on_selector_all(
                selector=selector, expression=PROBE_FIRST, arg=None
            )
        return Field.parse(raw)
    except Exception as exc:
        _logger.debug("element not inspected (%s)", type(exc).__name__)
        return None
