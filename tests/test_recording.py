"""The record's redaction memo: a clean text is remembered, never a secret it later holds."""

from __future__ import annotations

import uuid

import pytest
from support import planted

from autobot_activity_otel import attributes as attr
from autobot_activity_otel import recording
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.recording import (
    ActivityRecord,
    _clean_texts,
    forget_clean_texts,
    redacted,
)
from autobot_activity_otel.secrets import registered_secret
from autobot_activity_otel.secrets.registry import REGISTRY


def command_line(text: str) -> object:
    record = ActivityRecord(ActivityType.TERMINAL, "execute")
    record.set_text(attr.PROCESS_COMMAND_LINE, text, "command")
    record.end()
    return record.attributes[attr.PROCESS_COMMAND_LINE]


def test_a_text_remembered_clean_is_redacted_once_it_holds_a_registered_secret() -> None:
    secret = planted.plant("Remembered-Then-Registered-77")
    text = f"deploy --token-file /run/{secret}"
    forget_clean_texts()
    assert command_line(text) == text  # nothing known yet: clean, and remembered
    assert (text, "command") in _clean_texts
    secret_id = uuid.uuid4()
    with registered_secret(secret_id, secret):
        recorded = command_line(text)
    assert secret not in str(recorded)
    assert f"[REDACTED:secret:{secret_id}]" in str(recorded)


def test_a_text_with_a_finding_is_never_remembered() -> None:
    forget_clean_texts()
    secret = planted.plant("Pl4nted-Memo-Pass")
    text = f"mysql -p{secret} app"
    for _ in range(2):
        redaction, findings = redacted(text, "command")
        assert secret not in redaction and findings
    assert (text, "command") not in _clean_texts


def test_remembered_texts_are_per_kind_and_bounded_in_length() -> None:
    forget_clean_texts()
    redacted("plain words", "text")
    assert ("plain words", "text") in _clean_texts
    assert ("plain words", "url") not in _clean_texts
    long = "x" * 10_000
    redacted(long, "text")
    assert (long, "text") not in _clean_texts


def test_a_text_outlives_one_fill_of_the_memo_and_is_bounded_by_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What was seen last is still remembered after the memo fills (the row builder reads an
    activity's texts again soon after), and memory stays bounded at two fills."""
    forget_clean_texts()
    monkeypatch.setattr(recording, "_MAX_CLEAN_TEXTS", 100)
    redacted("ls -la /srv/first", "command")
    for index in range(150):  # one fill and then some: the first is in the older generation
        redacted(f"ls -la /srv/{index}", "command")
    assert ("ls -la /srv/first", "command") not in _clean_texts
    redactions: list[str] = []
    real = recording.redact
    monkeypatch.setattr(
        recording, "redact", lambda text, **kw: redactions.append(text) or real(text, **kw)
    )
    assert redacted("ls -la /srv/first", "command") == ("ls -la /srv/first", ())
    assert redactions == [] and ("ls -la /srv/first", "command") in _clean_texts
    for index in range(300):  # two more fills: the first is forgotten, redacted afresh
        redacted(f"ls -la /srv/again/{index}", "command")
    assert len(_clean_texts) + len(recording._older_clean_texts) <= 200
    redactions.clear()
    redacted("ls -la /srv/first", "command")
    assert redactions == ["ls -la /srv/first"]


def test_a_text_in_the_older_generation_is_redacted_once_it_holds_a_registered_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = planted.plant("Older-Generation-Registered-63")
    text = f"deploy --token-file /run/{secret}"
    forget_clean_texts()
    monkeypatch.setattr(recording, "_MAX_CLEAN_TEXTS", 10)
    assert redacted(text, "command") == (text, ())
    for index in range(12):
        redacted(f"echo {index}", "command")
    assert (text, "command") not in _clean_texts  # only the older generation holds it
    with registered_secret(uuid.uuid4(), secret):
        recorded, findings = redacted(text, "command")
    assert secret not in recorded and findings


def test_a_remembered_text_is_not_searched_again_while_the_registry_is_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forget_clean_texts()
    searched: list[str] = []
    find = REGISTRY.find
    monkeypatch.setattr(REGISTRY, "find", lambda text: searched.append(text) or find(text))
    with registered_secret(uuid.uuid4(), planted.plant("Still-Registered-58")):
        with registered_secret(uuid.uuid4(), planted.plant("Unchanged-Registry-41")):
            redacted("git status --short", "command")
            searched.clear()
            redacted("git status --short", "command")
            assert searched == []  # same registry version: the verdict stands
        redacted("git status --short", "command")
        assert searched[:1] == ["git status --short"]  # one forgotten since: searched again


def test_a_command_remembered_clean_is_redacted_once_a_secret_split_in_it_is_registered() -> None:
    """A command can hold a registered value split over words or quotes (``printf %s Abc
    Def``, ``'Abc''Def'``), which the redactor finds only with the blanks and quotes taken
    out: the memo's check of a remembered command must look there too."""
    secret = planted.plant("Split9Kq-Memo4Wz")
    head, tail = secret[:8], secret[8:]
    for text in (f"printf %s {head} {tail} > key", f"echo '{head}''{tail}'"):
        forget_clean_texts()
        remembered = command_line(text) == text
        secret_id = uuid.uuid4()
        with registered_secret(secret_id, secret):
            recorded = str(command_line(text))
        leaked = head in recorded or tail in recorded
        assert remembered and not leaked and f"[REDACTED:secret:{secret_id}]" in recorded
