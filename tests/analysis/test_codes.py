"""Codes without temporaries of the column's size (`analysis/codes.py`, issue 18:
ingest's peak memory) are exactly what np.unique gives: sorted distinct values and each
value's index among them, whatever the range of the values (the table of ranks or the
chunked sort) and the chunk size; and so are the op table's grouped rows."""

from __future__ import annotations

import numpy as np
import pytest

from xdiag.analysis import codes, op_table

CASES = [(0, 0, 1), (1, 5, 6), (10, -3, 3), (5000, -2**40, 2**40), (20000, 0, 50),
         (30000, -1, 2**62), (7000, 0, 7000 * 3)]


@pytest.mark.parametrize("chunk", [3, 1000, 1 << 18])
def test_factorize_inplace_is_np_unique(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codes, "CHUNK", chunk)
    rng = np.random.default_rng(chunk)
    for n, lo, hi in CASES:
        v = rng.integers(lo, hi, n, dtype=np.int64)
        want, want_inv = np.unique(v, return_inverse=True)
        got_inv = v.copy()
        got = codes.factorize_inplace(got_inv)
        assert got.dtype == np.int64 and np.array_equal(got, want), (n, lo, hi)
        assert np.array_equal(got_inv, want_inv.reshape(-1)), (n, lo, hi)


@pytest.mark.parametrize("chunk", [3, 1000, 1 << 18])
def test_coder_is_np_unique_of_the_whole_column(chunk: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codes, "CHUNK", chunk)
    rng = np.random.default_rng(chunk + 1)
    for n, lo, hi in CASES:
        v = rng.integers(lo, hi, n, dtype=np.int64)
        distinct, code = codes.coder(lambda a, b, v=v: v[a:b], n)
        want, want_inv = np.unique(v, return_inverse=True)
        assert np.array_equal(distinct, want), (n, lo, hi)
        assert np.array_equal(code(v), want_inv.reshape(-1)), (n, lo, hi)
        # Values given for some rows only (an empty chunk included): the same codes.
        keep = v % 3 != 0
        keep[:chunk] = False
        distinct, code = codes.coder(lambda a, b, v=v, k=keep: v[a:b][k[a:b]], n)
        want, want_inv = np.unique(v[keep], return_inverse=True)
        assert np.array_equal(distinct, want), (n, lo, hi)
        assert np.array_equal(code(v[keep]), want_inv.reshape(-1)), (n, lo, hi)


def test_unique_rows_are_lexicographic_like_np_unique_of_rows(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codes, "CHUNK", 100)
    rng = np.random.default_rng(7)
    n = 5000
    key = rng.integers(-2**40, 2**40, 40, dtype=np.int64)[rng.integers(0, 40, n)]
    dev = rng.integers(-1, 8, n)
    kern = rng.integers(-1, 9000, n)  # more values than the small range: factorized
    want, want_inv = np.unique(np.stack([key, dev, kern], axis=1), axis=0,
                               return_inverse=True)
    rows, inv = op_table._unique_rows(key.copy(), [(lambda a, b: dev[a:b], 8),
                                                   (lambda a, b: kern[a:b], 9000)])
    assert np.array_equal(rows, want)
    assert np.array_equal(inv, want_inv.reshape(-1))
