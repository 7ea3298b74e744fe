"""PLACEHOLDER engine (to be replaced by the secret-engine work): the contract only."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

Kind = Literal["command", "output", "url", "keystrokes", "text"]

_KEY = b"placeholder"
_known: dict[uuid.UUID, str] = {}


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    start: int
    end: int
    fingerprint: str
    secret_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Redaction:
    text: str
    findings: tuple[Finding, ...]


def register_secret(secret_id: uuid.UUID | str, value: str) -> None:
    _known[uuid.UUID(str(secret_id))] = value


def unregister_secret(secret_id: uuid.UUID | str) -> None:
    _known.pop(uuid.UUID(str(secret_id)), None)


@contextmanager
def registered_secret(secret_id: uuid.UUID | str, value: str) -> Iterator[None]:
    register_secret(secret_id, value)
    try:
        yield
    finally:
        unregister_secret(secret_id)


_MYSQL = re.compile(r"(?<=\s-p)(?!\$)\S+|(?<=--password=)(?!\$)\S+")


def redact(text: str, kind: Kind = "text") -> Redaction:
    spans: list[tuple[int, int, str, uuid.UUID | None]] = []
    for secret_id, value in _known.items():
        for m in re.finditer(re.escape(value), text):
            spans.append((m.start(), m.end(), "known-secret", secret_id))
    if kind == "command" and ("mysql" in text or "--password=" in text):
        for m in _MYSQL.finditer(text):
            if not any(s <= m.start() < e for s, e, _, _ in spans):
                spans.append((m.start(), m.end(), "password-flag", None))
    spans.sort()
    out, pos, findings = [], 0, []
    for start, end, rule, sid in spans:
        value = text[start:end]
        fp = hmac.new(_KEY, value.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:32]
        findings.append(Finding(rule, start, end, fp, sid))
        out.append(text[pos:start])
        out.append(f"[REDACTED:{rule}]" if sid is None else f"[REDACTED:secret:{sid}]")
        pos = end
    out.append(text[pos:])
    return Redaction("".join(out), tuple(findings))
