"""Training steps (from StepTraceAnnotation) and what each step's time went to.

Per step, averaged over every device of every host, four disjoint parts that add
up to the step's duration: `compute_ns` (busy in non-collective ops),
`collective_ns`, `host_ns` (no device busy at all: input pipeline, dispatch,
Python) and `idle_ns` (this device waiting while others or the host worked).
MFU = step FLOPs / (duration * devices * peak FLOP/s).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def merge(tables: list[dict[str, np.ndarray]], peaks: dict[str, Any] | None) -> dict[str, Any]:
    """Merge the hosts' step tables (see analysis.host._step_table) by step number."""
    tables = [t for t in tables if len(t["step"])]
    steps_u = np.unique(np.concatenate([t["step"] for t in tables])) if tables else \
        np.zeros(0, np.int64)
    n = len(steps_u)
    start = np.full(n, np.iinfo(np.int64).max)
    end = np.full(n, np.iinfo(np.int64).min)
    busy_sum, coll_sum, flops, any_sum = (np.zeros(n) for _ in range(4))
    devices, hosts = np.zeros(n), np.zeros(n)
    for t in tables:
        k = np.searchsorted(steps_u, t["step"])
        np.minimum.at(start, k, t["start_ns"])
        np.maximum.at(end, k, t["end_ns"])
        busy_sum[k] += t["busy_ns"].sum(axis=0)
        coll_sum[k] += t["collective_ns"].sum(axis=0)
        flops[k] += t["flops"].sum(axis=0)
        devices[k] += t["busy_ns"].shape[0]
        any_sum[k] += t["any_busy_ns"]
        hosts[k] += 1
    dur = np.maximum(end - start, 1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        busy = np.where(devices > 0, busy_sum / devices, 0.0)
        coll = np.where(devices > 0, coll_sum / devices, 0.0)
        any_busy = np.where(hosts > 0, any_sum / hosts, 0.0)
    host = np.minimum(np.maximum(dur - any_busy, 0.0), dur - busy)  # mean busy <= union busy
    idle = np.maximum(dur - busy - host, 0.0)
    mfu = None
    if peaks and n:
        with np.errstate(invalid="ignore", divide="ignore"):
            mfu = np.where((devices > 0) & (flops > 0),
                           flops / (dur * 1e-9 * devices * peaks["flops_per_s"]), np.nan)
    # Columns to Python lists first: indexing numpy arrays per element is ~10x slower, and
    # profiles can hold tens of thousands of steps.
    mfu_list = [None] * n if mfu is None else \
        np.where(np.isnan(mfu), None, mfu).tolist()  # type: ignore[call-overload]
    steps = [{"step": st, "start_ns": s0, "dur_ns": d, "compute_ns": cp, "collective_ns": cl,
              "host_ns": ho, "idle_ns": il, "devices": dv, "flops": fl, "mfu": mf}
             for st, s0, d, cp, cl, ho, il, dv, fl, mf in zip(
                 steps_u.astype(np.int64).tolist(), start.tolist(), dur.astype(np.int64).tolist(),
                 (busy - coll).tolist(), coll.tolist(), host.tolist(), idle.tolist(),
                 devices.astype(np.int64).tolist(), flops.tolist(), mfu_list, strict=True)]
    summary: dict[str, Any] = {"count": n}
    if n:
        summary.update(mean_ns=float(dur.mean()), p50_ns=float(np.percentile(dur, 50)),
                       p90_ns=float(np.percentile(dur, 90)), min_ns=float(dur.min()),
                       max_ns=float(dur.max()))
    valid = mfu[~np.isnan(mfu)] if mfu is not None else np.zeros(0)
    summary["mfu"] = float(valid.mean()) if len(valid) else None
    return {"steps": steps, "summary": summary}
