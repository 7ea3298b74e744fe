"""The engine's parts: both anchor scans give the same redactions, every tool is anchored,
keystrokes are replayed per field, the user hooks work, own secrets are registered, and the
exporter stores a span's name, status and events redacted in ``metadata``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from adversarial import CASES
from secret_corpus import CORPUS
from support import IN_CI, planted

from autobot_activity_exporters.rows import SPAN_EVENTS, SPAN_NAME, SPAN_STATUS, rows_from_activity
from autobot_activity_otel import settings
from autobot_activity_otel.secrets import (
    KeyEvent,
    add_rule,
    add_secret_names,
    own_secret_id,
    prefilter,
    redact,
    register_own_secrets,
    registered_secret,
    typed_fields,
    unregister_secret,
)
from autobot_activity_otel.secrets.keystrokes import typed_text
from autobot_activity_otel.secrets.tools import TOOLS
from autobot_activity_otel.snapshot import ActivitySnapshot, SnapshotEvent, StatusCode


@pytest.fixture
def both_scans() -> Iterator[None]:
    from support import require

    require(prefilter._hyperscan is not None, "the fast extra (hyperscan) is not installed")
    yield
    prefilter.use_hyperscan(True)


def _texts() -> list[tuple[str, str]]:
    texts = [(case.text, case.kind) for case in CORPUS]
    output = "\n".join(text for text, _ in texts)
    texts.append((output, "output"))  # one long output: anchors found all over it
    texts.append((output * 3, "text"))
    texts.append(("\n".join(f"{text}  # {n}" for n, (text, _) in enumerate(texts[:80])), "output"))
    texts.extend((edge, kind) for edge in EDGES for kind in ("output", "command"))
    return texts


def test_hyperscan_and_re_give_the_same_redactions_on_the_whole_corpus(both_scans: None) -> None:
    texts = _texts()
    assert prefilter.use_hyperscan(True)
    fast = [redact(text, kind) for text, kind in texts]
    prefilter.use_hyperscan(False)
    plain = [redact(text, kind) for text, kind in texts]
    assert fast == plain
    assert sum(len(result.findings) for result in fast) > len(CORPUS) // 2


EDGES = (
    "db.internal:5432:shop:app:PgPw-1\n*:*:*:replica:Rp-2",  # .pgpass lines
    "a b:5432:token:x:y\nnot a host line:1:2:3:4 pass",  # a .pgpass tail, other anchors
    "at 12:30:45:67:89 done\nk:1:a:b:c key",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----",
    "----- separator -----\nunrar x -pRarPw1 a.rar; 7za x -p7zPw b.7z; zipcloak c.zip",
    "AKIAQ3EGUSB4XK7PLM2Z ASIAQ3EGUSB4XK7PLM2Z x.sk-proj-4fT9kQ2zLw8Rx1Nm5P",
)


def test_the_two_scans_select_the_same_lines(both_scans: None) -> None:
    text = "\n".join(case.text for case in CORPUS) + "\n" + "\n".join(c.name for c in CASES)
    text += "\n" + "\n".join(EDGES)
    lowered = prefilter.ascii_lower(text)
    prefilter.use_hyperscan(True)
    fast = prefilter.regions(text, prefilter.anchor_ends(text, lowered))
    prefilter.use_hyperscan(False)
    plain = prefilter.regions(text, prefilter.anchor_ends(text, lowered))
    assert fast == plain and fast


def test_text_without_an_anchor_is_not_read_by_any_rule() -> None:
    log = "\n".join(
        f"2026-11-27T08:00:{n % 60:02d}Z INFO worker[{n}] job {n} done" for n in range(500)
    )
    assert prefilter.anchor_ends(log, prefilter.ascii_lower(log)) == []
    assert redact(log, "output").text == log


_READING_TOOLS = [
    tool for tool in TOOLS if tool.flags or tool.subcommands or tool.env or tool.stdin_flags
]
"""The tools with a secret argument (the others, wrappers and value flags only, shape reading)."""


@pytest.mark.parametrize(
    "tool", _READING_TOOLS, ids=lambda tool: f"{tool.rule}-{sorted(tool.names)[0]}"
)
def test_every_tool_with_a_secret_argument_is_anchored(tool: object) -> None:
    """A command naming the tool and its secret flag is read (else its rules never run)."""
    from autobot_activity_otel.secrets.tools import Tool

    assert isinstance(tool, Tool)
    name = sorted(tool.names)[0]
    subcommand = f" {sorted(tool.subcommands)[0]}" if tool.subcommands else ""
    if tool.flags:
        text = f"{name}{subcommand} {next(iter(tool.flags))} Zq9-value-x"
    elif tool.named_values:
        text = f"{name}{subcommand} a_password Zq9-value-x"
    elif tool.subcommands:
        text = f"{name}{subcommand} a b c Zq9-value-x".replace("mc ", "mc alias ")
    elif tool.env:
        text = f"{sorted(tool.env)[0]}=Zq9-value-x {name}"
    else:
        text = f"echo Zq9-value-x | {name} {next(iter(tool.stdin_flags))}"
    assert prefilter.has_anchor(text, prefilter.ascii_lower(text)), text


# --- keystrokes ---------------------------------------------------------------------------------


def test_backspace_and_cursor_keys_edit_the_field() -> None:
    events = [*"Hunter3", "BackSpace", *"22", "Left", "Left", "Delete", "2", "End", "!"]
    assert typed_fields(events) == ["Hunter22!"]


def test_shift_held_through_key_down_and_key_up_and_caps_lock() -> None:
    events = [KeyEvent("Shift_L", "down"), "h", "1", KeyEvent("Shift_L", "up"), "i"]
    assert typed_fields(events) == ["H!i"]
    assert typed_fields(["Caps_Lock", "a", "shift-b", "Caps_Lock", "c", "shift-1"]) == ["Abc!"]


def test_tab_return_and_escape_end_fields_and_a_pause_does_not() -> None:
    events = ["u", "s", "e", "r", "Tab", "p", "w", "Return", "Escape", "x"]
    assert typed_fields(events) == ["user", "pw", "x"]
    assert typed_fields([*"Sec", KeyEvent("r"), *"et"]) == ["Secret"]


def test_control_keys_clear_and_modifier_combinations_type_nothing() -> None:
    assert typed_fields([*"wrong", "ctrl-u", *"right"]) == ["right"]
    assert typed_fields([*"one two", "ctrl-w", "ctrl-a", "X", "alt-f"]) == ["Xone "]


@pytest.mark.parametrize(
    ("text", "typed"),
    [
        ("Abcdx<BackSpace>efg", "Abcdefg"),
        ("<Shift_L>abc<shift>d", "AbcD"),
        ("<+Shift_L>ab<-Shift_L>c\t", "ABc\t"),
        ("abce<Left>d<Return>", "abcde\n"),
        ("oops\x7f\x7f\x7f\x7fok", "ok"),
        ("ls -la <html> x<F5>y\n", "ls -la <html> x<F5>y\n"),  # no key named: as it is
        ("a < b > c", "a < b > c"),
        ("<b>bold</b> x<BackSpace>y", "<b>bold</b> y"),  # a character in <> is text
    ],
)
def test_typed_text_with_named_keys_is_what_the_fields_hold(text: str, typed: str) -> None:
    assert typed_text(text) == typed


def test_a_secret_typed_with_corrections_is_redacted_once_replayed() -> None:
    secret = planted.plant("Kb7-Typed-Corr-42")
    events = [*secret[:5], "x", "bsp", *secret[5:]]
    with registered_secret(uuid.uuid4(), secret):
        (field,) = typed_fields(events)
        result = redact(field, "keystrokes")
    assert field == secret
    leaked = secret in result.text
    assert not leaked and result.findings


# --- hooks --------------------------------------------------------------------------------------


def test_a_user_rule_is_anchored_by_its_keywords_and_never_reports_the_value() -> None:
    secret = planted.plant("ACME-7Hq2-Lk9z-Wv3x")
    add_rule("acme-license", r"\bACME-[0-9A-Za-z]{4}(?:-[0-9A-Za-z]{4}){2}\b", keywords=["acme-"])
    result = redact(f"license ok: {secret}\n" + "filler line\n" * 200, "output")
    assert [finding.rule for finding in result.findings] == ["acme-license"]
    leaked = secret in result.text
    assert not leaked
    assert secret not in repr(result.findings)
    with pytest.raises(ValueError):
        add_rule("unanchored", r"x+", keywords=[])


def test_added_secret_names_make_their_values_secret() -> None:
    secret = planted.plant("Ck9-Custom-Name-31")
    assert not redact(f"FROBNICATOR={secret}", "command").findings
    add_secret_names("FROBNICATOR")
    assert redact(f"FROBNICATOR={secret}", "command").text == "FROBNICATOR=[REDACTED:assignment]"


def test_a_name_added_later_makes_a_command_label_its_output_in_the_rows() -> None:
    """The rows ask whether a command labels its output once per command (remembered): a
    name added since is heard (the memory is dropped)."""
    secret = planted.plant("Qx7-Printed-Later-52")

    def output() -> object:
        attributes = {
            "activity.type": "terminal",
            "activity.id": str(uuid.uuid4()),
            "activity.action": "execute",
            "process.command_line": "printenv QUUXWORD",
            "activity.terminal.output": f"{secret}\n",
        }
        rows = rows_from_activity(_snapshot(attributes=attributes))
        assert rows is not None
        return rows.activity["output"]

    assert output() == f"{secret}\n"
    add_secret_names("QUUXWORD")
    assert output() == "[REDACTED:labelled-value]\n"


def test_a_name_added_later_makes_an_extraction_of_it_print_a_secret() -> None:
    """An extraction is read only past the keywords a secret's name needs: the rules' own,
    which an added name joins (``grep -oP '(?<=ZORBLEVAL=).*'`` then prints a secret)."""
    secret = planted.plant("Zb4-Extracted-Later-63")
    command = "grep -oP '(?<=ZORBLEVAL=).*' app.ini"
    assert redact(f"{secret}\n", "output", context=command).text == f"{secret}\n"
    add_secret_names("ZORBLEVAL")
    assert redact(f"{secret}\n", "output", context=command).text == "[REDACTED:labelled-value]\n"


# --- own secrets --------------------------------------------------------------------------------


def test_own_secrets_are_registered_under_stable_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    key = planted.plant("own-key-Zk3u9XwQ2rT8vLm1Np4s")
    password = planted.plant("Own-Db-Pw-7731")
    token = planted.plant("own-ingest-Hk3u9XwQ2r")
    header = planted.plant("otlp-Bearer-Tok-8812")
    monkeypatch.setenv(settings.FINGERPRINT_KEY, key)
    monkeypatch.setenv(settings.DATABASE_URL, f"postgresql://writer:{password}@db/audit")
    monkeypatch.setenv("AUTOBOT_ACTIVITY_INGEST_TOKEN", token)
    monkeypatch.setenv(settings.OTLP_HEADERS[0], f"authorization=Bearer%20{header}")
    from autobot_activity_otel.secrets.fingerprint import fingerprint_key

    fingerprint_key.cache_clear()
    ids = register_own_secrets(extra={"service-token": "minted-Tok-55912"})
    planted.plant("minted-Tok-55912")
    try:
        assert own_secret_id(settings.FINGERPRINT_KEY) in ids
        assert own_secret_id(f"{settings.DATABASE_URL}#password") in ids
        assert own_secret_id("service-token") in ids
        shown = "\n".join([key, password, token, header, "minted-Tok-55912", os.getcwd()])
        result = redact(f"$ env\n{shown}\n", "output")
        for value in (key, password, token, header, "minted-Tok-55912"):
            leaked = value in result.text
            assert not leaked
        assert {finding.secret_id for finding in result.findings} <= set(ids)
    finally:
        for secret_id in ids:
            unregister_secret(secret_id)


# --- the exporter's re-check --------------------------------------------------------------------


def _snapshot(**fields: object) -> ActivitySnapshot:
    values: dict[str, object] = {
        "name": "terminal execute",
        "trace_id": 1,
        "span_id": 2,
        "start_ns": 1_700_000_000_000_000_000,
        "end_ns": 1_700_000_000_100_000_000,
        "attributes": {
            "activity.type": "terminal",
            "activity.id": str(uuid.uuid4()),
            "activity.action": "execute",
        },
    }
    values.update(fields)
    return ActivitySnapshot(**values)  # type: ignore[arg-type]


def test_a_default_span_name_and_no_status_or_events_add_nothing() -> None:
    rows = rows_from_activity(_snapshot())
    assert rows is not None
    assert not {SPAN_NAME, SPAN_STATUS, SPAN_EVENTS} & set(rows.activity["metadata"])


def test_name_status_and_events_land_in_metadata_redacted_and_audited() -> None:
    secret = planted.plant("Span-Field-Pw-4471")
    rows = rows_from_activity(
        _snapshot(
            name=f"login password={secret}",
            status_code=StatusCode.ERROR,
            status_description=f"failed for password={secret}",
            events=(SnapshotEvent(f"retry password={secret}", 5, {"db.password": secret}),),
        )
    )
    assert rows is not None
    metadata = rows.activity["metadata"]
    assert metadata[SPAN_NAME] == "login password=[REDACTED:assignment]"
    assert metadata[SPAN_STATUS] == "failed for password=[REDACTED:assignment]"
    assert metadata[SPAN_EVENTS] == [
        {
            "name": "retry password=[REDACTED:assignment]",
            "time_unix_nano": 5,
            "attributes": {"db.password": "[REDACTED:assignment]"},
        }
    ]
    fields = sorted(row["metadata"]["field"] for row in rows.secret_usage)
    assert fields == sorted([SPAN_NAME, SPAN_STATUS, SPAN_EVENTS, SPAN_EVENTS])


def test_an_argv_array_is_read_as_one_command() -> None:
    secret = planted.plant("Argv-Array-Pw-91")
    attributes = {
        "activity.type": "terminal",
        "activity.id": str(uuid.uuid4()),
        "activity.action": "execute",
        "process.command_args": ("sshpass", "-p", secret, "ssh", "it's here"),
    }
    rows = rows_from_activity(_snapshot(attributes=attributes))
    assert rows is not None
    assert rows.activity["metadata"]["process.command_args"] == [
        "sshpass",
        "-p",
        "[REDACTED:sshpass-password]",
        "ssh",
        "it's here",
    ]


def test_ci_installs_the_fast_extra() -> None:
    if IN_CI:
        assert prefilter._hyperscan is not None, "the dev extra must install hyperscan"


def test_the_single_finding_shortcut_gives_what_the_general_path_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autobot_activity_otel.secrets import engine

    texts = _texts()
    quick = [redact(text, kind) for text, kind in texts]
    monkeypatch.setattr(engine, "_single", lambda *_: None)
    general = [redact(text, kind) for text, kind in texts]
    assert quick == general
    assert sum(len(result.findings) == 1 for result in quick) > 100  # the shortcut was taken
