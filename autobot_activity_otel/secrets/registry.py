"""Known secrets: the values the platform itself holds, matched without keeping them in plain form.

A secret broker registers each value it injects; any later occurrence, in any text, is then
attributed to that secret id. The registry keeps, per secret, its length, Python's (per-process
keyed) ``hash`` of the whole value and its HMAC fingerprint, plus an index of ``hash`` values of
the value's first few ``GRAM``-character windows. No field holds the value, so neither ``repr``
nor a grep of a memory dump shows it. (Whoever holds the dump can still brute-force a short
window, as with any fingerprint of a guessable value; the rest of a long secret stays behind the
full-value hash.)

Matching samples the text every ``STRIDE`` characters: a window of ``GRAM`` characters that
starts on a multiple of ``STRIDE`` falls wholly inside any occurrence of a value of at least
``GRAM + STRIDE - 1`` characters, at one of the first ``STRIDE`` offsets of that value, so
indexing those ``STRIDE`` windows per secret finds every occurrence with ``len(text) / STRIDE``
dictionary probes, whatever the number of registered secrets. Shorter values (``MIN_LENGTH`` up
to that bound) are probed at every position, one pass per distinct short length.

Each value is indexed in every form ``forms.forms`` gives (percent-encoded, JSON- and
shell-escaped, case-folded, base64, hex): an occurrence of any form is attributed to the
value's id and fingerprint.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from autobot_activity_otel.secrets.fingerprint import fingerprint
from autobot_activity_otel.secrets.forms import forms

GRAM = 6
STRIDE = 3
MIN_LENGTH = 4
"""Shorter values would match ordinary text everywhere; ``register_secret`` refuses them."""
_INDEXED_LENGTH = GRAM + STRIDE - 1
_WINDOWS = re.compile(rf"(?s)(?=(.{{{GRAM}}})).{{{STRIDE}}}")
"""The ``GRAM``-character windows at every ``STRIDE``-th offset, cut in C: a first pass that
finds whether any window is indexed before the exact pass finds where."""


@dataclass(frozen=True, slots=True)
class KnownSecret:
    """What the registry keeps of one secret: never the value."""

    secret_id: uuid.UUID
    length: int
    value_hash: int
    fingerprint: str

    def __repr__(self) -> str:
        return f"KnownSecret({self.secret_id}, length={self.length})"


@dataclass(frozen=True, slots=True)
class _Form:
    """One indexed form of a secret: its length and hash, never its text."""

    secret: KnownSecret
    length: int
    value_hash: int


@dataclass(frozen=True, slots=True)
class KnownMatch:
    start: int
    end: int
    secret: KnownSecret


class Registry:
    """Thread-safe registry; readers probe immutable tuples, so scans take no lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[uuid.UUID, tuple[tuple[_Form, ...], frozenset[int]]] = {}
        """Per id: its forms, and the gram keys they were indexed under."""
        self._grams: dict[int, tuple[tuple[_Form, int], ...]] = {}
        self._short: dict[int, dict[int, tuple[_Form, ...]]] = {}
        self.version = 0
        """Changes whenever a secret is registered or forgotten: a text found free of known
        secrets at one version is still free of them at the same version."""

    def __repr__(self) -> str:
        return f"Registry({len(self._by_id)} secrets)"

    def __len__(self) -> int:
        return len(self._by_id)

    def register(self, secret_id: uuid.UUID | str, value: str | bytes) -> None:
        """Index ``value`` under ``secret_id`` (replacing an earlier value of that id)."""
        sid = secret_id if isinstance(secret_id, uuid.UUID) else uuid.UUID(str(secret_id))
        if isinstance(value, bytes | bytearray):
            value = bytes(value).decode("utf-8", "replace")
        if not isinstance(value, str) or len(value) < MIN_LENGTH:
            raise ValueError(f"secret {sid} is not a string of at least {MIN_LENGTH} characters")
        secret = KnownSecret(sid, len(value), hash(value), fingerprint(value))
        indexed = [
            (_Form(secret, len(form), hash(form)), form)
            for form in sorted(forms(value), key=lambda form: form != value)
            if len(form) >= MIN_LENGTH
        ]
        keys: set[int] = set()
        with self._lock:
            self._remove(sid)
            for entry, form in indexed:
                if entry.length >= _INDEXED_LENGTH:
                    for offset in range(STRIDE):
                        key = hash(form[offset : offset + GRAM])
                        keys.add(key)
                        self._grams[key] = (*self._grams.get(key, ()), (entry, offset))
                else:
                    bucket = dict(self._short.get(entry.length, {}))
                    bucket[entry.value_hash] = (*bucket.get(entry.value_hash, ()), entry)
                    self._short[entry.length] = bucket
            self._by_id[sid] = (tuple(entry for entry, _ in indexed), frozenset(keys))
            self.version += 1

    def unregister(self, secret_id: uuid.UUID | str) -> None:
        sid = secret_id if isinstance(secret_id, uuid.UUID) else uuid.UUID(str(secret_id))
        with self._lock:
            self._remove(sid)
            self.version += 1

    def _remove(self, sid: uuid.UUID) -> None:
        found = self._by_id.pop(sid, None)
        if found is None:
            return
        entries, keys = found
        for key in keys:
            kept = tuple(
                item for item in self._grams.get(key, ()) if item[0].secret is not entries[0].secret
            )
            if kept:
                self._grams[key] = kept
            else:
                self._grams.pop(key, None)
        for entry in entries:
            if entry.length >= _INDEXED_LENGTH:
                continue
            bucket = dict(self._short.get(entry.length, {}))
            kept_short = tuple(e for e in bucket.get(entry.value_hash, ()) if e is not entry)
            if kept_short:
                bucket[entry.value_hash] = kept_short
            else:
                bucket.pop(entry.value_hash, None)
            if bucket:
                self._short[entry.length] = bucket
            else:
                self._short.pop(entry.length, None)

    def find(self, text: str) -> list[KnownMatch]:
        """Every occurrence of a registered value (in any of its forms) in ``text``."""
        if not self._by_id:
            return []
        matches: list[KnownMatch] = []
        grams = self._grams
        if grams and not grams.keys().isdisjoint(map(hash, _WINDOWS.findall(text))):
            last = len(text) - GRAM + 1
            for i in [i for i in range(0, last, STRIDE) if hash(text[i : i + GRAM]) in grams]:
                for entry, offset in grams.get(hash(text[i : i + GRAM]), ()):
                    start = i - offset
                    end = start + entry.length
                    if start >= 0 and hash(text[start:end]) == entry.value_hash:
                        matches.append(KnownMatch(start, end, entry.secret))
        for length, bucket in list(self._short.items()):
            for i in range(len(text) - length + 1):
                for entry in bucket.get(hash(text[i : i + length]), ()):
                    matches.append(KnownMatch(i, i + length, entry.secret))
        return matches


REGISTRY = Registry()


def known_secret_id(text: str) -> uuid.UUID | None:
    """The id of the first registered secret that occurs in ``text``, if any."""
    matches = REGISTRY.find(text)
    return matches[0].secret.secret_id if matches else None


def register_secret(secret_id: uuid.UUID | str, value: str | bytes) -> None:
    """Redact every later occurrence of ``value`` as ``[REDACTED:secret:<secret_id>]``."""
    REGISTRY.register(secret_id, value)


def unregister_secret(secret_id: uuid.UUID | str) -> None:
    """Forget a secret (unknown ids are ignored)."""
    REGISTRY.unregister(secret_id)


@contextmanager
def registered_secret(secret_id: uuid.UUID | str, value: str) -> Iterator[None]:
    """Know ``value`` for the time a broker has it injected, e.g. around one command."""
    register_secret(secret_id, value)
    try:
        yield
    finally:
        unregister_secret(secret_id)
