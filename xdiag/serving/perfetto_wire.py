"""Perfetto trace wire format, written directly: slices as columns, not message objects.

Pure (bytes and arrays in, bytes out). A `Trace` is a stream of `packet` fields
(tag 0x0A, length, TracePacket); building one upb message per slice cost ~5 µs,
so slice packets are encoded for a whole column of slices at once: every field's
byte length first, the positions from one cumulative sum, then each field written
at all positions in one numpy pass (varints one byte-column at a time: `core/varint.py`).

Field numbers are those of perfetto/protos/perfetto/trace/trace_packet.proto and
track_event/{track_event,track_descriptor}.proto; tests decode the output with the
`perfetto` package's own classes.
"""

from __future__ import annotations

import numpy as np

from xdiag.core.varint import put_varint, varint, varint_len

# TracePacket fields (field << 3 | wire type)
_TIMESTAMP = 0x40  # 8, varint
_SEQUENCE_ID = 0x50  # 10 trusted_packet_sequence_id, varint
_TRACK_EVENT = 0x5A  # 11, message
_SEQUENCE_FLAGS = 0x68  # 13, varint
# TrackEvent fields
_TE_TYPE = 0x48  # 9
_TE_TRACK_UUID = 0x58  # 11
_TE_NAME_IID = 0x50  # 10

SEQ_INCREMENTAL_STATE_CLEARED = 1
SEQ_NEEDS_INCREMENTAL_STATE = 2
TYPE_SLICE_BEGIN = 1
TYPE_SLICE_END = 2

def field_varint(field: int, v: int) -> bytes:
    return varint(field << 3) + varint(v)


def field_bytes(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def text(s: str) -> bytes:
    # Names come from the profile: a lone surrogate (an undecodable byte) must not fail
    # the export half-way; it is written as "?".
    return s.encode("utf-8", "replace")


def packet(body: bytes) -> bytes:
    """One TracePacket framed as a field of `Trace`."""
    return field_bytes(1, body)


def track_descriptor(uuid: int, name: str, *, parent_uuid: int | None = None,
                     pid: int | None = None) -> bytes:
    """A TrackDescriptor packet; with `pid`, a process track named `name`."""
    body = field_varint(1, uuid)
    if pid is not None:
        # ProcessDescriptor: pid = 1, process_name = 6
        body += field_bytes(3, field_varint(1, pid) + field_bytes(6, text(name)))
    else:
        body += field_bytes(2, text(name))
    if parent_uuid is not None:
        body += field_varint(5, parent_uuid)
    return packet(field_bytes(60, body))  # TracePacket.track_descriptor


def interned_names(seq_id: int, names: list[str]) -> bytes:
    """The first packet of a sequence: clears its incremental state and interns the
    event names, name i getting iid i + 1 (iid 0 means "none")."""
    # InternedData.event_names = 2, each EventName {iid = 1, name = 2}
    entries = b"".join(field_bytes(2, field_varint(1, i + 1) + field_bytes(2, text(n)))
                       for i, n in enumerate(names))
    # trusted_packet_sequence_id = 10, sequence_flags = 13, incremental_state_cleared = 41,
    # interned_data = 12
    body = (field_varint(10, seq_id) + field_varint(13, SEQ_INCREMENTAL_STATE_CLEARED)
            + field_varint(41, 1) + field_bytes(12, entries))
    return packet(body)


def slice_events(seq_id: int, ts: np.ndarray, track_uuid: np.ndarray, name_iid: np.ndarray,
                 is_end: np.ndarray) -> np.ndarray:
    """Framed TracePackets, one per row: a TYPE_SLICE_BEGIN (with `name_iid`) or, where
    `is_end`, a TYPE_SLICE_END on `track_uuid` at `ts`, on sequence `seq_id`.

    Args:
      ts: uint64 [k] timestamps (ns).
      track_uuid, name_iid: uint64 [k]; name_iid is ignored on ends.
      is_end: bool [k].
    Returns: uint8 bytes of the k packets, in row order.
    """
    begin = ~is_end
    tail = bytes([_SEQUENCE_ID]) + varint(seq_id) + bytes([_SEQUENCE_FLAGS,
                                                            SEQ_NEEDS_INCREMENTAL_STATE])
    l_ts, l_uuid = varint_len(ts), varint_len(track_uuid)
    b_rows = np.flatnonzero(begin)
    iid = name_iid[b_rows]
    l_iid = varint_len(iid)
    # TrackEvent: type (2 bytes), track_uuid (1 + l_uuid), name_iid on begins (1 + l_iid):
    # at most 24 bytes, and the whole packet at most 48: every length is one byte.
    te_len = 3 + l_uuid
    te_len[b_rows] += 1 + l_iid
    body_len = 1 + l_ts + 2 + te_len + len(tail)
    rec_len = 2 + body_len
    ends = np.cumsum(rec_len)
    buf = np.empty(int(ends[-1]) if len(ends) else 0, np.uint8)
    pos = ends - rec_len
    buf[pos] = 0x0A
    buf[pos + 1] = body_len
    buf[pos + 2] = _TIMESTAMP
    pos += 3
    put_varint(buf, pos, ts, l_ts)
    pos += l_ts
    buf[pos] = _TRACK_EVENT
    buf[pos + 1] = te_len
    buf[pos + 2] = _TE_TYPE
    buf[pos + 3] = np.where(is_end, TYPE_SLICE_END, TYPE_SLICE_BEGIN)
    buf[pos + 4] = _TE_TRACK_UUID
    pos += 5
    put_varint(buf, pos, track_uuid, l_uuid)
    pos += l_uuid
    pb = pos[b_rows]
    buf[pb] = _TE_NAME_IID
    put_varint(buf, pb + 1, iid, l_iid)
    pos[b_rows] += 1 + l_iid
    for k, byte in enumerate(tail):
        buf[pos + k] = byte
    return buf
