"""The project's own secrets: registered at start-up so that no record of an activity holds them.

A command an agent runs can print the exporter's environment (``env``), a configuration file
or a connection string; the fingerprint key among them would make every fingerprint of a weak
secret guessable from a database dump. ``register_own_secrets()`` registers, each under a
stable id derived from where it came from: the fingerprint key (set or generated), every
``AUTOBOT_ACTIVITY_*`` variable whose name says secret (``..._TOKEN``, ``..._PASSWORD``), the
password of every ``AUTOBOT_ACTIVITY_*`` URL (the database URL's), the values of the OTLP
exporter's headers, and any value a caller adds (an ingest token it minted). The start-up code
(``configure()``) calls it; calling it again re-registers the current values.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from autobot_activity_otel import settings
from autobot_activity_otel.secrets.fingerprint import fingerprint_key
from autobot_activity_otel.secrets.registry import MIN_LENGTH, register_secret
from autobot_activity_otel.secrets.rules import secret_name

_logger = logging.getLogger(__name__)

OWN_SECRETS_NAMESPACE = uuid.UUID("8d1f5a2e-6c4b-4f0e-9a3d-2b7e1c5f9a40")
"""Namespace of the ids own secrets are registered under (``uuid5(namespace, source)``)."""
FINGERPRINT_KEY_SOURCE = "fingerprint-key"


def own_secret_id(source: str) -> uuid.UUID:
    """The id an own secret from ``source`` (a variable's name, ``fingerprint-key``) gets."""
    return uuid.uuid5(OWN_SECRETS_NAMESPACE, source)


def own_secrets(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Source -> value of every own secret known now (values, so never log this)."""
    found: dict[str, str] = {}
    key = fingerprint_key().decode("utf-8", "replace")
    found[FINGERPRINT_KEY_SOURCE] = key
    for name, value in settings.project_variables().items():
        if secret_name(name.removeprefix(settings.PREFIX)) or name in settings.SECRET_VARIABLES:
            found[name] = value
        password = _url_password(value)
        if password:
            found[f"{name}#password"] = password
    for name in settings.OTLP_HEADERS:
        for number, header in enumerate((settings.text(name) or "").split(",")):
            _, eq, value = header.partition("=")
            value = unquote(value.strip())
            if eq and value:
                found[f"{name}#{number}"] = value
                scheme, _, credential = value.partition(" ")
                if credential and scheme.lower() in {"bearer", "basic", "token"}:
                    found[f"{name}#{number}.credential"] = credential
    for source, value in (extra or {}).items():
        found[source] = value
    return {source: value for source, value in found.items() if len(value) >= MIN_LENGTH}


def _url_password(value: str) -> str | None:
    if "://" not in value or "@" not in value:
        return None
    try:
        password = urlsplit(value).password
    except ValueError:
        return None
    return unquote(password) if password else None


def register_own_secrets(extra: Mapping[str, str] | None = None) -> list[uuid.UUID]:
    """Register the project's own secrets (see the module); returns their ids. Never raises:
    an unreadable key or a malformed variable is logged by type and skipped."""
    ids: list[uuid.UUID] = []
    try:
        secrets = own_secrets(extra)
    except Exception as exc:  # start-up must not fail over this
        _logger.warning("own secrets not registered (%s)", type(exc).__name__)
        return ids
    for source, value in secrets.items():
        secret_id = own_secret_id(source)
        try:
            register_secret(secret_id, value)
        except ValueError:
            continue
        ids.append(secret_id)
    _logger.debug("registered %d own secrets", len(ids))
    return ids
