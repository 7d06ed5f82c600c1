"""The step table of one host: per step, its window as the device ran it and, per
device, busy, collective and compute time and FLOPs (the step math itself is
`device_steps.py`; this ties it to the host's index, tracks and op table)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from xdiag.analysis import codes, device_steps, timeline
from xdiag.analysis.event_stats import EventStats
from xdiag.analysis.tracks import Track


@dataclasses.dataclass
class StepStats:
    """What the step table reads of the per-event stats (`EventStats`): the host's
    analysis frees the others, the op table's, before it builds the step table, the
    peak of ingest's memory."""

    names: list[str]
    run_id: tuple[np.ndarray, np.ndarray] | None  # CPU: program runs
    correlation_id: tuple[np.ndarray, np.ndarray] | None  # GPU: kernel <-> launch
    program_id: tuple[np.ndarray, np.ndarray] | None  # read for GPU kernels only

    @classmethod
    def of(cls, es: EventStats) -> StepStats:
        """From materialised stats."""
        assert not callable(es.run_id) and not callable(es.program_id)
        return cls(names=es.names[1], run_id=es.run_id, correlation_id=es.correlation_id,
                   program_id=es.program_id if es.correlation_id is not None else None)


def build(stats: StepStats, marks: tuple[np.ndarray, ...],
          idx: timeline.TimelineIndex, tracks: list[Track], op_info: dict[str, Any],
          window: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per step: its window as the device ran it and, per device, busy/collective time
    and FLOPs (see analysis/device_steps.py). `marks`: the step annotations' (step,
    start, end, declared model FLOPs).

    Memory: the per-op columns made here (times, steps) are dropped as soon as they are
    read; each device's are views of one range of them, freed as the table reads them."""
    uniq, a, b, declared = marks
    pos, track_pos = op_info["pos"], op_info["track"]
    src = idx.ev_src
    op_start, op_end = _op_column(idx.ev_start, pos), _op_column(idx.ev_end, pos)
    own = _device_step_line(idx, tracks, stats.names)
    if own is not None:  # TPU: the device's own step line is the truth
        return _own_step_table(own, marks, idx, tracks, op_info, op_start, op_end)
    kernel_lut = np.array([t.kernels for t in tracks] + [False], dtype=bool)
    thread_lut = np.array([t.group == "thread" for t in tracks] + [False], dtype=bool)
    pos_track = np.repeat(idx.seg_track, np.diff(idx.seg_ptr))
    host_pos = np.flatnonzero(thread_lut[pos_track])
    del pos_track
    # Work items: GPU kernels (correlated to their launch), else CPU program runs.
    gpu = stats.correlation_id is not None and kernel_lut.any() and \
        np.any(stats.correlation_id[1])
    run_vals, has_run = stats.run_id if stats.run_id is not None else (None, None)
    if gpu:
        op_src = src[pos]
        corr, has_corr = stats.correlation_id
        corr = np.asarray(corr).astype(np.int64, copy=False)
        is_k = kernel_lut[track_pos] & has_corr[op_src]
        hp = host_pos[has_corr[src[host_pos]]]
        items = device_steps.gpu_items(corr[op_src[is_k]], op_start[is_k], op_end[is_k],
                                       corr[src[hp]], idx.ev_start[hp], a, b)
        del op_src
        op_item = np.full(len(pos), -1, np.int64)
        op_item[is_k] = items.pop("item")
        del is_k
    elif run_vals is not None and np.any(has_run):
        run_vals = np.asarray(run_vals)  # int32 where the ids fit: no int64 copy
        hp = host_pos[has_run[src[host_pos]]]
        # Runs by their codes (int32: their order among the run ids), which the items
        # only match and order: the per-op column and its copies are half the size.
        _, run_code = codes.coder(lambda a_, b_: run_vals[a_:b_][has_run[a_:b_]],
                                  len(run_vals))
        op_run, op_has_run = _op_runs(run_vals, has_run, src, pos, run_code)
        items = device_steps.cpu_items(op_run, op_has_run, op_start, op_end,
                                       run_code(run_vals[src[hp]]), idx.ev_start[hp],
                                       idx.ev_end[hp], a, b)
        del op_run, op_has_run
        op_item = items.pop("item")
    else:  # nothing ties device work to steps: each op to the annotation it starts in
        step = device_steps.annotation_at(a, b, op_start, True) if len(a) else \
            np.full(len(pos), -1, np.int64)
        items = {"start": op_start, "end": op_end,
                 "step": step, "done": np.full(len(pos), -1, np.int8)}
        op_item = None  # each op is its own item: its step is the item's
    if op_item is None:
        op_step = items["step"]
    elif len(items["step"]):
        # int32 (annotation indices): per-op columns are the ingest's peak.
        op_step = items["step"].astype(np.int32)[np.maximum(op_item, 0)]
        op_step[op_item < 0] = -1  # in place, for the same reason
    else:
        op_step = np.full(len(pos), -1, np.int32)
    del op_item
    win = device_steps.windows(items, a, b, int(window[1]))
    del items

    # Devices: a CPU or TPU op track each; a GPU's streams are one device.
    counts = idx.track_counts(len(tracks))
    units: list[dict[str, Any]] = []
    by_device: dict[Any, dict[str, Any]] = {}
    for t in range(len(tracks)):
        if tracks[t].kind != "xla_ops" or not counts[t] or not len(uniq):
            continue
        lo, hi = np.searchsorted(track_pos, np.array([t, t + 1], track_pos.dtype)).tolist()
        if tracks[t].kernels and tracks[t].device in by_device:
            by_device[tracks[t].device]["ranges"].append((lo, hi))
            continue
        unit = {"device": tracks[t].device, "ranges": [(lo, hi)], "kernels": tracks[t].kernels}
        units.append(unit)
        if tracks[t].kernels:
            by_device[tracks[t].device] = unit
    nested, coll, flops = op_info["nested"], op_info["collective"], op_info["flops"]
    for unit in units:
        ranges = unit.pop("ranges")
        # One range (a CPU or TPU device's op track): views, not copies, of the per-op
        # columns; a GPU's streams are several.
        m = slice(*ranges[0]) if len(ranges) == 1 else \
            np.concatenate([np.arange(lo, hi) for lo, hi in ranges])
        unit.update(slices=m, start=op_start[m], end=op_end[m], top=~nested[m],
                    collective=coll[m], step=op_step[m])
        if unit.pop("kernels"):
            # Library kernels (cuBLAS, cub) have no instruction of their own, so their
            # FLOPs are missing from the op sums; a whole program's FLOPs are not.
            unit["program_flops"] = _program_flops_per_step(
                stats, src[pos[m]], op_step[m], len(a), op_info["module_flops"])
    # The units hold what the table reads of the per-op columns (and free it as read).
    del op_start, op_end, op_step
    return device_steps.table(uniq, a, b, declared, win, units, flops)


def _op_column(col: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """`col[pos]` for the op slices' positions (ascending, op_table.op_events): a read-only
    view of the index when they are one run of it -- the op tracks are adjacent, as the
    devices come first in every host's track order -- else a copy. At 3M events the
    copies of start and end were 43 MB of ingest's peak; read-only, since the index may
    still be being written."""
    if len(pos) and int(pos[-1]) - int(pos[0]) + 1 == len(pos):
        view = col[int(pos[0]):int(pos[-1]) + 1].view()
        view.flags.writeable = False
        return view
    return col[pos]


def _op_runs(run_vals: np.ndarray, has_run: np.ndarray, src: np.ndarray, pos: np.ndarray,
             run_code: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per op slice (its event `src[pos]`): its run's code (0 where it has none) and
    whether it has one, a chunk of slices at a time (as the op table, no column of the
    slices' events is made whole)."""
    op_has_run = np.empty(len(pos), bool)
    op_run = np.zeros(len(pos), run_code(run_vals[:0]).dtype)
    for a in codes.chunks(len(pos)):
        s = src[pos[a:a + codes.CHUNK]]
        h = op_has_run[a:a + codes.CHUNK]
        np.take(has_run, s, out=h)
        op_run[a:a + codes.CHUNK][h] = run_code(run_vals[s[h]])
    return op_run, op_has_run


def _device_step_line(idx: timeline.TimelineIndex, tracks: list[Track],
                      names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(step numbers, start, end) from the devices' own step lines -- TPUs write a line
    named "Steps" on each device plane whose events are named by step number -- merged
    over devices; None when there is none."""
    lines = [t for t, tr in enumerate(tracks)
             if tr.group == "device" and tr.name.rsplit(" · ", 1)[-1] == "Steps"]
    if not lines:
        return None
    steps, starts, ends = [], [], []
    for s_ in np.flatnonzero(np.isin(idx.seg_track, lines)).tolist():
        a, b = int(idx.seg_ptr[s_]), int(idx.seg_ptr[s_ + 1])
        for i in range(a, b):
            name = names[int(idx.ev_name[i])].strip()
            if name.isdigit():
                steps.append(int(name))
                starts.append(int(idx.ev_start[i]))
                ends.append(int(idx.ev_end[i]))
    if not steps:
        return None
    uniq, inv = np.unique(np.asarray(steps, np.int64), return_inverse=True)
    lo = np.full(len(uniq), np.iinfo(np.int64).max)
    hi = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(lo, inv, np.asarray(starts, np.int64))
    np.maximum.at(hi, inv, np.asarray(ends, np.int64))
    return uniq, lo, hi


def _own_step_table(own: tuple[np.ndarray, np.ndarray, np.ndarray],
                    marks: tuple[np.ndarray, ...], idx: timeline.TimelineIndex,
                    tracks: list[Track], op_info: dict[str, Any], op_start: np.ndarray,
                    op_end: np.ndarray) -> dict[str, np.ndarray]:
    """The step table over the devices' own step windows; the host annotations of the
    same step numbers, where present, give the dispatch and the declared model FLOPs."""
    uniq, lo, hi = own
    m_steps, m_a, m_b, m_declared = marks
    j = np.searchsorted(m_steps, uniq)
    hit = (j < len(m_steps)) & (m_steps[np.minimum(j, max(len(m_steps) - 1, 0))] == uniq)         if len(m_steps) else np.zeros(len(uniq), bool)
    jj = np.minimum(j, max(len(m_steps) - 1, 0))
    host_a = np.where(hit, m_a[jj] if len(m_steps) else lo, lo)
    host_b = np.where(hit, m_b[jj] if len(m_steps) else hi, hi)
    declared = np.where(hit, m_declared[jj] if len(m_steps) else np.nan, np.nan)
    win = {"start_ns": lo, "end_ns": hi, "device_start_ns": lo, "device_end_ns": hi,
           "has_work": np.ones(len(uniq), bool), "complete": np.ones(len(uniq), bool)}
    op_step = device_steps.annotation_at(lo, hi, op_start, True)
    units: list[dict[str, Any]] = []
    nested, coll = op_info["nested"], op_info["collective"]
    track_pos = op_info["track"]
    counts = idx.track_counts(len(tracks))
    for t in range(len(tracks)):
        if tracks[t].kind != "xla_ops" or not counts[t]:
            continue
        a_, b_ = np.searchsorted(track_pos, np.array([t, t + 1], track_pos.dtype)).tolist()
        m = slice(a_, b_)
        units.append({"device": tracks[t].device, "slices": m, "start": op_start[m],
                      "end": op_end[m], "top": ~nested[m], "collective": coll[m],
                      "step": op_step[m]})
    del op_start, op_end, op_step
    return device_steps.table(uniq, host_a, host_b, declared, win, units, op_info["flops"])


def _program_flops_per_step(stats: StepStats, src: np.ndarray, step: np.ndarray,
                            n_steps: int, module_flops: dict[int, float]) -> np.ndarray:
    """Per step, the cost-model FLOPs of every program that ran kernels in it (once each;
    assumes one execution of a program per step, as a jitted train step)."""
    assert stats.program_id is not None
    prog, has_prog = stats.program_id
    keep = has_prog[src] & (step >= 0)
    out = np.zeros(n_steps)
    if keep.any():
        pg = np.asarray(prog)[src[keep]].astype(np.int64)
        pairs = np.unique(np.stack([step[keep], pg], axis=1), axis=0)
        for step_i, program in pairs.tolist():
            out[step_i] += module_flops.get(program, 0.0)
    return out
