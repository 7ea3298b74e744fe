"""Adversarial inputs cost the engine work in proportion to their length: each test bounds
the work a rule does on an input shaped to multiply it (the characters a search reads, the
lines a loop walks), never a time. The timings are in docs/secrets.md ("Worst cases")."""

from __future__ import annotations

import re
import sys

import pytest

from autobot_activity_otel.secrets import rules


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
