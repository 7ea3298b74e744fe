"""docs/attributes.md, the contract for senders in other languages, cannot drift from the code:
its placement table is generated here from ``attributes.py`` and ``rows.py`` and must be in the
document as generated. Run this file with ``--write`` to rewrite the table after a change."""

from __future__ import annotations

import sys
from pathlib import Path

from autobot_activity_exporters import rows
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType

DOC = Path(__file__).parents[2] / "docs" / "attributes.md"
BEGIN, END = "<!-- placement table: generated -->", "<!-- end of placement table -->"

OWN_PLACES = {
    attr.ACTIVITY_TYPE: "the table",
    attr.ACTIVITY_ID: "`id`",
    attr.ACTIVITY_METADATA: "`metadata` (merged)",
    attr.SESSION_ID: "`session_id`",
    attr.SECRETS_COUNT: "not stored",
    attr.SECRETS_RULES: "`secret_usage.rule`",
    attr.SECRETS_IDS: "`secret_usage.secret_id`",
    attr.SECRETS_FINGERPRINTS: "`secret_usage.fingerprint`",
    attr.SECRETS_FIELDS: "`secret_usage.metadata.field`",
    attr.SECRETS_ACCESS_GRANTED: "`secret_usage.access_granted`",
    attr.SECRETS_DENIAL_REASONS: "`secret_usage.denial_reason`",
}
"""Where the attributes ``rows.py`` consumes itself (not through a column table) end up."""
TYPES = {
    attr.ACTIVITY_TYPE: "string: `terminal`, `file`, `browser` or `desktop`",
    attr.ACTIVITY_ID: "string: a UUID (UUIDv7 advised)",
    attr.ACTIVITY_ACTION: "string",
    attr.ACTIVITY_METADATA: "string: a JSON object",
    attr.USER_ID: "string: a UUID",
    attr.ACTIVITY_ORG_ID: "string: a UUID",
    attr.ACTIVITY_TEAM_ID: "string: a UUID",
    attr.SESSION_ID: "string",
    attr.PROCESS_COMMAND_ARGS: "string[]",
    attr.SECRETS_COUNT: "int",
    attr.SECRETS_RULES: "string[]",
    attr.SECRETS_IDS: 'string[]: UUIDs or ""',
    attr.SECRETS_FINGERPRINTS: "string[]",
    attr.SECRETS_FIELDS: "string[]",
    attr.SECRETS_ACCESS_GRANTED: "bool[]",
    attr.SECRETS_DENIAL_REASONS: "string[]",
}
"""Types the column tables do not say; every other attribute's type comes from its column."""
REQUIRED = (attr.ACTIVITY_TYPE, attr.ACTIVITY_ID, attr.ACTIVITY_ACTION)


def attribute_names() -> list[str]:
    skipped = {"ActivityType", "SCHEMA_URL"}  # not attribute names
    return sorted({getattr(attr, name) for name in attr.__all__ if name not in skipped})


def _column_types() -> dict[str, str]:
    types: dict[str, str] = {}
    for columns in rows._COLUMNS.values():
        for column, attribute, kind in columns:
            if kind is not None:
                types[attribute] = "string"
            elif column == "coordinates":
                types[attribute] = "int[]"
            else:
                types[attribute] = "int"
    return types


def _place(attribute: str, activity_type: ActivityType) -> str:
    for column, name, _ in rows._COLUMNS[activity_type]:
        if name == attribute:
            return f"`{column}`"
    if attribute in rows._ATTRIBUTION:
        return f"`{rows._ATTRIBUTION[attribute]}`"
    return OWN_PLACES.get(attribute, "`metadata`")


def placement_table() -> str:
    types = {**_column_types(), **TYPES}
    lines = [
        "| attribute | type | required | "
        + " | ".join(activity_type.value for activity_type in ActivityType)
        + " |",
        "|---|---|---|" + "---|" * len(ActivityType),
    ]
    for attribute in attribute_names():
        places = [_place(attribute, activity_type) for activity_type in ActivityType]
        lines.append(
            f"| `{attribute}` | {types.get(attribute, 'any')} | "
            f"{'yes' if attribute in REQUIRED else ''} | " + " | ".join(places) + " |"
        )
    return "\n".join(lines)


def test_the_consumed_attributes_are_all_described() -> None:
    assert set(OWN_PLACES) | set(rows._ATTRIBUTION) == set(rows._CONSUMED)


def test_the_placement_table_is_the_generated_one() -> None:
    text = DOC.read_text()
    generated = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert generated == placement_table(), f"run: python {__file__} --write"


def test_every_attribute_name_is_in_the_document() -> None:
    text = DOC.read_text()
    assert [name for name in attribute_names() if f"`{name}`" not in text] == []


def test_the_required_attributes_are_the_ones_rows_refuses_without() -> None:
    """Without each of them, ``rows_from_activity`` refuses the span (or ignores it)."""
    from autobot_activity_exporters.rows import InvalidActivity, rows_from_activity
    from autobot_activity_otel.snapshot import ActivitySnapshot

    complete = {
        attr.ACTIVITY_TYPE: "file",
        attr.ACTIVITY_ID: "0195f000-0000-7000-8000-000000000001",
        attr.ACTIVITY_ACTION: "read",
    }
    assert rows_from_activity(ActivitySnapshot("x", 1, 1, 1, 2, complete)) is not None
    for missing in REQUIRED:
        partial = {key: value for key, value in complete.items() if key != missing}
        snapshot = ActivitySnapshot("x", 1, 1, 1, 2, partial)
        try:
            result = rows_from_activity(snapshot)
        except InvalidActivity:
            continue
        assert result is None  # no activity.type: not an activity


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    text = DOC.read_text()
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{BEGIN}\n{placement_table()}\n{END}{tail}")
