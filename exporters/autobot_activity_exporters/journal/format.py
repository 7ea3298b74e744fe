"""The journal's on-disk format: a versioned segment header, then CRC-framed records.

A segment starts with ``MAGIC`` and a format version. Each record is one frame::

    marker (4 bytes) | payload length (u32, little-endian) | CRC-32 of the payload (u32) | payload

The payload is an ``ActivitySnapshot`` as a MessagePack array (msgspec): no pickle, since
the journal folder is writable by the process being audited, and decoding it must not run
anything. The marker lets a reader find the next record after damage: a frame is only
believed when its CRC matches.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from autobot_activity_otel.snapshot import ActivitySnapshot, SnapshotEvent, StatusCode

MAGIC = b"ABTJRNL"
FORMAT_VERSION = 1
HEADER = MAGIC + bytes([FORMAT_VERSION])
HEADER_SIZE = len(HEADER)
MARKER = b"\xa7\x1bAJ"
_FRAME = struct.Struct("<4sII")
FRAME_OVERHEAD = _FRAME.size
MAX_RECORD_BYTES = 64 * 1024 * 1024
"""A larger length can only be damage: texts are capped long before (MAX_TEXT_CHARS)."""


def _plain(value: object) -> object:
    """What msgspec cannot encode by itself: the SDK's read-only attribute mappings."""
    if isinstance(value, Mapping):
        return dict(value)
    raise NotImplementedError(f"cannot journal a {type(value).__name__}")


_SURROGATES_EXT = 1
"""MessagePack extension type of a string that is not valid Unicode text (lone surrogates):
kept exactly as given, so the row builder repairs and notes it as it would a live span."""


def _with_surrogates(value: object) -> object:
    """``value`` with every string that UTF-8 refuses as an extension (the slow path)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return msgspec.msgpack.Ext(_SURROGATES_EXT, value.encode("utf-8", "surrogatepass"))
        return value
    if isinstance(value, Mapping):
        return {_with_surrogates(k): _with_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_with_surrogates(item) for item in value]
    return value


_DATETIME_EXT = 2


def _ext(code: int, data: memoryview) -> object:
    if code == _SURROGATES_EXT:
        return bytes(data).decode("utf-8", "surrogatepass")
    if code == _DATETIME_EXT:
        return datetime.fromisoformat(bytes(data).decode())
    raise ValueError(f"unknown extension {code}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_plain)
_decoder = msgspec.msgpack.Decoder(ext_hook=_ext)


class UnknownFormat(ValueError):
    """A segment that does not start with this journal's header (damage, or a newer version)."""


def _time(value: int | datetime | None) -> int | msgspec.msgpack.Ext | None:
    """Epoch ns as they are; a foreign producer's ``datetime`` as it was given (with or
    without a time zone: the row builder notes the difference)."""
    if isinstance(value, datetime):
        return msgspec.msgpack.Ext(_DATETIME_EXT, value.isoformat().encode())
    return value


def _sequences_as_tuples(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """MessagePack arrays come back as lists; span attributes hold tuples."""
    return {
        key: tuple(value) if type(value) is list else value for key, value in attributes.items()
    }


def encode(snapshot: ActivitySnapshot) -> bytes:
    """One whole frame for the snapshot (the writer appends it with a single ``write``)."""
    return frame(
        snapshot.name,
        snapshot.trace_id,
        snapshot.span_id,
        snapshot.parent_span_id,
        snapshot.start_ns,
        snapshot.end_ns,
        int(snapshot.status_code),
        snapshot.status_description,
        snapshot.attributes,
        [(event.name, event.time_ns, event.attributes) for event in snapshot.events],
    )


def frame(
    name: str,
    trace_id: int,
    span_id: int,
    parent_span_id: int | None,
    start: int | datetime | None,
    end: int | datetime | None,
    status_code: int,
    status_description: str | None,
    attributes: Mapping[str, Any],
    events: Sequence[tuple[str, int, Mapping[str, Any]]],
) -> bytes:
    """A snapshot's fields as one frame: the record layout ``decode`` reads, in one place.

    Takes the fields rather than a snapshot so that the span processor can frame an SDK span
    without building one (``spans.frame_of``), which is most of what journaling costs.
    """
    record = (
        name,
        trace_id.to_bytes(16, "big"),
        span_id,
        parent_span_id,
        _time(start),
        _time(end),
        status_code,
        status_description,
        attributes,
        events,
    )
    try:
        payload = _encoder.encode(record)
    except UnicodeEncodeError:
        payload = _encoder.encode(_with_surrogates(record))
    return _FRAME.pack(MARKER, len(payload), zlib.crc32(payload)) + payload


def decode(payload: bytes | memoryview) -> ActivitySnapshot:
    """The snapshot in a payload whose CRC matched; ``ValueError`` if it is not one."""
    try:
        (name, trace_id, span_id, parent, start, end, code, description, attributes, events) = (
            _decoder.decode(payload)
        )
        return ActivitySnapshot(
            name=str(name),
            trace_id=int.from_bytes(trace_id, "big"),
            span_id=int(span_id),
            start_ns=start,
            end_ns=end,
            attributes=_sequences_as_tuples(attributes),
            parent_span_id=parent,
            status_code=StatusCode(code),
            status_description=description,
            events=tuple(
                SnapshotEvent(str(event_name), int(time_ns), _sequences_as_tuples(event_attrs))
                for event_name, time_ns, event_attrs in events
            ),
        )
    except (msgspec.DecodeError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not an activity record ({type(exc).__name__})") from None


def check_header(data: bytes) -> None:
    """Raise ``UnknownFormat`` unless ``data`` starts with this version's header."""
    if data[: len(MAGIC)] != MAGIC:
        raise UnknownFormat("not a journal segment")
    if len(data) < HEADER_SIZE or data[len(MAGIC)] != FORMAT_VERSION:
        version = data[len(MAGIC)] if len(data) >= HEADER_SIZE else None
        raise UnknownFormat(
            f"journal format version {version} (this version reads {FORMAT_VERSION})"
        )


@dataclass(frozen=True, slots=True)
class Frame:
    """A complete, CRC-checked record at ``offset`` (relative to the scanned buffer)."""

    offset: int
    end: int
    payload: memoryview


@dataclass(frozen=True, slots=True)
class Damage:
    """Bytes from ``offset`` to ``end`` that are no record; a valid record starts at ``end``."""

    offset: int
    end: int


@dataclass(frozen=True, slots=True)
class Scan:
    """What ``scan`` found, in order, and where it stopped: everything before ``stop`` is
    accounted for; from ``stop`` on is an incomplete record, or nothing."""

    items: list[Frame | Damage]
    stop: int


def scan(data: bytes, *, final: bool, limit: int) -> Scan:
    """Up to ``limit`` records in ``data`` (which starts at a record boundary), with any
    damage between them.

    An incomplete record ends the scan: one still being written, unless ``final`` (the
    writer is gone and ``data`` runs to the end of the segment). Then, and after bytes that
    are no frame, the scan resumes at the next CRC-valid frame; with none, it stops there
    and the caller sees the tail from ``stop`` on.
    """
    view = memoryview(data)
    items: list[Frame | Damage] = []
    frames = 0
    offset = 0
    while offset < len(view) and frames < limit:
        found = _frame_at(view, offset)
        if isinstance(found, Frame):
            items.append(found)
            frames += 1
            offset = found.end
            continue
        if found == "incomplete" and not final:
            break
        resume = _next_frame(data, view, offset + 1)
        if resume is None:
            break
        items.append(Damage(offset, resume))
        offset = resume
    return Scan(items, offset)


def wanted_length(data: bytes) -> int | None:
    """The whole frame's length when ``data`` starts with a frame header, else None."""
    if len(data) < FRAME_OVERHEAD:
        return None
    marker, length, _crc = _FRAME.unpack_from(data, 0)
    if marker != MARKER or length > MAX_RECORD_BYTES:
        return None
    return FRAME_OVERHEAD + int(length)


def _frame_at(view: memoryview, offset: int) -> Frame | str:
    """The frame at ``offset``, or ``"incomplete"`` (a valid start, cut short), or ``"bad"``."""
    available = len(view) - offset
    if available < FRAME_OVERHEAD:
        prefix = min(available, len(MARKER))
        return "incomplete" if view[offset : offset + prefix] == MARKER[:prefix] else "bad"
    marker, length, crc = _FRAME.unpack_from(view, offset)
    if marker != MARKER or length > MAX_RECORD_BYTES:
        return "bad"
    end = offset + FRAME_OVERHEAD + length
    if end > len(view):
        return "incomplete"
    payload = view[offset + FRAME_OVERHEAD : end]
    if zlib.crc32(payload) != crc:
        return "bad"
    return Frame(offset, end, payload)


def _next_frame(data: bytes, view: memoryview, start: int) -> int | None:
    """The offset of the next complete, CRC-valid frame at or after ``start``."""
    position = start
    while (found := data.find(MARKER, position)) != -1:
        if isinstance(_frame_at(view, found), Frame):
            return found
        position = found + 1
    return None
