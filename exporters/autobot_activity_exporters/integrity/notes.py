"""Signed notes (C2SP signed-note, as Go's golang.org/x/mod/sumdb/note writes them), Ed25519.

A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
``— <key name> <base64(4-byte key hash ‖ 64-byte signature)>``; the signature covers the
text before the blank line. Keys use the same module's text forms: the verifier key
``<name>+<key hash hex>+<base64(0x01 ‖ public key)>`` and the signer key
``PRIVATE+KEY+<name>+<key hash hex>+<base64(0x01 ‖ seed)>``; the key hash is the first four
bytes of SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key). A note with no signature line is unsigned.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ED25519 = 0x01
"""The signed-note algorithm byte for Ed25519."""
SIGNATURE_PREFIX = "— "
DEFAULT_KEY_NAME = "autobot-activity"


class KeyFileError(ValueError):
    """A key file that is not a key of this format (the message names the file, no bytes)."""


def key_hash(name: str, public: bytes) -> bytes:
    """The 4-byte key hash that names a key in a signature line."""
    return hashlib.sha256(name.encode() + b"\n" + bytes((ED25519,)) + public).digest()[:4]


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """A public key that checks notes' signatures."""

    name: str
    public: Ed25519PublicKey
    hash: bytes

    def text(self) -> str:
        raw = bytes((ED25519,)) + _raw_public(self.public)
        return f"{self.name}+{self.hash.hex()}+{base64.b64encode(raw).decode()}"

    def verify(self, note: Note) -> bool | None:
        """True when one of the note's signatures is this key's and good, False when this
        key's signature is bad, None when the note carries no signature of this key."""
        found = None
        for name, hash_, signature in note.signatures:
            if name != self.name or hash_ != self.hash:
                continue
            try:
                self.public.verify(signature, note.body.encode())
            except InvalidSignature:
                found = False
                continue
            return True
        return found


@dataclass(frozen=True)
class Signer:
    """A private key that signs notes."""

    name: str
    private: Ed25519PrivateKey

    @property
    def verifier(self) -> Verifier:
        public = self.private.public_key()
        return Verifier(self.name, public, key_hash(self.name, _raw_public(public)))

    def text(self) -> str:
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        raw = base64.b64encode(bytes((ED25519,)) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.hash.hex()}+{raw}"

    def sign(self, body: str) -> str:
        """The signed note: ``body`` (ending in a newline), a blank line, the signature."""
        signature = self.private.sign(body.encode())
        encoded = base64.b64encode(self.verifier.hash + signature).decode()
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {encoded}\n"


def new_signer(name: str = DEFAULT_KEY_NAME) -> Signer:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise ValueError("a key name has no spaces and no '+'")
    return Signer(name, Ed25519PrivateKey.generate())


def unsigned(body: str) -> str:
    """A note with no signature (no signing key configured)."""
    return f"{body}\n"


def read_signer(path: str | os.PathLike[str]) -> Signer:
    """The signer key in a file (``autobot-activity keys new`` writes one)."""
    parts = Path(path).read_text().strip().split("+", 4)  # base64 may hold "+"
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
        raise KeyFileError(f"{path} is not a signed-note private key")
    raw = _decoded(parts[4], path)
    signer = Signer(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
    if signer.verifier.hash.hex() != parts[3]:
        raise KeyFileError(f"{path}: the key hash does not match the key")
    return signer


def read_verifier(path: str | os.PathLike[str]) -> Verifier:
    """The verifier key in a file (``signing.pub``)."""
    parts = Path(path).read_text().strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFileError(f"{path} is not a signed-note verifier key")
    raw = _decoded(parts[2], path)
    verifier = Verifier(
        parts[0], Ed25519PublicKey.from_public_bytes(raw[1:]), key_hash(parts[0], raw[1:])
    )
    if verifier.hash.hex() != parts[1]:
        raise KeyFileError(f"{path}: the key hash does not match the key")
    return verifier


def _decoded(text: str, path: str | os.PathLike[str]) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyFileError(f"{path}: the key is not base64") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return raw


def write_key_pair(
    directory: str | os.PathLike[str], name: str = DEFAULT_KEY_NAME
) -> tuple[Path, Path]:
    """``signing.key`` (mode 0600, created exclusively) and ``signing.pub`` in ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    signer = new_signer(name)
    private, public = folder / "signing.key", folder / "signing.pub"
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(signer.text() + "\n")
    public.write_text(signer.verifier.text() + "\n")
    return private, public


@dataclass(frozen=True)
class Note:
    """A parsed note: the signed text and its signature lines (name, key hash, signature)."""

    body: str
    signatures: tuple[tuple[str, bytes, bytes], ...]

    @property
    def text(self) -> str:
        lines = [
            f"{SIGNATURE_PREFIX}{name} {base64.b64encode(hash_ + signature).decode()}\n"
            for name, hash_, signature in self.signatures
        ]
        return self.body + "\n" + "".join(lines)


def parse_notes(text: str) -> list[Note]:
    """Every note of a text where notes follow one another (a checkpoint file, or one note).

    A malformed signature line is kept as a signature that can never verify.
    """
    notes: list[Note] = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        if not lines[index]:
            index += 1
            continue
        body: list[str] = []
        while index < len(lines) and lines[index]:
            body.append(lines[index] + "\n")
            index += 1
        index += 1  # the blank line
        signatures: list[tuple[str, bytes, bytes]] = []
        while index < len(lines) and lines[index].startswith(SIGNATURE_PREFIX):
            signatures.append(_signature(lines[index]))
            index += 1
        notes.append(Note("".join(body), tuple(signatures)))
    return notes


def _signature(line: str) -> tuple[str, bytes, bytes]:
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raw = b""
    return name, raw[:4], raw[4:]
