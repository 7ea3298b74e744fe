"""Ingest tokens: who may append, for which organisation and teams.

The token file is TOML, one ``[[tokens]]`` table per sender::

    [[tokens]]
    name = "agents-eu"                  # shown in logs and metrics, never the token
    sha256 = "9f86d08…"                 # hex SHA-256 of the bearer token: the file holds no secret
    org_id = "0192f0c1-…"               # spans are appended for this org only
    team_ids = ["0192f0c1-…"]           # optional: the only teams its spans may name

The file must be private to its owner (no group or other permission bits): whoever can
write it can mint a sender for any org. ``autobot-activity token new`` creates it so.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
import tomllib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from autobot_activity_otel.ids import parse_uuid

_logger = logging.getLogger(__name__)

TOKEN_PREFIX = "autobot_ingest_"
"""Every token starts with this, so secret scanners (and people) can tell what it is."""
_BEARER = "bearer "


class TokenFileError(ValueError):
    """The token file cannot be used; the message says why (never a token or a hash)."""


@dataclass(frozen=True, slots=True)
class IngestToken:
    """One sender's credential: its name, the SHA-256 of its token and its tenancy."""

    name: str
    sha256: bytes
    org_id: uuid.UUID
    team_ids: frozenset[uuid.UUID] = frozenset()

    @property
    def org_text(self) -> str:
        """The org id as a span attribute carries it."""
        return str(self.org_id)

    @property
    def only_team(self) -> str | None:
        """The token's team as a span attribute, when it is for exactly one."""
        return str(next(iter(self.team_ids))) if len(self.team_ids) == 1 else None


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def load_tokens(path: Path) -> tuple[IngestToken, ...]:
    """The tokens of ``path``; ``TokenFileError`` if it is shared, malformed or ambiguous."""
    try:
        info = path.stat()
        raw = path.read_bytes()
    except OSError as exc:
        raise TokenFileError(f"token file {path}: {exc.strerror or type(exc).__name__}") from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise TokenFileError(
            f"token file {path} is open to group or others (mode"
            f" {stat.S_IMODE(info.st_mode):o}): run `chmod 600 {path}`"
        )
    try:
        document = tomllib.loads(raw.decode())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TokenFileError(f"token file {path} is not valid TOML: {exc}") from None
    entries = document.get("tokens", [])
    if not isinstance(entries, list):
        raise TokenFileError(f"token file {path}: `tokens` must be an array of tables")
    tokens = tuple(_entry(path, index, entry) for index, entry in enumerate(entries, 1))
    for what in ("name", "sha256"):
        values = [getattr(token, what) for token in tokens]
        if len(set(values)) != len(values):
            raise TokenFileError(f"token file {path}: two entries have the same {what}")
    return tokens


def _entry(path: Path, index: int, entry: Any) -> IngestToken:
    where = f"token file {path}, entry {index}"
    if not isinstance(entry, dict):
        raise TokenFileError(f"{where}: not a table")
    name, hex_digest = entry.get("name"), entry.get("sha256")
    if not isinstance(name, str) or not name.strip():
        raise TokenFileError(f"{where}: `name` must be a non-empty string")
    try:
        sha256 = bytes.fromhex(hex_digest) if isinstance(hex_digest, str) else b""
    except ValueError:
        sha256 = b""
    if len(sha256) != hashlib.sha256().digest_size:
        raise TokenFileError(f"{where} ({name}): `sha256` must be 64 hex digits")
    teams = entry.get("team_ids", [])
    if not isinstance(teams, list):
        raise TokenFileError(f"{where} ({name}): `team_ids` must be an array of UUIDs")
    try:
        org_id = parse_uuid(entry.get("org_id"), "org_id")
        team_ids = frozenset(parse_uuid(team, "team_ids entry") for team in teams)
    except ValueError as exc:
        raise TokenFileError(f"{where} ({name}): {exc}") from None
    return IngestToken(name.strip(), sha256, org_id, team_ids)


class TokenRegistry:
    """The tokens in force: checked in constant time, reloaded from their file on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tokens = load_tokens(path)

    @property
    def tokens(self) -> tuple[IngestToken, ...]:
        return self._tokens

    def reload(self) -> bool:
        """Read the file again; a file that cannot be used leaves the old tokens in force."""
        try:
            tokens = load_tokens(self.path)
        except TokenFileError as exc:
            _logger.error("ingest tokens not reloaded, the previous ones stay: %s", exc)
            return False
        self._tokens = tokens  # one assignment: a request sees the old set or the new
        _logger.info("ingest tokens reloaded: %d in force", len(tokens))
        return True

    def authenticate(self, authorization: str | None) -> IngestToken | None:
        """The token an ``Authorization: Bearer …`` header holds, or None.

        The presented token is hashed and compared with every entry's hash by
        ``hmac.compare_digest``, without stopping at a match, so the time taken says nothing
        about which entry (or how much of a hash) matched.
        """
        if not authorization or authorization[: len(_BEARER)].lower() != _BEARER:
            return None
        presented = digest(authorization[len(_BEARER) :].strip())
        found = None
        for token in self._tokens:
            if hmac.compare_digest(presented, token.sha256):
                found = token
        return found


def new_token(path: Path, name: str, org_id: uuid.UUID, team_ids: Sequence[uuid.UUID]) -> str:
    """Append a new entry for ``name`` to the token file (created private if missing) and
    return its token, which exists nowhere else: the file keeps only its SHA-256."""
    if path.exists():
        existing = load_tokens(path)  # refuses a shared or malformed file before adding to it
        if any(token.name == name for token in existing):
            raise TokenFileError(f"token file {path} already has an entry named {name!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    entry: dict[str, Any] = {
        "name": name,
        "sha256": digest(token).hex(),
        "org_id": str(org_id),
    }
    if team_ids:
        entry["team_ids"] = [str(team) for team in dict.fromkeys(team_ids)]
    _append(path, "\n" + tomli_w.dumps({"tokens": [entry]}))
    return token


def _append(path: Path, text: str) -> None:
    """Append in one write to a file that only its owner may read or write (0600)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, text.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
