"""The forms a secret value takes on its way through programs, so each can be recognised.

A browser percent-encodes a query value and lower-cases a host name; ``json.dumps`` escapes a
quote or a backslash; ``shlex.join`` re-quotes a value holding ``'`` as ``'"'"'``; a script
base64-encodes it (alone or inside ``user:password``) or prints it in hex. The registry indexes
every form of a registered value under the value's own id, and the engine looks for the forms
of each value it found, so none of these survives where the plain value would not.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

MIN_ENCODED = 8
"""A base64 or hex piece shorter than this would match ordinary text by chance."""
_SHELL_SPECIAL = re.compile(r"([^\w@%+=:,./-])")
_DOUBLE_QUOTED_SPECIAL = re.compile(r"([\\\"$`])")


def encoded_forms(value: str, text: str | None = None) -> set[str]:
    """Forms that encode the value: percent, JSON, shell quoting, base64 and hex. With
    ``text``, only the forms that could occur in it (an escape needs its escape character)."""
    forms: set[str] = set()
    if text is None or "%" in text or "+" in text:
        forms.update(
            (
                quote(value, safe=""),
                quote_plus(value, safe=""),
                quote(value, safe="/:@!$&'()*+,;="),
            )
        )
    if text is None or "\\" in text:
        forms.update(
            (
                json.dumps(value)[1:-1],
                json.dumps(value, ensure_ascii=False)[1:-1],
                _DOUBLE_QUOTED_SPECIAL.sub(r"\\\1", value),
                _SHELL_SPECIAL.sub(r"\\\1", value),
            )
        )
    if "'" in value and (text is None or "'" in text):
        forms.add(value.replace("'", "'\"'\"'"))  # shlex.quote / shlex.join
        forms.add(value.replace("'", "'\\''"))
    raw = value.encode("utf-8", "surrogatepass")
    for skip in (0, 1, 2):  # where the value starts in the encoded stream's 3-byte groups
        part = raw[skip:]
        whole = len(part) // 3 * 3
        for encoded in (
            base64.b64encode(part[:whole]).decode("ascii"),  # more follows it in the stream
            base64.b64encode(part).decode("ascii"),  # it ends the stream (padding included)
        ):
            if len(encoded) >= MIN_ENCODED:
                forms.add(encoded)
                forms.add(encoded.replace("+", "-").replace("/", "_"))
    if len(raw) * 2 >= MIN_ENCODED:
        forms.add(raw.hex())
    forms.discard(value)
    return forms


def forms(value: str) -> set[str]:
    """Every form of a registered value, itself included: also upper- and lower-cased (a host
    label, a shouting log line), which ``encoded_forms`` leaves out for found values."""
    return {value, value.lower(), value.upper(), *encoded_forms(value)}
