"""Op statistics merged over hosts and devices. Pure: per-host op tables in, one view out.

One definition of time, used by every view (overview, op profile, roofline, diff):

- `self_ns`: what the devices spent in the op itself -- its nested ops (a while loop's
  body) excluded, and time when several ops ran at once on a device split evenly
  among them. Self times add up to the devices' busy time (`total_self_ns`).
- `share` = self_ns / total_self_ns: the op's part of the device busy time, summed over
  devices. Shares add up to 100 %.
- `total_ns`: inclusive -- each occurrence's whole duration, nested ops included. It is
  the op's run time: rates (`flops_per_s`, `bytes_per_s`) and `avg_ns` use it. Summing
  it over ops counts nested time twice, so groups sum `self_ns`.

FLOPs and bytes are totals over all occurrences, from the HLO cost model; None for an
op the cost model could not see (a GPU library kernel with no instruction of its own).
An op inside a fused computation (`in_fusion`) carries none: its fusion counts them.
Collectives also carry their payload (`collective_bytes`) and, where the other devices'
parts are in the profile, the time spent waiting for them (`wait_ns`) and transferring
(`transfer_ns`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np


def _bound(flops: float, nbytes: float, peaks: dict[str, Any]) -> tuple[str | None, float | None]:
    if not flops and not nbytes:
        return None, None
    ridge = peaks["flops_per_s"] / peaks["bytes_per_s"]
    oi = flops / nbytes if nbytes else float("inf")
    return ("compute" if oi >= ridge else "memory"), oi


def merge(tables: list[tuple[str, dict[str, list[Any]]]], peaks: dict[str, Any]) -> dict[str, Any]:
    """Merge (host, op table) pairs into the `ops` view of docs/api.md."""
    # Rows (an op on one device) group by (module, program, op) in order of first
    # appearance; sums are numpy's, added in row order (the same floats as a loop).
    group_of: dict[tuple[str, int, str], int] = {}
    first: list[tuple[dict[str, list[Any]], int]] = []
    cols: dict[str, list[np.ndarray]] = {k: [] for k in (
        "group", "occurrences", "total_ns", "self_ns", "flops", "bytes", "costed",
        "coll_bytes", "wait_ns", "transfer_ns", "parts_known")}
    labels: list[str] = []
    for host, t in tables:
        groups = np.empty(len(t["op"]), np.int64)
        for r, key in enumerate(zip(t["module"], t["program_id"], t["op"], strict=True)):
            g = group_of.get(key)
            if g is None:
                g = group_of[key] = len(first)
                first.append((t, r))
            groups[r] = g
        occ = np.asarray(t["occurrences"], np.int64)
        cols["group"].append(groups)
        cols["occurrences"].append(occ)
        cols["total_ns"].append(np.asarray(t["total_ns"], np.int64))
        cols["self_ns"].append(np.asarray(t["self_ns"], np.int64))
        cols["flops"].append(np.asarray(t["flops"], np.float64) * occ)
        cols["bytes"].append(np.asarray(t["bytes"], np.float64) * occ)
        # Tables from before the flag count every row as costed.
        cols["costed"].append(np.asarray(t.get("costed") or [True] * len(occ), bool))
        cols["coll_bytes"].append(
            np.asarray(t.get("collective_bytes") or [0.0] * len(occ), np.float64) * occ)
        waits = t.get("wait_ns") or [None] * len(occ)
        cols["parts_known"].append(np.array([w is not None for w in waits], bool))
        cols["wait_ns"].append(np.array([w or 0 for w in waits], np.int64))
        cols["transfer_ns"].append(
            np.array([x or 0 for x in t.get("transfer_ns") or [None] * len(occ)], np.int64))
        labels += ([f"{host}:{d}" for d in t["device"]] if len(tables) > 1
                   else [str(d) for d in t["device"]])
    n = len(first)
    floats = ("flops", "bytes", "coll_bytes")
    cat = {k: np.concatenate(v) for k, v in cols.items()} if n else {
        k: np.zeros(0, np.float64 if k in floats else np.int64) for k in cols}
    sums = {}
    for k in ("occurrences", "total_ns", "self_ns", "flops", "bytes", "coll_bytes", "wait_ns",
              "transfer_ns"):
        sums[k] = np.zeros(n, cat[k].dtype)
        np.add.at(sums[k], cat["group"], cat[k])
    costed, known = np.zeros(n, bool), np.zeros(n, bool)
    np.logical_or.at(costed, cat["group"], cat["costed"])
    np.logical_or.at(known, cat["group"], cat["parts_known"].astype(bool))
    per_device: list[dict[str, int]] = [{} for _ in range(n)]
    for g, label, slf in zip(cat["group"].tolist(), labels, cat["self_ns"].tolist(), strict=True):
        d = per_device[g]
        d[label] = d.get(label, 0) + slf
    acc: dict[tuple[str, int, str], dict[str, Any]] = {}
    rows = zip(group_of, first, sums["occurrences"].tolist(), sums["total_ns"].tolist(),
               sums["self_ns"].tolist(), sums["flops"].tolist(), sums["bytes"].tolist(),
               costed.tolist(), per_device, sums["coll_bytes"].tolist(),
               sums["wait_ns"].tolist(), sums["transfer_ns"].tolist(), known.tolist(),
               strict=True)
    for key, (t, r), occ_, tot_, slf_, fl_, by_, cd_, dev_, cb_, w_, x_, k_ in rows:
        acc[key] = {
            "module": key[0], "program_id": key[1], "op": key[2], "category": t["category"][r],
            "fused_category": t["fused_category"][r], "occurrences": occ_, "total_ns": tot_,
            "self_ns": slf_, "flops": fl_, "bytes": by_, "costed": cd_, "per_device": dev_,
            "in_fusion": bool((t.get("in_fusion") or [False] * (r + 1))[r])}
        if t["category"][r] == "collective":
            acc[key].update(collective_bytes=cb_, wait_ns=w_ if k_ else None,
                            transfer_ns=x_ if k_ else None)
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
        if a["category"] == "collective":
            # Not a compute or memory question: the payload crossed the interconnect, or the
            # device waited for the others to arrive.
            xfer = a.get("transfer_ns")
            ops.append({**a, "per_device": dict(a["per_device"]),
                        "avg_ns": a["total_ns"] / max(a["occurrences"], 1),
                        "share": a["self_ns"] / total_self, "flops_per_s": None,
                        "bytes_per_s": a["collective_bytes"] / (xfer * 1e-9) if xfer else None,
                        "oi": None,
                        "bound_by": "waiting" if (a.get("wait_ns") or 0) > (xfer or 0)
                        else "interconnect"})
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
        "time": {"self_ns": "time in the op itself: nested ops excluded, concurrent ops "
                            "splitting their overlap; self times add up to device busy time",
                 "total_ns": "inclusive run time of every occurrence (nested ops included); "
                             "rates and averages use it",
                 "share": f"self_ns / total_self_ns: share of the busy time of "
                          f"{len(devices)} device(s)"},
        "by_category": sorted(({"category": c, "self_ns": v, "share": v / total_self}
                               for c, v in by_cat.items()), key=lambda r: -r["self_ns"]),
        "by_program": sorted(({"module": m, "program_id": p, "self_ns": v,
                               "share": v / total_self} for (m, p), v in by_prog.items()),
                             key=lambda r: -r["self_ns"]),
        "devices": devices,
        "total_self_ns": total_self if acc else 0,
    }
