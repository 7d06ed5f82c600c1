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


def merge(tables: list[dict[str, list[Any]]], peaks: dict[str, Any] | None) -> dict[str, Any]:
    acc: dict[int, dict[str, Any]] = {}
    for t in tables:
        for i, step in enumerate(t["step"]):
            a = acc.setdefault(step, {"step": step, "start_ns": t["start_ns"][i],
                                      "end_ns": t["end_ns"][i], "busy": [], "coll": [],
                                      "flops": 0.0, "any_busy": []})
            a["start_ns"] = min(a["start_ns"], t["start_ns"][i])
            a["end_ns"] = max(a["end_ns"], t["end_ns"][i])
            for d in range(len(t["devices"])):
                a["busy"].append(t["busy_ns"][d][i])
                a["coll"].append(t["collective_ns"][d][i])
                a["flops"] += t["flops"][d][i]
            a["any_busy"].append(t["any_busy_ns"][i])
    steps = []
    for a in sorted(acc.values(), key=lambda a: a["step"]):
        dur = max(a["end_ns"] - a["start_ns"], 1)
        devices = len(a["busy"])
        busy = float(np.mean(a["busy"])) if devices else 0.0
        coll = float(np.mean(a["coll"])) if devices else 0.0
        any_busy = float(np.mean(a["any_busy"])) if a["any_busy"] else 0.0
        host = min(max(dur - any_busy, 0.0), dur - busy)  # mean busy <= union busy
        mfu = None
        if peaks and devices and a["flops"]:
            mfu = a["flops"] / (dur * 1e-9 * devices * peaks["flops_per_s"])
        steps.append({"step": a["step"], "start_ns": a["start_ns"], "dur_ns": dur,
                      "compute_ns": busy - coll, "collective_ns": coll,
                      "host_ns": host, "idle_ns": max(dur - busy - host, 0.0), "devices": devices,
                      "flops": a["flops"], "mfu": mfu})
    # The first and last step are usually cut by the capture window: flag them.
    for s in steps:
        s["partial"] = False
    durs = np.array([s["dur_ns"] for s in steps], dtype=np.float64)
    mfus = [s["mfu"] for s in steps if s["mfu"] is not None]
    summary = {"count": len(steps)}
    if len(durs):
        summary.update(mean_ns=float(durs.mean()), p50_ns=float(np.percentile(durs, 50)),
                       p90_ns=float(np.percentile(durs, 90)), min_ns=float(durs.min()),
                       max_ns=float(durs.max()))
    summary["mfu"] = float(np.mean(mfus)) if mfus else None
    return {"steps": steps, "summary": summary}
