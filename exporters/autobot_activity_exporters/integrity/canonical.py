"""The canonical form of a stored row, and the digests the chain is built from (pure).

A row is serialised as RFC 8785 (JSON Canonicalization Scheme) style JSON: an object of
every column but the two chain columns, keys sorted by their UTF-16 code units, no
whitespace, strings escaped minimally (``"``, ``\\``, and controls below U+0020 only). Typed
columns: a UUID as its lowercase hyphenated text, a time as UTC ISO 8601 with six
fraction digits and ``Z``. Numbers: an integral value (integer or float) as its exact
decimal digits, any other float in ECMAScript's shortest round-trip form. Inside a JSON
document column (``metadata``, ``coordinates``) a value JSON cannot hold is taken as the
writer stores it, its ``str()``. docs/integrity.md states the rule with examples.

``value``, ``document`` and ``RowForm.text`` write the rule out. ``RowForm.encoded``, which
the writer and verify hash, gives the same bytes mostly from msgspec's C encoder: it hands
msgspec only values msgspec writes as the rule does, and the rule's text for any other
(tests compare the two over edge cases and generated rows).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import operator
import struct
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy import JSON, Table

from autobot_activity_exporters.models import ACTIVITY_TABLES, CHAIN_COLUMNS, SECRET_USAGE

Encoder = Callable[[Any], str]
Adapter = Callable[[Any], Any]
"""A column value made into what msgspec encodes as the rule does (itself, or raw text)."""

TABLE_CODES: dict[str, int] = {
    table.name: code
    for code, table in enumerate((*ACTIVITY_TABLES.values(), SECRET_USAGE), start=1)
}
"""Each table's one-byte code in a batch manifest (the stated order: terminal, file,
browser, desktop, secret usage)."""
TABLE_NAMES: dict[int, str] = {code: name for name, code in TABLE_CODES.items()}
DIGEST_SIZE = 32
KEY_SIZE = 1 + 16
"""What identifies a row in a manifest: its table code and id."""
ITEM_SIZE = KEY_SIZE + 8 + DIGEST_SIZE
"""A manifest item: table code, the row's id (16 bytes), its time (microseconds since the
Unix epoch, signed 64-bit big-endian: retention may remove it by time), its SHA-256."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_string: Callable[[str], str] = json.encoder.encode_basestring
"""JSON string escaping (C-accelerated): exactly RFC 8785's minimal escapes."""


def number(value: float) -> str:
    """A number: integral values as whole digits (a float's from its shortest round-trip
    form), others in ECMAScript's shortest form."""
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return _string("NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity"))
    text = repr(value)
    if "e" not in text and text[-2:] != ".0":  # fixed notation: ECMAScript's form already
        return text
    if value.is_integer():  # the digits of its shortest form, as jsonb gives them back
        return str(int(Decimal(repr(value))))
    return _ecmascript(value)


def _ecmascript(value: float) -> str:
    """ECMAScript's Number::toString for a finite, non-integral float (shortest digits)."""
    _sign, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int), "a finite value has an integer exponent"
    digits = "".join(map(str, digit_tuple))
    point = exponent + len(digits)  # value = 0.<digits> x 10^point
    if 0 < point <= 21:
        text = digits[:point] + "." + digits[point:]
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        power = point - 1
        rest = "." + digits[1:] if len(digits) > 1 else ""
        text = f"{digits[0]}{rest}e{'+' if power > 0 else '-'}{abs(power)}"
    return ("-" if value < 0 else "") + text


def timestamp(value: datetime) -> str:
    """A time as UTC ISO 8601 with microseconds and ``Z`` (naive times are taken as UTC)."""
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _sort_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def value(item: Any) -> str:
    """A typed column's value (UUID, time, number, text, bool, list of UUIDs)."""
    if item is None:
        return "null"
    if item is True:
        return "true"
    if item is False:
        return "false"
    if isinstance(item, str):
        return _string(item)
    if isinstance(item, int | float):
        return number(item)
    if isinstance(item, uuid.UUID):
        return '"' + str(item) + '"'
    if isinstance(item, datetime):
        return '"' + timestamp(item) + '"'
    if isinstance(item, list | tuple):
        return "[" + ",".join(value(element) for element in item) + "]"
    if isinstance(item, Mapping):
        return document(item)
    return _string(str(item))


def document(item: Any) -> str:
    """A JSON document's value as the writer stores it: other types as their ``str()``."""
    if item is None:
        return "null"
    if item is True:
        return "true"
    if item is False:
        return "false"
    if isinstance(item, str):
        return _string(item)
    if isinstance(item, int | float):
        return number(item)
    if isinstance(item, list | tuple):
        return "[" + ",".join(document(element) for element in item) + "]"
    if isinstance(item, Mapping):
        pairs = [(_key(key), element) for key, element in item.items()]
        if all(key.isascii() for key, _element in pairs):  # code units sort as code points
            pairs.sort()
        else:
            pairs.sort(key=_pair_key)
        return (
            "{" + ",".join(_string(key) + ":" + document(element) for key, element in pairs) + "}"
        )
    return _string(str(item))


def _pair_key(pair: tuple[str, Any]) -> bytes:
    return _sort_key(pair[0])


def _key(key: Any) -> str:
    """A document key as JSON writes it (``json.dumps`` turns numbers and constants to text)."""
    if isinstance(key, str):
        return key
    if key is True or key is False or key is None:
        return json.dumps(key)
    if isinstance(key, float):
        return repr(key)
    return str(key)


class RowForm:
    """How one table's rows are serialised: its hashed columns in canonical key order."""

    def __init__(self, table: Table) -> None:
        names = sorted(
            (c.name for c in table.columns if c.name not in CHAIN_COLUMNS), key=_sort_key
        )
        self.table = table.name
        self.code = TABLE_CODES[table.name]
        self.columns: list[tuple[str, str, Encoder]] = [
            (name, _string(name) + ":", _encoder(table.c[name].type)) for name in names
        ]
        self._values = operator.itemgetter(*names)
        # msgspec writes a struct's fields in the order declared: the canonical key order
        self._struct = msgspec.defstruct(
            f"Canonical_{table.name}", [str(name) for name in names], gc=False
        )
        self._plans: dict[tuple[type, ...], tuple[tuple[int, Adapter], ...]] = {}

    def text(self, row: Mapping[Any, Any]) -> str:
        """The row's canonical JSON."""
        return "{" + ",".join([p + encode(row[name]) for name, p, encode in self.columns]) + "}"

    def encoded(self, row: Mapping[Any, Any]) -> bytes:
        """The row's canonical JSON in UTF-8: ``text``'s bytes, mostly encoded in C."""
        values = self._values(row)
        kinds = tuple(map(type, values))
        plan = self._plans.get(kinds)
        if plan is None:
            plan = self._plan(kinds)
        if plan:
            values = list(values)
            for index, adapt in plan:
                values[index] = adapt(values[index])
        try:
            data = _MSGSPEC(self._struct(*values))
        except (TypeError, ValueError, OverflowError):  # a lone surrogate, say
            return self.text(row).encode("utf-8", "surrogatepass")
        if not data.isascii() and (b"\xee" in data or b"\xef" in data):
            # a character in U+E000-U+FFFF: msgspec sorts keys by code point, the rule by
            # UTF-16 code unit, which differ when one of them is beyond U+FFFF
            return self.text(row).encode("utf-8", "surrogatepass")
        return data

    def _plan(self, kinds: tuple[type, ...]) -> tuple[tuple[int, Adapter], ...]:
        """Which columns of a row with these value types need adapting, and how."""
        encoders = [encode for _name, _prefix, encode in self.columns]
        plan = tuple(
            (index, adapt)
            for index, (encode, kind) in enumerate(zip(encoders, kinds, strict=True))
            if (adapt := _adapter(kind, encode)) is not None
        )
        if len(self._plans) < _PLANS_KEPT:
            self._plans[kinds] = plan
        return plan

    def digest(self, row: Mapping[Any, Any]) -> bytes:
        """SHA-256 of the row's canonical JSON in UTF-8."""
        return hashlib.sha256(self.encoded(row)).digest()

    def item(self, row: Mapping[Any, Any]) -> bytes:
        """The row's manifest item: table code, id, time, digest."""
        return self.items([row])[0]

    def items(self, rows: Iterable[Mapping[Any, Any]]) -> list[bytes]:
        """The rows' manifest items, in their order."""
        pack, code, encoded, sha256 = _ITEM.pack, self.code, self.encoded, hashlib.sha256
        return [
            pack(
                code,
                _uuid(row["id"]).bytes,
                micros(row["timestamp"]),
                sha256(encoded(row)).digest(),
            )
            for row in rows
        ]


_MSGSPEC = msgspec.json.Encoder(order="deterministic").encode
"""msgspec's JSON with every dict's keys sorted (by code point)."""
_PLANS_KEPT = 64
"""Value-type combinations remembered per table (a handful occur)."""
_NATIVE: frozenset[type] = frozenset({str, int, bool, type(None), uuid.UUID})
"""Types msgspec encodes as the rule does, in a typed column and in a document alike (a
string with a lone surrogate makes msgspec raise, and the row is encoded by the rule)."""


def _adapter(kind: type, encode: Encoder) -> Adapter | None:
    """How a column's value of this type reaches msgspec (None: as it is)."""
    if kind in _NATIVE:
        return None
    if kind is float:
        return _float
    if kind is datetime and encode is not document:
        return _time
    if kind is dict or kind is list or kind is tuple:
        return functools.partial(_container, encode)
    return functools.partial(_text, encode)


def _float(item: float) -> Any:
    """msgspec writes a non-integral float from 1e-5 up in fixed notation with its shortest
    round-trip digits, as ECMAScript does; other floats take the rule's text."""
    if 1e-5 <= abs(item) < 1e16 and not item.is_integer():
        return item
    return _raw(number(item))


def _time(item: datetime) -> Any:
    """msgspec writes a UTC time with a fraction as the rule does; any other takes its text."""
    if item.tzinfo is UTC and item.microsecond:
        return item
    return _raw('"' + timestamp(item) + '"')


def _container(encode: Encoder, item: Any) -> Any:
    """A list or object of plain values only goes as it is: msgspec writes it as the rule
    does (and refuses an object with a key that is not a string); others take their text."""
    if _NATIVE.issuperset(map(type, item.values() if item.__class__ is dict else item)):
        return item
    return _raw(encode(item))


def _text(encode: Encoder, item: Any) -> msgspec.Raw:
    return _raw(encode(item))


def _raw(text: str) -> msgspec.Raw:
    return msgspec.Raw(text.encode("utf-8", "surrogatepass"))


_ITEM = struct.Struct(f">B16sq{DIGEST_SIZE}s")
"""A manifest item's layout (``ITEM_SIZE`` bytes)."""


def micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch (naive times taken as UTC)."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return (aware - _EPOCH) // _MICROSECOND


def _encoder(kind: Any) -> Encoder:
    """The column type's encoder: a JSON document's rules, or a typed value's."""
    return document if isinstance(kind, JSON) else value


def _uuid(item: Any) -> uuid.UUID:
    return item if isinstance(item, uuid.UUID) else uuid.UUID(str(item))


FORMS: dict[str, RowForm] = {
    table.name: RowForm(table) for table in (*ACTIVITY_TABLES.values(), SECRET_USAGE)
}


def manifest(items: Iterable[bytes]) -> bytes:
    """A batch's manifest: its rows' items sorted (by table code, then id bytes)."""
    return b"".join(sorted(items))


@dataclass(frozen=True, slots=True)
class Item:
    """One row of a manifest, read back."""

    table: str
    id: uuid.UUID
    micros: int
    digest: bytes

    def encode(self) -> bytes:
        return _ITEM.pack(TABLE_CODES[self.table], self.id.bytes, self.micros, self.digest)


def manifest_items(blob: bytes) -> Iterable[Item]:
    """A stored manifest read back, item by item."""
    for start in range(0, len(blob), ITEM_SIZE):
        code = blob[start]
        yield Item(
            TABLE_NAMES.get(code, f"table#{code}"),
            uuid.UUID(bytes=blob[start + 1 : start + KEY_SIZE]),
            int.from_bytes(blob[start + KEY_SIZE : start + KEY_SIZE + 8], "big", signed=True),
            blob[start + KEY_SIZE + 8 : start + ITEM_SIZE],
        )


def batch_hash(manifest_bytes: bytes) -> bytes:
    """The batch hash: SHA-256 of its manifest."""
    return hashlib.sha256(manifest_bytes).digest()


ZERO_HASH = bytes(DIGEST_SIZE)
"""The ``previous`` of a chain's first entry."""


def entry_hash(
    *,
    chain_id: uuid.UUID,
    sequence: int,
    previous: bytes,
    batch: bytes,
    row_count: int,
    first: datetime,
    last: datetime,
    committed_at: datetime,
) -> bytes:
    """The hash an entry is linked and signed by: SHA-256 of its fields' canonical JSON."""
    text = value(
        {
            "batch": batch.hex(),
            "chain": str(chain_id),
            "count": row_count,
            "first": timestamp(first),
            "last": timestamp(last),
            "previous": previous.hex(),
            "sequence": sequence,
            "time": timestamp(committed_at),
        }
    )
    return hashlib.sha256(text.encode()).digest()
