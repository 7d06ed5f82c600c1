"""Roofline: per op and per program, achieved FLOP/s and bandwidth against the peaks.

Units: `flops_per_s`, `bytes_per_s`; `oi` (operational intensity) in FLOP/byte;
ridge point `ridge_oi = peak_flops / peak_bw`. Attainable at intensity oi is
min(peak_flops, oi * peak_bw); efficiency = achieved / attainable.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def point(flops: float, nbytes: float, time_ns: float, peaks: dict[str, Any]) -> dict[str, Any]:
    pf, pb = peaks["flops_per_s"], peaks["bytes_per_s"]
    seconds = time_ns * 1e-9
    oi = flops / nbytes if nbytes else None
    achieved = flops / seconds if seconds else None
    bw = nbytes / seconds if seconds else None
    attainable = min(pf, oi * pb) if oi is not None else pf
    bound = None if oi is None else ("compute" if oi >= pf / pb else "memory")
    return {"flops": flops, "bytes": nbytes, "time_ns": time_ns, "oi": oi,
            "flops_per_s": achieved, "bytes_per_s": bw, "bound_by": bound,
            "efficiency": (achieved / attainable) if achieved is not None and attainable else None}


def compute(ops_view: dict[str, Any], peaks: dict[str, Any]) -> dict[str, Any]:
    """Points for every op with a cost (FLOPs or bytes) and for every program."""
    total = sum(o["total_ns"] for o in ops_view["ops"]) or 1
    ops = []
    progs: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for o in ops_view["ops"]:
        if not (o["flops"] or o["bytes"]) or not o["total_ns"]:
            continue
        p = point(o["flops"], o["bytes"], o["total_ns"], peaks)
        ops.append({**p, "module": o["module"], "program_id": o["program_id"], "op": o["op"],
                    "category": o["category"], "fused_category": o.get("fused_category", ""),
                    "occurrences": o["occurrences"],
                    "share": o["total_ns"] / total})
        acc = progs[(o["module"], o["program_id"])]
        acc[0] += o["flops"]
        acc[1] += o["bytes"]
        acc[2] += o["total_ns"]
    programs = [{**point(f, b, t, peaks), "module": m, "program_id": pid, "share": t / total}
                for (m, pid), (f, b, t) in progs.items()]
    ops.sort(key=lambda r: -r["time_ns"])
    programs.sort(key=lambda r: -r["time_ns"])
    return {"peaks": peaks, "ridge_oi": peaks["flops_per_s"] / peaks["bytes_per_s"],
            "ops": ops, "programs": programs}
