"""Vectorised interval arithmetic over sorted, non-overlapping slices (one timeline row)."""

from __future__ import annotations

import numpy as np


def overlap_sum(start: np.ndarray, end: np.ndarray, weight: np.ndarray | None,
                a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each window [a_i, b_i): sum over slices of overlap length (times weight/length).

    `start`/`end` are sorted and non-overlapping. With `weight`, a slice contributes
    `weight * overlap / length` (e.g. busy time of the collective slices only when
    weight is dur * is_collective). O((n + m) log n).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if len(start) == 0:
        return np.zeros(len(a), dtype=np.float64)
    dur = (end - start).astype(np.float64)
    w = dur if weight is None else np.asarray(weight, dtype=np.float64)
    frac = np.divide(w, dur, out=np.ones_like(dur), where=dur > 0)
    prefix = np.concatenate([[0.0], np.cumsum(w)])
    i0 = np.searchsorted(start, a, side="left")  # first slice starting at/after a
    i1 = np.searchsorted(start, b, side="left")  # first slice starting at/after b
    total = prefix[i1] - prefix[np.minimum(i0, i1)]
    # The last slice inside may run past b.
    last = i1 - 1
    ok = (last >= i0) & (last >= 0)
    lc = np.clip(last, 0, len(start) - 1)
    over = np.where(ok, np.maximum(end[lc] - b, 0), 0) * frac[lc]
    total -= np.minimum(over, np.where(ok, w[lc], 0))
    # The slice before a may reach into the window.
    prev = i0 - 1
    okp = prev >= 0
    pc = np.clip(prev, 0, len(start) - 1)
    into = np.where(okp, np.clip(np.minimum(end[pc], b) - a, 0, None), 0) * frac[pc]
    return total + into


def union(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge arbitrary intervals into sorted, non-overlapping ones."""
    if len(start) == 0:
        return start.astype(np.int64), end.astype(np.int64)
    # Lean on memory (the step table's union of all devices' busy time is one of
    # ingest's peaks): the sorted copies are the only per-interval int64 columns, and the
    # ends become their running maximum in place.
    order = np.argsort(start, kind="stable")
    s = np.take(start, order).astype(np.int64, copy=False)
    run_end = np.take(end, order).astype(np.int64, copy=False)
    del order
    np.maximum.accumulate(run_end, out=run_end)
    new = np.empty(len(s), bool)
    new[0] = True
    np.greater(s[1:], run_end[:-1], out=new[1:])
    first = np.flatnonzero(new)
    del new
    last = np.append(first[1:] - 1, len(s) - 1)
    return s[first], run_end[last]
