"""Roofline: per op and per program, achieved FLOP/s and bandwidth against the peaks.

Units: `flops_per_s`, `bytes_per_s`; `oi` (operational intensity) in FLOP/byte;
ridge point `ridge_oi = peak_flops / peak_bw`. Attainable at intensity oi is
min(peak_flops, oi * peak_bw); efficiency = achieved / attainable.

An op's rates are over its run time (`time_ns`: the inclusive duration of its
occurrences); its `share` and `self_ns` are the op profile's, so every view shows
the same time for the same op. What is not a compute-or-memory question stays off the
chart: collectives (listed with their payload against the interconnect, their time
split into waiting for the other devices and transfer), control flow and ops inside
fusions (their fusion carries the cost). Physics: a point above a roof is flagged
with the likeliest reason (`above_roof`, `reason`), never plotted as if it were fine.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

TOLERANCE = 1.05  # rates within 5 % of a roof are measurement noise, not a finding
FAST_NS = 2_000  # runs this short are near the profiler's timer resolution


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


def _fmt(v: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def above_roof(p: dict[str, Any], occurrences: int, peaks: dict[str, Any]) -> tuple[str, str] | None:
    """(which roof, why) for a point above a roof by more than the tolerance, else None."""
    pf, pb = peaks["flops_per_s"], peaks["bytes_per_s"]
    over_c = (p["flops_per_s"] or 0) > TOLERANCE * pf
    over_m = (p["bytes_per_s"] or 0) > TOLERANCE * pb
    if not (over_c or over_m):
        return None
    per_run = p["time_ns"] / max(occurrences, 1)
    short = (f"; each run takes {per_run / 1e3:.2g} µs, near the profiler's timer resolution"
             if per_run < FAST_NS else "")
    measured = "measured" in str(peaks.get("source", ""))
    if over_c:
        why = (f"{_fmt(p['flops_per_s'], 'FLOP/s')} is above the peak of "
               f"{_fmt(pf, 'FLOP/s')} ({peaks.get('source', 'peak')}): ")
        why += ("the peak was measured low (the host was busy when it was measured) or the "
                "cost model over-counts this op's FLOPs" if measured else
                "the cost model over-counts this op's FLOPs")
        return "compute", why + short
    bytes_run = p["bytes"] / max(occurrences, 1)
    llc = peaks.get("llc_bytes")
    cache_bw = peaks.get("cache_bytes_per_s")
    if str(peaks.get("device_kind", "")).lower().startswith("cpu") and (
            (llc and bytes_run <= llc) or (not llc and bytes_run <= 8 * 2**20)):
        why = (f"its data ({_fmt(bytes_run, 'B')} a run) fits in the CPU caches"
               + (f", which deliver up to {_fmt(cache_bw, 'B/s')}" if cache_bw else "")
               + f": the memory roof ({_fmt(pb, 'B/s')}, DRAM) does not bind it")
        if cache_bw and (p["bytes_per_s"] or 0) > TOLERANCE * cache_bw:
            why += "; it is above the cache bandwidth too: the cost model over-counts its bytes"
        return "memory", why + short
    l2 = peaks.get("l2_bytes")
    if l2 and bytes_run <= l2:
        return "memory", (f"its data ({_fmt(bytes_run, 'B')} a run) fits in the "
                          f"{_fmt(l2, 'B')} L2 cache, where the op before it left it: "
                          f"the memory roof ({_fmt(pb, 'B/s')}, HBM) does not bind it" + short)
    return "memory", (f"{_fmt(p['bytes_per_s'], 'B/s')} is above the bandwidth peak of "
                      f"{_fmt(pb, 'B/s')} ({peaks.get('source', 'peak')}): the peak is low or "
                      "the cost model over-counts this op's bytes" + short)


def compute(ops_view: dict[str, Any], peaks: dict[str, Any]) -> dict[str, Any]:
    """Points for every op with a cost (FLOPs or bytes) and for every program; collectives
    apart."""
    ops, collectives = [], []
    progs: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for o in ops_view["ops"]:
        if o["category"] == "collective":
            collectives.append(_collective(o, peaks))
            continue
        if not (o["flops"] or o["bytes"]) or not o["total_ns"] or o.get("in_fusion"):
            continue
        p = point(o["flops"], o["bytes"], o["total_ns"], peaks)
        flag = above_roof(p, o["occurrences"], peaks)
        ops.append({**p, "module": o["module"], "program_id": o["program_id"], "op": o["op"],
                    "category": o["category"], "fused_category": o.get("fused_category", ""),
                    "occurrences": o["occurrences"], "self_ns": o["self_ns"],
                    "share": o["share"], "above_roof": flag[0] if flag else None,
                    "reason": flag[1] if flag else None})
        acc = progs[(o["module"], o["program_id"])]
        acc[0] += o["flops"]
        acc[1] += o["bytes"]
        acc[2] += o["self_ns"]
        acc[3] += o["share"]
    # A program's rate is over the device time spent in it (its ops' self times).
    programs = [{**point(f, b, t, peaks), "module": m, "program_id": pid, "self_ns": t,
                 "share": sh} for (m, pid), (f, b, t, sh) in progs.items()]
    ops.sort(key=lambda r: -r["share"])
    programs.sort(key=lambda r: -r["share"])
    collectives.sort(key=lambda r: -r["share"])
    return {"peaks": peaks, "ridge_oi": peaks["flops_per_s"] / peaks["bytes_per_s"],
            "ops": ops, "programs": programs, "collectives": collectives,
            "above_roof": sum(1 for p in ops if p["above_roof"]),
            "time": "rates over each op's run time (time_ns, inclusive); share and self_ns "
                    "as in the op profile"}


def _collective(o: dict[str, Any], peaks: dict[str, Any]) -> dict[str, Any]:
    """A collective against the interconnect: payload per device over transfer time."""
    peak = peaks.get("interconnect_bytes_per_s")
    xfer = o.get("transfer_ns")
    bw = o.get("collective_bytes", 0.0) / (xfer * 1e-9) if xfer else None
    return {"module": o["module"], "program_id": o["program_id"], "op": o["op"],
            "occurrences": o["occurrences"], "time_ns": o["total_ns"], "self_ns": o["self_ns"],
            "share": o["share"], "bytes": o.get("collective_bytes", 0.0),
            "wait_ns": o.get("wait_ns"), "transfer_ns": xfer, "bytes_per_s": bw,
            "peak_bytes_per_s": peak,
            "efficiency": bw / peak if bw is not None and peak else None,
            "bound_by": o.get("bound_by")}
