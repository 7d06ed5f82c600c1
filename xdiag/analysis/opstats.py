"""Op statistics merged over hosts and devices. Pure: per-host op tables in, one view out.

Time share is of self time (time not spent in nested ops), so shares add to 100 %.
FLOPs and bytes are totals over all occurrences, from the HLO cost model; None for an
op the cost model could not see (a GPU library kernel with no instruction of its own).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def _bound(flops: float, nbytes: float, peaks: dict[str, Any]) -> tuple[str | None, float | None]:
    if not flops and not nbytes:
        return None, None
    ridge = peaks["flops_per_s"] / peaks["bytes_per_s"]
    oi = flops / nbytes if nbytes else float("inf")
    return ("compute" if oi >= ridge else "memory"), oi


def merge(tables: list[tuple[str, dict[str, list[Any]]]], peaks: dict[str, Any]) -> dict[str, Any]:
    """Merge (host, op table) pairs into the `ops` view of docs/api.md."""
    acc: dict[tuple[str, int, str], dict[str, Any]] = {}
    for host, t in tables:
        costed = t.get("costed") or [True] * len(t["op"])  # tables from before the flag
        # One pass over the columns together (zip), not per-row column look-ups: a host's
        # table has a row per op and device, tens of thousands on a large job.
        for (module, pid, op, cat, fcat, occ, tot, slf, fl, by, cd, dev) in zip(
                t["module"], t["program_id"], t["op"], t["category"], t["fused_category"],
                t["occurrences"], t["total_ns"], t["self_ns"], t["flops"], t["bytes"], costed,
                t["device"], strict=True):
            key = (module, pid, op)
            a = acc.get(key)
            if a is None:
                a = acc[key] = {
                    "module": module, "program_id": pid, "op": op, "category": cat,
                    "fused_category": fcat, "occurrences": 0, "total_ns": 0, "self_ns": 0,
                    "flops": 0.0, "bytes": 0.0, "costed": False, "per_device": defaultdict(int)}
            a["occurrences"] += occ
            a["total_ns"] += tot
            a["self_ns"] += slf
            a["flops"] += fl * occ
            a["bytes"] += by * occ
            a["costed"] |= bool(cd)
            label = f"{host}:{dev}" if len(tables) > 1 else str(dev)
            a["per_device"][label] += tot
    total_self = sum(a["self_ns"] for a in acc.values()) or 1
    ops = []
    for a in acc.values():
        seconds = a["total_ns"] * 1e-9
        if not a.pop("costed"):
            a["flops"] = a["bytes"] = None
            ops.append({**a, "per_device": dict(a["per_device"]),
                        "avg_ns": a["total_ns"] / max(a["occurrences"], 1),
                        "share": a["self_ns"] / total_self, "flops_per_s": None,
                        "bytes_per_s": None, "oi": None, "bound_by": None})
            continue
        bound, oi = _bound(a["flops"], a["bytes"], peaks)
        ops.append({
            **a,
            "per_device": dict(a["per_device"]),
            "avg_ns": a["total_ns"] / max(a["occurrences"], 1),
            "share": a["self_ns"] / total_self,
            "flops_per_s": a["flops"] / seconds if seconds else None,
            "bytes_per_s": a["bytes"] / seconds if seconds else None,
            "oi": oi,
            "bound_by": bound,
        })
    ops.sort(key=lambda o: o["self_ns"], reverse=True)
    by_cat: dict[str, int] = defaultdict(int)
    by_prog: dict[tuple[str, int], int] = defaultdict(int)
    for o in ops:
        by_cat[o["category"]] += o["self_ns"]
        by_prog[(o["module"], o["program_id"])] += o["self_ns"]
    devices = sorted({d for o in ops for d in o["per_device"]})
    return {
        "ops": ops,
        "by_category": sorted(({"category": c, "total_ns": v, "share": v / total_self}
                               for c, v in by_cat.items()), key=lambda r: -r["total_ns"]),
        "by_program": sorted(({"module": m, "program_id": p, "total_ns": v,
                               "share": v / total_self} for (m, p), v in by_prog.items()),
                             key=lambda r: -r["total_ns"]),
        "devices": devices,
        "total_self_ns": total_self if acc else 0,
    }
