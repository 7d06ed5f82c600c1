"""The C passes of ingest (_intervals.c) against plain numpy written from their definitions,
on random input with edge cases (negative times and durations, partial overlaps)."""

from __future__ import annotations

import numpy as np
import pytest
from xdiag.analysis._intervals import ps_to_ns, row_sums, self_times

from xdiag.analysis import timeline


@pytest.mark.parametrize(("seed", "threads"), [(0, 1), (1, 1), (2, 2), (3, 3)])
def test_ps_to_ns_floors_starts_and_ceils_ends(seed: int, threads: int) -> None:
    rng = np.random.default_rng(seed)
    n = 50_000 if threads == 1 else 300_001  # threads start from 65536 events
    start_ps = rng.integers(-5_000_000, 5_000_000_000, n)
    dur_ps = rng.integers(-10, 3_000_000, n)  # a few negative durations: end clamps to start
    shift = int(rng.integers(-2_000_000, 2_000_000))
    s, e = np.empty(n, np.int64), np.empty(n, np.int64)
    window = ps_to_ns(start_ps, dur_ps, shift, s, e, threads)
    want_s = (start_ps + shift) // 1000
    want_e = np.maximum((start_ps + shift + dur_ps + 999) // 1000, want_s)
    np.testing.assert_array_equal(s, want_s)
    np.testing.assert_array_equal(e, want_e)
    assert window == (int(want_s.min()), int(want_e.max()))


def _self_times_reference(idx: timeline.TimelineIndex) -> np.ndarray:
    """Duration minus the parts of it each child covers; a child's parent is the last
    slice one level up (same track) starting at or before it."""
    dur = idx.ev_end - idx.ev_start
    covered = np.zeros(len(dur), np.int64)
    seg_of = {(int(t), int(d)): s for s, (t, d) in enumerate(zip(idx.seg_track, idx.seg_depth,
                                                                  strict=True))}
    for s in range(len(idx.seg_track)):
        parent = seg_of.get((int(idx.seg_track[s]), int(idx.seg_depth[s]) - 1))
        if parent is None:
            continue
        pa, pb = idx.seg_ptr[parent], idx.seg_ptr[parent + 1]
        for i in range(idx.seg_ptr[s], idx.seg_ptr[s + 1]):
            k = int(np.searchsorted(idx.ev_start[pa:pb], idx.ev_start[i], side="right")) - 1
            if k >= 0:
                c = min(idx.ev_end[i], idx.ev_end[pa + k]) - idx.ev_start[i]
                covered[pa + k] += max(c, 0)
    return np.maximum(dur - covered, 0)


@pytest.mark.parametrize("seed", range(3))
def test_self_times_match_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3000
    track = rng.integers(0, 3, n)
    start = rng.integers(0, 200_000, n)
    end = start + rng.integers(0, 20_000, n)  # partial overlaps too, not only nesting
    idx = timeline.build(track, start, end, np.zeros(n, np.int32))
    out = np.empty(idx.num_events, np.int64)
    self_times(idx.ev_start, idx.ev_end, idx.seg_ptr, idx.seg_track, idx.seg_depth, out)
    np.testing.assert_array_equal(out, _self_times_reference(idx))
    assert out.min() >= 0 and (idx.seg_depth > 0).any()


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_row_sums_equal_bincounts(dtype) -> None:
    rng = np.random.default_rng(5)
    n, m, rows = 20_000, 8_000, 37
    start = rng.integers(0, 10**9, n)
    end = start + rng.integers(0, 10**6, n)
    self_ns = rng.integers(0, 10**6, n)
    pos = np.sort(rng.choice(n, m, replace=False)).astype(dtype)
    row = rng.integers(0, rows, m).astype(dtype)
    depth = rng.integers(0, 3, m).astype(np.int32)
    kernel = rng.random(m) < 0.2
    occ, tot, slf, top = np.frombuffer(row_sums(row, pos, self_ns, start, end, depth, kernel,
                                                rows), np.int64).reshape(4, rows)
    dur = end[pos] - start[pos]
    np.testing.assert_array_equal(occ, np.bincount(row, minlength=rows))
    np.testing.assert_array_equal(tot, np.bincount(row, weights=dur, minlength=rows))
    np.testing.assert_array_equal(
        slf, np.bincount(row, weights=np.where(kernel, dur, self_ns[pos]), minlength=rows))
    np.testing.assert_array_equal(
        top, np.bincount(row, weights=(depth == 0) | kernel, minlength=rows))
    with pytest.raises(IndexError):
        row_sums(row, pos, self_ns, start, end, depth, kernel, rows - 1)


def test_find_ranges_refuses_a_damaged_index() -> None:
    """A viewport over a damaged index file raises instead of reading out of bounds."""
    from xdiag.analysis._intervals import find_ranges

    start = np.arange(0, 1000, 10, dtype=np.int64)
    end = start + 5
    ptr = np.array([0, 60, 100], np.int64)
    lo, hi = (np.frombuffer(b, np.int64) for b in find_ranges(
        start, end, ptr, b"", np.array([0, 1], np.int64), 103, 207, 1023))
    assert lo.tolist() == [10, 60] and hi.tolist() == [21, 60]  # [100, 105) reaches 103
    refs = np.arange(100, dtype=np.int32)
    refs[30] = 5000
    with pytest.raises(IndexError, match="reference"):
        find_ranges(start, end, ptr, refs, np.array([0], np.int64), 100, 200, 1023)
    with pytest.raises(IndexError, match="block"):
        find_ranges(start, end, ptr, refs, np.array([2], np.int64), 100, 200, 1023)


def test_sort_slices_carries_names_and_positions_either_width() -> None:
    from xdiag.analysis._intervals import sort_slices

    rng = np.random.default_rng(5)
    n = 2000
    track = rng.integers(0, 3, n).astype(np.int32)
    start = rng.integers(0, 10_000, n)
    end = start + rng.integers(0, 300, n)
    name = rng.integers(0, 40, n).astype(np.int32)
    got = []
    for src_dtype in (np.int32, np.int64):
        order = np.empty(n, np.int64)
        s, e, d = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int32)
        names, src = np.empty(n, np.int32), np.empty(n, src_dtype)
        sort_slices(track, start, end, np.zeros(3, np.uint8), order, s, e, d, 2, name, names, src)
        np.testing.assert_array_equal(src, order)
        np.testing.assert_array_equal(names, name[order])
        got.append(order)
    np.testing.assert_array_equal(got[0], got[1])
    with pytest.raises(ValueError, match="name or source"):
        sort_slices(track, start, end, np.zeros(3, np.uint8), np.empty(n, np.int64),
                    np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int32), 1,
                    name, np.empty(n - 1, np.int32), np.empty(n, np.int32))


def test_events_route_to_their_line_or_their_device() -> None:
    """On host lines, op events with a device ordinal go to that device's track; every
    other event stays on its line's track."""
    from xdiag.analysis._intervals import moved_ops, route_events

    rng = np.random.default_rng(9)
    sizes = rng.integers(0, 400, 12)
    a = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    z = (a + sizes).astype(np.int64)
    n = int(sizes.sum())
    on_host = (rng.random(12) < 0.6).astype(np.uint8)
    has_op = (rng.random(n) < 0.5).astype(np.uint8)
    codes = rng.integers(-1, 5, n).astype(np.int32)
    line_of = np.repeat(np.arange(12), sizes)
    moves = on_host[line_of].astype(bool) & has_op.astype(bool) & (codes >= 0)
    seen = np.zeros(5, np.uint8)
    moved = np.frombuffer(moved_ops(a, z, on_host, has_op, codes, seen), np.int64)
    assert moved.tolist() == np.bincount(line_of[moves], minlength=12).tolist()
    assert seen.astype(bool).tolist() == [c in set(codes[moves].tolist()) for c in range(5)]
    line_track = rng.integers(0, 30, 12).astype(np.int32)
    code_track = np.array([40, 41, 42, 43, 44], np.int32)
    out = np.zeros(n, np.int32)
    route_events(a, z, on_host, line_track, has_op, codes, code_track, out)
    want = np.where(moves, code_track[np.maximum(codes, 0)], line_track[line_of])
    np.testing.assert_array_equal(out, want)
    with pytest.raises(IndexError, match="code out of range"):
        route_events(a, z, on_host, line_track, has_op, codes, code_track[:2], out)
