"""What a redaction looks like: only the value replaced, offsets into the original, the URL
convention for ``url.full``, every other occurrence of a found value, and no failure escapes."""

from __future__ import annotations

import logging

import pytest
from support.planted import plant

from autobot_activity_otel.secrets import engine as engine_module
from autobot_activity_otel.secrets import fingerprint, redact


def test_only_the_value_is_replaced_and_the_marker_names_the_rule() -> None:
    result = redact("mysql -u root -pS3cretPw shop", "command")
    assert result.text == "mysql -u root -p[REDACTED:mysql-password] shop"
    [finding] = result.findings
    assert (finding.rule, finding.start, finding.end) == ("mysql-password", 16, 24)


def test_a_quoted_value_is_fingerprinted_as_the_command_receives_it() -> None:
    text = "sshpass -p 'two words' ssh web1"
    result = redact(text, "command")
    assert result.text == "sshpass -p '[REDACTED:sshpass-password]' ssh web1"
    [finding] = result.findings
    assert text[finding.start : finding.end] == "two words"
    assert finding.fingerprint == fingerprint("two words")


def test_offsets_stay_exact_after_characters_that_lower_case_to_two() -> None:
    text = "İİİ note: export API_TOKEN=Unic0deTok"
    [finding] = redact(text, "text").findings
    assert text[finding.start : finding.end] == "Unic0deTok"


def test_url_kind_follows_the_opentelemetry_url_full_convention() -> None:
    url = "https://deploy:Hunter22@ci.example.com/x?sig=Zm9vYmFy&page=2#access_token=FragTok1"
    result = redact(url, "url")
    expected = (
        "https://REDACTED:REDACTED@ci.example.com/x?sig=REDACTED&page=2#access_token=REDACTED"
    )
    assert result.text == expected
    assert [f.rule for f in result.findings] == ["url-password", "url-query", "url-query"]


def test_outside_url_kind_the_user_name_stays_readable() -> None:
    result = redact("psql postgresql://app:Hunter22@db/shop", "command")
    assert result.text == "psql postgresql://app:REDACTED@db/shop"


def test_every_other_occurrence_of_a_found_value_goes_too() -> None:
    text = "export DB_PASSWORD=Hunter22x\nConnecting with Hunter22x ... failed for Hunter22x"
    result = redact(text, "output")
    leaked = "Hunter22x" in result.text
    assert not leaked, "planted secret leaked"
    assert len(result.findings) == 3
    assert len({f.fingerprint for f in result.findings}) == 1


def test_redaction_is_idempotent_on_its_own_output() -> None:
    once = redact("curl -u admin:Pw123456 'https://x.io/?token=abcd1234'", "command")
    assert redact(once.text, "command") == type(once)(once.text, ())


def test_bytes_and_other_objects_are_accepted() -> None:
    raw = b"mysql -pS3cretPw db"
    assert redact(raw, "command").text == "mysql -p[REDACTED:mysql-password] db"  # type: ignore[arg-type]
    assert redact(None).text == ""  # type: ignore[arg-type]
    assert redact(12345).text == "12345"  # type: ignore[arg-type]


def test_an_engine_failure_drops_the_text_and_logs_only_the_type(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str, kind: str, context: str | None) -> None:
        raise RuntimeError(text)

    monkeypatch.setattr(engine_module, "_redact", broken)
    with caplog.at_level(logging.WARNING):
        result = redact(f"password={plant('Planted-99')}", "text")
    assert result.text == "[REDACTED:unredactable]"
    assert result.findings == ()
    leaked = "Planted-99" in caplog.text
    assert not leaked, "planted secret leaked into the log"
    assert "RuntimeError" in caplog.text


TOOL_CASES = {
    "mysql -uroot -pA1b2C3 db": "mysql -uroot -p[REDACTED:mysql-password] db",
    "mysql -u root -p db": "mysql -u root -p db",
    "bash -c 'mysql -pA1b2C3 db'": "bash -c 'mysql -p[REDACTED:mysql-password] db'",
    'ssh web1 "redis-cli -a A1b2C3 ping"': 'ssh web1 "redis-cli -a [REDACTED:redis-password] ping"',
    "sshpass -p A1b2C3 ssh -p 22 web1": "sshpass -p [REDACTED:sshpass-password] ssh -p 22 web1",
    "openssl req -nokeys -passout pass:A1b2C3": (
        "openssl req -nokeys -passout pass:[REDACTED:openssl-password]"
    ),
    "docker run -p 80:80 img && docker login -p A1b2C3": (
        "docker run -p 80:80 img && docker login -p [REDACTED:registry-password]"
    ),
    "/usr/bin/mysql -pA1b2C3": "/usr/bin/mysql -p[REDACTED:mysql-password]",
}


@pytest.mark.parametrize("text", sorted(TOOL_CASES))
def test_tool_rules(text: str) -> None:
    assert redact(text, "command").text == TOOL_CASES[text]
