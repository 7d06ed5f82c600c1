"""Export a profile's whole timeline as a Perfetto trace (TrackEvent protobuf).

Every event of every track is written (nothing summarised): one process track per
host, one track per timeline track, and each slice as a BEGIN/END pair. A Perfetto
track holds properly nested slices only, so a slice that its index parent (the slice
one depth up that starts last before it) does not contain goes to a child track of
its track for its depth: a lane of a kernel track (GPU streams, where overlap is not
nesting), else an "overlapping" track. Slices of one (track, depth) never overlap
(the index's segments), so every child track is valid and every slice keeps its
exact start and duration.

Everything that can fail happens in `perfetto_packets` itself (ordering, the time
base, the track table): the bytes are then produced chunk by chunk, so a client
never gets a 200 followed by a truncated file, and the whole trace is never in
memory. The packets are written columnar by `perfetto_wire`, one sequence per host
whose event names are interned once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from xdiag.analysis.timeline import TimelineIndex
from xdiag.core.errors import InvalidProfile
from xdiag.serving import perfetto_wire as wire
from xdiag.serving.profile import HostData, ProfileData

SEQ = 0x5844  # trusted_packet_sequence_id of the first host ("XD"); host i is SEQ + i
CHUNK_PACKETS = 1 << 17  # slice packets per streamed chunk (~3-4 MiB)
INT63 = 1 << 63  # trace_processor keeps timestamps as int64


@dataclass
class _HostPlan:
    seq: int
    names: list[str]
    start: np.ndarray  # int64 [n] ns from the profile start, index order
    end: np.ndarray  # int64 [n]
    name: np.ndarray  # int [n] index into names
    uuid: np.ndarray  # uint64 [n] Perfetto track of each slice
    order: np.ndarray  # int64 [2n] packets in trace order: slice << 1 | is_end


def perfetto_packets(data: ProfileData) -> Iterator[bytes]:
    """The profile's Perfetto trace as a stream of byte chunks (a `Trace` message).

    Plans the whole export before returning, so any error is raised here, before
    the first byte; iterating then only encodes.
    """
    hosts = data.hosts
    tracks = data.tracks
    base = _time_base(int(data.manifest.get("t0_ns") or 0), hosts)
    # Track uuids: hosts 1..H, timeline tracks after them by id, child tracks after those.
    host_uuid = {h.host: 1 + i for i, h in enumerate(hosts)}
    track_uuid0 = 1 + len(hosts)
    next_uuid = track_uuid0 + len(tracks)
    head = [wire.track_descriptor(host_uuid[h.host], h.host, pid=i + 1)
            for i, h in enumerate(hosts)]
    head += [wire.track_descriptor(track_uuid0 + t["id"], t["name"],
                                   parent_uuid=host_uuid[t["host"]]) for t in tracks]
    laned = np.array([bool(t.get("lanes")) for t in tracks] or [False])
    plans = []
    for i, h in enumerate(hosts):
        plan, children = _plan_host(h, SEQ + i, laned, track_uuid0, next_uuid)
        for tid, depth in children:
            t = tracks[tid]
            title = (f"{t['name']} · lane {depth}" if laned[tid]
                     else f"overlapping · depth {depth}")
            head.append(wire.track_descriptor(next_uuid, title, parent_uuid=track_uuid0 + tid))
            next_uuid += 1
        plans.append(plan)
    return _stream(b"".join(head), plans, base)


def _stream(head: bytes, plans: list[_HostPlan], base: int) -> Iterator[bytes]:
    yield head
    for p in plans:
        yield wire.interned_names(p.seq, p.names)
        for a in range(0, len(p.order), CHUNK_PACKETS):
            o = p.order[a:a + CHUNK_PACKETS]
            s = o >> 1
            is_end = (o & 1).astype(bool)
            ts = np.where(is_end, p.end[s], p.start[s])
            ts += base
            yield wire.slice_events(p.seq, ts.view(np.uint64), p.uuid[s],
                                    p.name[s].astype(np.uint64) + np.uint64(1),
                                    is_end).tobytes()


def _time_base(t0: int, hosts: list[HostData]) -> int:
    """What to add to the index's times: the profile's absolute start where every
    timestamp then fits trace_processor's int64 (>= 0), else the earliest start, so
    the trace begins at 0 (a profile whose clock was before 1970 or near 2262)."""
    lo = min((int(h.index.ev_start.min()) for h in hosts if h.index.num_events), default=0)
    hi = max((int(h.index.ev_end.max()) for h in hosts if h.index.num_events), default=0)
    if hi - lo >= INT63:
        raise InvalidProfile(f"the profile's events span {(hi - lo) / 3.6e12:.0f} h, more "
                             "than a Perfetto trace can hold")
    return t0 if 0 <= t0 + lo and t0 + hi < INT63 else -lo


def _plan_host(h: HostData, seq: int, laned: np.ndarray, track_uuid0: int,
               next_uuid: int) -> tuple[_HostPlan, list[tuple[int, int]]]:
    """One host's slices: the Perfetto track of each, and the order of their packets.

    Returns the plan and the child tracks it uses, (timeline track id, depth) in the
    order of the uuids given to them from `next_uuid` on.
    """
    idx = h.index
    n = idx.num_events
    start, end = idx.ev_start, idx.ev_end
    if n and bool((end < start).any()):  # ingest clamps; never let it break the pairs
        end = np.maximum(end, start)
    sizes = np.diff(idx.seg_ptr)
    depth = np.repeat(idx.seg_depth, sizes).astype(np.int64)
    track = np.repeat(idx.seg_track, sizes).astype(np.int64) + h.track_base
    nested = _nested(idx, start, end, laned[idx.seg_track + h.track_base]
                     if len(idx.seg_track) else np.zeros(0, bool))
    uuid = (track + track_uuid0).astype(np.uint64)
    children: list[tuple[int, int]] = []
    out = np.flatnonzero(~nested)
    if len(out):
        key = track[out] << 32 | depth[out]
        keys, inverse = np.unique(key, return_inverse=True)
        uuid[out] = (next_uuid + inverse).astype(np.uint64)
        children = [(int(k >> 32), int(k & 0xFFFFFFFF)) for k in keys]
    return _HostPlan(seq=seq, names=h.names, start=start, end=end, name=idx.ev_name,
                     uuid=uuid, order=_packet_order(start, end, depth)), children


def _nested(idx: TimelineIndex, start: np.ndarray, end: np.ndarray, seg_laned: np.ndarray) -> np.ndarray:
    """Which slices nest in their track: depth 0, or contained in their index parent
    (the last slice one depth up starting at or before them) which nests itself.
    Zero-length slices contain nothing, and one at its parent's end is not inside it,
    as in the index's own nesting; but an instant overlaps nothing partially, so every
    zero-length slice nests. Kernel tracks (lanes) nest nothing."""
    nested = start == end
    ptr, seg_track, seg_depth = idx.seg_ptr, idx.seg_track, idx.seg_depth
    for s in range(len(seg_track)):
        a, b = int(ptr[s]), int(ptr[s + 1])
        if seg_laned[s]:
            nested[a:b] = False
            continue
        if a == b:
            continue
        if seg_depth[s] == 0:
            nested[a:b] = True
            continue
        if s == 0 or seg_track[s - 1] != seg_track[s] or seg_depth[s - 1] != seg_depth[s] - 1:
            continue  # no parent row: a child track
        pa = int(ptr[s - 1])
        j = np.searchsorted(start[pa:a], start[a:b], side="right") - 1
        p = pa + np.maximum(j, 0)
        nested[a:b] |= (j >= 0) & nested[p] & (start[a:b] < end[p]) & (end[a:b] <= end[p])
    return nested


def _packet_order(start: np.ndarray, end: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Packets (slice << 1 | is_end) sorted so that a reader replaying them per track
    rebuilds each slice: by time; at one instant, first the ends of slices that end
    there (deepest first), then the begins (outermost first), a zero-length slice's
    begin and end together. Global time order also spares trace_processor a re-sort."""
    n = len(start)
    ts = np.empty(2 * n, np.int64)
    ts[0::2], ts[1::2] = start, end
    # Tie key: 0 | (maxd - depth) for ends of slices with a length, 1 | depth otherwise.
    maxd = int(depth.max()) if n else 0
    dbits = max(1, maxd.bit_length())
    tie = np.empty(2 * n, np.int64)
    tie[0::2] = depth | 1 << dbits
    tie[1::2] = np.where(end > start, maxd - depth, depth | 1 << dbits)
    lo = int(ts.min()) if n else 0
    span = int(ts.max()) - lo if n else 0
    if span.bit_length() + dbits + 1 <= 63:
        # One int64 key: the records come as one sorted run per segment, which
        # numpy's stable sort (timsort) merges; equal keys keep slice order.
        ts -= lo
        ts <<= dbits + 1
        ts |= tie
        return np.argsort(ts, kind="stable")
    return np.lexsort((tie, ts))
