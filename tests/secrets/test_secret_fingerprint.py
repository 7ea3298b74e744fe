"""Fingerprints are keyed HMACs under an installation key that is created once and kept private."""

from __future__ import annotations

import hashlib
import hmac
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from autobot_activity_otel.secrets import fingerprint, redact, secret_id_for
from autobot_activity_otel.secrets.fingerprint import KEY_FILE_NAME, fingerprint_key
from autobot_activity_otel.settings import FINGERPRINT_KEY as KEY_ENV
from autobot_activity_otel.settings import STATE_DIR as STATE_DIR_ENV


def test_a_fingerprint_is_the_hmac_under_the_configured_key() -> None:
    expected = hmac.new(b"tests-secrets-fingerprint-key", b"hunter22", hashlib.sha256).hexdigest()
    assert fingerprint("hunter22") == expected
    assert fingerprint("hunter22") != hashlib.sha256(b"hunter22").hexdigest()


def test_another_key_gives_another_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint("hunter22")
    monkeypatch.setenv(KEY_ENV, "another-installation")
    fingerprint_key.cache_clear()
    assert fingerprint("hunter22") != before


def test_without_a_key_one_is_generated_once_kept_private_and_reused(
    monkeypatch: pytest.MonkeyPatch, fingerprint_env: Path
) -> None:
    monkeypatch.delenv(KEY_ENV)
    fingerprint_key.cache_clear()
    first = fingerprint("hunter22")
    key_file = fingerprint_env / KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) == 64
    fingerprint_key.cache_clear()
    assert fingerprint("hunter22") == first
    # another process of the same installation recognises the same value
    child = subprocess.run(
        [sys.executable, "-c", "from autobot_activity_otel.secrets import fingerprint as f;"
         "print(f('hunter22'))"],
        env={STATE_DIR_ENV: str(fingerprint_env), "PATH": ""},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert child.stdout.strip() == first


def test_the_state_dir_follows_xdg_state_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv(STATE_DIR_ENV)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    fingerprint_key.cache_clear()
    fingerprint("x")
    assert (tmp_path / "xdg" / "autobot-activity" / KEY_FILE_NAME).exists()


def test_an_unwritable_state_dir_falls_back_to_a_process_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.setenv(STATE_DIR_ENV, str(blocker / "state"))
    fingerprint_key.cache_clear()
    assert len(fingerprint("hunter22")) == 64
    assert "per-process key" in caplog.text


def test_pattern_findings_get_a_stable_id_from_their_fingerprint() -> None:
    first = redact("mysql -u root -phunter22 shop", "command").findings[0]
    again = redact("export DB_PASSWORD=hunter22", "command").findings[0]
    assert first.fingerprint == again.fingerprint == fingerprint("hunter22")
    assert first.secret_id == again.secret_id == secret_id_for(first.fingerprint)
    assert first.secret_id.version == 5
