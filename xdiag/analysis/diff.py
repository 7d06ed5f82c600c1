"""Diff of two profiles' op stats and step times. Pure."""

from __future__ import annotations

from typing import Any


def diff_views(a_id: str, b_id: str, ops_a: dict[str, Any], ops_b: dict[str, Any],
               steps_a: dict[str, Any], steps_b: dict[str, Any]) -> dict[str, Any]:
    """Per-op time deltas (b - a), ops present in only one profile, and step-time change."""
    key = lambda o: (o["module"], o["op"])  # noqa: E731 - program ids differ between runs
    ta = {key(o): o for o in ops_a["ops"]}
    tb = {key(o): o for o in ops_b["ops"]}
    both = []
    for k in ta.keys() & tb.keys():
        a_ns, b_ns = ta[k]["total_ns"], tb[k]["total_ns"]
        both.append({"module": k[0], "op": k[1], "category": tb[k]["category"],
                     "a_ns": a_ns, "b_ns": b_ns, "delta_ns": b_ns - a_ns,
                     "delta_pct": (b_ns - a_ns) / a_ns * 100 if a_ns else None,
                     "a_occurrences": ta[k]["occurrences"], "b_occurrences": tb[k]["occurrences"]})
    both.sort(key=lambda r: -abs(r["delta_ns"]))
    only = lambda t, other: sorted(  # noqa: E731
        ({"module": k[0], "op": k[1], "total_ns": t[k]["total_ns"], "category": t[k]["category"]}
         for k in t.keys() - other.keys()), key=lambda r: -r["total_ns"])
    sa, sb = steps_a["summary"].get("mean_ns"), steps_b["summary"].get("mean_ns")
    return {"a": a_id, "b": b_id, "ops": both, "only_a": only(ta, tb), "only_b": only(tb, ta),
            "steps": {"a_mean_ns": sa, "b_mean_ns": sb,
                      "delta_pct": (sb - sa) / sa * 100 if sa and sb else None,
                      "a_count": steps_a["summary"]["count"], "b_count": steps_b["summary"]["count"]}}
