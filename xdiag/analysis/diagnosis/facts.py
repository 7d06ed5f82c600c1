"""What the rules need from one host's timeline that the op and step tables do not keep.
Pure: the host's index, names, tracks and step table in, a small JSON-ready dict out.

Per step (aligned with the step table's `step`): the device-idle gap before the next
step, how many runs of device work the step's window holds, top-level op (and GPU kernel)
counts and time, the host's dispatches (`PjitFunction(...)` events) in the step's host
window; per capture: compilation on the host (`backend_compile*`, `*Client::Compile`, ...).
Ingest computes it once per host file (`pipeline/host_task.py`), beside the step table.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from xdiag.analysis import intervals

# Host events of a compilation, outermost to innermost (their union is the time spent).
COMPILE = re.compile(r"^(backend_compile|XlaCompile|PjRt\w*::Compile|\w*Client::Compile$|"
                     r"JitCompiler::Compile|CpuCompiler::|GpuCompiler::|"
                     r"NVPTXCompiler::|AMDGPUCompiler::|TpuCompiler::)")
# The host's dispatch of one jitted call (jaxlib's C++ fast path records it).
DISPATCH = re.compile(r"^(PjitFunction|PmapFunction)\(")
_COMPILED_MODULE = re.compile(r" \((jit_[^()\s]*)\)$")
MAX_WINDOWS = 16


def _name_flags(names: list[str], pattern: re.Pattern[str]) -> np.ndarray:
    return np.fromiter((bool(pattern.search(n)) for n in names), bool, len(names))


def _positions(idx: Any, segs: np.ndarray) -> np.ndarray:
    if not len(segs):
        return np.zeros(0, np.int64)
    return np.concatenate([np.arange(idx.seg_ptr[s], idx.seg_ptr[s + 1]) for s in segs.tolist()])


def _union_sorted(s: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`intervals.union` of intervals already sorted by start."""
    if not len(s):
        return s.astype(np.int64), e.astype(np.int64)
    run_end = np.maximum.accumulate(e)
    first = np.flatnonzero(np.concatenate([[True], s[1:] > run_end[:-1]]))
    last = np.concatenate([first[1:] - 1, [len(s) - 1]])
    return s[first].astype(np.int64), run_end[last].astype(np.int64)


def _count_in(sorted_t: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.searchsorted(sorted_t, b, "left") - np.searchsorted(sorted_t, a, "left"))


def host_facts(idx: Any, names: list[str], tracks: list[dict[str, Any]],
               steps: dict[str, np.ndarray]) -> dict[str, Any]:
    """The host's facts for the rules (see the module docstring)."""
    n_steps = len(steps["step"]) if steps and "step" in steps else 0
    kinds = np.array([t.get("kind") == "xla_ops" for t in tracks] + [False], bool)
    threads = np.array([t.get("group") == "thread" for t in tracks] + [False], bool)
    lanes = np.array([bool(t.get("lanes")) for t in tracks] + [False], bool)
    seg_track = np.asarray(idx.seg_track, np.int64)
    op_segs = np.flatnonzero(kinds[seg_track])
    pos = _positions(idx, op_segs)
    devices = sorted({t.get("device") for t in tracks
                      if t.get("kind") == "xla_ops" and t.get("device") is not None})
    nested = getattr(idx, "ev_nested", None)
    if nested is not None and len(nested) == len(idx.ev_start):
        top = ~np.asarray(nested, bool)[pos]
    else:
        seg_of_pos = np.repeat(op_segs, np.diff(idx.seg_ptr)[op_segs]) if len(op_segs) else \
            np.zeros(0, np.int64)
        top = np.asarray(idx.seg_depth)[seg_of_pos] == 0
    # Top-level op slices by start, once (the segments are sorted runs: a stable sort
    # merges them); a nested op lies inside its parent, so they alone give the busy union.
    t_pos = pos[top]
    by_start = np.argsort(idx.ev_start[t_pos], kind="stable")
    t_pos = t_pos[by_start]
    top_s, top_e = idx.ev_start[t_pos], idx.ev_end[t_pos]
    us, ue = _union_sorted(top_s, top_e)
    out: dict[str, Any] = {"devices": len(devices), "busy_ns": int((ue - us).sum()),
                           "op_count": len(t_pos)}
    # Kernels (GPU): every kernel is its own launch.
    k_segs = op_segs[lanes[seg_track[op_segs]]] if len(op_segs) else op_segs
    k_pos = _positions(idx, k_segs)
    k_s = np.sort(idx.ev_start[k_pos])
    k_dur = idx.ev_end[k_pos] - idx.ev_start[k_pos]
    out["kernels"] = len(k_pos)
    out["kernel_p50_ns"] = float(np.median(k_dur)) if len(k_dur) else None
    # Host threads: dispatches and compilation.
    th_pos = _positions(idx, np.flatnonzero(threads[seg_track]))
    th_name = np.asarray(idx.ev_name)[th_pos]
    disp_flag = _name_flags(names, DISPATCH)
    comp_flag = _name_flags(names, COMPILE)
    d_s = np.sort(idx.ev_start[th_pos[disp_flag[th_name]]]) if len(th_pos) else np.zeros(0)
    c_pos = th_pos[comp_flag[th_name]] if len(th_pos) else np.zeros(0, np.int64)
    cs, ce = intervals.union(idx.ev_start[c_pos], idx.ev_end[c_pos])
    compiled: set[str] = set()
    if len(cs) and len(th_pos):
        mod_flag = np.fromiter((bool(_COMPILED_MODULE.search(n)) for n in names), bool,
                               len(names))
        m_pos = th_pos[mod_flag[th_name]]
        if len(m_pos):
            t = idx.ev_start[m_pos]
            k = np.searchsorted(cs, t, "right") - 1
            inside = (k >= 0) & (t < ce[np.maximum(k, 0)])
            for nid in np.unique(np.asarray(idx.ev_name)[m_pos[inside]]).tolist():
                m = _COMPILED_MODULE.search(names[nid])
                if m:
                    compiled.add(m.group(1))
    # A jitted call that missed the cache costs the whole call (tracing, lowering and the
    # compile inside it), not only the backend compile: its dispatch event holds one.
    d_pos = th_pos[disp_flag[th_name]] if len(th_pos) else np.zeros(0, np.int64)
    backend_ns = int((ce - cs).sum())
    missed_fns: set[str] = set()
    if len(cs) and len(d_pos):
        ds, de = idx.ev_start[d_pos], idx.ev_end[d_pos]
        k = np.searchsorted(cs, ds, "left")
        missed = (k < len(cs)) & (cs[np.minimum(k, len(cs) - 1)] < de)
        for nid in np.unique(np.asarray(idx.ev_name)[d_pos[missed]]).tolist():
            missed_fns.add(names[nid][names[nid].index("(") + 1:-1])
        cs, ce = intervals.union(np.concatenate([cs, ds[missed]]),
                                 np.concatenate([ce, de[missed]]))
    out["compile"] = {"ns": int((ce - cs).sum()), "backend_ns": backend_ns, "count": len(cs),
                      "windows": [[int(a), int(b)] for a, b in
                                  zip(cs[:MAX_WINDOWS].tolist(), ce[:MAX_WINDOWS].tolist(),
                                      strict=True)],
                      "modules": sorted(compiled)[:50], "functions": sorted(missed_fns)[:50]}
    if not n_steps:
        out.update(step=[], gap_ns=[], gap_busy_ns=[], busy_runs=[], step_ops=[],
                   step_op_ns=[], step_kernels=[], dispatches=[], compile_in_step_ns=[])
        return out
    a = np.asarray(steps["start_ns"], np.int64)
    b = np.asarray(steps["end_ns"], np.int64)
    ha = np.asarray(steps.get("host_start_ns", a), np.int64)
    hb = np.asarray(steps.get("host_end_ns", b), np.int64)
    order = np.argsort(a, kind="stable")
    nxt = np.full(n_steps, -1, np.int64)
    nxt[order[:-1]] = order[1:]
    ga = b
    gb = np.where(nxt >= 0, a[np.maximum(nxt, 0)], b)
    gap = np.maximum(gb - ga, 0)
    gap_busy = intervals.overlap_sum(us, ue, None, ga, np.maximum(ga, gb)).round()
    runs = np.searchsorted(us, b, "left") - np.searchsorted(ue, a, "right")
    ops_in = _count_in(top_s, a, b)
    csum = np.concatenate([[0], np.cumsum(top_e - top_s)])
    op_ns = csum[np.searchsorted(top_s, b, "left")] - csum[np.searchsorted(top_s, a, "left")]
    out.update(
        step=np.asarray(steps["step"]).astype(np.int64).tolist(),
        gap_ns=[int(g) if n >= 0 else None for g, n in zip(gap.tolist(), nxt.tolist(),
                                                           strict=True)],
        gap_busy_ns=[int(x) if n >= 0 else None for x, n in zip(gap_busy.tolist(),
                                                                nxt.tolist(), strict=True)],
        busy_runs=np.maximum(runs, 0).astype(np.int64).tolist(),
        step_ops=ops_in.astype(np.int64).tolist(),
        step_op_ns=op_ns.astype(np.int64).tolist(),
        step_kernels=_count_in(k_s, a, b).astype(np.int64).tolist(),
        dispatches=_count_in(d_s, ha, np.maximum(hb, ha)).astype(np.int64).tolist(),
        compile_in_step_ns=intervals.overlap_sum(cs, ce, None, a, b).round().astype(
            np.int64).tolist())
    return out
