"""Integer columns as codes: each value's index among the column's sorted distinct
values, what `np.unique(v, return_inverse=True)` gives, without its temporaries of the
column's size (at 3M events each is 24 MB, and ingest's peak is made of them).

A column is either overwritten with its codes (`factorize_inplace`) or never made
whole: made a chunk of rows at a time, its distinct values found first and each chunk
coded after (`coder`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xdiag.xplane.arrays import index_type

# Rows per chunk of a chunked pass: its temporaries stay a few MB.
CHUNK = 1 << 18


def chunks(n: int) -> range:
    """The first row of each chunk of n rows."""
    return range(0, n, CHUNK)


def _small(lo: int, hi: int, n: int) -> bool:
    """Whether a table of ranks over [lo, hi] is small beside n rows."""
    return hi - lo < max(1 << 16, n // 4)


def factorize_inplace(v: np.ndarray) -> np.ndarray:
    """The sorted distinct values of int64 `v`; `v` is overwritten with each value's
    index among them."""
    n = len(v)
    if n == 0:
        return np.zeros(0, np.int64)
    lo, hi = int(v.min()), int(v.max())
    if _small(lo, hi, n):  # a table of ranks, O(n)
        v -= lo
        seen = np.zeros(hi - lo + 1, bool)
        seen[v] = True
        rank = np.cumsum(seen, dtype=np.int64) - 1
        np.take(rank, v, out=v, mode="clip")  # in place: every index is in range
        return np.flatnonzero(seen).astype(np.int64) + lo
    uniq = np.unique(np.concatenate([np.unique(v[a:a + CHUNK]) for a in chunks(n)]))
    for a in chunks(n):
        part = v[a:a + CHUNK]
        part[...] = np.searchsorted(uniq, part)
    return uniq


def coder(values: Callable[[int, int], np.ndarray], n: int
          ) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The sorted distinct values of an int64 column of n rows made a chunk at a time
    (`values(a, b)`: the values of rows a..b, all or some of them), and a function from
    such values to their codes (int32 where they fit)."""
    parts = [(a, min(a + CHUNK, n)) for a in chunks(n)]
    ranges = [(int(v.min()), int(v.max())) for v in (values(a, b) for a, b in parts)
              if len(v)]
    if not ranges:
        return np.zeros(0, np.int64), lambda v: np.zeros(len(v), np.int32)
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if _small(lo, hi, n):  # a table of ranks
        seen = np.zeros(hi - lo + 1, bool)
        for a, b in parts:
            seen[values(a, b) - lo] = True
        rank = np.cumsum(seen, dtype=np.int64) - 1
        distinct = np.flatnonzero(seen).astype(np.int64) + lo
        rank = rank.astype(index_type(len(distinct)))
        return distinct, lambda v: rank[v - lo]
    distinct = np.unique(np.concatenate([np.unique(values(a, b)) for a, b in parts]))
    code_type = index_type(len(distinct))
    return distinct, lambda v: np.searchsorted(distinct, v).astype(code_type, copy=False)

