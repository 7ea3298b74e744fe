"""Adversarial inputs cost the engine work in proportion to their length: each test bounds
the work a rule does on an input shaped to multiply it (the characters a search reads, the
lines a loop walks), never a time. The timings are in docs/secrets.md ("Worst cases")."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Self, SupportsIndex, cast

import pytest
from support.work import lines_run

from autobot_activity_otel.secrets import extractions, keystrokes, lines, prefilter, rules
from autobot_activity_otel.secrets.lines import key_file_candidates

_ENGINE = str(Path(rules.__file__).parent)


class _Counting:
    """A compiled pattern that adds up the characters its searches read."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.read = 0

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        self.read += min(endpos, len(string)) - pos
        return self.pattern.search(string, pos, endpos)


def test_a_line_of_sql_phrases_is_searched_for_an_account_word_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every ``identified by`` on a line was checked against the whole line before it."""
    account = _Counting(rules._SQL_ACCOUNT)
    monkeypatch.setattr(rules, "_SQL_ACCOUNT", account)
    text = "identified by " * 1000 + "\nCREATE USER bob IDENTIFIED BY 'Xy7-pw99';"
    size = len(text)
    assert [candidate.rule for candidate in rules.sql_candidates(text)] == ["sql-password"]
    assert account.read <= size


def _steps(call: Callable[[], object]) -> int:
    """The lines of the engine's own code that ``call`` runs: its work, counted, not timed."""
    return lines_run(call, _ENGINE)


def test_the_private_lines_of_each_putty_header_are_looked_up_not_walked() -> None:
    """Each ``Private-Lines: 999`` header walked the 999 lines after it, one ``find`` each,
    though the next header's lines are mostly the same ones."""
    text = "PuTTY-User-Key-File-2: ssh-rsa\n" + "Private-Lines: 999\n" * 300
    line_count = text.count("\n")
    assert _steps(lambda: list(key_file_candidates(text))) <= 20 * line_count


_GREEDY_BLANKS = re.compile(r"\[ \\t\][*+](?!\+)")
"""``[ \\t]*`` or ``[ \\t]+`` in a pattern's text, not possessive."""


LINE_PATTERNS = {
    "label": lines._LABEL,
    "name-value": lines._NAME_VALUE,
    "neutral": lines._NEUTRAL,
    "template": extractions._TEMPLATE_FIELD,
    "awk": extractions._AWK_FIELD,
    "perl": extractions._PERL_CAPTURE,
    "jq": extractions._JQ_PATH,
    "next-line": extractions._NEXT_LINE,
    "lookup": lines._LOOKUP,
    "interpreter": lines._INTERPRETER,
    "log-phrase": extractions._LOG_PHRASE,
}


@pytest.mark.parametrize("pattern", LINE_PATTERNS.values(), ids=LINE_PATTERNS.keys())
def test_the_blank_runs_of_line_patterns_are_possessive(pattern: re.Pattern[str]) -> None:
    """Blank runs with only optional items between them (``[ \\t]*,?[ \\t]*$``) were tried at
    every split of a long run of blanks that a letter ends: as a label, ``x``, 290 blanks and
    ``s`` took 6 s; a ``name: DB_PASSWORD`` or ``A=<token>`` line ending in 8,000 blanks and
    a letter took 9 s and 1 s; a template's ``{{`` and 270 blanks 3 ms a line."""
    assert _GREEDY_BLANKS.search(pattern.pattern) is None


@pytest.mark.parametrize(
    "program",
    [
        "jq -r '" + ".a" * 30000 + "[' x.json",
        "perl -ne 'print" + " " * 60000 + "$1 if /password=(.*)/'",
        "rg -o -r '$1' '" + "(" * 60000 + "api_key=(.*)'",
    ],
    ids=["jq-path", "perl-print", "rg-groups"],
)
def test_an_extraction_is_read_on_a_label_line_s_length_only(program: str) -> None:
    """A jq path, perl's print and rg's pattern are read on the command's last line, cut to
    ``MAX_LABEL_LINE`` characters: 64 KB of a filter cost what its last 1,000 characters do."""

    def kind_steps(command: str) -> int:
        lines._last_line_kind.cache_clear()
        return _steps(lambda: lines._context_kind(command))

    assert _steps(lambda: lines.label_kind(program)) <= 10
    assert kind_steps(program) <= kind_steps(program[-1000:])


@pytest.mark.parametrize("head", ["x ", "a" * 2000], ids=["blank", "long-word"])
def test_a_line_of_pgpass_like_tails_is_read_once_by_the_plain_scan(head: str) -> None:
    """Without Hyperscan, each ``.pgpass``-like tail past its line's first colon read the
    rest of the line for another anchor, and each tail there the line up to it (8 KB of
    ``:1:b:c:d`` after a long word took 18 s)."""
    text = head + ":1:b:c:d" * 300
    lowered = prefilter.ascii_lower(text)
    hyperscan = prefilter.use_hyperscan(False)
    try:
        steps = _steps(lambda: prefilter.anchor_ends(text, lowered))
    finally:
        prefilter.use_hyperscan(hyperscan)
    assert steps <= len(text)


class _MatchOnly:
    """A compiled pattern that can only be matched at a place, never searched (counted)."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.calls = 0

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        self.calls += 1
        return self.pattern.match(string, pos, endpos)


def test_a_cookie_header_s_pairs_are_matched_where_they_start_not_searched_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A search for the next pair read a long value without ``=`` from every position, 256
    characters each (64 KB of such headers took 1.7 s)."""
    pair = _MatchOnly(rules._COOKIE_PAIR)
    monkeypatch.setattr(rules, "_COOKIE_PAIR", pair)
    text = "Cookie: theme=dark; lang=en; " + "a" * 8000 + "\nCookie: " + "b" * 8000
    assert list(rules.cookie_candidates(text)) == []
    assert pair.calls <= 6


@pytest.mark.parametrize("tail", ["", ".eyJ" + "b" * 10 + ".c"], ids=["no-second", "long-first"])
def test_a_jwt_is_tried_once_per_first_segment_not_at_every_eyj_in_it(tail: str) -> None:
    """Each ``eyJ`` after a ``-`` starts a match that read the first segment to its end (64
    KB of ``-eyJ`` took 1 s); the starts that share a segment fail or match together."""
    jwt = next(rule for rule in rules.VENDOR_RULES if rule.name == "jwt")
    text = "-eyJ" * 4000 + tail
    pattern = _MatchOnly(jwt.pattern)
    found = [match.span() for match in rules._jwt_matches(cast("re.Pattern[str]", pattern), text)]
    assert found == [match.span() for match in jwt.pattern.finditer(text)]
    assert pattern.calls <= 2


class _Moves(list[Any]):
    """A list that counts the items its edits move: those after an insertion or a deletion,
    and those an ``extend`` copies (appending, popping the last item or indexing moves none)."""

    def __init__(self, items: list[Any], moved: list[int]) -> None:
        super().__init__(items)
        self.moved = moved

    def insert(self, index: SupportsIndex, item: Any) -> None:
        self.moved[0] += len(self[index:])
        super().insert(index, item)

    def __delitem__(self, key: SupportsIndex | slice) -> None:
        gone = range(len(self))[key]
        self.moved[0] += len(self) - (gone.stop if isinstance(gone, range) else gone + 1)
        super().__delitem__(key)

    def pop(self, index: SupportsIndex = -1) -> Any:
        self.moved[0] += len(self) - 1 - range(len(self))[index]
        return super().pop(index)

    def extend(self, items: Iterable[Any]) -> None:
        added = list(items)
        self.moved[0] += len(added)
        super().extend(added)

    def __iadd__(self, items: Iterable[Any]) -> Self:  # type: ignore[misc]
        self.extend(items)
        return self


def _field_moves(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on each text field the replay makes keeps its lists in ``_Moves``: the
    returned count is what they moved."""
    moved = [0]
    base = keystrokes._Field

    class Counted(base):  # type: ignore[valid-type,misc]
        def __init__(self) -> None:
            super().__init__()
            for name in base.__slots__:
                value = getattr(self, name)
                if isinstance(value, list):
                    setattr(self, name, _Moves(value, moved))

    monkeypatch.setattr(keystrokes, "_Field", Counted)
    return moved


_TAIL = "a" * 1000
KEY_SHAPES = {
    "type-before-a-tail": _TAIL + "<Home>" + "b" * 1000,
    "backspace-in-the-middle": _TAIL + "<Home>" + "b" * 500 + "\b" * 500,
    "delete-run-at-home": _TAIL + "<Home>" + "<Delete>" * 500,
    "ctrl-u-before-a-tail": _TAIL + "<Home>" + "b<ctrl-u>" * 200,
    "ctrl-w-before-a-tail": _TAIL + "<Home>" + "b <ctrl-w>" * 200,
    "home-end-alternating": _TAIL + "<Home><End>" * 200,
    "left-run-then-type": _TAIL + "<Left>" * 200 + "b" * 1000,
}


@pytest.mark.parametrize("text", KEY_SHAPES.values(), ids=KEY_SHAPES.keys())
def test_each_key_replayed_costs_the_same_however_long_the_field_is(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key typed or deleted before the end of the field moved every character after it
    (64,000 characters typed after Home into 64,000 took 2.5-2.9 s); a jump to either end
    must not move the text either."""
    moved = _field_moves(monkeypatch)
    steps = _steps(lambda: keystrokes.typed_text(text))
    assert moved[0] <= len(text)
    assert steps <= 60 * len(text)


def test_a_plain_character_replayed_takes_a_handful_of_lines_not_an_event() -> None:
    """The coalescer replays the last 256 characters typed on every key once a BackSpace or a
    named key is among them: each character went through a key event and the whole per-key
    reading (450 µs a key event); a character typed with nothing held types itself."""
    text = ("abcdefgh" * 32)[:255] + "\b"
    steps = _steps(lambda: keystrokes.typed_text(text))
    assert steps <= 20 * len(text)
