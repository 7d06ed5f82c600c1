"""`intervals.union` against a merge written the plain way (sort, then extend or start a
run), on random intervals: touching, nested, equal, empty and negative ones included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from xdiag.analysis import intervals


def _merged(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(pairs, key=lambda p: p[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 30)), max_size=60),
       st.sampled_from([np.int64, np.int32]))
def test_union_is_the_plain_merge(raw: list[tuple[int, int]], dtype: type) -> None:
    pairs = [(s, s + d) for s, d in raw]
    start = np.array([s for s, _ in pairs], dtype)
    end = np.array([e for _, e in pairs], dtype)
    before = (start.copy(), end.copy())
    s, e = intervals.union(start, end)
    assert s.dtype == e.dtype == np.int64
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == _merged(pairs)
    # The inputs are left as they were.
    assert np.array_equal(start, before[0]) and np.array_equal(end, before[1])
