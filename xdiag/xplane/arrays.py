"""Numpy helpers shared by the XSpace readers and the analyses built on their columns."""

from __future__ import annotations

import numpy as np


def factorize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, inverse) of an int64 array: np.unique(v, return_inverse=True).

    O(n), and lean in memory, when the range of values is small.
    """
    if len(v) == 0:
        return v[:0], np.zeros(0, np.int64)
    lo, hi = int(v.min()), int(v.max())
    if hi - lo < max(1 << 20, 4 * len(v)):
        seen = np.zeros(hi - lo + 1, bool)
        shifted = v - lo
        seen[shifted] = True
        rank = np.cumsum(seen, dtype=np.int64) - 1
        # In place; every index is in range, and mode="clip" spares the copy
        # that the default mode makes to raise on a bad one.
        np.take(rank, shifted, out=shifted, mode="clip")
        return np.flatnonzero(seen).astype(np.int64) + lo, shifted
    uniq, inv = np.unique(v, return_inverse=True)
    return uniq, inv.reshape(-1)


def index_type(count: int, *, smallest: type = np.int32) -> type:
    """The narrowest of int16, int32 and int64 (none narrower than `smallest`) that holds
    every index below `count`, and -1 for none: per-event columns of indices are ingest's
    peak memory, so each is as narrow as its count allows."""
    for t in (np.int16, np.int32):
        if np.dtype(t).itemsize >= np.dtype(smallest).itemsize and count <= np.iinfo(t).max + 1:
            return t
    return np.int64


def fits_int32(values: np.ndarray) -> bool:
    """Whether an integer array's values all fit int32 (an empty one does)."""
    return values.dtype.kind in "iu" and (
        not len(values) or (int(values.min()) >= -2**31 and int(values.max()) < 2**31))
