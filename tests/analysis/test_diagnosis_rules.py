"""Each diagnosis rule on small hand-made views: it fires on the cause it names with the
cost planted, and stays quiet on a clean one. The facts, scopes and hosts x steps views
the rules read are checked on hand-made timelines too."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from xdiag.analysis.diagnosis import facts, hosts_steps, rules, scopes
from xdiag.analysis.diagnosis.rules import THRESHOLDS as TH

MS = 1_000_000


def table(dur, busy=None, coll=None, any_busy=None, start=None, devices=1):
    """A host's step table (device_steps.table's arrays): `busy`/`coll` per device [D][S]
    (default: busy the whole step, no collectives)."""
    dur = np.asarray(dur, np.int64)
    n = len(dur)
    start = np.asarray(start if start is not None else np.cumsum(np.r_[0, dur[:-1]]), np.int64)
    busy = np.asarray(busy if busy is not None else [dur] * devices, np.float64)
    coll = np.asarray(coll if coll is not None else np.zeros_like(busy), np.float64)
    return {"step": np.arange(n, dtype=np.int64), "start_ns": start, "end_ns": start + dur,
            "host_start_ns": start, "host_end_ns": start + dur // 10,
            "complete": np.ones(n, np.int8), "busy_ns": busy, "collective_ns": coll,
            "any_busy_ns": np.asarray(any_busy if any_busy is not None else busy.max(axis=0),
                                      np.float64),
            "devices": np.arange(busy.shape[0], dtype=np.int64)}


def fact(n, **kw):
    f = {"step": list(range(n)), "gap_ns": [0] * (n - 1) + [None],
         "gap_busy_ns": [0] * (n - 1) + [None], "dispatches": [1] * n, "step_ops": [10] * n,
         "step_op_ns": [1000] * n, "step_kernels": [0] * n, "kernels": 0,
         "kernel_p50_ns": None, "compile": {"ns": 0, "count": 0, "windows": [], "modules": []},
         "compile_in_step_ns": [0] * n}
    f.update(kw)
    return f


def inputs(hosts, *, ops=None, roofline=None, kind="cpu", mfu=0.5, memory=None):
    """Inputs over (host, step table, facts) triples, the merged steps from the first."""
    rows = hosts_steps.build(hosts)["_rows"]
    r0 = rows[0][1]
    steps = {"steps": [{"step": int(s), "dur_ns": float(d), "complete": True,
                        "compute_ns": float(c), "collective_ns": float(cl),
                        "host_ns": float(h), "idle_ns": float(i)}
                       for s, d, c, cl, h, i in zip(r0["step"], r0["dur_ns"], r0["compute_ns"],
                                                    r0["collective_ns"], r0["host_ns"],
                                                    r0["idle_ns"], strict=True)],
             "summary": {"complete": len(r0["step"]), "mfu": mfu, "hfu": mfu}}
    return rules.Inputs(device_kind=kind, hosts=rows, ops=ops or {"ops": [], "devices": ["0"]},
                        roofline=roofline or {"ops": [], "peaks": {}}, steps=steps,
                        tracks=[{"id": 3, "host": h, "kind": "xla_ops", "device": 0}
                                for h, _, _ in hosts], memory=memory)


# -- straggler_host ---------------------------------------------------------------------

def test_straggler_host_inside_the_step() -> None:
    """host-2 works 30 ms longer each step; the others wait for it in the all-reduce."""
    base, d = 100 * MS, 30 * MS
    normal = table([base + d] * 5, busy=[[base + d] * 5], coll=[[d + MS] * 5])
    slow = table([base + d] * 5, busy=[[base + d] * 5], coll=[[MS] * 5])
    x = inputs([("host-0", normal, None), ("host-1", normal, None), ("host-2", slow, None)])
    (f,) = rules.straggler_host(x, TH["straggler_host"])
    assert f.subject == "host-2" and f.cost_ns_per_step == pytest.approx(d, rel=0.01)
    assert f.links["timeline"]["host"] == "host-2" and f.links["timeline"]["track"] == 3


def test_straggler_host_without_collectives_and_quiet_when_even() -> None:
    d = 20 * MS
    x = inputs([("a", table([100 * MS] * 4), None), ("b", table([100 * MS + d] * 4), None)])
    (f,) = rules.straggler_host(x, TH["straggler_host"])
    assert f.subject == "b" and f.cost_ns_per_step == pytest.approx(d, rel=0.01)
    even = inputs([(h, table([100 * MS, 101 * MS, 99 * MS, 100 * MS]), None) for h in "abc"])
    assert rules.straggler_host(even, TH["straggler_host"]) == []
    assert rules.straggler_host(inputs([("a", table([100 * MS] * 3), None)]),
                                TH["straggler_host"]) == []


# -- straggler_device -------------------------------------------------------------------

def test_straggler_device() -> None:
    step, d = 40 * MS, 8 * MS
    busy = [[step - d] * 4, [step - d] * 4, [step] * 4, [step - d] * 4]
    x = inputs([("h0", table([step] * 4, busy=busy), None)])
    (f,) = rules.straggler_device(x, TH["straggler_device"])
    assert f.subject == "h0:2" and f.cost_ns_per_step == pytest.approx(d, rel=0.01)
    even = inputs([("h0", table([step] * 4, devices=4), None)])
    assert rules.straggler_device(even, TH["straggler_device"]) == []


# -- input_bound ------------------------------------------------------------------------

def test_input_bound_gap_between_steps() -> None:
    """The host sleeps 20 ms between steps of 30 ms of device work."""
    step, gap = 30 * MS, 20 * MS
    t = table([step] * 5, start=[k * (step + gap) for k in range(5)])
    x = inputs([("h0", t, fact(5, gap_ns=[gap] * 4 + [None], gap_busy_ns=[0] * 4 + [None]))])
    (f,) = rules.input_bound(x, TH["input_bound"])
    assert f.cost_ns_per_step == pytest.approx(gap, rel=0.01)
    ev = {e["label"]: e["value"] for e in f.evidence}
    assert ev["step period, start to start (median)"] == pytest.approx(step + gap)
    # Device work in the gap (not this step's) is not idle time.
    busy_gap = inputs([("h0", t, fact(5, gap_ns=[gap] * 4 + [None],
                                      gap_busy_ns=[gap] * 4 + [None]))])
    assert rules.input_bound(busy_gap, TH["input_bound"]) == []


def test_input_bound_host_time_inside_the_step_and_quiet_when_busy() -> None:
    step, host = 50 * MS, 15 * MS
    t = table([step] * 4, any_busy=[step - host] * 4, busy=[[step - host] * 4])
    (f,) = rules.input_bound(inputs([("h0", t, fact(4))]), TH["input_bound"])
    assert f.cost_ns_per_step == pytest.approx(host, rel=0.01)
    assert rules.input_bound(inputs([("h0", table([step] * 4), fact(4))]),
                             TH["input_bound"]) == []


# -- dispatch_bound ---------------------------------------------------------------------

def test_dispatch_bound_and_input_bound_not_said_twice() -> None:
    step, idle = 10 * MS, 6 * MS
    t = table([step] * 4, any_busy=[step - idle] * 4, busy=[[step - idle] * 4])
    x = inputs([("h0", t, fact(4, dispatches=[300] * 4, step_ops=[300] * 4,
                                step_op_ns=[4 * MS] * 4))])
    (f,) = rules.dispatch_bound(x, TH["dispatch_bound"])
    assert f.cost_ns_per_step == pytest.approx(idle, rel=0.01)
    found, _, _ = rules.run(x)
    assert [g.rule for g in found if not g.summary] == ["dispatch_bound"]
    jitted = inputs([("h0", t, fact(4, dispatches=[2] * 4))])
    assert rules.dispatch_bound(jitted, TH["dispatch_bound"]) == []


# -- exposed_collectives ----------------------------------------------------------------

def test_exposed_collectives_least_waiting_device() -> None:
    step = 20 * MS
    coll = [[5 * MS] * 4, [7 * MS] * 4]  # device 1 also waits 2 ms for device 0
    t = table([step] * 4, busy=[[step] * 4, [step] * 4], coll=coll)
    ops = {"ops": [{"module": "m", "program_id": 1, "op": "all-gather.3", "category": "collective",
                    "self_ns": 48 * MS, "wait_ns": 8 * MS, "transfer_ns": 40 * MS,
                    "occurrences": 8, "total_ns": 48 * MS, "per_device": {"0": 1, "1": 1}}],
           "devices": ["0", "1"]}
    (f,) = rules.exposed_collectives(inputs([("h0", t, None)], ops=ops),
                                     TH["exposed_collectives"])
    assert f.cost_ns_per_step == pytest.approx(5 * MS)
    assert f.links["ops"]["op"] == "all-gather.3"
    small = table([step] * 4, coll=[[10_000] * 4])
    assert rules.exposed_collectives(inputs([("h0", small, None)]),
                                     TH["exposed_collectives"]) == []


# -- memory_bound_op --------------------------------------------------------------------

def _point(op, share, bw, **kw):
    return {"module": "m", "program_id": 1, "op": op, "category": "fusion", "bound_by": "memory",
            "share": share, "self_ns": share * 40 * MS, "oi": 0.1, "bytes_per_s": bw, **kw}


def test_memory_bound_op_and_what_is_not() -> None:
    peaks = {"bytes_per_s": 20e9, "flops_per_s": 1e12}
    hot = _point("transpose_fusion", 0.6, 15e9)
    x = inputs([("h0", table([10 * MS] * 4), None)],
               roofline={"ops": [hot], "peaks": peaks, "ridge_oi": 50},
               ops={"ops": [{**hot, "per_device": {"0": 1}}], "devices": ["0"]})
    (f,) = rules.memory_bound_op(x, TH["memory_bound_op"])
    assert f.subject == "m/transpose_fusion" and f.cost_ns_per_step == pytest.approx(6 * MS)
    assert f.links["roofline"] == {"module": "m", "program_id": 1, "op": "transpose_fusion"}
    # A host callback (84 bytes in 25 ms: "below the ridge") and a small share are not.
    cb = _point("debug_callback.1", 0.7, 143.0, category="custom_call")
    small = _point("add_fusion", 0.3, 15e9, self_ns=0.01 * MS)
    quiet = inputs([("h0", table([10 * MS] * 4), None)],
                   roofline={"ops": [cb, small], "peaks": peaks, "ridge_oi": 50})
    assert rules.memory_bound_op(quiet, TH["memory_bound_op"]) == []


# -- host_callback ----------------------------------------------------------------------

def test_host_callback_by_name_or_scope() -> None:
    op = {"module": "jit_step", "program_id": 4, "op": "custom-call.7", "category": "custom_call",
          "self_ns": 8 * MS, "total_ns": 8 * MS, "occurrences": 4, "per_device": {"0": 1}}
    x = inputs([("h0", table([10 * MS] * 4), None)], ops={"ops": [op], "devices": ["0"]})
    assert rules.host_callback(x, TH["host_callback"], {}) == []
    sc = {("jit_step", 4, "custom-call.7"): "jit(step)/layer/debug_callback"}
    (f,) = rules.host_callback(x, TH["host_callback"], sc)
    assert f.cost_ns_per_step == pytest.approx(2 * MS)
    named = {**op, "op": "debug_print.1"}
    assert rules.host_callback(inputs([("h0", table([10 * MS] * 4), None)],
                                      ops={"ops": [named]}), TH["host_callback"], {})


# -- recompilation ----------------------------------------------------------------------

def test_recompilation_inside_the_capture() -> None:
    c = {"ns": 120 * MS, "count": 3, "windows": [[5 * MS, 45 * MS]], "modules": ["jit_f"]}
    x = inputs([("h0", table([10 * MS] * 4), fact(4, compile=c))],
               ops={"ops": [], "by_program": [{"module": "jit_f", "program_id": 1},
                                              {"module": "jit_f", "program_id": 2}]})
    (f,) = rules.recompilation(x, TH["recompilation"])
    assert f.cost_ns_per_step == pytest.approx(30 * MS)
    assert f.links["timeline"]["start_ns"] == 5 * MS and "jit_f" in f.title
    assert rules.recompilation(inputs([("h0", table([10 * MS] * 4), fact(4))]),
                               TH["recompilation"]) == []


# -- kernel_launch_overhead -------------------------------------------------------------

def test_kernel_launch_overhead_gpu_only() -> None:
    step, idle = 10 * MS, 3 * MS
    t = table([step] * 4, any_busy=[step - idle] * 4, busy=[[step - idle] * 4])
    f4 = fact(4, kernels=2000, kernel_p50_ns=3000.0, step_kernels=[500] * 4)
    (f,) = rules.kernel_launch_overhead(inputs([("h0", t, f4)], kind="NVIDIA H100"),
                                        TH["kernel_launch_overhead"])
    assert f.cost_ns_per_step == pytest.approx(idle)
    assert rules.kernel_launch_overhead(inputs([("h0", t, f4)], kind="cpu"),
                                        TH["kernel_launch_overhead"]) == []
    long = fact(4, kernels=2000, kernel_p50_ns=50_000.0, step_kernels=[500] * 4)
    assert rules.kernel_launch_overhead(inputs([("h0", t, long)], kind="NVIDIA H100"),
                                        TH["kernel_launch_overhead"]) == []


# -- memory_capacity --------------------------------------------------------------------

def test_memory_capacity() -> None:
    full = {"devices": [{"host": "h0", "device": "GPU_0_bfc", "peak_bytes": 76 * 2**30,
                         "capacity_bytes": 80 * 2**30}]}
    x = inputs([("h0", table([10 * MS] * 3), None)], memory=full)
    (f,) = rules.memory_capacity(x, TH["memory_capacity"])
    assert f.cost_ns_per_step == 0 and "95%" in f.title
    half = {"devices": [{**full["devices"][0], "peak_bytes": 40 * 2**30}]}
    assert rules.memory_capacity(inputs([("h0", table([10 * MS] * 3), None)], memory=half),
                                 TH["memory_capacity"]) == []


# -- low_mfu and ranking ----------------------------------------------------------------

def test_low_mfu_names_the_dominant_cause_and_ranks_after_it() -> None:
    step = 20 * MS
    t = table([step] * 4, busy=[[step] * 4], coll=[[8 * MS] * 4])
    x = inputs([("h0", t, None)], mfu=0.05)
    found, table_, skipped = rules.run(x)
    assert [f.rule for f in found] == ["exposed_collectives", "low_mfu"]
    assert found[1].summary and found[1].cost_ns_per_step == found[0].cost_ns_per_step
    assert "exposed collectives" in found[1].title
    assert {r["rule"] for r in table_ if r["fired"]} == {"exposed_collectives", "low_mfu"}
    assert {s["rule"] for s in skipped} == {"memory_capacity", "kernel_launch_overhead"}
    assert rules.low_mfu(inputs([("h0", t, None)], mfu=0.6), TH["low_mfu"], found) == []


def test_one_table_of_thresholds_for_every_rule() -> None:
    assert set(TH) == set(rules.RULES)
    for rule, th in TH.items():
        assert th["title"] and len(th) > 1, rule
        assert all(isinstance(v, (int, float)) for k, v in th.items() if k != "title")


def test_rank_costliest_first() -> None:
    mk = lambda rule, cost, summary=False: rules.Finding(  # noqa: E731
        rule, "s", rule, cost, 0.5, [], [], summary=summary)
    got = rules.rank([mk("low_mfu", 5.0, True), mk("input_bound", 5.0), mk("host_callback", 9.0)])
    assert [f.rule for f in got] == ["host_callback", "input_bound", "low_mfu"]
    j = got[0].to_json(period_ns=18.0)
    assert j["id"] == "host_callback:s" and j["severity"] == "high" and j["cost_share"] == 0.5


def test_a_step_cannot_lose_more_than_its_period() -> None:
    """cost_share is over the mean step period (step plus the idle gap after it, the
    compiling steps' length included), at most 1: a dispatch-bound host idles in the gap
    too, a recompile spread over the steps can exceed the median step."""
    f = rules.Finding("dispatch_bound", "h", "d", 30.0, 0.8, [], [])
    assert f.to_json(period_ns=20.0)["cost_share"] == 1.0
    # 4 steps of 10 ms, each followed by a 6 ms gap the device idles: the period is 16 ms.
    t = table([10 * MS] * 4, start=[0, 16 * MS, 32 * MS, 48 * MS])
    x = inputs([("h0", t, fact(4, gap_ns=[6 * MS] * 3 + [None],
                                 gap_busy_ns=[0] * 3 + [None]))])
    assert x.step_ns == 10 * MS
    assert x.period_ns == pytest.approx((4 * 10 + 3 * 6) * MS / 4)
    # Recompilation: 70 ms lost over 6 steps is more than the 10 ms median step, not than
    # the mean period (the compiling steps' 45 ms counted).
    durs = [10 * MS, 45 * MS, 10 * MS, 10 * MS, 45 * MS, 10 * MS]
    c = {"ns": 40 * MS, "count": 2, "windows": [[0, 20 * MS]], "modules": ["jit_f"]}
    x = inputs([("h0", table(durs), fact(6, compile=c, compile_in_step_ns=[0, 20 * MS, 0, 0,
                                                                          20 * MS, 0]))])
    (f,) = rules.recompilation(x, TH["recompilation"])
    assert f.cost_ns_per_step > x.step_ns
    assert f.to_json(x.period_ns)["cost_share"] == pytest.approx(70 / 130, abs=1e-4)


def test_every_evidence_unit_is_one_the_ui_formats() -> None:
    """Each `_ev` call in rules.py names a unit of rules.UNITS, and those are the units
    the web UI's formatValue knows (webui/src/lib/findings.ts EVIDENCE_UNITS)."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    tree = ast.parse((root / "xdiag/analysis/diagnosis/rules.py").read_text())
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_ev":
            unit = node.args[2]
            assert isinstance(unit, ast.Constant), ast.unparse(node)
            used.add(unit.value)
    assert used and used <= set(rules.UNITS), used - set(rules.UNITS)
    ts = (root / "webui/src/lib/findings.ts").read_text()
    m = re.search(r"EVIDENCE_UNITS\s*=\s*\[(.*?)\]", ts, re.S)
    assert m, "findings.ts exports EVIDENCE_UNITS"
    ui = set(re.findall(r'"([^"]*)"', m.group(1)))
    assert set(rules.UNITS) <= ui, set(rules.UNITS) - ui
    with pytest.raises(AssertionError):
        rules._ev("x", 1.0, "ns per step")


# -- the views the rules read -----------------------------------------------------------

def test_scope_paths() -> None:
    sp = scopes.scope_path
    assert sp("jit(train_step)/transpose(jvp(router))/dot_general") == ("train_step", "router")
    assert sp("jit(f)/jvp()/shard_map/experts/gmm/while/body/cond/branch_0_fun/add") == (
        "f", "shard_map", "experts", "gmm")
    assert sp("jit(f)/(a/dot:b/dot)") == ("f",)  # ops XLA combined: in their common scope
    assert sp("jit(f)/(a/x:b/y)/add") == ("f", scopes.COMBINED)
    assert sp("x") == () and sp("") == ()
    assert scopes.split_stack("jit(f)/pjit(g/h)/add") == ["jit(f)", "pjit(g/h)", "add"]


def test_scope_tree_sums() -> None:
    ops = {"ops": [
        {"module": "m", "program_id": 1, "op": "a", "self_ns": 60, "flops": 10.0, "bytes": 1.0},
        {"module": "m", "program_id": 1, "op": "b", "self_ns": 30, "flops": 0.0, "bytes": 2.0},
        {"module": "m", "program_id": 1, "op": "c", "self_ns": 10, "flops": None, "bytes": None}]}
    sc = {("m", 1, "a"): "jit(f)/moe/experts/dot_general", ("m", 1, "b"): "jit(f)/moe/add"}
    # 2 complete steps of 100 ns, all of the op time inside them.
    basis = {"busy_ns": 100.0, "step_ns": 200.0, "device_steps": 2}
    t = scopes.tree(ops, sc, n_steps=2, n_devices=1, basis=basis)
    root = t["root"]
    assert root["total_ns"] == 100 and t["total_self_ns"] == 100
    f = root["children"][0]
    assert f["path"] == "f" and f["total_ns"] == 90
    moe = f["children"][0]
    assert (moe["self_ns"], moe["total_ns"], moe["flops"], moe["bytes"]) == (30, 90, 10.0, 3.0)
    assert moe["children"][0]["path"] == "f/moe/experts"
    assert moe["total_ns_per_step"] == 45 and moe["share_of_step"] == 0.45
    assert root["children"][1]["name"] == scopes.NO_SCOPE
    assert t["step_ns"] == 100 and scopes.tree(ops, sc, 0, 1, None)["root"]["share_of_step"] \
        is None


def test_scope_shares_add_up_when_ops_run_outside_the_complete_steps() -> None:
    """The op table holds the whole capture (a partial step, a compile's first run): 2
    complete steps of 10 ms with 8 ms of work each, plus 30 ms of op time outside them.
    Dividing the capture's op time by the complete steps gave 115% of the step; over the
    same steps the root is the busy fraction (80%) and children add up to their parent."""
    ops = {"ops": [
        {"module": "m", "program_id": 1, "op": "a", "self_ns": 30 * MS},
        {"module": "m", "program_id": 1, "op": "b", "self_ns": 16 * MS}]}
    sc = {("m", 1, "a"): "jit(f)/x/dot_general", ("m", 1, "b"): "jit(f)/y/add"}
    rows = hosts_steps.build([("h0", table([10 * MS] * 2, busy=[[8 * MS] * 2]), None)])["_rows"]
    t = scopes.tree(ops, sc, n_steps=2, n_devices=1, basis=scopes.step_basis(rows))
    assert t["root"]["share_of_step"] == pytest.approx(0.8)
    assert t["root"]["total_ns_per_step"] == pytest.approx(8 * MS)
    _assert_shares_add_up(t["root"])


def _assert_shares_add_up(node: dict, tol: float = 1e-9) -> None:
    """Physics: nothing above 100% of the step, and children within their parent."""
    assert 0 <= node["share_of_step"] <= 1 + tol, node["path"]
    assert sum(c["share_of_step"] for c in node["children"]) <= node["share_of_step"] + tol
    for c in node["children"]:
        _assert_shares_add_up(c, tol)


def test_hosts_steps_slowest_and_skew() -> None:
    a, b = table([10 * MS] * 3), table([12 * MS] * 3)
    hs = hosts_steps.build([("a", a, None), ("b", b, None)])
    assert [s["host"] for s in hs["slowest"]] == ["b"] * 3
    assert hs["skew"]["mean_spread_ns"] == pytest.approx(2 * MS)
    assert hs["hosts"][1]["slowest_count"] == 3 and hs["hosts"][0]["dur_ns"] == [10 * MS] * 3


def _index(slices):
    """A TimelineIndex-like object of (track, start, end, name id) slices, one segment per
    track."""
    slices = sorted(slices)
    tracks = sorted({s[0] for s in slices})
    ptr = [0]
    for t in tracks:
        ptr.append(ptr[-1] + sum(1 for s in slices if s[0] == t))
    return SimpleNamespace(
        seg_track=np.array(tracks, np.int32), seg_depth=np.zeros(len(tracks), np.int32),
        seg_ptr=np.array(ptr, np.int64), ev_start=np.array([s[1] for s in slices], np.int64),
        ev_end=np.array([s[2] for s in slices], np.int64),
        ev_name=np.array([s[3] for s in slices], np.int32), ev_nested=None)


def test_host_facts_gaps_dispatches_compiles() -> None:
    names = ["fusion", "PjitFunction(step)", "backend_compile_and_load", "PjRtCpuClient::Compile",
             "simplification (jit_step)"]
    tracks = [{"kind": "xla_ops", "group": "device", "device": 0},
              {"kind": "thread", "group": "thread", "device": None}]
    sl = [(0, 0, 8, 0), (0, 20, 28, 0), (0, 30, 31, 0), (0, 40, 48, 0),
          (1, 0, 1, 1), (1, 1, 2, 1), (1, 20, 21, 1),
          (1, 50, 70, 2), (1, 52, 60, 3), (1, 53, 54, 4)]
    steps = table([8, 8, 8], start=[0, 20, 40])
    steps["host_end_ns"] = steps["start_ns"] + 5
    f = facts.host_facts(_index(sl), names, tracks, steps)
    assert f["gap_ns"] == [12, 12, None] and f["gap_busy_ns"] == [0, 1, None]
    assert f["dispatches"] == [2, 1, 0] and f["busy_runs"] == [1, 1, 1]
    assert f["compile"]["ns"] == 20 and f["compile"]["count"] == 1
    assert f["compile"]["modules"] == ["jit_step"] and f["devices"] == 1
    assert f["compile"]["functions"] == []
    # The jitted call that held the compile costs it all (tracing and lowering too).
    missed = [*sl, (1, 45, 75, 1)]
    f = facts.host_facts(_index(missed), names, tracks, steps)
    assert f["compile"]["ns"] == 30 and f["compile"]["backend_ns"] == 20
    assert f["compile"]["functions"] == ["step"] and f["compile"]["windows"] == [[45, 75]]


def test_hosts_steps_lists_at_most_max_steps() -> None:
    a, b = table([10 * MS] * 10), table([12 * MS] * 10)
    hs = hosts_steps.build([("a", a, None), ("b", b, None)], max_steps=3)
    assert hs["steps"] == [0, 4, 9] and hs["shown"] == {"steps": 3, "of": 10}
    assert len(hs["hosts"][0]["dur_ns"]) == 3 and hs["hosts"][1]["slowest_count"] == 10
    assert [s["step"] for s in hs["slowest"]] == [0, 4, 9]
    rows = hs["_rows"]
    db = hosts_steps.device_breakdown("a", rows[0][1], hs["steps"])
    assert db["steps"] == [0, 4, 9] and len(db["busy_ns"][0]) == 3


def test_straggler_device_needs_every_step_and_folds_into_its_host() -> None:
    """A device descheduled in 2 of 5 steps is noise; a slow device on the slow host is
    that host's cause (one finding, the device in its evidence)."""
    step, d = 40 * MS, 8 * MS
    noisy = [[step - d] * 5, [step - d] * 5, [step, step, step - d, step - d, step - d]]
    x = inputs([("h0", table([step] * 5, busy=noisy), None)])
    assert rules.straggler_device(x, TH["straggler_device"]) == []
    mk = lambda rule, subject, cost: rules.Finding(  # noqa: E731
        rule, subject, f"{subject} late", cost, 0.8, [], [], {})
    host, dev = mk("straggler_host", "b", 20.3 * MS), mk("straggler_device", "b:0", 20.8 * MS)
    got = rules._one_straggler([host], [dev])
    assert got == [host] and host.evidence[-1]["label"] == "of which on one device"
    other = mk("straggler_device", "a:1", 20.8 * MS)
    assert rules._one_straggler([mk("straggler_host", "b", 20.3 * MS)], [other])[1] is other
    far = mk("straggler_device", "b:0", 60 * MS)
    assert len(rules._one_straggler([mk("straggler_host", "b", 20.3 * MS)], [far])) == 2


def test_a_finding_about_an_op_links_to_its_scope() -> None:
    from xdiag.analysis.diagnosis import _framework_links

    f = rules.Finding("memory_bound_op", "m/t", "t", 1.0, 0.8, [], [],
                      {"ops": {"module": "m", "op": "t"}})
    g = rules.Finding("input_bound", "h0", "i", 1.0, 0.8, [], [], {})
    _framework_links([f, g], {("m", 3, "t"): "jit(step)/transpose(jvp(moe))/experts/transpose"})
    assert f.links["framework"] == {"path": "step/moe/experts"} and "framework" not in g.links


def test_compiling_inside_a_step_is_not_input_time() -> None:
    step, host = 50 * MS, 30 * MS
    t = table([step] * 4, any_busy=[step - host] * 4, busy=[[step - host] * 4])
    c = {"ns": 4 * host, "count": 4, "windows": [[0, host]], "modules": ["jit_f"]}
    x = inputs([("h0", t, fact(4, compile=c, compile_in_step_ns=[host] * 4))])
    found, _, _ = rules.run(x)
    assert "input_bound" not in {f.rule for f in found}
    assert found[0].rule == "recompilation" and found[0].cost_ns_per_step == pytest.approx(host)


def test_recompilation_counts_what_the_compiling_steps_took_over_the_others() -> None:
    """Two of six steps compile for 20 ms but take 35 ms longer (the first run of the new
    executable too): the cost is what the steps lost."""
    durs = [10 * MS, 45 * MS, 10 * MS, 10 * MS, 45 * MS, 10 * MS]
    c = {"ns": 40 * MS, "count": 2, "windows": [[0, 20 * MS]], "modules": ["jit_f"]}
    f6 = fact(6, compile=c, compile_in_step_ns=[0, 20 * MS, 0, 0, 20 * MS, 0])
    (f,) = rules.recompilation(inputs([("h0", table(durs), f6)]), TH["recompilation"])
    assert f.cost_ns_per_step == pytest.approx(70 * MS / 6)
