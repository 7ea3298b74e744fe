"""Every secrets test runs with its own fingerprint key and state directory, never the real home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autobot_activity_otel.secrets.fingerprint import KEY_ENV, STATE_DIR_ENV, fingerprint_key


@pytest.fixture(autouse=True)
def fingerprint_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    monkeypatch.setenv(KEY_ENV, "tests-secrets-fingerprint-key")
    monkeypatch.setenv(STATE_DIR_ENV, str(state))
    fingerprint_key.cache_clear()
    yield state
    fingerprint_key.cache_clear()
