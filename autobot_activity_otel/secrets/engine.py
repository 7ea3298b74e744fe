"""The redactor: find every secret in a text, replace only the values, report findings.

Order of evidence, strongest first: a registered (known) value, a vendor token format, a
tool's password flag, URL credentials, an authorization header, a ``name = value`` assignment.
Where findings overlap the stronger keeps the characters it covers. A text with no registered
value, no keyword and no long token-like run is returned after a few substring tests: that is
the common case on the hot path (a few microseconds per command).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from autobot_activity_otel.secrets.commands import TOOL_NAMES, command_candidates
from autobot_activity_otel.secrets.fingerprint import fingerprint, secret_id_for
from autobot_activity_otel.secrets.registry import REGISTRY
from autobot_activity_otel.secrets.rules import (
    KEYWORDS,
    KNOWN,
    MARKER,
    Candidate,
    assignment_candidates,
    authorization_candidates,
    credential_file_candidates,
    sql_candidates,
    url_candidates,
    vendor_candidates,
)

_logger = logging.getLogger(__name__)

Kind = Literal["command", "output", "url", "keystrokes", "text"]
_COMMAND_KINDS = frozenset({"command", "keystrokes"})
UNREDACTABLE = "[REDACTED:unredactable]"
KNOWN_RULE = "known-secret"
MIN_REPEAT = 5


def repeatable(value: str) -> bool:
    """Whether other occurrences of a found value are redacted too: not for short values or
    plain words, which would hit ordinary text (and multiply any false positive)."""
    return len(value) >= MIN_REPEAT and not value.isalpha()


@dataclass(frozen=True, slots=True)
class Finding:
    """One secret found: where it was in the original text, and who it is; never the value."""

    rule: str
    start: int
    end: int
    fingerprint: str
    secret_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Redaction:
    """The text with every secret value replaced by a marker, and what was found."""

    text: str
    findings: tuple[Finding, ...]


_KEYWORD_GATES = (
    "pass",
    "pw",
    "secret",
    "token",
    "key",
    "auth",
    "cred",
    "bearer",
    "sig",
    "identified",
)
"""Lower-case literals without one of which no name, header, query or SQL rule can match."""
_TOOL_GATES = (
    "sql",
    "mariadb",
    "login",
    "-cli",
    "smb",
    "rpcclient",
    "winrm",
    "openssl",
    "curl",
    "ldap",
    "mongo",
    "zip",
    "7z",
    "rar",
    "rabbitmq",
    "sudo",
    "doas",
)
"""Parts of the names of the tools whose password flags have no keyword in them (``-p``, ``-a``)."""
_TOKEN_RUN = re.compile(r"[A-Za-z0-9_.-]{20,}")
"""Every vendor token format is at least this long a run: without one, skip those rules."""
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_WORD = re.compile(r"[a-z0-9_.-]+")
_LINE = re.compile(r"[^\n]+")


def redact(text: object, kind: Kind = "text") -> Redaction:
    """Redact ``text`` (bytes are decoded, anything else made a string); never raises (an
    engine failure drops the whole text instead)."""
    try:
        return _redact(text if isinstance(text, str) else _as_text(text), kind)
    except Exception as exc:  # tracking must not break the caller, nor leak on failure
        _logger.warning("secret redaction failed (%s); text dropped", type(exc).__name__)
        return Redaction(UNREDACTABLE, ())


def _as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _contains_any(lowered: str, gates: tuple[str, ...]) -> bool:
    for gate in gates:  # noqa: SIM110 -- a plain loop is a third faster than any() here
        if gate in lowered:
            return True
    return False


def _redact(text: str, kind: str) -> Redaction:
    known = REGISTRY.find(text)
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII characters lower-case to two
        lowered = text.translate(_ASCII_LOWER)
    keyword = _contains_any(lowered, _KEYWORD_GATES)
    url = "://" in text
    tool = _contains_any(lowered, _TOOL_GATES)
    vendor = keyword or "-----" in text or _TOKEN_RUN.search(text) is not None
    files = kind not in _COMMAND_KINDS and ("machine" in lowered or text.count(":") >= 4)
    if not (known or keyword or url or tool or vendor or files):
        return Redaction(text, ())
    candidates = [Candidate(m.start, m.end, KNOWN, KNOWN_RULE, "", secret=m.secret) for m in known]
    if vendor:
        candidates.extend(vendor_candidates(text))
    if keyword or url:
        candidates.extend(url_candidates(text, kind))
    if keyword and ("auth" in lowered or "bearer" in lowered):
        candidates.extend(authorization_candidates(text))
    if (keyword or tool) and kind != "url":
        candidates.extend(_command_candidates(text, lowered, kind))
    if keyword and ("=" in text or ":" in text):
        taken = _disjoint([(c.start, c.end) for c in candidates] + _markers(text))
        shell = kind in _COMMAND_KINDS
        candidates.extend(assignment_candidates(text, lowered, shell, taken))
    if keyword and "'" in text:
        candidates.extend(sql_candidates(text))
    if files:
        candidates.extend(credential_file_candidates(text))
    if not candidates:
        return Redaction(text, ())
    return _apply(text, candidates)


def _markers(text: str) -> list[tuple[int, int]]:
    """Spans of the markers an earlier redaction left: never flagged again."""
    if "REDACTED" not in text:
        return []
    return [(marker.start(), marker.end()) for marker in MARKER.finditer(text)]


def _disjoint(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping spans merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _command_candidates(text: str, lowered: str, kind: str) -> Iterator[Candidate]:
    """The whole text when it is a command; elsewhere, lines that name a tool or a secret flag."""
    if kind in _COMMAND_KINDS:
        yield from command_candidates(text)
        return
    tools = TOOL_NAMES.intersection(_WORD.findall(lowered))
    if not tools and "--" not in text:
        return
    for line in _LINE.finditer(lowered):
        content = line.group()
        if any(tool in content for tool in tools) or ("--" in content and KEYWORDS.search(content)):
            yield from command_candidates(text[line.start() : line.end()], line.start())


def _apply(text: str, candidates: list[Candidate]) -> Redaction:
    """Resolve overlaps (stronger evidence first), redact every other occurrence of each value
    found, then replace and report each piece."""
    covered = bytearray(len(text))
    for start, end in _markers(text):
        covered[start:end] = b"\x01" * (end - start)
    pieces: list[tuple[int, int, Candidate]] = []
    _cover(sorted(candidates, key=lambda c: (c.priority, c.start, -c.end)), covered, pieces)
    _cover(list(_repeats(text, pieces)), covered, pieces)
    pieces.sort(key=lambda piece: piece[0])
    out: list[str] = []
    findings: list[Finding] = []
    identities: dict[str, tuple[str, uuid.UUID]] = {}
    position = 0
    for start, end, candidate in pieces:
        out.append(text[position:start])
        position = end
        secret = candidate.secret
        if secret is not None:
            out.append(f"[REDACTED:secret:{secret.secret_id}]")
            findings.append(Finding(KNOWN_RULE, start, end, secret.fingerprint, secret.secret_id))
            continue
        out.append(candidate.replacement or f"[REDACTED:{candidate.rule}]")
        if candidate.rule:  # only known values are ever split, so the value is whole here
            value = candidate.value
            if value not in identities:  # a value repeated in a long output is hashed once
                digest = fingerprint(value)
                identities[value] = (digest, secret_id_for(digest))
            digest, secret_id = identities[value]
            findings.append(Finding(candidate.rule, start, end, digest, secret_id))
    out.append(text[position:])
    return Redaction("".join(out), tuple(findings))


def _cover(
    candidates: list[Candidate], covered: bytearray, pieces: list[tuple[int, int, Candidate]]
) -> None:
    """Add each candidate that no earlier (stronger) one overlaps; of a known value, whose every
    part is a secret, add the parts no other known value covers."""
    for candidate in candidates:
        if candidate.secret is None and covered.find(1, candidate.start, candidate.end) >= 0:
            continue
        start = candidate.start
        while start < candidate.end:
            start = covered.find(0, start, candidate.end)
            if start < 0:
                break
            end = covered.find(1, start, candidate.end)
            end = candidate.end if end < 0 else end
            covered[start:end] = b"\x01" * (end - start)
            pieces.append((start, end, candidate))
            start = end


def _repeats(text: str, pieces: list[tuple[int, int, Candidate]]) -> Iterator[Candidate]:
    """A value found once is a secret everywhere in the text (an echo, a log line, a retry)."""
    seen: set[str] = set()
    for _, _, candidate in list(pieces):
        value = candidate.value
        if candidate.secret is not None or not candidate.rule or not repeatable(value):
            continue
        if value in seen:
            continue
        seen.add(value)
        at = text.find(value)
        while at >= 0:
            end = at + len(value)
            if not (text[at - 1 : at].isalnum() or text[end : end + 1].isalnum()):
                yield candidate._replace(start=at, end=end)  # whole, not inside a longer word
            at = text.find(value, end)
