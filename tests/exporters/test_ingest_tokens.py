"""Ingest tokens: the file holds hashes only, must be private, and names each token's tenancy;
``token new`` prints a token once."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from autobot_activity_exporters.cli import main
from autobot_activity_exporters.service.tokens import (
    TOKEN_PREFIX,
    TokenFileError,
    TokenRegistry,
    load_tokens,
    new_token,
)

ORG, TEAM1, TEAM2 = uuid.UUID(int=0x101), uuid.UUID(int=0x201), uuid.UUID(int=0x202)


def write_private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_new_tokens_are_appended_hashed_and_authenticate(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    first = new_token(path, "agents-eu", ORG, [TEAM1, TEAM2, TEAM1])
    second = new_token(path, "agents-us", ORG, [])
    assert first.startswith(TOKEN_PREFIX) and first != second
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = path.read_text()
    assert first not in text and second not in text
    assert hashlib.sha256(first.encode()).hexdigest() in text
    tokens = load_tokens(path)
    assert [(t.name, t.org_id, t.team_ids) for t in tokens] == [
        ("agents-eu", ORG, frozenset({TEAM1, TEAM2})),
        ("agents-us", ORG, frozenset()),
    ]
    registry = TokenRegistry(path)
    assert registry.authenticate(f"Bearer {first}").name == "agents-eu"  # type: ignore[union-attr]
    assert registry.authenticate(f"bearer  {second} ").name == "agents-us"  # type: ignore[union-attr]
    for wrong in (None, "", first, f"Basic {first}", f"Bearer {first}x", "Bearer "):
        assert registry.authenticate(wrong) is None


def test_a_second_entry_of_the_same_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    new_token(path, "agents", ORG, [])
    with pytest.raises(TokenFileError, match="already has an entry named"):
        new_token(path, "agents", ORG, [])
    assert len(load_tokens(path)) == 1


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660])
def test_a_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "tokens.toml"
    new_token(path, "agents", ORG, [])
    path.chmod(mode)
    with pytest.raises(TokenFileError, match="chmod 600"):
        load_tokens(path)
    with pytest.raises(TokenFileError, match="chmod 600"):
        new_token(path, "more", ORG, [])  # nor is anything added to it


HASH = "0" * 64


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("tokens = 3", "array of tables"),
        ("[[tokens]]\nsha256 = '" + HASH + f"'\norg_id = '{ORG}'", "name"),
        (f"[[tokens]]\nname = 'a'\nsha256 = 'abc'\norg_id = '{ORG}'", "64 hex digits"),
        ("[[tokens]]\nname = 'a'\nsha256 = '" + HASH + "'\norg_id = 'nope'", "org_id must be a"),
        (
            "[[tokens]]\nname = 'a'\nsha256 = '" + HASH + f"'\norg_id = '{ORG}'\nteam_ids = 'x'",
            "team_ids",
        ),
        (
            "[[tokens]]\nname = 'a'\nsha256 = '" + HASH + f"'\norg_id = '{ORG}'\n"
            "[[tokens]]\nname = 'b'\nsha256 = '" + HASH + f"'\norg_id = '{ORG}'",
            "same sha256",
        ),
        ("[[tokens]\n", "not valid TOML"),
    ],
)
def test_malformed_files_are_refused_with_the_reason(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(TokenFileError, match=problem):
        load_tokens(write_private(tmp_path / "tokens.toml", text))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TokenFileError, match="No such file"):
        load_tokens(tmp_path / "absent.toml")


def test_reload_takes_a_new_file_and_keeps_the_old_tokens_when_the_new_one_is_bad(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tokens.toml"
    old = new_token(path, "old", ORG, [])
    registry = TokenRegistry(path)
    new = new_token(path, "new", ORG, [])
    assert registry.authenticate(f"Bearer {new}") is None
    assert registry.reload()
    assert registry.authenticate(f"Bearer {new}") is not None
    path.chmod(0o644)
    assert not registry.reload()
    assert registry.authenticate(f"Bearer {old}") is not None


def test_token_new_command_prints_the_token_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.toml"
    argv = ["token", "new", "--name", "ci", "--org", str(ORG), "--team", str(TEAM1)]
    assert main([*argv, "--tokens", str(path)]) == 0
    printed = capsys.readouterr().out
    token = printed.split()[0]
    assert token.startswith(TOKEN_PREFIX)
    assert TokenRegistry(path).authenticate(f"Bearer {token}").team_ids == {TEAM1}  # type: ignore[union-attr]
    assert main([*argv, "--tokens", str(path)]) == 2  # the name is taken
    assert "already has an entry" in capsys.readouterr().err
