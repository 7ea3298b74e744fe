"""Browser records: a typed value (field-aware), a navigation's URL, status and redirect chain.

An explicit call (``track_browser_action``) and an instrumented Playwright action record a
field value and a navigation the same way because both go through these helpers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Final

from autobot_activity_otel import attributes as attr
from autobot_activity_otel.recording import ActivityRecord, to_text
from autobot_activity_otel.secrets import Finding, fingerprint, known_secret_id, secret_id_for

BROWSER_ACTIONS: Final = frozenset({"navigate", "click", "type", "submit", "scroll", "screenshot"})
"""The seed's five actions, plus ``screenshot`` (``Page.screenshot`` and friends)."""

PASSWORD_FIELD: Final = "password-field"
"""Rule of a value typed into an ``<input type="password">`` (or autocomplete=*-password)."""
SECRET_FIELD: Final = "secret-field"
"""Rule of a value typed into a field whose name or id says it holds a secret."""

_SECRET_NAME = re.compile(
    r"pass(?:word|wd|phrase|code)|secret|token|api[-_ ]?key|access[-_ ]?key|private[-_ ]?key"
    r"|card[-_ ]?(?:number|num|no)|cc[-_ ]?(?:number|num|csc|cvc|cvv|exp)|one[-_ ]?time[-_ ]?code"
    r"|security[-_ ]?code|verification[-_ ]?code|auth(?:entication)?[-_ ]?code"
    r"|(?<![a-z])(?:pass|pw|pwd|otp|totp|hotp|mfa|2fa|cvv|cvc|csc|pin|passwort|kennwort)(?![a-z])",
    re.IGNORECASE,
)
"""Words in a field's name, id, label or autocomplete hint that mark its value as a secret."""
_SECRET_AUTOCOMPLETE = re.compile(
    r"(?<![a-z-])(?:current-password|new-password|one-time-code|cc-[a-z-]+)(?![a-z-])",
    re.IGNORECASE,
)
"""Autocomplete tokens (HTML's autofill names) whose field holds a secret."""
_PASSWORD_TYPE = re.compile(r"""\[\s*type\s*[~|^$*]?=\s*["']?password\b""", re.IGNORECASE)
_SELECTOR_HINTS = re.compile(
    r"""#(?P<id>[\w-]+)"""
    r"""|\[\s*(?:name|id|autocomplete|placeholder|aria-label|data-testid|formcontrolname)"""
    r"""\s*[~|^$*]?=\s*["']?(?P<value>[^"'\]]*)"""
    r"""|(?:label|placeholder|aria-label|get_by_label|getByLabel|get_by_placeholder)"""
    r"""\s*[=(]\s*["']?(?P<label>[^"')]*)""",
    re.IGNORECASE,
)
"""Where a selector names its field: ``#id``, ``[name=...]`` and kin, Playwright's
``label=`` / ``placeholder=`` engines."""


def check_action(action: object) -> str:
    """An explicit caller's action, or a ``ValueError`` that names the allowed ones."""
    if action not in BROWSER_ACTIONS:
        raise ValueError(f"action must be one of {sorted(BROWSER_ACTIONS)}")
    return str(action)


def secret_field_rule(
    input_type: str, name: str, element_id: str, autocomplete: str, *labels: str
) -> str | None:
    """Which secret rule a field falls under, from its type, name, id, autocomplete hint and
    labels (its ``<label>``, placeholder, ``aria-label``)."""
    if input_type.lower() == "password" or "password" in autocomplete.lower():
        return PASSWORD_FIELD
    if _SECRET_AUTOCOMPLETE.search(autocomplete) or any(
        _SECRET_NAME.search(_words(hint)) for hint in (name, element_id, *labels) if hint
    ):
        return SECRET_FIELD
    return None


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def _words(hint: str) -> str:
    """``pinCode`` as ``pin-Code``: a camel-case name's words are words too."""
    return _CAMEL.sub("-", hint)


def selector_field_rule(selector: object) -> str | None:
    """Which secret rule the field a selector names falls under (``#password``,
    ``input[name=otp]``, ``[autocomplete=one-time-code]``, ``label=PIN``), when the page
    cannot be asked: a value typed there is kept only as a marker."""
    if not isinstance(selector, str) or not selector:
        return None
    return _selector_rule(selector)


@functools.lru_cache(maxsize=1024)
def _selector_rule(selector: str) -> str | None:
    """``selector_field_rule`` answered once per selector: a page's few selectors recur."""
    if _PASSWORD_TYPE.search(selector):
        return PASSWORD_FIELD
    for match in _SELECTOR_HINTS.finditer(selector):
        hint = match.group("id") or match.group("value") or match.group("label") or ""
        if "password" in hint.lower():
            return PASSWORD_FIELD
        if _SECRET_AUTOCOMPLETE.search(hint) or _SECRET_NAME.search(_words(hint)):
            return SECRET_FIELD
    return None


def set_input_value(record: ActivityRecord, value: object, secret_rule: str | None) -> None:
    """Record a typed value: a secret field's value only as a marker and a finding.

    The finding (whole value, keyed fingerprint) becomes a ``secret_usage`` row. Its secret id
    is the registered secret's when the value holds one, else the stable id the engine derives
    from the fingerprint, so the same password typed twice is recognisably the same secret.
    Any other value goes through the redactor like every text.
    """
    if secret_rule is None:
        record.set_text(attr.BROWSER_INPUT_VALUE, value, "text")
        return
    text, _ = to_text(value)
    if text:
        record.findings.append((attr.BROWSER_INPUT_VALUE, secret_field_finding(text, secret_rule)))
    record.set(attr.BROWSER_INPUT_VALUE, f"[REDACTED:{secret_rule}]" if text else "")


def secret_field_finding(text: str, secret_rule: str) -> Finding:
    """The finding of a whole value typed into a secret field (``set_input_value``; the
    exporter's re-check of a sender's span): the registered secret's id when the value
    holds one, else the stable id derived from its keyed fingerprint."""
    digest = fingerprint(text)
    return Finding(
        secret_rule, 0, len(text), digest, known_secret_id(text) or secret_id_for(digest)
    )


def set_navigation(
    record: ActivityRecord,
    url: object,
    status_code: int | None = None,
    redirect_chain: Iterable[object] = (),
) -> None:
    """URL (through the URL redactor), response status and redirect chain of a navigation.

    ``redirect_chain`` lists the URLs that answered with a redirect, first request first;
    ``url`` is where the navigation ended.
    """
    record.set_text(attr.URL_FULL, url, "url")
    if status_code is not None:
        record.set(attr.HTTP_RESPONSE_STATUS_CODE, int(status_code))
    # set_text redacts each hop (its findings name the chain attribute); the list replaces them.
    chain = [
        record.set_text(attr.BROWSER_REDIRECT_CHAIN, hop, "url") or "" for hop in redirect_chain
    ]
    if chain:
        record.set(attr.BROWSER_REDIRECT_CHAIN, chain)
