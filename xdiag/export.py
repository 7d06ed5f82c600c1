"""Export a profile's whole timeline as a Perfetto trace (TrackEvent protobuf).

Every event of every track is written (nothing summarised): one process track
per host, one child track per timeline track, slices as BEGIN/END pairs
emitted in nesting order, names interned once per sequence.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

SEQ = 0x5844  # trusted_packet_sequence_id ("XD")


def perfetto_packets(data: Any) -> Iterator[bytes]:
    """Serialized TracePackets, each prefixed for a `Trace` stream (field 1, length)."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket, TrackEvent

    def framed(p: TracePacket) -> bytes:
        body = p.SerializeToString()
        return _varint(0x0A) + _varint(len(body)) + body

    t0 = int(data.manifest.get("t0_ns") or 0)
    first = TracePacket()
    first.trusted_packet_sequence_id = SEQ
    first.sequence_flags = TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
    first.incremental_state_cleared = True
    names: dict[str, int] = {}
    for h in data.hosts:
        for n in h.names:
            if n not in names:
                names[n] = len(names) + 1
                en = first.interned_data.event_names.add()
                en.iid, en.name = names[n], n
    yield framed(first)

    host_uuid = {h.host: 1_000_000 + i for i, h in enumerate(data.hosts)}
    for i, h in enumerate(data.hosts):
        p = TracePacket()
        p.track_descriptor.uuid = host_uuid[h.host]
        p.track_descriptor.process.pid = i + 1
        p.track_descriptor.process.process_name = h.host
        yield framed(p)
    for t in data.tracks:
        p = TracePacket()
        p.track_descriptor.uuid = 2_000_000 + t["id"]
        p.track_descriptor.parent_uuid = host_uuid[t["host"]]
        p.track_descriptor.name = t["name"]
        yield framed(p)

    for h in data.hosts:
        idx = h.index
        seg_of = np.repeat(np.arange(len(idx.seg_track)), np.diff(idx.seg_ptr))
        track = idx.seg_track[seg_of] if len(seg_of) else seg_of
        order = np.lexsort((-(idx.ev_end - idx.ev_start), idx.ev_start, track))
        stack: list[int] = []
        current = -1
        for pos in order.tolist():
            tr = int(track[pos])
            start, end = int(idx.ev_start[pos]), int(idx.ev_end[pos])
            if tr != current:
                while stack:
                    yield framed(_slice(TracePacket, TrackEvent, 2_000_000 + h.track_base + current,
                                        t0 + stack.pop(), None))
                current = tr
            while stack and stack[-1] <= start:
                yield framed(_slice(TracePacket, TrackEvent, 2_000_000 + h.track_base + tr,
                                    t0 + stack.pop(), None))
            yield framed(_slice(TracePacket, TrackEvent, 2_000_000 + h.track_base + tr,
                                t0 + start, names[h.names[int(idx.ev_name[pos])]]))
            stack.append(end)
        while stack:
            yield framed(_slice(TracePacket, TrackEvent, 2_000_000 + h.track_base + current,
                                t0 + stack.pop(), None))


def _slice(TracePacket: Any, TrackEvent: Any, uuid: int, ts: int, name_iid: int | None) -> Any:
    p = TracePacket()
    p.timestamp = ts
    p.trusted_packet_sequence_id = SEQ
    p.sequence_flags = TracePacket.SEQ_NEEDS_INCREMENTAL_STATE
    p.track_event.track_uuid = uuid
    if name_iid is None:
        p.track_event.type = TrackEvent.TYPE_SLICE_END
    else:
        p.track_event.type = TrackEvent.TYPE_SLICE_BEGIN
        p.track_event.name_iid = name_iid
    return p


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)
