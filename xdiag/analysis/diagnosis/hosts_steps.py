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

MAX_STEPS = 1000  # columns kept in the stored view: a heatmap shows no more


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


def lateness(own: np.ndarray, wait: np.ndarray, work: np.ndarray | None = None
             ) -> np.ndarray:
    """How much later than the others each participant (a host, or a device) was ready,
    per step: the largest of its own time over the median of the others' (`own`: step
    time less exposed collective time), the others' median wait over its own (`wait`:
    exposed collective time; the others waited for it) and its work over the others'
    (`work`: compute time; more work than the rest). Arrays [participant, step]; NaN where
    a participant has no such step or fewer than two have it."""
    own = np.atleast_2d(np.asarray(own, np.float64))
    wait = np.atleast_2d(np.asarray(wait, np.float64))
    signals = [(own, 1.0), (wait, -1.0)] + ([] if work is None else [
        (np.atleast_2d(np.asarray(work, np.float64)), 1.0)])
    out = np.full(own.shape, np.nan)
    if own.shape[0] < 2:
        return out
    present = (~np.isnan(own)).sum(axis=0) >= 2
    import warnings

    gaps = any(np.isnan(x).any() for x, _ in signals)
    median = np.nanmedian if gaps else np.median  # nanmedian is several times slower
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: NaN is the answer
        for i in range(own.shape[0]):
            others = np.delete(np.arange(own.shape[0]), i)
            best = np.full(own.shape[1], -np.inf)
            for x, sign in signals:
                med = median(x[others], axis=0)
                best = np.maximum(best, sign * (x[i] - med))
            out[i] = np.where(present & ~np.isnan(own[i]), best, np.nan)
    return out


def slowest_of(score: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Per step, the participant with the highest lateness, -1 where none is later than
    `floor` (ties and noise name no one)."""
    filled = np.where(np.isnan(score), -np.inf, score)
    top = np.argmax(filled, axis=0) if score.size else np.zeros(score.shape[1], np.int64)
    ok = filled[top, np.arange(score.shape[1])] > floor
    return np.where(ok, top, -1)


def _aligned(steps: np.ndarray, own: np.ndarray, vals: np.ndarray) -> list[Any]:
    """`vals` (of the steps `own`) at their places among `steps`; None elsewhere."""
    out = np.full(len(steps), np.nan)
    out[np.searchsorted(steps, own)] = vals
    return [None if v != v else v for v in out.tolist()]


def _gap(r: dict[str, Any], f: dict[str, Any] | None) -> np.ndarray:
    """Per step of r, the device-idle time after it (facts' gap less device work in it)."""
    gap = np.full(len(r["step"]), np.nan)
    if f and f.get("step"):
        fs = np.asarray(f["step"], np.int64)
        g = np.array([np.nan if x is None else x for x in f["gap_ns"]], np.float64)
        gb = np.array([np.nan if x is None else x for x in f["gap_busy_ns"]], np.float64)
        idle_gap = np.maximum(g - np.nan_to_num(gb), 0.0)
        order = np.argsort(fs, kind="stable")
        k = np.minimum(np.searchsorted(fs[order], r["step"]), max(len(fs) - 1, 0))
        hit = fs[order][k] == r["step"]
        gap[hit] = idle_gap[order][k][hit]
    return gap


def _kept(n: int, max_steps: int) -> np.ndarray:
    """Evenly spaced column indices (first and last included), at most max_steps."""
    if n <= max_steps:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_steps).round().astype(np.int64))


def build(hosts: list[tuple[str, dict[str, np.ndarray], dict[str, Any] | None]],
          max_steps: int | None = None) -> dict[str, Any]:
    """The hosts x steps view from (host, step table, facts or None) per host: at most
    `max_steps` (default MAX_STEPS) evenly spaced steps are listed (`shown` says how many
    of how many); counts and skew are over every step.

    Also returns, under `_rows`, the per-host arrays the rules read (not served)."""
    rows = [(h, host_rows(t), f) for h, t, f in hosts if len(t.get("step", ()))]
    steps = np.unique(np.concatenate([r["step"] for _, r, _ in rows])) if rows else \
        np.zeros(0, np.int64)
    n = len(steps)
    keep = _kept(n, MAX_STEPS if max_steps is None else max_steps)
    cols = {k: np.full((len(rows), n), np.nan) for k in (
        "dur_ns", "start_ns", "compute_ns", "collective_ns", "host_ns", "idle_ns", "gap_ns")}
    for i, (_, r, f) in enumerate(rows):
        r["gap_ns"] = _gap(r, f)
        k = np.searchsorted(steps, r["step"])
        for key, c in cols.items():
            c[i, k] = r[key]

    def listed(x: np.ndarray, digits: int | None = 1) -> list[Any]:
        x = x[keep] if digits is None else np.round(x[keep], digits)
        return [None if v != v else v for v in x.tolist()]

    out_hosts = [{
        "host": h, "devices": r["devices"].tolist(),
        **{k: listed(cols[k][i]) for k in ("dur_ns", "compute_ns", "collective_ns",
                                           "host_ns", "idle_ns", "gap_ns")},
        "start_ns": [None if v is None else int(v) for v in listed(cols["start_ns"][i], None)],
        "mean_dur_ns": float(r["dur_ns"].mean()) if len(r["dur_ns"]) else None,
        "slowest_count": 0} for i, (h, r, _) in enumerate(rows)]
    slowest = []
    if len(rows) > 1 and n:
        dur = cols["dur_ns"]
        score = lateness(dur - cols["collective_ns"], cols["collective_ns"], cols["compute_ns"])
        # Later than the others by 1 % of the step at least: else nobody is the slowest.
        top = slowest_of(score, 0.01 * np.nanmedian(dur, axis=0))
        counts = np.bincount(top[top >= 0], minlength=len(rows))
        for i, c in enumerate(counts.tolist()):
            out_hosts[i]["slowest_count"] = c
        for j in keep[top[keep] >= 0].tolist():
            i = int(top[j])
            slowest.append({"step": int(steps[j]), "host": rows[i][0],
                            "dur_ns": float(dur[i, j]), "excess_ns": round(float(score[i, j]), 1)})
        spread = np.nanmax(dur, axis=0) - np.nanmin(dur, axis=0)
        means = np.nanmean(dur, axis=1)
        skew = {"mean_spread_ns": float(np.nanmean(spread)),
                "max_spread_ns": float(np.nanmax(spread)),
                "mean_spread_pct": float(np.nanmean(spread / np.nanmedian(dur, axis=0)) * 100),
                "cv": float(np.std(means) / np.mean(means)) if np.mean(means) else None}
    else:
        skew = {"mean_spread_ns": 0.0, "max_spread_ns": 0.0, "mean_spread_pct": 0.0,
                "cv": 0.0 if rows else None}
    return {"steps": steps[keep].tolist(), "shown": {"steps": len(keep), "of": n},
            "hosts": out_hosts, "slowest": slowest, "skew": skew, "_rows": rows}


def device_breakdown(host: str, r: dict[str, Any], steps: list[int] | None = None
                     ) -> dict[str, Any]:
    """Per device and step of one host (the listed `steps` only, if given): busy,
    compute, exposed collective and idle, and per step the host-side time (no device of
    the host busy), so that each device's compute + collective + host + idle is the step."""
    sel = np.arange(len(r["step"]))
    if steps is not None:
        k = np.minimum(np.searchsorted(r["step"], steps), max(len(r["step"]) - 1, 0))
        sel = k[r["step"][k] == np.asarray(steps, np.int64)] if len(r["step"]) else sel
    busy, coll = r["busy_dev"][:, sel], r["coll_dev"][:, sel]
    dur = r["dur_ns"][sel][None, :]
    host_ns = r["host_ns"][sel][None, :]
    idle = np.maximum(dur - busy - host_ns, 0.0)
    return {"host": host, "devices": r["devices"].tolist(), "steps": r["step"][sel].tolist(),
            "busy_ns": np.round(busy, 1).tolist(),
            "compute_ns": np.round(busy - coll, 1).tolist(),
            "collective_ns": np.round(coll, 1).tolist(),
            "host_ns": np.round(host_ns[0], 1).tolist(),
            "idle_ns": np.round(idle, 1).tolist()}


