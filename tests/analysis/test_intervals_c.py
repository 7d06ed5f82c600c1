"""The C passes of ingest (_intervals.c) against plain numpy written from their definitions,
on random input with edge cases (negative times and durations, partial overlaps)."""

from __future__ import annotations

import numpy as np
import pytest
from xdiag.analysis._intervals import ps_to_ns, row_sums

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


def _rows_reference(start, end, line, track, laned):
    """Rows and parents by the definition, slice by slice in (track, start, -end) order: a
    slice's parent is the innermost running slice of its line that contains it (none on a
    laned track); it takes the lowest row below its parent's free at its start."""
    order = np.lexsort((-end, start, track))
    row, parent = {}, {}
    for t in np.unique(track):
        placed: list[int] = []
        for i in (int(i) for i in order if track[i] == t):
            cands = [] if laned[t] else [
                j for j in placed if line[j] == line[i] and start[j] <= start[i]
                and end[j] >= end[i] and end[j] > start[i]]
            # innermost: the container that started last (ties: the shorter)
            p = max(cands, key=lambda j: (start[j], -end[j], row[j]), default=None)
            lo = row[p] + 1 if p is not None else 0
            busy = {row[j] for j in placed if end[j] > start[i]}
            r = lo
            while r in busy:
                r += 1
            row[i], parent[i] = r, p
            placed.append(i)
    return row, parent


def _self_reference(start, end, track, parent):
    """Self time by the definition, one ns at a time: each ns of a track goes, in equal
    shares, to the slices running then that have no running child."""
    out = np.zeros(len(start))
    for t in np.unique(track):
        ids = np.flatnonzero(track == t)
        for ns in range(int(start[ids].min()), int(end[ids].max())):
            run = [i for i in ids if start[i] <= ns < end[i]]
            kids = {parent[i] for i in run if parent[i] is not None}
            leaves = [i for i in run if i not in kids]
            for i in leaves:
                out[i] += 1 / len(leaves)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_rows_and_self_times_match_the_definition(seed: int) -> None:
    """Nesting only within a line, overlap in lanes, self times shared evenly -- against a
    slow reference written from the definitions, on partial overlaps and nesting alike."""
    rng = np.random.default_rng(seed)
    n = 160
    track = rng.integers(0, 3, n)
    line = rng.integers(0, 3, n)
    start = rng.integers(0, 600, n)
    end = start + rng.integers(0, 120, n)
    laned = np.array([False, False, True])
    idx = timeline.build(track, start, end, np.zeros(n, np.int32), lanes=laned, lines=line)
    row, parent = _rows_reference(start, end, line, track, laned)
    src = idx.ev_src
    got_row = idx.depth_of(np.arange(n))
    assert [row[int(i)] for i in src] == got_row.tolist()
    assert [parent[int(i)] is not None for i in src] == idx.ev_nested.tolist()
    want = _self_reference(start, end, track, parent)[src]
    # Integer ns: each shared stretch rounds by under 1 ns per slice.
    assert np.all(np.abs(idx.ev_self - want) <= 1.0 + 1e-9 * want)
    # A track's self times add up exactly to its busy time (the union of its slices).
    for t in range(3):
        m = track[src] == t
        busy = sum(1 for ns in range(0, 800) if np.any((start[track == t] <= ns)
                                                       & (ns < end[track == t])))
        assert int(idx.ev_self[m].sum()) == busy
    # No two slices of one row overlap; a child is below its parent.
    for s_ in range(len(idx.seg_track)):
        a, b = idx.seg_ptr[s_], idx.seg_ptr[s_ + 1]
        assert np.all(idx.ev_start[a + 1:b] >= idx.ev_end[a:b - 1])


def test_one_thread_nests_as_a_stack() -> None:
    """Without lines, properly nested slices get the classic nesting depth."""
    start = np.array([0, 1, 2, 10, 11], np.int64)
    end = np.array([9, 8, 3, 20, 12], np.int64)
    idx = timeline.build(np.zeros(5, np.int32), start, end, np.zeros(5, np.int32),
                         lines=np.zeros(5, np.int32))
    order = np.argsort(idx.ev_src)
    assert idx.depth_of(np.arange(5))[order].tolist() == [0, 1, 2, 0, 1]
    assert idx.ev_self[order].tolist() == [2, 6, 1, 9, 1]
    assert idx.ev_nested[order].tolist() == [False, True, True, False, True]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_row_sums_equal_bincounts(dtype) -> None:
    rng = np.random.default_rng(5)
    n, m, rows = 20_000, 8_000, 37
    start = rng.integers(0, 10**9, n)
    end = start + rng.integers(0, 10**6, n)
    self_ns = rng.integers(0, 10**6, n)
    pos = np.sort(rng.choice(n, m, replace=False)).astype(dtype)
    row = rng.integers(0, rows, m).astype(dtype)
    nested = (rng.random(m) < 0.4).astype(np.uint8)
    occ, tot, slf, top = np.frombuffer(row_sums(row, pos, self_ns, start, end, nested, rows),
                                       np.int64).reshape(4, rows)
    dur = end[pos] - start[pos]
    np.testing.assert_array_equal(occ, np.bincount(row, minlength=rows))
    np.testing.assert_array_equal(tot, np.bincount(row, weights=dur, minlength=rows))
    np.testing.assert_array_equal(slf, np.bincount(row, weights=self_ns[pos], minlength=rows))
    np.testing.assert_array_equal(top, np.bincount(row, weights=nested == 0, minlength=rows))
    with pytest.raises(IndexError):
        row_sums(row, pos, self_ns, start, end, nested, rows - 1)


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


@pytest.mark.parametrize("ref_dtype", [np.int32, np.int64])
def test_emit_slices_writes_what_numpy_gathers(ref_dtype) -> None:
    """A viewport's wire columns from its ranges, against expand + fancy indexing by hand;
    a damaged pool reference raises instead of reading out of bounds."""
    from xdiag.analysis._intervals import emit_slices

    rng = np.random.default_rng(7)
    n, n_seg, n_pool = 5000, 12, 3000
    start = np.sort(rng.integers(0, 10**12, n))
    end = start + rng.integers(0, 10**7, n)
    name = rng.integers(0, 300, n).astype(np.int32)
    src = rng.permutation(n).astype(ref_dtype)
    seg_track, seg_depth = rng.integers(0, 5, n_seg).astype(np.int32), \
        rng.integers(0, 9, n_seg).astype(np.int32)
    pool = rng.integers(0, n, n_pool).astype(ref_dtype)
    segs = np.array([0, 3, 3, 7, 11], np.int64)
    pooled = np.array([0, 1, 0, 1, 0], np.uint8)
    lo = np.array([10, 100, 4990, 0, 30], np.int64)
    hi = np.array([40, 2900, 5000, 0, 20], np.int64)  # an empty and a reversed range
    ev = np.concatenate([pool[a:b] if p else np.arange(a, b)
                         for a, b, p in zip(lo, hi, pooled, strict=True) if b > a])
    ev = ev.astype(np.int64)
    seg = np.concatenate([np.full(max(b - a, 0), s) for a, b, s in zip(lo, hi, segs, strict=True)])
    k = len(ev)
    origin = int(start[ev].min())
    wide = [np.float64, np.float64, np.uint32, np.uint32, np.uint32, np.uint16]
    narrow = [np.uint32, np.uint32, np.uint16, np.uint32, np.uint16, np.uint8]
    long_window = [np.float64, np.float64, *narrow[2:]]  # the C loop has each of the three
    for dtypes, base, org in ((wide, 1000, 0), (narrow, 1000, origin), (wide, 0, origin),
                              (long_window, 1000, origin)):
        out = [np.empty(k, d) for d in dtypes]
        if dtypes is narrow:  # the test's times span ~10^12 ns: bring them within uint32
            start_in, end_in = origin + (start - origin) // 1000, origin + (end - origin) // 1000
        else:
            start_in, end_in = start, end
        emit_slices(lo, hi, pooled, pool, segs, seg_track, seg_depth, base, start_in, end_in,
                    name, src, 7, org, *out)
        np.testing.assert_array_equal(out[0], start_in[ev] - org)
        np.testing.assert_array_equal(out[1], end_in[ev] - start_in[ev])
        np.testing.assert_array_equal(out[2], name[ev])
        np.testing.assert_array_equal(out[3], src[ev].astype(np.int64) + 7)
        np.testing.assert_array_equal(out[4], seg_track[seg] + base)
        np.testing.assert_array_equal(out[5], seg_depth[seg])
    bad = pool.copy()
    bad[500] = n
    for dtypes in (wide, narrow, long_window):
        out = [np.empty(k, d) for d in dtypes]
        with pytest.raises(IndexError, match="slice out of range"):
            emit_slices(lo, hi, pooled, bad, segs, seg_track, seg_depth, 0, start, end, name,
                        src, 0, 0, *out)
    out = [np.empty(k, d) for d in wide]
    with pytest.raises(ValueError, match="wrong size"):
        emit_slices(lo, hi, pooled, pool, segs, seg_track, seg_depth, 0, start, end, name,
                    src, 0, 0, *out[:5], np.empty(k + 1, np.uint16))
    # A value a narrow column cannot hold is refused, never wrapped: times past 2^32 ns
    # of the origin, a start before it, a track past 65535, a depth past 255.
    for col, dtype, args in ((0, np.uint32, dict(org=0)), (0, np.uint32, dict(org=origin + 1)),
                             (4, np.uint16, dict(base=70_000)), (5, np.uint8, dict(deep=True))):
        out = [np.empty(k, d) for d in wide]
        out[col] = np.empty(k, dtype)
        if col == 0:
            out[1] = np.empty(k, np.uint32)
        depth = seg_depth + 300 if args.get("deep") else seg_depth
        with pytest.raises(ValueError, match="does not fit"):
            emit_slices(lo, hi, pooled, pool, segs, seg_track, depth, args.get("base", 0),
                        start, end, name, src, 0, args.get("org", origin), *out)


def test_compact_names_ranks_the_ids_used() -> None:
    from xdiag.analysis._intervals import compact_names

    rng = np.random.default_rng(3)
    names = rng.choice(np.array([4, 9, 17, 250, 251], np.uint32), 10_000)
    want_used = np.unique(names)
    want = np.searchsorted(want_used, names).astype(np.uint32) + 5
    used = np.frombuffer(compact_names(names, 300, 5), np.int64)
    np.testing.assert_array_equal(used, want_used)
    np.testing.assert_array_equal(names, want)
    with pytest.raises(IndexError, match="out of range"):
        compact_names(np.array([3, 300], np.uint32), 300, 0)
    short = rng.choice(np.array([4, 9, 60_000], np.uint16), 1000)  # a uint16 column
    used = np.frombuffer(compact_names(short, 65_536, 0), np.int64)
    np.testing.assert_array_equal(used, [4, 9, 60_000])
    np.testing.assert_array_equal(short.dtype, np.uint16)
    with pytest.raises(ValueError, match="bad arguments"):  # ranks past what uint16 holds
        compact_names(np.zeros(3, np.uint16), 10, 65_530)
