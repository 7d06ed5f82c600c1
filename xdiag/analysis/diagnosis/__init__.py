"""Diagnosis: what is wrong with a profile, across its steps and hosts. Pure.

- `facts.py`: per host, what the rules need from the timeline (gaps between steps,
  dispatches, compilation, op and kernel counts per step); ingest's host task.
- `scopes.py`: time by JAX named scope (the framework view).
- `hosts_steps.py`: every host's steps side by side, skew, the slowest host per step.
- `rules.py`: the rules, their thresholds in one table, findings ranked by cost per step.

`build` runs at ingest's merge, once, over the hosts' summaries and the profile's views;
its three views are stored beside `ops`/`steps`/`roofline`.
"""

from __future__ import annotations

from typing import Any

from xdiag.analysis.diagnosis import hosts_steps, rules, scopes

SCHEMA = "xdiag.diagnosis/1"
VIEWS = ("diagnosis", "framework", "hosts_steps")


def build(profile_id: str, results: list[dict[str, Any]], views: dict[str, Any]
          ) -> dict[str, dict[str, Any]]:
    """The diagnosis, framework and hosts x steps views of a profile.

    Args:
      profile_id: the profile's id.
      results: the hosts' summaries (`host`, `steps` arrays, and where ingest computed
        them `diagnosis` facts and `op_scopes`).
      views: `analysis.profile.profile_views`' answer (ops, steps, roofline, tracks, ...).
    """
    hs = hosts_steps.build([(r["host"], r["steps"], r.get("diagnosis")) for r in results])
    rows = hs.pop("_rows")
    hs["device_breakdown"] = {h: hosts_steps.device_breakdown(h, r, hs["steps"])
                              for h, r, _ in rows}
    op_scope = {(m, int(p), o): s for r in results for m, p, o, s in r.get("op_scopes") or ()}
    x = rules.Inputs(device_kind=str(views.get("device_kind") or "cpu"), hosts=rows,
                     ops=views["ops"], roofline=views["roofline"], steps=views["steps"],
                     tracks=views.get("tracks") or [])
    findings, table, skipped = rules.run(x, op_scope)
    _framework_links(findings, op_scope)
    step_ns = x.step_ns
    framework = scopes.tree(views["ops"], op_scope, x.n_steps, x.n_devices,
                            scopes.step_basis(rows))
    summ = views["steps"].get("summary") or {}
    diagnosis = {
        "schema": SCHEMA, "profile_id": profile_id, "device_kind": x.device_kind,
        "summary": {"steps": x.n_steps, "hosts": len(results), "devices": x.n_devices,
                    "step_ns": step_ns, "period_ns": x.period_ns, "mfu": summ.get("mfu"),
                    "top": findings[0].rule if findings else None,
                    "scopes_known": bool(op_scope)},
        "findings": [f.to_json(x.period_ns) for f in findings],
        "rules": table, "skipped": skipped,
        "units": {"cost_ns_per_step": "estimated ns lost per step (median over complete "
                                      "steps; per device where time is per device)"
                  if x.n_steps else "no complete steps in this capture: estimated ns lost "
                                    "over the whole capture",
                  "cost_share": "cost per step / the mean step period (step time plus the "
                                "device-idle gap before the next step, over the complete "
                                "steps), at most 1: an estimate above the period is capped"},
    }
    return {"diagnosis": diagnosis, "framework": framework, "hosts_steps": hs}


def _framework_links(findings: list[rules.Finding],
                     op_scope: dict[tuple[str, int, str], str]) -> None:
    """A finding about one op links to the op's node in the framework tree."""
    by_op = {(m, o): s for (m, _, o), s in op_scope.items()}
    for f in findings:
        ref = f.links.get("ops") or {}
        path = scopes.scope_path(by_op.get((ref.get("module"), ref.get("op")), ""))
        if path:
            f.links["framework"] = {"path": "/".join(path)}


def host_inputs(index: Any, names: list[str], tracks: list[dict[str, Any]],
                steps: dict[str, Any], ops: dict[str, list[Any]], modules: list[Any]
                ) -> dict[str, Any]:
    """What ingest's host task adds to the host's summary for `build`."""
    from xdiag.analysis.diagnosis.facts import host_facts

    return {"diagnosis": host_facts(index, names, tracks, steps),
            "op_scopes": scopes.op_scopes(ops, modules)}
