"""Timeline index: nesting depths and level-of-detail summaries, built once at ingest.

Pure numpy, no I/O. Units: every time is integer nanoseconds from the profile
start (`*_ns`); a *segment* is one (track, depth) row of non-overlapping slices.

Level of detail. Level L buckets time into 2**L ns buckets and keeps, per
segment, the longest slice starting in each bucket. Within a segment slices do
not overlap, so a slice longer than its bucket is always the longest one
starting there: every slice longer than the bucket width survives, and
zooming in (smaller L) reaches every slice. Level L+1 is built from the
representatives of level L (the longest of two sub-buckets' longest), so
building all levels costs about 2n. A level is stored only if it halves the
previous stored one; otherwise the level table points at the finer block, which
at most doubles what a query returns.

Query. Each segment's slices, and each summary block (its slice references, in one
pool), are sorted by start, so one C call binary-searches the window in every
segment's block: O(segments · log n + output) per viewport, independent of the
profile size, with no sort keys stored beside the slices.

Self times (ingest's tables read them, a viewer does not) come last: `build` returns
the final index while a thread computes them (`self_times`), so that ingest can write
and serve the index first; reading `ev_self` or `ev_nested` waits for that thread.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np

from xdiag.analysis._intervals import build_lod, find_ranges, self_times, sort_slices
from xdiag.core import threads
from xdiag.xplane.arrays import index_type

LMIN = 10  # finest summarised level: 1.024 µs buckets; below that, raw slices
MAX_TBITS = 46  # profiles up to ~19.5 h


class _SelfTimes:
    """The self times of an index, computed by a thread once the index is final, so
    that the index can be written and served before them (`sort_slices` defers them,
    `self_times` computes them: ~30% of the sort's CPU). Reading `ev_self` or
    `ev_nested` waits for them."""

    def __init__(self, run: Any) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(run,),
                                        name="xdiag-self-times", daemon=True)
        self._thread.start()

    def _run(self, run: Any) -> None:
        try:
            run()
        except BaseException as exc:  # re-raised where the values are read
            self._error = exc

    def wait(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


class _Awaited:
    """A dataclass field whose value `_SelfTimes` may still be computing."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return None  # the field's default
        pending = obj.__dict__.get("_pending")
        if pending is not None:
            pending.wait()
        return obj.__dict__.get(self.slot)

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


@dataclasses.dataclass
class TimelineIndex:
    """One host's slices, sorted by (track, depth, start), with LOD blocks."""

    ev_start: np.ndarray  # int64 [n] ns
    ev_end: np.ndarray  # int64 [n] ns
    ev_name: np.ndarray  # int32 [n] index into the host's name table
    ev_src: np.ndarray  # int64 [n] index of the event in the reader's order (event id - base)
    seg_track: np.ndarray  # int32 [S]
    seg_depth: np.ndarray  # int32 [S]
    seg_ptr: np.ndarray  # int64 [S+1] slice range of each segment in ev_*
    lod_block: np.ndarray  # int32 [S, NL] summary block for level LMIN + i; -1: use raw
    block_ptr: np.ndarray  # int64 [B+1] range of each summary block in the pool
    pool_ref: np.ndarray  # int32/int64 [P] index into ev_*, each block sorted by start
    tbits: int
    end_ns: int
    # Built with `lines`, for ingest's tables only (not stored): each slice's self time
    # (int64 ns; concurrent slices share what they overlap, so a track's self times add
    # up to its busy time) and whether it nests in another slice (bool). Computed by a
    # thread after `build` returns: reading them waits for it.
    ev_self: np.ndarray | None = _Awaited()  # type: ignore[assignment]
    ev_nested: np.ndarray | None = _Awaited()  # type: ignore[assignment]

    def arrays(self) -> dict[str, np.ndarray]:
        """The stored arrays (what a viewer reads)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("ev_self", "ev_nested")
                and isinstance(getattr(self, f.name), np.ndarray)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TimelineIndex:
        return cls(**{k: v for k, v in arrays.items() if k in cls.__dataclass_fields__},
                   tbits=int(meta["tbits"]), end_ns=int(meta["end_ns"]))

    def meta(self) -> dict[str, Any]:
        return {"tbits": self.tbits, "end_ns": self.end_ns}

    @property
    def num_events(self) -> int:
        return int(self.ev_start.shape[0])

    def track_depths(self, num_tracks: int) -> np.ndarray:
        """Max depth + 1 of each track (0 for an empty track)."""
        out = np.zeros(num_tracks, dtype=np.int64)
        if len(self.seg_track):
            np.maximum.at(out, self.seg_track, self.seg_depth + 1)
        return out

    def track_counts(self, num_tracks: int) -> np.ndarray:
        sizes = np.diff(self.seg_ptr)
        return np.bincount(self.seg_track, weights=sizes, minlength=num_tracks).astype(np.int64)

    def depth_of(self, ev: np.ndarray) -> np.ndarray:
        seg = np.searchsorted(self.seg_ptr, ev, side="right") - 1
        return self.seg_depth[seg]


def build(track: np.ndarray, start_ns: np.ndarray, end_ns: np.ndarray,
          name: np.ndarray, lanes: np.ndarray | None = None,
          lines: np.ndarray | None = None) -> TimelineIndex:
    """Build the index of one host.

    Depth is a *row*: a slice nests (one row below its parent) only under a slice of the
    same line (host thread) that contains it; slices that merely overlap take the lowest
    row free at their start. So no two slices of one row overlap, and depth means nesting
    only where events truly nest (see row_pass in _intervals.c).

    Args:
      track: int [n] track of each event (host-local track number).
      start_ns, end_ns: int64 [n] times in ns from the profile start (end >= start >= 0).
      name: int [n] name id of each event.
      lanes: bool per track: nothing on it nests (GPU kernels): every slice takes the
        lowest free row (lane).
      lines: int [n] the line (thread) of each event, >= 0. With it, the index also
        carries each slice's self time and nested flag (`ev_self`, `ev_nested`).
    """
    return build_moved({"track": track, "start_ns": start_ns, "end_ns": end_ns, "name": name,
                        "lines": lines}, lanes)


def build_moved(inputs: dict[str, np.ndarray | None],
                lanes: np.ndarray | None = None) -> TimelineIndex:
    """`build` of `inputs` (`track`, `start_ns`, `end_ns`, `name`, `lines`: build's
    arguments), which it empties once the slices are sorted: the arrays a caller holds
    no other reference to are freed then, before the level-of-detail blocks and self
    times are made (at 3M events, ~70 MB off ingest's peak)."""
    track, start_ns, end_ns = inputs.pop("track"), inputs.pop("start_ns"), inputs.pop("end_ns")
    name, lines = inputs.pop("name"), inputs.pop("lines", None)
    assert track is not None and start_ns is not None and end_ns is not None \
        and name is not None
    n = int(start_ns.shape[0])
    # Tracks and lines go to the sort as int16 or int32 (int16: less held at its peak).
    narrow = (np.dtype(np.int16), np.dtype(np.int32))
    track = np.asarray(track)
    track = np.ascontiguousarray(track if track.dtype in narrow else track.astype(np.int32))
    start_in = np.ascontiguousarray(start_ns, dtype=np.int64)
    end_in = np.ascontiguousarray(end_ns, dtype=np.int64)
    del start_ns, end_ns
    t_end = int(max(int(end_in.max()), int(start_in.max()))) + 1 if n else 1
    tbits = max(1, int(t_end).bit_length())
    if tbits > MAX_TBITS:
        raise ValueError(f"profile spans {t_end / 3.6e12:.1f} h; at most "
                         f"{2**MAX_TBITS / 3.6e12:.1f} h is supported")

    # 1-3. Order by (track, depth, start, -end) with parents before children at equal
    #    starts, depths by nesting (or lanes), and the (track, depth) segments: one C call.
    n_tracks = int(track.max()) + 1 if n else 0
    laned = np.zeros(n_tracks, np.uint8)
    if lanes is not None:
        flags = np.asarray(lanes, dtype=bool)[:n_tracks]
        laned[:len(flags)] = flags
    order = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    depth = np.empty(n, np.int32)
    ref_dtype = index_type(n)
    # The sort's workers also carry each slice's name and input position into the order.
    ev_name = np.empty(n, np.int32)
    ev_src = np.empty(n, ref_dtype)
    extra: tuple[Any, ...] = ()
    parent = None
    if lines is not None:
        # Self times deferred: `order` then says where each slice (in start order) went,
        # and `parent` its parent; `self_times` computes them once the index is final.
        parent = np.empty(n, ref_dtype)
        none = np.empty(0, np.uint8)
        lines = np.asarray(lines)
        lines = np.ascontiguousarray(lines if lines.dtype in narrow else
                                     lines.astype(np.int32))
        extra = (lines, none, none, parent)
    ptr_b, track_b, depth_b = sort_slices(track, start_in, end_in, laned,
                                          order, start, end, depth, threads.count(),
                                          np.ascontiguousarray(name, np.int32), ev_name, ev_src,
                                          *extra)
    del start_in, end_in, depth, track, name, lines, extra  # the inputs: freed if moved
    if parent is not None and ref_dtype == np.int32:  # kept until self_times has run
        order = order.astype(np.int32)
    seg_ptr = np.frombuffer(ptr_b, np.int64).copy()
    seg_track = np.frombuffer(track_b, np.int32).copy()
    seg_depth = np.frombuffer(depth_b, np.int32).copy()
    n_seg = len(seg_track)

    # 4. Level-of-detail blocks. The raw level needs no copy: the segments are sorted.
    n_levels = max(1, tbits - LMIN + 1)
    # Each stored level at most halves the one before, so all blocks fit in n slots.
    pool_ref = np.empty(n, dtype=ref_dtype)
    lod_block = np.full((n_seg, n_levels), -1, dtype=np.int32)
    block_ptr = np.frombuffer(build_lod(start, end, seg_ptr, LMIN, n_levels, pool_ref,
                                        pool_ref.itemsize, lod_block, threads.count()),
                              np.int64).copy()
    used = int(block_ptr[-1])
    pool_ref = pool_ref[:used]
    if used < n // 2:  # a view would keep the whole n-slot buffer alive
        pool_ref = pool_ref.copy()
    idx = TimelineIndex(
        ev_start=start, ev_end=end, ev_name=ev_name, ev_src=ev_src, seg_track=seg_track,
        seg_depth=seg_depth, seg_ptr=seg_ptr, lod_block=lod_block, block_ptr=block_ptr,
        pool_ref=pool_ref, tbits=tbits, end_ns=t_end)
    if parent is not None:
        ev_self, ev_nested = np.empty(n, np.int64), np.empty(n, np.uint8)
        idx.ev_self, idx.ev_nested = ev_self, ev_nested.view(bool)

        def run(place: np.ndarray = order, parent: np.ndarray = parent) -> None:
            self_times(start, end, seg_ptr, seg_track, place, parent, ev_self, ev_nested,
                       threads.count())

        idx.__dict__["_pending"] = _SelfTimes(run)
    del order, parent
    return idx


def level_for(start_ns: int, end_ns: int, width_px: int) -> int:
    """The LOD level for a viewport: at most two buckets per pixel (between one and two).

    Rounding the bucket up, not down, keeps a window from getting up to four slices per
    pixel per depth when its width falls just below a power of two.
    """
    bucket = max(1.0, (end_ns - start_ns) / (2.0 * max(1, width_px)))
    return int(np.ceil(np.log2(bucket)))


@dataclasses.dataclass
class Ranges:
    """Where one host's slices in a viewport are: per queried segment, a position range
    of its raw slices or, where `pooled`, of the LOD pool (`emit_slices` writes
    their slices into a response's columns)."""

    segs: np.ndarray  # int64 [m] segment ids
    lo: np.ndarray  # int64 [m]
    hi: np.ndarray  # int64 [m]
    pooled: np.ndarray  # uint8 [m]
    in_window: np.ndarray  # int64 [tracks] every slice of each track intersecting the window
    returned: np.ndarray  # int64 [tracks]
    bucket_ns: int

    @property
    def count(self) -> int:
        return int(np.maximum(self.hi - self.lo, 0).sum())


def ranges(idx: TimelineIndex, start_ns: int, end_ns: int, width_px: int, num_tracks: int,
           tracks: np.ndarray | None = None) -> Ranges:
    """The viewport [start_ns, end_ns) of every (selected) track at about 2 slices per pixel
    per depth, as position ranges."""
    segs = np.arange(len(idx.seg_track), dtype=np.int64)
    if tracks is not None:
        # A mask by track, not np.isin (a tenth of a 3M window's server time, for ~10 ids).
        wanted = np.zeros(max(num_tracks, int(idx.seg_track.max(initial=0)) + 1), dtype=bool)
        wanted[tracks] = True
        segs = segs[wanted[idx.seg_track]]
    level = level_for(start_ns, end_ns, width_px)
    li = level - LMIN
    n_levels = idx.lod_block.shape[1]
    if li < 0 or n_levels == 0:
        blocks, bucket_ns = np.full(len(segs), -1, dtype=np.int64), 0
    else:
        blocks = idx.lod_block[segs, min(li, n_levels - 1)].astype(np.int64)
        bucket_ns = 1 << level
    tmax = (1 << idx.tbits) - 1
    raw_lo, raw_hi = (np.frombuffer(b, np.int64) for b in find_ranges(
        idx.ev_start, idx.ev_end, idx.seg_ptr, b"", segs, start_ns, end_ns, tmax))
    lo, hi = raw_lo.copy(), raw_hi.copy()
    summ = blocks >= 0
    if np.any(summ):
        lo[summ], hi[summ] = (np.frombuffer(b, np.int64) for b in find_ranges(
            idx.ev_start, idx.ev_end, idx.block_ptr, idx.pool_ref,
            np.ascontiguousarray(blocks[summ]), start_ns, end_ns, tmax))
    seg_tracks = idx.seg_track[segs]
    in_window = np.bincount(seg_tracks, weights=raw_hi - raw_lo, minlength=num_tracks)
    returned = np.bincount(seg_tracks, weights=hi - lo, minlength=num_tracks)
    return Ranges(segs=segs, lo=lo, hi=hi, pooled=summ.astype(np.uint8),
                  in_window=in_window.astype(np.int64), returned=returned.astype(np.int64),
                  bucket_ns=bucket_ns)

