"""Every host's steps side by side. Pure: the hosts' step tables (and facts) in, the
hosts x steps view out.

Per host and step, the same four parts `analysis/steps.py` gives the merged steps, here
for that host alone (means over its devices, adding up to its step time): `compute_ns`,
`collective_ns` (exposed: no compute beside it), `host_ns` (no device of the host busy)
and `idle_ns` (this device waiting while others worked); plus `gap_ns`, the time after
the step that no device of the host was busy before the next step began (the host was
preparing it). The slowest host per step is the one that made the others wait: the most
time of its own (step time less exposed collective time) and the least waiting.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def host_rows(t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One host's per-step parts (complete steps only), arrays by step."""
    ok = np.asarray(t.get("complete", np.ones(len(t["step"]))), bool)
    dur = (np.asarray(t["end_ns"], np.float64) - np.asarray(t["start_ns"], np.float64))
    busy = np.asarray(t["busy_ns"], np.float64)
    coll = np.asarray(t["collective_ns"], np.float64)
    d = busy.shape[0]
    busy_m = busy.mean(axis=0) if d else np.zeros(len(dur))
    coll_m = coll.mean(axis=0) if d else np.zeros(len(dur))
    any_b = np.asarray(t.get("any_busy_ns", busy_m), np.float64)
    host = np.minimum(np.maximum(dur - any_b, 0.0), np.maximum(dur - busy_m, 0.0))
    idle = np.maximum(dur - busy_m - host, 0.0)
    return {"step": np.asarray(t["step"], np.int64)[ok], "start_ns": np.asarray(
        t["start_ns"], np.int64)[ok], "dur_ns": dur[ok], "compute_ns": (busy_m - coll_m)[ok],
            "collective_ns": coll_m[ok], "host_ns": host[ok], "idle_ns": idle[ok],
            "busy_dev": busy[:, ok], "coll_dev": coll[:, ok], "any_busy": any_b[ok],
            "devices": np.asarray(t.get("devices", np.arange(d)), np.int64), "mask": ok}


def lateness(own: np.ndarray, wait: np.ndarray) -> np.ndarray:
    """Per participant (a host, or a device), how much later than the others it was
    ready: the larger of its own time over the median of the others' and the others'
    median wait (exposed collective) over its own. NaN: not present."""
    out = np.full(len(own), np.nan)
    ok = np.flatnonzero(~np.isnan(own))
    if len(ok) < 2:
        return out
    for i in ok.tolist():
        others = ok[ok != i]
        out[i] = max(own[i] - np.median(own[others]), np.median(wait[others]) - wait[i])
    return out


def _aligned(steps: np.ndarray, own: np.ndarray, vals: np.ndarray) -> list[Any]:
    out: list[Any] = [None] * len(steps)
    j = np.searchsorted(steps, own)
    for k, v in zip(j.tolist(), vals.tolist(), strict=True):
        out[k] = v
    return out


def build(hosts: list[tuple[str, dict[str, np.ndarray], dict[str, Any] | None]]
          ) -> dict[str, Any]:
    """The hosts x steps view from (host, step table, facts or None) per host.

    Also returns, under `_rows`, the per-host arrays the rules read (not served)."""
    rows = [(h, host_rows(t), f) for h, t, f in hosts if len(t.get("step", ()))]
    steps = np.unique(np.concatenate([r["step"] for _, r, _ in rows])) if rows else \
        np.zeros(0, np.int64)
    out_hosts = []
    n = len(steps)
    own = np.full((len(rows), n), np.nan)
    wait = np.full((len(rows), n), np.nan)
    for i, (h, r, f) in enumerate(rows):
        gap = np.full(len(r["step"]), np.nan)
        if f and f.get("step"):
            fs = np.asarray(f["step"], np.int64)
            g = np.array([np.nan if x is None else x for x in f["gap_ns"]], np.float64)
            gb = np.array([np.nan if x is None else x for x in f["gap_busy_ns"]], np.float64)
            idle_gap = np.maximum(g - np.nan_to_num(gb), 0.0)
            pos = {s: k for k, s in enumerate(fs.tolist())}
            gap = np.array([idle_gap[pos[s]] if s in pos else np.nan
                            for s in r["step"].tolist()])
        r["gap_ns"] = gap
        k = np.searchsorted(steps, r["step"])
        own[i, k] = r["dur_ns"] - r["collective_ns"]
        wait[i, k] = r["collective_ns"]

        def col(x: np.ndarray, r: dict[str, Any] = r) -> list[Any]:
            return _aligned(steps, r["step"], np.round(x, 1))

        out_hosts.append({
            "host": h, "devices": r["devices"].tolist(),
            "dur_ns": col(r["dur_ns"]), "start_ns": _aligned(steps, r["step"], r["start_ns"]),
            "compute_ns": col(r["compute_ns"]), "collective_ns": col(r["collective_ns"]),
            "host_ns": col(r["host_ns"]), "idle_ns": col(r["idle_ns"]),
            "gap_ns": [None if v is None or v != v else v for v in col(gap)],
            "mean_dur_ns": float(r["dur_ns"].mean()) if len(r["dur_ns"]) else None,
            "slowest_count": 0})
    slowest = []
    if len(rows) > 1 and n:
        dur = np.full((len(rows), n), np.nan)
        for i, (_, r, _) in enumerate(rows):
            dur[i, np.searchsorted(steps, r["step"])] = r["dur_ns"]
        for j in range(n):
            score = lateness(own[:, j], wait[:, j])
            if np.isnan(score).all() or (~np.isnan(score)).sum() < 2:
                continue
            i = int(np.nanargmax(score))
            out_hosts[i]["slowest_count"] += 1
            slowest.append({"step": int(steps[j]), "host": rows[i][0],
                            "dur_ns": float(dur[i, j]), "excess_ns": round(float(score[i]), 1)})
        spread = np.nanmax(dur, axis=0) - np.nanmin(dur, axis=0)
        means = np.array([np.nanmean(d) for d in dur])
        skew = {"mean_spread_ns": float(np.nanmean(spread)),
                "max_spread_ns": float(np.nanmax(spread)),
                "mean_spread_pct": float(np.nanmean(spread / np.nanmedian(dur, axis=0)) * 100),
                "cv": float(np.std(means) / np.mean(means)) if np.mean(means) else None}
    else:
        skew = {"mean_spread_ns": 0.0, "max_spread_ns": 0.0, "mean_spread_pct": 0.0,
                "cv": 0.0 if rows else None}
    return {"steps": steps.tolist(), "hosts": out_hosts, "slowest": slowest, "skew": skew,
            "_rows": rows}


def device_breakdown(host: str, r: dict[str, Any]) -> dict[str, Any]:
    """Per device and step of one host: busy, compute, exposed collective and idle."""
    busy, coll = r["busy_dev"], r["coll_dev"]
    dur = r["dur_ns"][None, :]
    host_ns = r["host_ns"][None, :]
    idle = np.maximum(dur - busy - host_ns, 0.0)
    return {"host": host, "devices": r["devices"].tolist(), "steps": r["step"].tolist(),
            "busy_ns": np.round(busy, 1).tolist(),
            "compute_ns": np.round(busy - coll, 1).tolist(),
            "collective_ns": np.round(coll, 1).tolist(),
            "idle_ns": np.round(idle, 1).tolist()}
