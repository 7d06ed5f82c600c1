"""Physics and bookkeeping invariants every ingested profile must satisfy (imported as
`physics` by the tests that ingest or capture one).

- No op faster than the hardware: FLOP/s above the compute peak or bytes/s above the
  bandwidth peak by more than 5 % only when flagged with a reason.
- Self times of a device add up to at most its busy time (the union of its op slices).
- Shares add up to 100 % (± 0.5), in the op profile and its groups.
- One time per op: the roofline shows each op's share and self time exactly as the op
  profile does, and a diff of a profile with itself gives each op its self time per step.
- No two slices of one timeline row overlap.
- A step's parts add up to its duration.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TOL = 1.05


def _union_len(start: np.ndarray, end: np.ndarray) -> int:
    if not len(start):
        return 0
    order = np.argsort(start, kind="stable")
    s, e = start[order], end[order]
    run_end = np.maximum.accumulate(e)
    new = np.concatenate([[True], s[1:] > run_end[:-1]])
    first = np.flatnonzero(new)
    last = np.concatenate([first[1:] - 1, [len(s) - 1]])
    return int((run_end[last] - s[first]).sum())


def check(data: Any) -> dict[str, Any]:
    """Asserts every invariant on an opened profile (views.ProfileData); returns counts."""
    ops = data.analysis("ops")
    roof = data.analysis("roofline")
    steps = data.analysis("steps")
    out: dict[str, Any] = {}

    # Shares add up; self time adds up to the devices' busy time.
    if ops["ops"]:
        assert abs(sum(o["share"] for o in ops["ops"]) - 1) <= 0.005
        assert abs(sum(c["share"] for c in ops["by_category"]) - 1) <= 0.005
        assert abs(sum(p["share"] for p in ops["by_program"]) - 1) <= 0.005
        assert sum(o["self_ns"] for o in ops["ops"]) == ops["total_self_ns"]
    for o in ops["ops"]:
        assert 0 <= o["self_ns"] <= o["total_ns"], o

    # Per device: the op profile's self time vs the union of its op track's slices.
    busy: dict[str, int] = {}
    multi = len(data.hosts) > 1
    for h in data.hosts:
        idx = h.index
        for t, track in enumerate(data.tracks[h.track_base:h.track_base + h.num_tracks]):
            if track["kind"] != "xla_ops":
                continue
            segs = np.flatnonzero(idx.seg_track == t)
            pos = np.concatenate([np.arange(idx.seg_ptr[s], idx.seg_ptr[s + 1]) for s in segs]) \
                if len(segs) else np.zeros(0, np.int64)
            label = f"{h.host}:{track['device']}" if multi else str(track["device"])
            busy[label] = busy.get(label, 0) + _union_len(idx.ev_start[pos], idx.ev_end[pos])
    self_by_device: dict[str, int] = {}
    for o in ops["ops"]:
        for d, v in o["per_device"].items():
            self_by_device[d] = self_by_device.get(d, 0) + v
    for d, v in self_by_device.items():
        # A GPU's streams are one device whose tracks overlap: busy per track is an upper
        # bound there; on CPU/TPU it is exact.
        assert v <= busy.get(d, 0) + 1, (d, v, busy.get(d))
    out["devices"] = len(self_by_device)

    # Physics: nothing above a roof unless flagged with a reason.
    pk = roof["peaks"]
    flagged = 0
    for p in roof["ops"]:
        over = (p["flops_per_s"] or 0) > TOL * pk["flops_per_s"] or \
            (p["bytes_per_s"] or 0) > TOL * pk["bytes_per_s"]
        assert over == bool(p["above_roof"]), p
        if over:
            assert p["reason"], p
            flagged += 1
    assert flagged == roof.get("above_roof", flagged)
    out["points"], out["flagged"] = len(roof["ops"]), flagged
    assert not any(p["category"] == "collective" for p in roof["ops"])

    # One time per op: roofline and op profile agree to the last ns.
    by_key = {(o["module"], o["program_id"], o["op"]): o for o in ops["ops"]}
    for p in roof["ops"] + roof.get("collectives", []):
        o = by_key[(p["module"], p["program_id"], p["op"])]
        assert p["share"] == o["share"] and p["self_ns"] == o["self_ns"], (p, o)

    # Timeline rows hold no overlapping slices.
    for h in data.hosts:
        idx = h.index
        for s in range(len(idx.seg_track)):
            a, b = int(idx.seg_ptr[s]), int(idx.seg_ptr[s + 1])
            assert np.all(idx.ev_start[a + 1:b] >= idx.ev_end[a:b - 1]), (h.host, s)

    # Steps: parts add up to the duration.
    for s in steps["steps"]:
        parts = s["compute_ns"] + s["collective_ns"] + s["host_ns"] + s["idle_ns"]
        assert abs(parts - s["dur_ns"]) <= 1e-6 * s["dur_ns"] + 2, s
    out["steps"] = len(steps["steps"])
    return out


def check_diff_with_itself(data: Any) -> None:
    """A diff of a profile with itself: each op's A and B are its self time per step."""
    from xdiag.analysis.diff import diff_views

    ops, steps = data.analysis("ops"), data.analysis("steps")
    d = diff_views("x", "x", ops, ops, steps, steps)
    divisor = d["normalization"]["a_divisor"]
    selfs: dict[tuple[str, str], int] = {}
    for o in ops["ops"]:
        selfs[(o["module"], o["op"])] = selfs.get((o["module"], o["op"]), 0) + o["self_ns"]
    assert d["ops"]
    for row in d["ops"]:
        want = selfs[(row["module"], row["op"])]
        assert abs(row["a_ns"] * divisor - want) <= max(2, 1e-9 * want), (row, want)
        assert row["a_ns"] == row["b_ns"] and not row["delta_ns"]
