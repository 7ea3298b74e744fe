"""The ingest service's OTLP side without a server: bodies decoded as the specification says,
spans mapped to exactly the rows the in-process exporter makes, tenancy enforced."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import uuid
import zlib

import pytest
from opentelemetry import trace
from support import planted
from support.ingest import json_body, protobuf_body
from support.spans import SpanCapture

from autobot_activity_exporters.rows import rows_from_activity, rows_from_span
from autobot_activity_exporters.service import otlp
from autobot_activity_exporters.service.ingest import Rejection, admit
from autobot_activity_exporters.service.tokens import IngestToken
from autobot_activity_otel import attributes as attr
from autobot_activity_otel.attributes import ActivityType
from autobot_activity_otel.context import activity_context
from autobot_activity_otel.recording import ActivityRecord
from autobot_activity_otel.snapshot import ActivitySnapshot

ORG, OTHER_ORG = uuid.UUID(int=0x101), uuid.UUID(int=0x102)
TEAM, OTHER_TEAM = uuid.UUID(int=0x201), uuid.UUID(int=0x202)
USER = uuid.UUID("0195f000-0000-7000-8000-00000000e001")
PASSWORD = planted.plant("Ingest-planted-Pw-7731")


def record_each_type(spans: SpanCapture) -> list:
    """One activity of each type, with attribution, a secret, metadata and an error status."""
    spans.clear()
    with activity_context(user_id=USER, org_id=ORG, team_id=TEAM, session_id="chat-9"):
        terminal = ActivityRecord(ActivityType.TERMINAL, "execute")
        terminal.set_text(attr.PROCESS_COMMAND_LINE, f"mysql -p{PASSWORD} -e 'select 1'", "command")
        terminal.set_text(attr.TERMINAL_OUTPUT, "1\n", "output")
        terminal.set(attr.PROCESS_EXIT_CODE, 1)
        terminal.declare_secrets([uuid.UUID(int=0x501)])
        terminal.fail(RuntimeError("exit status 1"))
        terminal.end()
        file = ActivityRecord(ActivityType.FILE, "write")
        file.set_text(attr.FILE_PATH, "/srv/notes.txt")
        file.set(attr.FILE_SIZE, 12)
        file.end()
        browser = ActivityRecord(ActivityType.BROWSER, "click")
        browser.set_text(attr.URL_FULL, "https://example.test/login?next=%2F", "url")
        browser.set_text(attr.BROWSER_SELECTOR, "#go")
        browser.end()
        desktop = ActivityRecord(ActivityType.DESKTOP, "click")
        desktop.set(attr.DESKTOP_COORDINATES, [10, 20])
        desktop.end()
    with trace.get_tracer("tests").start_as_current_span("not an activity"):
        pass
    return spans.all()


def snapshots(request) -> tuple[list, int]:
    """The request's activity snapshots (None for a malformed one), and the ignored count."""
    spans = otlp.ActivitySpans(request)
    found = [otlp.snapshot_of(span, attributes) for span, attributes in spans]
    return found, spans.ignored


def comparable(rows) -> tuple:
    """Rows without the timestamps' sub-microsecond rounding question: every column."""
    return (rows.table, rows.activity, rows.secret_usage)


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_a_request_becomes_the_rows_the_exporter_makes(spans: SpanCapture, encoding: str) -> None:
    finished = record_each_type(spans)
    if encoding == "protobuf":
        request = otlp.decode_request(protobuf_body(finished), otlp.PROTOBUF)
    else:
        request = otlp.decode_request(json_body(finished), otlp.JSON)
    decoded, ignored = snapshots(request)
    assert ignored == 1
    expected = [rows_from_span(span) for span in finished]
    expected = [comparable(rows) for rows in expected if rows is not None]
    got = [comparable(rows_from_activity(snapshot)) for snapshot in decoded]
    assert got == expected
    assert len(got) == 4
    assert PASSWORD not in json.dumps([row for row in got], default=str)


def test_snapshots_carry_ids_status_and_events(spans: SpanCapture) -> None:
    finished = record_each_type(spans)
    request = otlp.decode_request(protobuf_body(finished), otlp.PROTOBUF)
    terminal = snapshots(request)[0][0]
    span = finished[0]
    assert terminal.trace_id == span.context.trace_id and terminal.span_id == span.context.span_id
    assert terminal.start_ns == span.start_time and terminal.end_ns == span.end_time
    assert terminal.status_code.name == "ERROR"
    assert [event.name for event in terminal.events] == [event.name for event in span.events]
    assert isinstance(terminal.attributes[attr.SECRETS_RULES], tuple)  # as the SDK keeps arrays


def test_json_takes_hex_ids_in_either_case_and_ignores_unknown_fields(spans: SpanCapture) -> None:
    finished = record_each_type(spans)[:1]
    document = json.loads(json_body(finished))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = span["traceId"].lower()
    span["someFutureField"] = {"nested": [1, 2]}
    document["alsoUnknown"] = True
    request = otlp.decode_request(json.dumps(document).encode(), otlp.JSON)
    [snapshot], _ = snapshots(request)
    assert snapshot.trace_id == finished[0].context.trace_id


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not protobuf at all",
        b"\x0a\x05\x0a\x03",  # a length running past the end
    ],
)
def test_undecodable_protobuf_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(otlp.BadRequest):
        otlp.decode_request(body, otlp.PROTOBUF)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"resourceSpans": 7}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        # invalid UTF-8 (a lone surrogate) in a span's name
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "a\udcff"}]}]}]}'.encode(
            "utf-8", "surrogatepass"
        ),
    ],
)
def test_undecodable_json_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(otlp.BadRequest):
        otlp.decode_request(body, otlp.JSON)


def test_ids_of_the_wrong_length_make_the_span_malformed(spans: SpanCapture) -> None:
    request = otlp.decode_request(protobuf_body(record_each_type(spans)), otlp.PROTOBUF)
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\x01" * 5
    decoded, _ = snapshots(request)
    assert decoded[0] is None and None not in decoded[1:] and len(decoded) == 4


def test_attribute_values_of_every_otlp_kind() -> None:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    values = [
        KeyValue(key="s", value=AnyValue(string_value="text")),
        KeyValue(key="b", value=AnyValue(bool_value=True)),
        KeyValue(key="i", value=AnyValue(int_value=-3)),
        KeyValue(key="d", value=AnyValue(double_value=1.5)),
        KeyValue(key="bytes", value=AnyValue(bytes_value=b"\x00\xff")),
        KeyValue(key="empty", value=AnyValue()),
    ]
    array = KeyValue(key="a")
    array.value.array_value.values.add(string_value="x")
    array.value.array_value.values.add(string_value="y")
    kvlist = KeyValue(key="kv")
    kvlist.value.kvlist_value.values.add(key="inner", value=AnyValue(int_value=1))
    assert otlp.attribute_dict([*values, array, kvlist]) == {
        "s": "text",
        "b": True,
        "i": -3,
        "d": 1.5,
        "bytes": "\u2400\ufffd",  # UTF-8, repaired as the recording repairs text
        "a": ("x", "y"),
        "kv": {"inner": 1},
    }


# --- bodies: media types and gzip ---


@pytest.mark.parametrize(
    ("header", "media"),
    [
        ("application/x-protobuf", otlp.PROTOBUF),
        ("Application/JSON; charset=utf-8", otlp.JSON),
        ("text/plain", None),
        ("", None),
        (None, None),
    ],
)
def test_media_types(header: str | None, media: str | None) -> None:
    assert otlp.media_type(header) == media


def test_gzip_bodies_are_decompressed_including_several_members() -> None:
    assert otlp.decompress(gzip.compress(b"abc"), "gzip", 100) == b"abc"
    assert otlp.decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "GZIP", 100) == b"abcd"
    assert otlp.decompress(b"plain", None, 100) == b"plain"
    assert otlp.decompress(b"plain", "identity", 100) == b"plain"


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    """256 MiB of zeros compress to about 250 KiB; the limit is 1 MiB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()
    assert len(bomb) < 512 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(otlp.BodyTooLarge):
            otlp.decompress(bomb, "gzip", 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize(
    "body",
    [gzip.compress(b"x" * 1000, mtime=0)[:-12], b"\x1f\x8b not really gzip", b"plain text"],
    ids=["truncated", "magic then text", "plain text"],  # the same in every pytest-xdist worker
)
def test_broken_gzip_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(otlp.BadRequest):
        otlp.decompress(body, "gzip", 1 << 20)


def test_other_content_encodings_are_unsupported() -> None:
    with pytest.raises(otlp.UnsupportedEncoding):
        otlp.decompress(zlib.compress(b"x"), "deflate", 100)


def test_responses_use_the_requests_encoding() -> None:
    assert otlp.success(otlp.PROTOBUF) == b""  # partial_success unset
    assert json.loads(otlp.success(otlp.JSON)) == {}
    partial = json.loads(otlp.success(otlp.JSON, 2, "2 rejected"))
    assert partial == {"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 rejected"}}
    assert json.loads(otlp.failure(otlp.JSON, 16, "no")) == {"code": 16, "message": "no"}


# --- tenancy ---


def _token(teams: frozenset[uuid.UUID] = frozenset()) -> IngestToken:
    return IngestToken("agents", b"\x00" * 32, ORG, teams)


def _attributes(spans: SpanCapture, **context: object) -> dict:
    spans.clear()
    with activity_context(user_id=USER, **context):
        record = ActivityRecord(ActivityType.FILE, "read")
        record.end()
    request = otlp.decode_request(protobuf_body(spans.all()), otlp.PROTOBUF)
    [(_, attributes)] = list(otlp.ActivitySpans(request))
    return attributes


def _row(attributes: dict) -> dict:
    return rows_from_activity(ActivitySnapshot("file read", 1, 1, 1, 2, attributes)).activity  # type: ignore[union-attr]


def test_a_span_without_org_gets_the_tokens_and_keeps_its_user(spans: SpanCapture) -> None:
    attributes = _attributes(spans)
    assert admit(attributes, _token()) is None
    row = _row(attributes)
    assert row["org_id"] == ORG and row["user_id"] == USER and row["team_id"] is None


def test_a_span_of_the_tokens_org_is_taken_as_it_is(spans: SpanCapture) -> None:
    attributes = _attributes(spans, org_id=ORG)
    before = dict(attributes)
    assert admit(attributes, _token()) is None and attributes == before


def test_a_span_claiming_another_org_is_rejected_never_restamped(spans: SpanCapture) -> None:
    attributes = _attributes(spans, org_id=OTHER_ORG)
    assert admit(attributes, _token()) is Rejection.OTHER_ORG
    assert attributes[attr.ACTIVITY_ORG_ID] == str(OTHER_ORG)


def test_teams_must_be_the_tokens(spans: SpanCapture) -> None:
    one_team = _token(frozenset({TEAM}))
    two_teams = _token(frozenset({TEAM, OTHER_TEAM}))
    assert admit(_attributes(spans, team_id=OTHER_TEAM), _token()) is Rejection.OTHER_TEAM
    assert admit(_attributes(spans, team_id=OTHER_TEAM), one_team) is Rejection.OTHER_TEAM
    assert admit(_attributes(spans, team_id=OTHER_TEAM), two_teams) is None
    stamped = _attributes(spans)
    assert admit(stamped, one_team) is None
    assert _row(stamped)["team_id"] == TEAM  # the token's only team
    unstamped = _attributes(spans)
    assert admit(unstamped, two_teams) is None
    assert _row(unstamped)["team_id"] is None  # which of two? neither


@pytest.mark.parametrize("org", ["x-1", "", 7, ("a",)])
def test_an_org_that_is_not_a_uuid_is_another_org(spans: SpanCapture, org: object) -> None:
    attributes = {**_attributes(spans), attr.ACTIVITY_ORG_ID: org}
    assert admit(attributes, _token()) is Rejection.OTHER_ORG
