"""Diff of two profiles' op stats and step times. Pure.

A is the baseline, B the candidate: every delta is B - A, so a positive delta means B
is slower. Two captures rarely hold the same amount of work (10 steps in one, 8 in the
other), so op times are normalised before they are compared: per step (a profile's
total / its number of steps) when both profiles have steps, else per second of capture
(total / the capture's span) when both spans are known, else raw totals. The answer's
`normalization` says which, and the UI prints it.

The op time compared is self time (time not spent in nested ops) summed over every
device: self times add up to the devices' busy time with nothing counted twice, where a
while loop's total time would also hold its body's ops.
"""

from __future__ import annotations

from typing import Any

_LABELS = {
    "per_step": ("ns per step", "per step: each profile's op time ÷ its number of steps"),
    "per_second": ("ns per second of capture",
                   "per second of capture: each profile's op time ÷ its capture span "
                   "(a profile has no steps)"),
    "total": ("ns", "raw totals over each capture (no steps and no capture span: "
                    "captures of different length are not comparable)"),
}


def _normalization(steps_a: dict[str, Any], steps_b: dict[str, Any], span_a_ns: float | None,
                   span_b_ns: float | None) -> dict[str, Any]:
    na, nb = steps_a["summary"].get("count") or 0, steps_b["summary"].get("count") or 0
    if na > 0 and nb > 0:
        kind, da, db = "per_step", float(na), float(nb)
    elif span_a_ns and span_b_ns and span_a_ns > 0 and span_b_ns > 0:
        kind, da, db = "per_second", span_a_ns / 1e9, span_b_ns / 1e9
    else:
        kind, da, db = "total", 1.0, 1.0
    unit, label = _LABELS[kind]
    return {"kind": kind, "unit": unit, "label": label, "a_divisor": da, "b_divisor": db}


def _by_op(ops: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows keyed by (module, op), summed over program ids: program ids differ between
    runs (and a module compiled twice in one run has two)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for o in ops["ops"]:
        k = (o["module"], o["op"])
        r = out.setdefault(k, {"category": o.get("category"), "self_ns": 0, "total_ns": 0,
                               "occurrences": 0})
        r["self_ns"] += o["self_ns"]
        r["total_ns"] += o["total_ns"]
        r["occurrences"] += o["occurrences"]
    return out


def _pct(a: float | None, b: float | None) -> float | None:
    return (b - a) / a * 100 if a and b is not None else None


def diff_views(a_id: str, b_id: str, ops_a: dict[str, Any], ops_b: dict[str, Any],
               steps_a: dict[str, Any], steps_b: dict[str, Any], *,
               span_a_ns: float | None = None, span_b_ns: float | None = None) -> dict[str, Any]:
    """Per-op self-time deltas (B - A, normalised), ops found in one profile only, the
    total op time and the mean step time of both.

    Args:
      a_id, b_id: profile ids; A is the baseline, B the candidate.
      ops_a, ops_b: the profiles' `ops` views (per op: `self_ns`, `total_ns`, `occurrences`).
      steps_a, steps_b: their `steps` views (only `summary.count` and `summary.mean_ns` are read).
      span_a_ns, span_b_ns: the captures' spans, for profiles without steps.
    """
    norm = _normalization(steps_a, steps_b, span_a_ns, span_b_ns)
    da, db = norm["a_divisor"], norm["b_divisor"]
    ta, tb = _by_op(ops_a), _by_op(ops_b)
    both = []
    for k in ta.keys() & tb.keys():
        ra, rb = ta[k], tb[k]
        a_ns, b_ns = ra["self_ns"] / da, rb["self_ns"] / db
        both.append({"module": k[0], "op": k[1], "category": rb["category"] or ra["category"],
                     "a_ns": a_ns, "b_ns": b_ns, "delta_ns": b_ns - a_ns,
                     "delta_pct": _pct(a_ns, b_ns),
                     "a_self_ns": ra["self_ns"], "b_self_ns": rb["self_ns"],
                     "a_occurrences": ra["occurrences"], "b_occurrences": rb["occurrences"],
                     "a_calls": ra["occurrences"] / da, "b_calls": rb["occurrences"] / db})
    both.sort(key=lambda r: (-abs(r["delta_ns"]), r["module"], r["op"]))

    def only(t: dict, other: dict, div: float) -> list[dict[str, Any]]:
        rows = [{"module": k[0], "op": k[1], "category": t[k]["category"],
                 "ns": t[k]["self_ns"] / div, "self_ns": t[k]["self_ns"],
                 "total_ns": t[k]["total_ns"], "occurrences": t[k]["occurrences"]}
                for k in t.keys() - other.keys()]
        return sorted(rows, key=lambda r: (-r["ns"], r["module"], r["op"]))

    sum_a = sum(r["self_ns"] for r in ta.values()) / da
    sum_b = sum(r["self_ns"] for r in tb.values()) / db
    sa, sb = steps_a["summary"], steps_b["summary"]
    ma, mb = sa.get("mean_ns"), sb.get("mean_ns")
    devices = {"a": len(ops_a.get("devices") or []), "b": len(ops_b.get("devices") or [])}
    notes = []
    if devices["a"] != devices["b"]:
        notes.append(f"A ran on {devices['a']} devices and B on {devices['b']}: op times are "
                     "summed over devices, so they differ by that much for the same work.")
    for name, n in (("A", sa.get("count") or 0), ("B", sb.get("count") or 0)):
        if not n:
            notes.append(f"{name} has no steps: no step time, and op times are {norm['label']}.")
    return {"a": a_id, "b": b_id, "baseline": "a", "time": "self_ns", "normalization": norm,
            "ops": both, "only_a": only(ta, tb, da), "only_b": only(tb, ta, db),
            "totals": {"a_ns": sum_a, "b_ns": sum_b, "delta_ns": sum_b - sum_a,
                       "delta_pct": _pct(sum_a, sum_b)},
            "steps": {"a_mean_ns": ma, "b_mean_ns": mb, "delta_pct": _pct(ma, mb),
                      "a_count": sa.get("count") or 0, "b_count": sb.get("count") or 0},
            "devices": devices, "notes": notes}


CHANGED_PCT = 10.0  # a finding's cost that moved less than this is unchanged


def diff_findings(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Which findings (analysis/diagnosis) appeared in B, disappeared from A, or changed
    cost per step by CHANGED_PCT % or more, matched by their `id` (rule:subject)."""
    if not a.get("available", True) or not b.get("available", True):
        return {"available": False,
                "reason": (a if not a.get("available", True) else b).get("reason")
                or "not available for one of the profiles"}
    fa = {f["id"]: f for f in a.get("findings", [])}
    fb = {f["id"]: f for f in b.get("findings", [])}

    def row(f: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"id": f["id"], "rule": f["rule"], "title": f["title"], **extra}

    appeared = [row(fb[k], b_cost_ns_per_step=fb[k]["cost_ns_per_step"]) for k in fb
                if k not in fa]
    gone = [row(fa[k], a_cost_ns_per_step=fa[k]["cost_ns_per_step"]) for k in fa if k not in fb]
    changed = []
    for k in fa.keys() & fb.keys():
        ca, cb = fa[k]["cost_ns_per_step"], fb[k]["cost_ns_per_step"]
        pct = _pct(ca, cb)
        if pct is None and ca == cb:
            continue
        if pct is None or abs(pct) >= CHANGED_PCT:
            changed.append(row(fb[k], a_cost_ns_per_step=ca, b_cost_ns_per_step=cb,
                               delta_ns=cb - ca, delta_pct=pct))
    appeared.sort(key=lambda r: -r["b_cost_ns_per_step"])
    gone.sort(key=lambda r: -r["a_cost_ns_per_step"])
    changed.sort(key=lambda r: -abs(r["delta_ns"]))
    return {"available": True, "appeared": appeared, "disappeared": gone, "changed": changed,
            "changed_pct": CHANGED_PCT}


def memory_diff(a: dict[str, Any], b: dict[str, Any], *, limit: int = 50) -> dict[str, Any]:
    """The peak memory of one program in A and in B (memory views, `analysis/memory.py`):
    the peak's change and the buffers at the peak that appeared, grew, shrank or went.
    Buffers of two compilations share no ids or instruction names: a buffer is known by
    its JAX op name, its shape and its category, summed when several share them."""
    def at_peak(view: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        for buf in view["buffers"]:
            key = (buf["op_name"] or buf["instruction"], buf["shape"], buf["category"])
            row = out.setdefault(key, {"bytes": 0, "count": 0, "instruction": buf["instruction"],
                                       "scope": buf["scope"]})
            row["bytes"] += buf["group_bytes"]
            row["count"] += 1
        return out

    pa, pb = at_peak(a), at_peak(b)
    rows = []
    for key in pa.keys() | pb.keys():
        ba, bb = pa.get(key, {}).get("bytes", 0), pb.get(key, {}).get("bytes", 0)
        if ba == bb:
            continue
        change = ("appeared" if key not in pa else "gone" if key not in pb
                  else "grew" if bb > ba else "shrank")
        rows.append({"op_name": key[0], "shape": key[1], "category": key[2],
                     "instruction": (pb.get(key) or pa[key])["instruction"],
                     "scope": (pb.get(key) or pa[key])["scope"],
                     "a_bytes": ba, "b_bytes": bb, "delta_bytes": bb - ba, "change": change})
    rows.sort(key=lambda r: (-abs(r["delta_bytes"]), r["op_name"], r["shape"]))
    return {"available": True, "reason": None,
            "a_peak_bytes": a["peak_heap_bytes"], "b_peak_bytes": b["peak_heap_bytes"],
            "delta_bytes": b["peak_heap_bytes"] - a["peak_heap_bytes"],
            "delta_pct": _pct(a["peak_heap_bytes"], b["peak_heap_bytes"]),
            "buffers": rows[:limit], "buffers_changed": len(rows)}
