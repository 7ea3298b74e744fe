"""Properties of ``redact`` on generated input: idempotent, leaves no found value, exact offsets,
never raises, and finishes pathological megabyte inputs in bounded time (no regex backtracking);
and the fast forms of the label search and the keystroke replay answer as the plain ones do.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.keystroke_reference import ListField

from autobot_activity_otel.secrets import (
    KeyEvent,
    Redaction,
    keystrokes,
    redact,
    registered_secret,
    typed_fields,
)
from autobot_activity_otel.secrets.engine import UNREDACTABLE, repeatable
from autobot_activity_otel.secrets.lines import _LABEL, _LONGEST_NAME, _label_start
from autobot_activity_otel.secrets.rules import MARKER, URL_REDACTED

KINDS = ("command", "output", "url", "keystrokes", "text")
FRAGMENTS = (
    "mysql", "-p", "-pS3cret9", "--password", "--password=", "sshpass", "docker", "login",
    "htpasswd", "-b", "-nb", "smbclient", "-U", "bob%", "openssl", "pass:", "curl", "-u",
    "admin:", "redis-cli", "-a", "kubectl", "secret", "--from-literal=", "vault", "echo",
    "--password-stdin", "<<<", "|", "||", "&&", ";", "\n", "'", '"', "\\", "$PW", "${TOKEN}",
    "=", ":", ": ", "://", "@", "?token=", "&key=", "#access_token=", "password", "TOKEN",
    "API_KEY", "export", "Authorization: Bearer ", "X-API-Key: ", '"password": "',
    "IDENTIFIED BY '", "PASSWORD '", "[REDACTED:mysql-password]", "REDACTED", "[REDACTED",
    "ghp_", "AKIA", "eyJ", "sk-", "hvs.", "s.", "xoxb-", "-----BEGIN RSA PRIVATE KEY-----",
    "-----END RSA PRIVATE KEY-----", "\x00", "İ", "é", "🔑", " ", "\t", "`", "$(",
    "PGPASSWORD=", "sudo", "env", "-S", "printf", "https://", "postgresql://u:", "@db/",
    "ssh", "bash -c '", "git config", "set", "npm", "aws", "login", "-w", "ldapsearch",
    "secret_key", "self.", "(", ")", "{0}", "<password>", "DB_PASSWORD", "--api-key",
)  # fmt: skip
_words = st.text(alphabet="abcXYZ0189_-./+=%", min_size=1, max_size=12)
shellish = st.lists(st.sampled_from(FRAGMENTS) | _words, max_size=24).map("".join)
texts = shellish | st.text(max_size=200)
kinds = st.sampled_from(KINDS)
PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _replacement(rule: str, secret_id: uuid.UUID | None) -> str:
    if rule == "known-secret":
        return f"[REDACTED:secret:{secret_id}]"
    if rule.startswith("url-"):
        return URL_REDACTED
    return f"[REDACTED:{rule}]"


def _check(text: str, kind: str, result: Redaction) -> None:
    assert isinstance(result.text, str)
    assert result.text != UNREDACTABLE or text == UNREDACTABLE  # the engine did not fail
    position = 0
    rebuilt: list[str] = []
    for finding in result.findings:
        assert position <= finding.start < finding.end <= len(text)
        assert len(finding.fingerprint) == 64
        assert finding.secret_id is not None
        rebuilt += [text[position : finding.start], _replacement(finding.rule, finding.secret_id)]
        position = finding.end
    rebuilt.append(text[position:])
    if kind != "url":  # url also replaces user names (no finding), as OpenTelemetry asks
        assert "".join(rebuilt) == result.text
    spans = [(f.start, f.end) for f in result.findings]
    spans += [(m.start(), m.end()) for m in MARKER.finditer(text)]
    uncovered = [
        (at, at + len(value))
        for value in {text[f.start : f.end] for f in result.findings if f.rule != "known-secret"}
        if repeatable(value)
        for at in _whole_occurrences(value, text)
        if not any(start < at + len(value) and at < end for start, end in spans)
    ]
    assert not uncovered, "a found value survived elsewhere in the text"


def _whole_occurrences(value: str, text: str) -> list[int]:
    """Where ``value`` occurs in ``text`` not glued to letters or digits on either side."""
    found = []
    at = text.find(value)
    while at >= 0:
        end = at + len(value)
        if not (text[at - 1 : at].isalnum() or text[end : end + 1].isalnum()):
            found.append(at)
        at = text.find(value, at + 1)
    return found


@PROPERTY
@given(text=texts, kind=kinds)
def test_redaction_is_idempotent_exact_and_complete(text: str, kind: str) -> None:
    first = redact(text, kind)
    _check(text, kind, first)
    second = redact(first.text, kind)
    assert second.text == first.text
    assert second.findings == ()


@PROPERTY
@given(
    secret=st.text(min_size=4, max_size=40).filter(
        lambda s: s.strip() == s and "REDACTED" not in s  # a marker's own word is no secret
    ),
    before=texts,
    after=texts,
    kind=kinds,
)
def test_a_registered_value_never_survives(secret: str, before: str, after: str, kind: str) -> None:
    secret_id = uuid.uuid4()
    text = f"{before} {secret} {after}"
    with registered_secret(secret_id, secret):
        result = redact(text, kind)
    leaked = secret in MARKER.sub("", result.text)
    assert not leaked, "registered secret leaked"
    assert secret_id in {finding.secret_id for finding in result.findings}


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.binary(max_size=64), st.integers(), st.none(), st.floats()))
def test_anything_that_is_not_a_string_is_handled(value: object) -> None:
    assert isinstance(redact(value).text, str)  # type: ignore[arg-type]


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging: catastrophic backtracking on a megabyte takes hours, not seconds."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError("redaction did not finish: unbounded work on a pathological input")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


MEGABYTE = 1 << 20
PATHOLOGICAL = {
    "one-word": ("a" * MEGABYTE, "command"),
    "keywords": ("password" * (MEGABYTE // 8), "output"),
    "assignments": ("password=x " * (MEGABYTE // 11), "text"),
    "colons": ("token: " * (MEGABYTE // 7), "output"),
    "schemes": ("a://b:" * (MEGABYTE // 6), "url"),
    "userinfo": ("https://u:" + "p" * MEGABYTE, "url"),
    "queries": ("?token=" * (MEGABYTE // 7), "url"),
    "quotes": ("'\"" * (MEGABYTE // 2), "command"),
    "open-quote": ("mysql -p'" + "x " * (MEGABYTE // 2), "command"),
    "flags": ("mysql -p " * (MEGABYTE // 9), "command"),
    "tools": ("sshpass " * (MEGABYTE // 8), "output"),
    "pipes": ("echo x | docker login --password-stdin " * (MEGABYTE // 40), "command"),
    "backslashes": ("\\" * MEGABYTE, "keystrokes"),
    "pem": ("-----BEGIN RSA PRIVATE KEY-----" * (MEGABYTE // 31), "output"),
    "jwt-prefix": ("eyJ" * (MEGABYTE // 3), "text"),
    "token-run": ("ghp_" + "A" * MEGABYTE, "text"),
    "markers": ("[REDACTED:x]" * (MEGABYTE // 12), "text"),
    "nul": ("\x00" * MEGABYTE, "output"),
    "unicode": ("İ🔑é" * (MEGABYTE // 3), "text"),
    "secret-lines": ("curl -u a:b\n" * (MEGABYTE // 48), "output"),
}
"""A megabyte each (``secret-lines``: a quarter, since every line holds a secret to hash)."""


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_pathological_megabyte_finishes(name: str) -> None:
    text, kind = PATHOLOGICAL[name]
    with deadline(30):
        result = redact(text, kind)
    assert result.text != UNREDACTABLE


LABEL_PIECES = (
    "API", "api", "key", "Keys", "secret", "recovery", "codes", "one-time", "Password", "pin",
    "DB_PASSWORD", "printenv", "TOKEN", "x", "9", "_", "-", ".", " ", "  ", "\t", "(", ")",
    "again", "is", "IS", "are", "was", "Thesis", ":", "=", "$", "#", "/", "\u0130", "\u017f",
    "\u0131", "\u212a", "é", "x" * 40, "9" * 40,
)  # fmt: skip
labels = st.lists(st.sampled_from(LABEL_PIECES), max_size=14).map("".join)


@given(labels)
@example("Your recovery codes:")
@example("Your new API key is:")
@example("Password (again):")
@example("git log --oneline -n 12345")
@example("client  secret")
@example("token " + "x" * 250)
@example("token é" + "x" * 250)
@example("a" * 290)
@example("x" * 100 + "is:")
@example("api " + "k" * 90 + " key:")
@PROPERTY
def test_a_label_is_searched_for_from_where_one_can_start(line: str) -> None:
    """The label search that skips the positions no label can start at finds what the full
    search finds (the same span and name), so ``label_kind`` answers as before."""
    full = _LABEL.search(line)
    skipping = _LABEL.search(line, _label_start(line))
    assert (full and (full.span(), full.groups())) == (
        skipping and (skipping.span(), skipping.groups())
    )


@pytest.mark.parametrize("line", ["token " + "x" * 250, "token é" + "x" * 250, "a" * 290])
def test_a_label_search_in_a_long_word_starts_where_a_name_can_still_end_the_line(
    line: str,
) -> None:
    """A line ending in a long word is searched from the last ``_LONGEST_NAME`` characters:
    from the word's start, every position was tried 80 times (3 ms a line; a 1,000-line
    output of them held the recording for 4 s)."""
    assert _label_start(line) >= len(line) - _LONGEST_NAME
    assert _LABEL.search(line, _label_start(line)) is not None  # the same (property above)


KEYS = (
    *"ab  A1-", "BackSpace", "bsp", "Delete", "Left", "Right", "Home", "End", "ctrl-u",
    "ctrl-w", "ctrl-h", "ctrl-a", "ctrl-e", "ctrl-x", "alt-f", "shift-b", "Caps_Lock", "Tab",
    "Return", "Escape", "F5", KeyEvent("Shift_L", "down"), KeyEvent("Shift_L", "up"),
    KeyEvent("Control_L", "down"), KeyEvent("Control_L", "up"),
)  # fmt: skip
key_sequences = st.lists(st.sampled_from(KEYS), max_size=80)


@settings(max_examples=2000, deadline=None)
@given(key_sequences)
@example(["a", "b", "Home", "c", "End", "d", "Left", "Left", "BackSpace", "Delete", "e"])
@example([*"one two  ", "Left", "ctrl-w", "Home", "Right", "ctrl-u", "Return", "x"])
def test_the_key_replay_leaves_what_a_list_of_characters_leaves(
    events: list[KeyEvent | str],
) -> None:
    """The linked-list field ends up holding what the plain list with a cursor index held,
    for every key sequence (checked on 100,000 when it was introduced)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keystrokes, "_Field", ListField)
        expected = typed_fields(events)
    assert typed_fields(events) == expected
