"""The canonical form a row is hashed in (docs/integrity.md states it): pure, exact."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autobot_activity_exporters.integrity import canonical
from autobot_activity_exporters.integrity.notes import new_signer, parse_notes


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.1, "0.1"),
        (1.5e-7, "1.5e-7"),
        (0.000001, "0.000001"),
        (123.456, "123.456"),
        (-2.5, "-2.5"),
        (1e21, "1000000000000000000000"),  # integral: exact digits, as jsonb gives it back
        (3.0, "3"),
        (3, "3"),
        (2**63, "9223372036854775808"),
        (5e-324, "5e-324"),
        (1.2345e22 + 0.5, "12345000000000000000000"),
    ],
)
def test_numbers(number: float, text: str) -> None:
    assert canonical.number(number) == text


def test_documents_sort_keys_by_utf16_and_escape_minimally() -> None:
    document = {"b": 1, "a": [True, None, 'x\n"\\\u0001é'], "\U0001f600": 0, "\ufb01": 0}
    assert canonical.document(document) == (
        '{"a":[true,null,"x\\n\\"\\\\\\u0001é"],"b":1,"\U0001f600":0,"\ufb01":0}'
    )


def test_typed_values_and_documents_differ_only_for_what_json_cannot_hold() -> None:
    moment = datetime(2026, 12, 1, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert canonical.value(moment) == '"2026-12-01T09:00:00.000005Z"'
    assert canonical.document(moment) == f'"{moment}"'  # the writer's JSON default: str()
    ident = uuid.UUID(int=7)
    assert canonical.value(ident) == canonical.document(ident) == f'"{ident}"'


def test_a_row_is_hashed_without_its_chain_columns() -> None:
    form = canonical.FORMS["file_activities"]
    row = {column: None for column, _prefix, _encode in form.columns}
    row |= {"id": uuid.UUID(int=1), "timestamp": datetime(2026, 1, 1, tzinfo=UTC), "metadata": {}}
    stamped = row | {"chain_id": uuid.uuid4(), "chain_sequence": 9}
    assert form.digest(row) == form.digest(stamped)
    assert form.text(row).startswith('{"duration_ms":null,"file_type":null,"id":"00000000-')
    item = next(iter(canonical.manifest_items(form.item(row))))
    assert (item.table, item.id, item.digest) == ("file_activities", row["id"], form.digest(row))
    assert item.micros == canonical.micros(row["timestamp"])


def test_a_signed_note_round_trips_and_a_flipped_bit_fails() -> None:
    signer = new_signer("test-key")
    text = signer.sign("origin\n3\nAAAA\n")
    (note,) = parse_notes(text)
    assert note.body == "origin\n3\nAAAA\n" and note.text == text
    assert signer.verifier.verify(note) is True
    (forged,) = parse_notes(text.replace("3", "4", 1))
    assert signer.verifier.verify(forged) is False
    assert new_signer("test-key").verifier.verify(note) is None  # same name, another key


class _Id(uuid.UUID):
    """A UUID subclass (asyncpg returns one): its text is taken from ``str()``."""


# Values that sit on the edges of what msgspec's encoder writes as the rule does.
_TRICKY_TEXTS = [
    "",
    'q"\\/\x7f\u2028',
    "\x00\x1f\n",
    "é",
    "\ud800",
    "\udfff x",
    "\ufb01",
    "\U0001f600",
]
_TRICKY_FLOATS = [
    0.0, -0.0, 1e-5, -1e-5, 9.999999999999999e-6, 1e-6, 1e-7, 1.5e-7, 0.1, 2.5, 3.0, -3.0,
    1e15, 1e16 - 2, 1e16, 1e21, 1e22, 2.0**53, 2.0**53 - 0.5, 4503599627370495.5, 5e-324,
    1.7976931348623157e308, math.nan, math.inf, -math.inf,
]  # fmt: skip
_TRICKY_TIMES = [
    datetime(2026, 12, 1, 9, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 1, 9, 0, 0, 5, tzinfo=UTC),
    datetime(2026, 12, 1, 9, 0, 0, 5),
    datetime(2026, 12, 1, 11, 0, 0, 5, tzinfo=timezone(timedelta(hours=2))),
    datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
]

_keys = st.text(max_size=4) | st.sampled_from(_TRICKY_TEXTS)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(_TRICKY_FLOATS)
    | st.text(max_size=12)
    | st.sampled_from(_TRICKY_TEXTS)
    | st.uuids()
    | st.uuids().map(lambda ident: _Id(int=ident.int))
    | st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones())
    | st.sampled_from(_TRICKY_TIMES)
    | st.decimals(allow_nan=False, places=3)
    | st.binary(max_size=4)
)
_documents = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_keys, inner, max_size=4)
        | st.dictionaries(
            st.integers() | st.floats() | st.booleans() | st.none(), inner, max_size=3
        )
        | st.frozensets(st.integers(), max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def _rows(draw: st.DrawFn) -> tuple[canonical.RowForm, dict[str, Any]]:
    form = draw(st.sampled_from(list(canonical.FORMS.values())))
    row = {name: draw(_documents) for name, _prefix, _encode in form.columns}
    row |= {"chain_id": draw(st.uuids()), "chain_sequence": draw(st.integers(1, 9))}
    return form, row


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows())
def test_the_fast_encoding_is_the_rule_byte_for_byte(case: tuple[canonical.RowForm, Any]) -> None:
    form, row = case
    assert form.encoded(row) == form.text(row).encode("utf-8", "surrogatepass")
    assert form.encoded(row) == form.encoded(row)  # the same again once its plan is remembered


@pytest.mark.parametrize(
    "changes",
    [{"duration_ms": value} for value in _TRICKY_FLOATS]
    + [{"timestamp": moment} for moment in _TRICKY_TIMES]
    + [
        {"metadata": {key: 1 for key in _TRICKY_TEXTS}},
        {"metadata": {"\ufb01": 0, "\U0001f600": 1}},  # UTF-16 and code point orders differ
        {"metadata": {"\ufb01": {"\U0001f600": 0, "\ufb02": 1}}},
    ]
    + [
        {"metadata": {"a": value}}
        for value in (1.5, 3.0, math.nan, Decimal("1.5"), b"x", {1, 2}, (1, 2))
    ]
    + [{"output": text} for text in _TRICKY_TEXTS]
    + [{"secrets_used": [_Id(int=5), uuid.UUID(int=6)]}, {"secrets_used": ("a", None, 2**70)}]
    + [{"exit_code": value} for value in (True, 2**64, -(2**70), 1.0, "7")],
)
def test_the_fast_encoding_is_the_rule_on_the_edges(changes: dict[str, Any]) -> None:
    form = canonical.FORMS["terminal_activities"]
    row: dict[str, Any] = {name: None for name, _prefix, _encode in form.columns}
    row |= {
        "id": uuid.UUID(int=1),
        "timestamp": datetime(2026, 1, 1, 0, 0, 0, 7, tzinfo=UTC),
        "duration_ms": 0.25,
        "metadata": {"b": "x", "a": [1, True, None]},
        "secrets_used": [],
    }
    row |= changes
    assert form.encoded(row) == form.text(row).encode("utf-8", "surrogatepass")
