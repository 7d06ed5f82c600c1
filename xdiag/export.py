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
    lane_tracks = set()
    for t in data.tracks:
        p = TracePacket()
        p.track_descriptor.uuid = TRACK_UUID + t["id"]
        p.track_descriptor.parent_uuid = host_uuid[t["host"]]
        p.track_descriptor.name = t["name"]
        yield framed(p)
        if t.get("lanes"):
            # Its slices overlap without nesting (GPU kernels), which a Perfetto track
            # cannot hold: one child track per lane, where slices never overlap.
            lane_tracks.add(t["id"])
            for lane in range(int(t.get("max_depth", 0))):  # max_depth: depths used
                p = TracePacket()
                p.track_descriptor.uuid = _lane_uuid(t["id"], lane)
                p.track_descriptor.parent_uuid = TRACK_UUID + t["id"]
                p.track_descriptor.name = f"{t['name']} · lane {lane}"
                yield framed(p)

    declared: set[int] = set()
    for h in data.hosts:
        idx = h.index
        seg_of = np.repeat(np.arange(len(idx.seg_track)), np.diff(idx.seg_ptr))
        track = (idx.seg_track[seg_of] if len(seg_of) else seg_of).astype(np.int64) + h.track_base
        laned = np.isin(track, np.fromiter(lane_tracks, np.int64, len(lane_tracks)))
        depth = idx.seg_depth[seg_of].astype(np.int64) if len(seg_of) else seg_of
        uuid = np.where(laned, _lane_uuid(track, depth), TRACK_UUID + track)
        order = np.lexsort((-(idx.ev_end - idx.ev_start), idx.ev_start, uuid))
        stack: list[int] = []
        current = -1
        for pos in order.tolist():
            u = int(uuid[pos])
            start, end = int(idx.ev_start[pos]), int(idx.ev_end[pos])
            if u != current:
                while stack:
                    yield framed(_slice(TracePacket, TrackEvent, current, t0 + stack.pop(), None))
                current = u
            while stack and stack[-1] <= start:
                yield framed(_slice(TracePacket, TrackEvent, u, t0 + stack.pop(), None))
            name = names[h.names[int(idx.ev_name[pos])]]
            if stack and end > stack[-1]:
                # Starts inside the open slice but outlives it: not nestable. It goes to
                # an overlap track for its depth, where slices never overlap.
                lu = int(_lane_uuid(track[pos], depth[pos]))
                if lu not in declared:
                    declared.add(lu)
                    p = TracePacket()
                    p.track_descriptor.uuid = lu
                    p.track_descriptor.parent_uuid = TRACK_UUID + int(track[pos])
                    p.track_descriptor.name = f"overlapping · depth {int(depth[pos])}"
                    yield framed(p)
                yield framed(_slice(TracePacket, TrackEvent, lu, t0 + start, name))
                yield framed(_slice(TracePacket, TrackEvent, lu, t0 + end, None))
                continue
            yield framed(_slice(TracePacket, TrackEvent, u, t0 + start, name))
            stack.append(end)
        while stack:
            yield framed(_slice(TracePacket, TrackEvent, current, t0 + stack.pop(), None))


TRACK_UUID = 2_000_000
LANES_PER_TRACK = 1 << 16


def _lane_uuid(track: Any, lane: Any) -> Any:
    return 1 << 40 | track * LANES_PER_TRACK + lane


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
