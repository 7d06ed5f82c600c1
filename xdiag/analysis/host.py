"""Everything ingest derives from ONE host file. Pure: columns in, arrays/dicts out.

`analyse_host` turns an XSpace's columns into the host's timeline index
(`tracks.py`, `timeline.py`), its op table (`op_table.py`: per module, op and device:
occurrences, total and self time, collectives' waits) and its step table
(`step_table.py`: per step and device: busy, collective and compute time, FLOPs),
from the per-event stats gathered once (`event_stats.py`). HLO costs come from the
modules the host's own metadata plane carries (`hlo_costs.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from xdiag.analysis import (
    device_steps,
    gpu_kernels,
    kernel_stats,
    op_table,
    step_table,
    timeline,
)
from xdiag.analysis._intervals import ps_to_ns
from xdiag.analysis.event_stats import EventStats, event_lines, modules_that_ran
from xdiag.analysis.hlo_costs import CostCache, ModuleInfo, module_infos, name_scopes
from xdiag.analysis.tracks import assign_tracks
from xdiag.core import threads


@dataclasses.dataclass
class HostAnalysis:
    index: timeline.TimelineIndex
    names: list[str]
    tracks: list[dict[str, Any]]
    ops: dict[str, list[Any]]  # columns: module, program_id, op, device, category, ...
    steps: dict[str, np.ndarray]  # see _step_table
    modules: list[ModuleInfo]
    window_ns: tuple[int, int]
    num_events: int
    aggregated_events: int
    device_kind_hint: str
    plane_peaks: dict[str, float]
    # name id -> the op's framework name stack (HLO metadata op_name), for the names that
    # are ops: search finds an op by its JAX named scope (`experts`), not only its HLO name.
    scopes: dict[int, str] = dataclasses.field(default_factory=dict)
    # GPU: the kernel statistics (`kernel_stats.py`); None when the host has no GPU.
    kernels: dict[str, list[Any]] | None = None


def _plane_peaks(cols: Any) -> dict[str, float]:
    """Device capability stats device planes carry: TPUs give both peaks, GPUs
    (CUPTI) only the memory bandwidth; the FLOP/s then come from the table."""
    for p in cols.planes:
        if not p.name.startswith("/device:"):
            continue
        st, out = p.stats, {}
        flops = st.get("peak_teraflops_per_second")
        bw = st.get("peak_hbm_bw_gigabytes_per_second") or st.get("memory_bandwidth")
        if flops:
            out["flops_per_s"] = float(flops) * 1e12
        if bw:
            bw = float(bw)
            out["bytes_per_s"] = bw * 1e9 if bw < 1e7 else bw  # GB/s or B/s
        if out:
            return out
    return {}


def _device_kind_hint(cols: Any) -> str:
    for p in cols.planes:
        if p.name.startswith("/device:"):
            for key in ("gpu_device_name", "device_type_name", "device_vendor", "devtype"):
                if p.stats.get(key):
                    return str(p.stats[key])
            return p.name.split(":")[1]
    return "cpu"


def _kernel_table(es: EventStats, idx: timeline.TimelineIndex,
                  ops: dict[str, list[Any]]) -> dict[str, list[Any]] | None:
    """The kernel statistics of the events that carry CUPTI's kernel details; None
    when the host has no GPU (empty columns for a GPU without kernel details)."""
    if es.kernel_details is None:
        return None
    codes, table, has = es.kernel_details
    slices = np.flatnonzero(has[idx.ev_src])
    src = idx.ev_src[slices]
    op_codes, op_names, has_op = es.hlo_op
    mod_codes, mod_names, has_mod = es.hlo_module
    return kernel_stats.build(
        idx.ev_name[slices], es.names[1], codes[src], table,
        idx.ev_end[slices] - idx.ev_start[slices],
        np.where(has_op[src], op_codes[src], -1), [str(x) for x in op_names],
        np.where(has_mod[src], mod_codes[src], -1), [str(x) for x in mod_names],
        {op: (c, f) for op, c, f in zip(ops["op"], ops["category"], ops["fused_category"],
                                         strict=True)})


def analyse_host(cols: Any, t0_ns: int, *, cost_cache: CostCache | None = None,
                 on_index: Callable[[timeline.TimelineIndex, list[str], list[dict[str, Any]],
                                     dict[str, Any]], None] | None = None,
                 release: Callable[[], None] | None = None) -> HostAnalysis:
    """Analyse one host's columns (never modified); times become ns from the profile
    start `t0_ns`.

    `on_index(index, names, tracks, counts)` is called once the timeline index is final
    (it is not modified afterwards), before the op and step tables are built.
    `release()` is called as soon as the per-event columns (`cols.events`, `cols.stats`)
    are no longer read, so that their owner can free them: ingest does, which roughly
    halves its peak memory. With `release` and `on_index`, the returned index keeps only
    its slices and segments (on_index has the viewport structures).
    """
    ev = cols.events
    n = len(ev)
    kind_hint, plane_peaks = _device_kind_hint(cols), _plane_peaks(cols)
    # Tracks first, from the two stats they need, so that their temporaries are gone
    # before the other per-event stats exist (this is ingest's peak of memory).
    hlo_op = cols.event_stat_codes("hlo_op")
    track_of, tracks = assign_tracks(cols, cols.event_stat_codes("device_ordinal"), hlo_op[2])
    es = EventStats.gather(cols, with_ordinal=False, hlo_op=hlo_op)
    del hlo_op
    if any(t.kernels for t in tracks):
        es.correlation_id = cols.event_stat("correlation_id")
    if any(p.name.startswith("/device:GPU") for p in cols.planes):
        es.kernel_details = cols.event_stat_codes("kernel_details")
    line_of = event_lines(cols)
    name_codes, names = es.names
    # Aggregated events have no position in time; usually there are none (sel = None).
    sel = np.flatnonzero(~ev.aggregated) if ev.aggregated.any() else None
    n_timed = n if sel is None else len(sel)
    # Times in ns from the profile start (one C pass, which also gives the window).
    start_ps = ev.start_ps if sel is None else ev.start_ps[sel]
    dur_ps = ev.duration_ps if sel is None else ev.duration_ps[sel]
    start_ns, end_ns = np.empty(n_timed, np.int64), np.empty(n_timed, np.int64)
    window = ps_to_ns(np.ascontiguousarray(start_ps, np.int64),
                      np.ascontiguousarray(dur_ps, np.int64), (cols.t0_ns - t0_ns) * 1000,
                      start_ns, end_ns, threads.count())
    del start_ps, dur_ps
    marks = device_steps.marks(*es.step_num, sel, start_ns, end_ns, es.model_flops)
    es.step_num = es.model_flops = None
    track_sel, names_sel = (track_of, name_codes) if sel is None else (track_of[sel],
                                                                        name_codes[sel])
    lines_sel = line_of if sel is None else line_of[sel]
    del line_of
    if release is not None:
        del ev, track_of
        release()
    # Moved into the index build, which frees them once sorted (it holds sorted copies).
    moved = {"track": track_sel, "start_ns": start_ns, "end_ns": end_ns, "name": names_sel,
             "lines": lines_sel}
    del track_sel, names_sel, start_ns, end_ns, lines_sel
    idx = timeline.build_moved(moved, np.array([t.kernels for t in tracks], dtype=bool))
    # ev_src must index the reader's order, not the kept subset.
    if sel is not None:
        idx.ev_src = sel[idx.ev_src]
    del sel

    depths = idx.track_depths(len(tracks))
    counts = idx.track_counts(len(tracks))
    track_json = [{**t.to_json(), "max_depth": int(depths[i]), "events": int(counts[i])}
                  for i, t in enumerate(tracks)]
    if on_index is not None:  # the index is final: it can be written while tables are built
        on_index(idx, names, track_json, {"events": n, "aggregated_events": int(n - n_timed),
                                          "window_ns": list(window)})
        if release is not None:
            # The tables read only the slices and segments; the viewport structures are
            # the writer's now, and are freed as soon as they are written.
            none = np.zeros(0, np.int64)
            idx = dataclasses.replace(idx, pool_ref=none, block_ptr=none,
                                      lod_block=np.zeros((0, 0), np.int32))

    # HLO parsing and costing (seconds for a large train step) come after the timeline,
    # which does not need them: a viewer can open the timeline while they run.
    es.materialise()
    modules = module_infos(cols, cost_cache, modules_that_ran(es))
    # GPU: kernels of command buffers (CUDA graphs) get the instruction they ran.
    gpu_kernels.resolve(es, idx, tracks, modules)
    ops, op_info = op_table.build(es, idx, tracks, modules)
    kernels = _kernel_table(es, idx, ops)
    # The step table reads a few of the per-event stats; the others are freed first.
    step_stats = step_table.StepStats.of(es)
    del es, name_codes
    steps = step_table.build(step_stats, marks, idx, tracks, op_info, window)
    del step_stats
    return HostAnalysis(index=idx, names=names, tracks=track_json, ops=ops, steps=steps,
                        modules=modules, window_ns=window, num_events=n,
                        aggregated_events=int(n - n_timed),
                        device_kind_hint=kind_hint, plane_peaks=plane_peaks,
                        scopes=name_scopes(names, modules), kernels=kernels)
