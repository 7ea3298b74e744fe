"""The canonical form a row is hashed in (docs/integrity.md states it): pure, exact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

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
