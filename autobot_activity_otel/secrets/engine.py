"""The redactor: find every secret in a text, replace only the values, report findings.

Order of evidence, strongest first: a registered (known) value in any of its forms, a vendor
token format, a tool's password flag, URL credentials, an authorization header or cookie, a
``name = value`` assignment or a value placed under a secret's name. Where findings overlap
the stronger keeps the characters it covers. A command is read whole when it holds an anchor
(``prefilter``); an output or other text is read only around its anchors, so a text with none
costs one scan: the common case on the hot path.

Users add rules with ``add_rule`` (a regex and the keywords that anchor it) and secret names
with ``add_secret_names``; both are documented in docs/secrets.md.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from autobot_activity_otel.secrets import prefilter, rules
from autobot_activity_otel.secrets.commands import (
    TOOL_NAMES,
    command_candidates,
    list_candidates,
    shell_words,
)
from autobot_activity_otel.secrets.fingerprint import fingerprint, secret_id_for
from autobot_activity_otel.secrets.forms import encoded_forms
from autobot_activity_otel.secrets.lines import (
    context_candidates,
    element_candidates,
    key_file_candidates,
    labelled_candidates,
    nested_candidates,
    neutral_candidates,
)
from autobot_activity_otel.secrets.registry import REGISTRY
from autobot_activity_otel.secrets.rules import (
    ASSIGNMENT,
    KNOWN,
    MARKER,
    Candidate,
    assignment_candidates,
    authorization_candidates,
    cookie_candidates,
    credential_file_candidates,
    is_plain_value,
    names_added_in,
    prose_candidates,
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


class Finding(NamedTuple):
    """One secret found: where it was in the original text, and who it is; never the value.
    (A tuple: one is made per finding on the hot path, at a third of a dataclass's cost.)"""

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


@dataclass(frozen=True, slots=True)
class _UserRule:
    name: str
    pattern: re.Pattern[str]
    group: int


_user_rules: list[_UserRule] = []
_user_lock = threading.Lock()


def add_rule(
    name: str, pattern: str | re.Pattern[str], keywords: Iterable[str], group: int = 0
) -> None:
    """Redact what ``pattern`` matches (its ``group``) as ``[REDACTED:<name>]``.

    ``keywords`` are literals at least one of which is on the line of every match (searched
    case-insensitively): they anchor the rule, so text without them is not searched. The
    pattern is compiled once, here; it runs only on the lines around its keywords.
    """
    literals = [keyword for keyword in keywords if keyword]
    if not literals:
        raise ValueError("a rule needs at least one keyword to anchor it")
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
    with _user_lock:
        _user_rules.append(_UserRule(name, compiled, group))
        prefilter.add_literals(literals)
    rules.rules_changed()


_KEYWORD_GATES = (
    "pass",
    "pw",
    "pswd",
    "secret",
    "sekr",
    "secrit",
    "secert",
    "scret",
    "token",
    "tokn",
    "key",
    "auth",
    "cred",
    "bearer",
    "sig",
    "identified",
    "kennwort",
    "contrase",
    "senha",
    "mdp",
    "sess",
)
"""Lower-case literals without one of which no name, header or SQL rule can match."""
_WORD = re.compile(r"[a-z0-9_.-]+")
_LINE = re.compile(r"[^\n]+")


def redact(text: str, kind: Kind = "text", *, context: str | None = None) -> Redaction:
    """Redact ``text``; never raises (an engine failure drops the whole text instead).

    ``context`` is the text just before this one that is not part of it (the command whose
    output this is, the other stream): a label at its end makes a bare value at the start of
    ``text`` a secret (``printenv DB_PASSWORD``, then the value alone).
    """
    try:
        if not isinstance(text, str):  # callers hand bytes, None or numbers despite the type
            text = _as_text(text)  # type: ignore[unreachable]
        return _redact(text, kind, context)
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


def _redact(text: str, kind: str, context: str | None) -> Redaction:
    known = REGISTRY.find(text)
    candidates = (
        [Candidate(m.start, m.end, KNOWN, KNOWN_RULE, "", secret=m.secret) for m in known]
        if known
        else []  # the common case: no comprehension to set up
    )
    lowered = prefilter.ascii_lower(text)
    if kind in _COMMAND_KINDS or kind == "url":
        if prefilter.has_anchor(text, lowered):
            candidates.extend(_rules(text, lowered, kind))
        if kind in _COMMAND_KINDS and len(REGISTRY):
            candidates.extend(_split_known(text))
    else:
        ends = prefilter.anchor_ends(text, lowered)
        if ends:
            for start, end in prefilter.regions(text, ends):
                if start == 0 and end == len(text):
                    candidates.extend(_rules(text, lowered, kind))
                    continue
                for candidate in _rules(text[start:end], lowered[start:end], kind):
                    candidates.append(
                        candidate._replace(start=candidate.start + start, end=candidate.end + start)
                    )
        if context:
            candidates.extend(context_candidates(context, text))
    if not candidates:
        return Redaction(text, ())
    return _apply(text, candidates, kind not in _COMMAND_KINDS)


def _rules(text: str, lowered: str, kind: str) -> list[Candidate]:
    """Every rule's candidates in a text that holds an anchor (a command, or a region)."""
    keyword = _contains_any(lowered, _KEYWORD_GATES) or names_added_in(lowered)
    command = kind in _COMMAND_KINDS
    found = list(vendor_candidates(text))
    if "://" in text or "=" in text:
        found.extend(url_candidates(text, kind))
    if kind == "url":
        return found
    if keyword and ("auth" in lowered or "bearer" in lowered):
        found.extend(authorization_candidates(text))
    if "cookie" in lowered:
        found.extend(cookie_candidates(text))
    found.extend(_command_candidates(text, lowered, kind))
    if "['" in text or '["' in text or "[ " in text:
        found.extend(list_candidates(text))
    if keyword and ("=" in text or ":" in text):
        taken = _disjoint([(c.start, c.end) for c in found] + _markers(text))
        found.extend(assignment_candidates(text, lowered, command, taken))
    if "identified" in lowered or ("pass" in lowered and ("'" in text or '"' in text)):
        found.extend(sql_candidates(text))
    if command:
        found.extend(_quoted_word_candidates(text))
    else:
        if keyword or "pin" in lowered or "otp" in lowered or "code" in lowered:
            found.extend(prose_candidates(text))  # sentences: output and text, not commands
        if "machine" in lowered or text.count(":") >= 4:
            found.extend(credential_file_candidates(text))
        if "\n" in text:
            found.extend(labelled_candidates(text))
        if keyword or "=" in text or ":" in text:
            found.extend(nested_candidates(text))
        if "<" in text or "name" in lowered or "key" in lowered:
            found.extend(element_candidates(text))
        if "=" in text or ":" in text or ">" in text:
            found.extend(neutral_candidates(text))
        if "private-" in lowered or "\t" in text:
            found.extend(key_file_candidates(text))
    for rule in _user_rules:
        for match in rule.pattern.finditer(text):
            value = match.group(rule.group)
            if value and not is_plain_value(value):
                start, end = match.start(rule.group), match.end(rule.group)
                found.append(Candidate(start, end, ASSIGNMENT, rule.name, value))
    return found


def _quoted_word_candidates(text: str) -> Iterator[Candidate]:
    """Text rules on a word as the command receives it, where the shell's quoting hides its
    text (``shlex.join`` writes ``'...IDENTIFIED BY '"'"'pw'"'"''``): offsets mapped back."""
    if "\\" not in text and text.count("'") <= 2 and text.count('"') <= 2:
        return
    for words in shell_words(text):
        for word in words:
            raw = word.raw
            if "\\" not in raw and raw.count("'") <= 2 and raw.count('"') <= 2:
                continue
            value, where = word.unquote()
            if not where:
                continue
            lowered = prefilter.ascii_lower(value)
            found = [
                *sql_candidates(value),
                *authorization_candidates(value),
                *cookie_candidates(value),
            ]
            if _contains_any(lowered, _KEYWORD_GATES):
                found.extend(assignment_candidates(value, lowered, True, []))
            for candidate in found:
                yield candidate._replace(
                    start=where[candidate.start], end=where[candidate.end - 1] + 1
                )


_SEPARATORS = re.compile(r"[\s'\"\\]+")
_KEPT = re.compile(r"[^\s'\"\\]+")


def _split_known(text: str) -> Iterator[Candidate]:
    """A registered value split over adjacent words or quoted pieces (``printf %s Abc123
    Xyz789``, ``'Abc''123'``): the text is searched again with blanks, quotes and backslashes
    taken out, and a match that spans a removed character is mapped back to the original."""
    if _SEPARATORS.search(text) is None:
        return
    matches = REGISTRY.find(_SEPARATORS.sub("", text))
    if not matches:
        return
    where = [at for kept in _KEPT.finditer(text) for at in range(kept.start(), kept.end())]
    for match in matches:
        start, end = where[match.start], where[match.end - 1] + 1
        if end - start > match.end - match.start:  # not a plain occurrence: found already
            yield Candidate(start, end, KNOWN, KNOWN_RULE, "", secret=match.secret)


def holds_known(text: str, kind: Kind) -> bool:
    """Whether ``redact`` would find a registered secret in ``text``: an occurrence, or in a
    command a value split over words or quotes (``_split_known``). For a caller that knows
    the text is otherwise clean (the recording's memo)."""
    if not len(REGISTRY):
        return False  # the common case: no secret registered (a broker's is only around its use)
    if REGISTRY.find(text):
        return True
    return kind in _COMMAND_KINDS and next(_split_known(text), None) is not None


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
        if any(tool in content for tool in tools) or (
            "--" in content and rules.KEYWORDS.search(content)
        ):
            yield from command_candidates(text[line.start() : line.end()], line.start())


def _apply(text: str, candidates: list[Candidate], encoded: bool = True) -> Redaction:
    """Resolve overlaps (stronger evidence first), redact every other occurrence of each value
    found, then replace and report each piece."""
    if len(candidates) == 1 and "REDACTED" not in text:
        single = _single(text, candidates[0], encoded)
        if single is not None:
            return single
    covered = bytearray(len(text))
    for start, end in _markers(text):
        covered[start:end] = b"\x01" * (end - start)
    pieces: list[tuple[int, int, Candidate]] = []
    _cover(sorted(candidates, key=lambda c: (c.priority, c.start, -c.end)), covered, pieces)
    _cover(list(_repeats(text, pieces, encoded)), covered, pieces)
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


def _single(text: str, candidate: Candidate, encoded: bool) -> Redaction | None:
    """The common case, one pattern finding and nothing to resolve: ``_apply``'s result
    without its bookkeeping; None when the value may repeat (``_apply`` then decides)."""
    value = candidate.value
    if candidate.secret is not None or not candidate.rule:
        return None
    if repeatable(value) and (encoded or text.count(value) > 1):
        return None
    start, end = candidate.start, candidate.end
    digest = fingerprint(value)
    finding = Finding(candidate.rule, start, end, digest, secret_id_for(digest))
    marker = candidate.replacement or f"[REDACTED:{candidate.rule}]"
    return Redaction(f"{text[:start]}{marker}{text[end:]}", (finding,))


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


def _repeats(
    text: str, pieces: list[tuple[int, int, Candidate]], encoded: bool
) -> Iterator[Candidate]:
    """A value found once is a secret everywhere in the text (an echo, a log line, a retry),
    also (when ``encoded``: in what a program printed) percent-, JSON- or shell-escaped,
    base64-encoded or in hex."""
    seen: set[str] = set()
    for _, _, candidate in list(pieces):
        value = candidate.value
        if candidate.secret is not None or not candidate.rule or not repeatable(value):
            continue
        if value in seen:
            continue
        seen.add(value)
        if not encoded and text.count(value) < 2:
            continue  # the one occurrence is the piece itself
        for form in (value, *encoded_forms(value, text)) if encoded else (value,):
            if len(form) < MIN_REPEAT:
                continue
            at = text.find(form)
            while at >= 0:
                end = at + len(form)
                if not (text[at - 1 : at].isalnum() or text[end : end + 1].isalnum()):
                    yield candidate._replace(start=at, end=end)  # whole, not in a longer word
                at = text.find(form, end)
