"""op_table.py's op-slice selection against its plain definition on random indexes."""

from __future__ import annotations

import numpy as np
import pytest

from xdiag.analysis import op_table, timeline
from xdiag.analysis.tracks import Track


@pytest.mark.parametrize("seed", range(20))
def test_op_events_are_the_slices_of_op_tracks_with_their_track_and_depth(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_tracks = int(rng.integers(0, 400)), int(rng.integers(1, 6))
    start = rng.integers(0, 1000, n)
    idx = timeline.build(rng.integers(0, n_tracks, n), start, start + rng.integers(1, 300, n),
                         np.zeros(n, np.int64))
    tracks = [Track(str(i), "device", i, "xla_ops" if rng.random() < 0.6 else "thread", (i,))
              for i in range(n_tracks)]
    pos, track, depth = op_table.op_events(idx, tracks)
    is_op = np.array([t.kind == "xla_ops" for t in tracks])
    every = np.arange(idx.num_events)
    seg = np.searchsorted(idx.seg_ptr, every, side="right") - 1
    want = every[is_op[idx.seg_track[seg]]] if idx.num_events else every
    assert pos.tolist() == want.tolist()
    assert track.tolist() == idx.seg_track[seg[want]].tolist()
    assert depth.tolist() == idx.seg_depth[seg[want]].tolist()


@pytest.mark.parametrize("seed", range(3))
def test_step_marks_count_only_timed_annotations(seed: int) -> None:
    """Step windows come from the annotations among the timed events (aggregated ones
    have no time): min start and max end per step number."""
    from xdiag.analysis.device_steps import marks

    rng = np.random.default_rng(seed)
    n = 500
    carries = rng.random(n) < 0.3
    value = rng.integers(0, 6, n)
    sel = np.flatnonzero(rng.random(n) < 0.8)  # the timed events
    start = rng.integers(0, 10_000, len(sel))
    end = start + rng.integers(0, 500, len(sel))
    declares = carries & (rng.random(n) < 0.5)
    flops = rng.integers(1, 10**6, n).astype(np.float64)
    steps, a, b, declared = marks(np.flatnonzero(carries), value[carries], sel, start, end,
                                  (np.flatnonzero(declares), flops[declares]))
    timed = carries[sel]
    want = sorted(set(value[sel][timed].tolist()))
    assert steps.tolist() == want
    for s, lo, hi, f in zip(steps, a, b, declared, strict=True):
        mine = timed & (value[sel] == s)
        assert (lo, hi) == (start[mine].min(), end[mine].max())
        said = flops[sel][mine & declares[sel]]
        assert (f == said.max()) if len(said) else np.isnan(f)
