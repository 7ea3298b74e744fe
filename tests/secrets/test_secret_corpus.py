"""The labelled corpus: every planted secret is found and removed, no look-alike is flagged.

Ids name the case by number and expected rule, never by text, so a failure prints no secret.
"""

from __future__ import annotations

import pytest
from secret_corpus import NEGATIVES, POSITIVES, Case

from autobot_activity_otel.secrets import redact

MIN_RECALL = 0.97
MAX_FALSE_POSITIVE_RATE = 0.02


def _found(case: Case) -> bool:
    result = redact(case.text, case.kind, context=case.context)
    return bool(result.findings) and case.secret not in result.text


def test_the_corpus_is_large_and_balanced() -> None:
    assert len(POSITIVES) + len(NEGATIVES) >= 150
    assert len(NEGATIVES) >= 80
    rules = {case.rule for case in POSITIVES if case.rule}
    assert len(rules) >= 30


@pytest.mark.parametrize(
    "case", POSITIVES, ids=[f"pos{n:03d}-{c.rule or c.kind}" for n, c in enumerate(POSITIVES)]
)
def test_a_planted_secret_is_found_and_gone(case: Case) -> None:
    result = redact(case.text, case.kind, context=case.context)
    leaked = case.secret in result.text
    assert not leaked, "planted secret leaked"
    assert result.findings
    if case.rule is not None:
        rules = {finding.rule for finding in result.findings}
        assert case.rule in rules, sorted(rules)


@pytest.mark.parametrize(
    "case", NEGATIVES, ids=[f"neg{n:03d}-{c.kind}" for n, c in enumerate(NEGATIVES)]
)
def test_a_look_alike_is_left_alone(case: Case) -> None:
    result = redact(case.text, case.kind, context=case.context)
    assert [finding.rule for finding in result.findings] == []
    assert result.text == case.text


def test_recall_and_false_positive_rate() -> None:
    recall = sum(_found(case) for case in POSITIVES) / len(POSITIVES)
    flagged = sum(
        bool(redact(case.text, case.kind, context=case.context).findings) for case in NEGATIVES
    )
    assert recall >= MIN_RECALL
    assert flagged / len(NEGATIVES) <= MAX_FALSE_POSITIVE_RATE
