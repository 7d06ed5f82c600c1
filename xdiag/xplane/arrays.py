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
