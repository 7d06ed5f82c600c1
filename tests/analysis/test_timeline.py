"""The timeline index against brute force on random nested traces."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from xdiag.analysis import timeline
from xdiag.core.pack import pack, unpack


def query(idx: timeline.TimelineIndex, start_ns: int, end_ns: int, width: int,
          num_tracks: int, tracks: np.ndarray | None = None) -> SimpleNamespace:
    """A viewport's slices as index positions (`ev`), its ranges expanded by hand (the
    service writes them straight into its wire columns: `emit_slices`)."""
    r = timeline.ranges(idx, start_ns, end_ns, width, num_tracks, tracks)
    parts = [idx.pool_ref[a:b] if p else np.arange(a, b)
             for a, b, p in zip(r.lo, r.hi, r.pooled, strict=True) if b > a]
    ev = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return SimpleNamespace(ev=ev, in_window=r.in_window, bucket_ns=r.bucket_ns)


def nested_trace(rng: np.random.Generator, n_tracks: int, n_top: int, span_ns: int):
    """Random properly nested slices: top-level slices with up to 3 levels of children."""
    tracks, starts, ends = [], [], []

    def children(t: int, a: int, b: int, level: int) -> None:
        if level > 3 or b - a < 8:
            return
        cuts = np.sort(rng.integers(a, b, size=2 * int(rng.integers(0, 4))))
        for s, e in zip(cuts[::2], cuts[1::2], strict=True):
            if e > s:
                tracks.append(t)
                starts.append(int(s))
                ends.append(int(e))
                children(t, int(s), int(e), level + 1)

    for t in range(n_tracks):
        cuts = np.sort(rng.choice(span_ns, size=2 * n_top, replace=False))
        for s, e in zip(cuts[::2], cuts[1::2], strict=True):
            tracks.append(t)
            starts.append(int(s))
            ends.append(int(e))
            children(t, int(s), int(e), 1)
    perm = rng.permutation(len(starts))  # the index must not rely on input order
    arr = lambda x: np.asarray(x, dtype=np.int64)[perm]  # noqa: E731
    return arr(tracks), arr(starts), arr(ends)


@pytest.fixture(scope="module")
def trace():
    rng = np.random.default_rng(7)
    track, start, end = nested_trace(rng, n_tracks=4, n_top=3000, span_ns=50_000_000)
    name = rng.integers(0, 50, size=len(start)).astype(np.int32)
    return track, start, end, name, timeline.build(track, start, end, name)


def test_every_event_kept_once(trace) -> None:
    _track, start, end, name, idx = trace
    assert idx.num_events == len(start)
    assert sorted(idx.ev_src.tolist()) == list(range(len(start)))
    np.testing.assert_array_equal(idx.ev_start, start[idx.ev_src])
    np.testing.assert_array_equal(idx.ev_end, end[idx.ev_src])
    np.testing.assert_array_equal(idx.ev_name, name[idx.ev_src])


def test_segments_do_not_overlap_and_nest(trace) -> None:
    *_, idx = trace
    for s in range(len(idx.seg_track)):
        a, b = idx.seg_ptr[s], idx.seg_ptr[s + 1]
        st, en = idx.ev_start[a:b], idx.ev_end[a:b]
        assert np.all(np.diff(st) >= 0)
        assert np.all(st[1:] >= en[:-1]), "slices of one depth overlap"
        if idx.seg_depth[s] > 0:  # every child lies inside a slice one level up
            parent = np.flatnonzero((idx.seg_track == idx.seg_track[s]) &
                                    (idx.seg_depth == idx.seg_depth[s] - 1))[0]
            pa, pb = idx.seg_ptr[parent], idx.seg_ptr[parent + 1]
            ps, pe = idx.ev_start[pa:pb], idx.ev_end[pa:pb]
            k = np.searchsorted(ps, st, side="right") - 1
            assert np.all(k >= 0) and np.all(pe[k] >= en)


@pytest.mark.parametrize("seed", range(12))
def test_query_matches_brute_force(trace, seed: int) -> None:
    track, start, end, _name, idx = trace
    rng = np.random.default_rng(seed)
    span = int(end.max())
    width = int(rng.choice([50, 300, 1500]))
    w0 = int(rng.integers(-1000, span))
    w1 = w0 + int(10 ** rng.uniform(2, np.log10(span * 1.2)))
    win = query(idx, w0, w1, width, num_tracks=4)
    got = set(idx.ev_src[win.ev].tolist())
    hit = (start < w1) & (end > w0)
    # Nothing outside the window, nothing returned twice.
    assert got <= set(np.flatnonzero(hit).tolist())
    assert len(got) == len(win.ev)
    # Every slice longer than the bucket is there.
    must = np.flatnonzero(hit & (end - start > win.bucket_ns))
    assert set(must.tolist()) <= got
    # Exact per-track counts of what the window holds.
    np.testing.assert_array_equal(win.in_window, np.bincount(track[hit], minlength=4))
    # About two slices per pixel per depth (the level table may point one level finer).
    depths = idx.track_depths(4).sum()
    assert len(win.ev) <= 4 * 2 * width * depths + 2 * depths + 8


def test_zooming_in_reaches_every_event(trace) -> None:
    _track, start, end, _, idx = trace
    i = int(np.argmin(end - start))
    win = query(idx, int(start[i]), int(end[i]) + 1, 1000, num_tracks=4)
    assert i in set(idx.ev_src[win.ev].tolist())
    assert win.bucket_ns == 0


def test_track_filter(trace) -> None:
    track, _start, end, _, idx = trace
    win = query(idx, 0, int(end.max()), 800, num_tracks=4, tracks=np.array([2]))
    assert set(track[idx.ev_src[win.ev]].tolist()) == {2}


def test_pack_roundtrip(trace) -> None:
    *_, idx = trace
    arrays, meta = unpack(pack(idx.arrays(), idx.meta()))
    back = timeline.TimelineIndex.from_arrays(arrays, meta)
    w1 = query(idx, 1000, 9_000_000, 640, num_tracks=4)
    w2 = query(back, 1000, 9_000_000, 640, num_tracks=4)
    np.testing.assert_array_equal(w1.ev, w2.ev)


def test_overlapping_slices_get_separate_depths() -> None:
    # Partial overlaps (several threads' ops merged into one device track) must not share a row.
    start = np.array([0, 5, 12, 30], dtype=np.int64)
    end = np.array([10, 15, 20, 40], dtype=np.int64)
    idx = timeline.build(np.zeros(4, np.int64), start, end, np.zeros(4, np.int32))
    for s in range(len(idx.seg_track)):
        a, b = idx.seg_ptr[s], idx.seg_ptr[s + 1]
        assert np.all(idx.ev_start[a + 1 : b] >= idx.ev_end[a : b - 1])


def test_empty_index() -> None:
    e = np.zeros(0, np.int64)
    idx = timeline.build(e, e, e, e.astype(np.int32))
    win = query(idx, 0, 100, 100, num_tracks=0)
    assert len(win.ev) == 0


def test_lane_tracks_pack_concurrent_slices_side_by_side() -> None:
    """GPU kernels overlap without nesting: each takes the lowest free lane, so the lanes
    used equal the most slices open at once (no staircase), and no lane overlaps."""
    rng = np.random.default_rng(11)
    n = 4000
    start = np.sort(rng.integers(0, 1_000_000, n)).astype(np.int64)
    end = start + rng.integers(1, 3_000, n)
    track = rng.integers(0, 2, n).astype(np.int64)  # track 1 uses lanes, track 0 nests
    idx = timeline.build(track, start, end, np.zeros(n, np.int64),
                         lanes=np.array([False, True]))
    assert idx.num_events == n
    for s in range(len(idx.seg_track)):
        a, b = idx.seg_ptr[s], idx.seg_ptr[s + 1]
        assert np.all(idx.ev_start[a + 1:b] >= idx.ev_end[a:b - 1])  # one lane never overlaps
    on1 = track == 1
    events = np.concatenate([np.stack([start[on1], np.ones(on1.sum())], 1),
                             np.stack([end[on1], -np.ones(on1.sum())], 1)])
    events = events[np.lexsort((events[:, 1], events[:, 0]))]  # ends before starts at a tie
    most_open = int(np.cumsum(events[:, 1]).max())
    lanes = idx.seg_depth[idx.seg_track == 1]
    assert lanes.max() + 1 == most_open


@pytest.mark.parametrize("span_bits", [20, 45])
def test_order_matches_lexsort(span_bits: int) -> None:
    """Slices come out by (track, depth, start, -end, input position) on shuffled input with
    many equal starts. 45-bit starts with 600k slices do not fit one 64-bit sort word with
    their positions, which takes the sort's other path."""
    rng = np.random.default_rng(span_bits)
    n = 600_000
    track = rng.integers(0, 3, n).astype(np.int64)
    start = rng.integers(0, 1 << span_bits, n // 4).astype(np.int64)
    start = np.concatenate([start, start[rng.integers(0, len(start), n - len(start))]])
    end = start + rng.integers(0, 50, n)
    idx = timeline.build(track, start, end, np.zeros(n, np.int32))
    seg = np.searchsorted(idx.seg_ptr, np.arange(n), side="right") - 1
    depth = np.empty(n, np.int64)
    depth[idx.ev_src] = idx.seg_depth[seg]
    expect = np.lexsort((np.arange(n), -end, start, depth, track))
    np.testing.assert_array_equal(idx.ev_src, expect)


INDEX_ARRAYS = ("ev_start", "ev_end", "ev_name", "ev_src", "seg_track", "seg_depth", "seg_ptr",
                "lod_block", "block_ptr", "pool_ref")


def test_index_is_the_same_on_any_number_of_threads(monkeypatch) -> None:
    """Sort and level-of-detail build split tracks and segments over threads: the index
    must not depend on how many, with tracks of very different sizes, one of them laned."""
    from xdiag.core import threads

    rng = np.random.default_rng(11)
    track, start, end = nested_trace(rng, n_tracks=7, n_top=9000, span_ns=2_000_000_000)
    track = np.where(track == 6, 0, track)  # one big track, one empty (6)
    assert len(start) > 1 << 17  # above the size where the C passes start threads
    name = rng.integers(0, 50, size=len(start)).astype(np.int32)
    lanes = np.array([False, False, True, False, False, False, False])
    built = []
    for n in (1, 2, 3, 8):
        monkeypatch.setattr(threads, "_count", n)
        built.append(timeline.build(track, start, end, name, lanes=lanes))
    for idx in built[1:]:
        for key in INDEX_ARRAYS:
            np.testing.assert_array_equal(getattr(idx, key), getattr(built[0], key), key)



def test_deferred_self_times_equal_the_sorts_own(monkeypatch) -> None:
    """`build` leaves the self times to a thread (`self_times`) so that the index is final
    first: they equal those `sort_slices` computes in place, on any number of threads, and
    reading them waits for the thread. A damaged place or parent is refused."""
    from xdiag.analysis._intervals import self_times, sort_slices

    from xdiag.core import threads

    rng = np.random.default_rng(12)
    track, start, end = nested_trace(rng, n_tracks=5, n_top=6000, span_ns=2_000_000_000)
    n = len(start)
    line = rng.integers(0, 4, n).astype(np.int32)
    lanes = np.array([False, True, False, False, False])
    name = np.zeros(n, np.int32)
    s, e, o = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    want_self, want_nested = np.empty(n, np.int64), np.empty(n, np.uint8)
    sort_slices(track.astype(np.int32), start, end, lanes.astype(np.uint8), o, s, e,
                np.empty(n, np.int32), 1, name, np.empty(n, np.int32), np.empty(n, np.int32),
                line, want_self, want_nested)
    for count in (1, 2, 8):
        monkeypatch.setattr(threads, "_count", count)
        idx = timeline.build(track, start, end, name, lanes=lanes, lines=line)
        np.testing.assert_array_equal(idx.ev_self, want_self)
        np.testing.assert_array_equal(idx.ev_nested, want_nested.view(bool))
        assert "_pending" not in vars(dataclasses.replace(idx, pool_ref=idx.pool_ref))
    place = np.arange(n, dtype=np.int64)
    for bad_place, bad_parent in ((n, -1), (0, 5)):  # a place past the track; a later parent
        p, q = place.copy(), np.full(n, -1, np.int64)
        p[0], q[0] = bad_place, bad_parent
        with pytest.raises(ValueError, match="out of range"):
            self_times(idx.ev_start, idx.ev_end, idx.seg_ptr, idx.seg_track, p, q,
                       np.empty(n, np.int64), np.empty(n, np.uint8), 2)


def test_tracks_and_lines_as_int16_give_the_same_index() -> None:
    """Ingest hands the index build int16 tracks and lines (less held at its peak): the
    index is the one int32 ones give, and a track past int16 is refused, not wrapped."""
    from xdiag.analysis._intervals import route_events

    rng = np.random.default_rng(7)
    track, start, end = nested_trace(rng, n_tracks=5, n_top=3000, span_ns=1_000_000_000)
    n = len(start)
    line = rng.integers(0, 4, n)
    name = rng.integers(0, 50, n).astype(np.int32)
    lanes = np.array([False, True, False, False, False])
    built = [timeline.build(track.astype(t), start, end, name, lanes=lanes,
                            lines=line.astype(t)) for t in (np.int16, np.int32, np.int64)]
    for other in built[1:]:
        for k, v in built[0].arrays().items():
            np.testing.assert_array_equal(v, other.arrays()[k], err_msg=k)
        np.testing.assert_array_equal(built[0].ev_self, other.ev_self)
    # route_events writes int16 tracks, and refuses one that int16 cannot hold.
    a, z = np.array([0], np.int64), np.array([3], np.int64)
    args = (a, z, np.zeros(1, np.uint8), np.array([40_000], np.int32), np.zeros(3, np.uint8),
            np.full(3, -1, np.int32), np.zeros(0, np.int32))
    wide = np.zeros(3, np.int32)
    route_events(*args, wide)
    assert wide.tolist() == [40_000] * 3
    with pytest.raises(IndexError, match="int16"):
        route_events(*args, np.zeros(3, np.int16))
