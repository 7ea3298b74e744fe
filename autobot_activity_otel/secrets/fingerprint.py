"""Keyed fingerprints of secret values, and the stable ids derived from them.

A plain hash of a low-entropy password can be brute-forced back from the database, so every
fingerprint is an HMAC-SHA256 under a per-installation key: ``AUTOBOT_ACTIVITY_FINGERPRINT_KEY``
when set, else a random key generated once and kept (mode 0600) in the state directory
(``AUTOBOT_ACTIVITY_STATE_DIR``, else ``$XDG_STATE_HOME/autobot-activity``, else
``~/.local/state/autobot-activity``). The same value then fingerprints the same way in every
process of the installation, which is what lets an audit recognise one leaked secret across
activities.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
import secrets
import uuid
from pathlib import Path

from autobot_activity_otel import settings

_logger = logging.getLogger(__name__)

KEY_FILE_NAME = "fingerprint.key"
SECRET_ID_NAMESPACE = uuid.UUID("5b0f7d1e-2c55-4a4e-9d67-6f1f2a1c8e31")
"""Namespace of the UUIDv5 ids given to pattern-detected secrets (fixed: ids must be stable)."""


@functools.cache
def fingerprint_key() -> bytes:
    """The HMAC key, loaded once per process (``fingerprint_key.cache_clear()`` to reload)."""
    configured = os.environ.get(settings.FINGERPRINT_KEY)
    if configured:
        return configured.encode("utf-8", "surrogatepass")
    try:
        return _installation_key(settings.state_dir() / KEY_FILE_NAME)
    except OSError as exc:
        # An unwritable home must not break tracking; fingerprints then hold for this process only.
        _logger.warning(
            "no persistent fingerprint key (%s); using a per-process key", type(exc).__name__
        )
        return secrets.token_bytes(32)


def _installation_key(path: Path) -> bytes:
    """Read the installation's key, creating it atomically (first writer wins) if missing."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise OSError("fingerprint key file is too short")
    return key.encode("ascii")


def fingerprint(value: str) -> str:
    """Hex HMAC-SHA256 of ``value`` under the installation key."""
    keyed = _keyed(fingerprint_key()).copy()  # the key's pads hashed once, not per value
    keyed.update(value.encode("utf-8", "surrogatepass"))
    return keyed.hexdigest()


@functools.lru_cache(maxsize=1)
def _keyed(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


@functools.lru_cache(maxsize=4096)
def secret_id_for(fingerprint_hex: str) -> uuid.UUID:
    """The stable id of a pattern-detected secret: the same value gets the same id everywhere."""
    return uuid.uuid5(SECRET_ID_NAMESPACE, fingerprint_hex)
