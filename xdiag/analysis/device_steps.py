"""Training steps as the device ran them. Pure: one host's index and stats in, arrays out.

A `StepTraceAnnotation` spans the host's *dispatch* of a step. With asynchronous
dispatch (how JAX runs by default) the device runs that step's programs later, often
while the host dispatches the next one, so the annotation window is not the step: on
the demo trainer it covers ~10 ms of a ~140 ms step.

Here a step is the device work its dispatch launched:

- Work items are tied to the step whose annotation launched them. CPU: an XLA program
  run (its ops carry `run_id`); the host event that dispatched it (the earliest host
  event carrying that `run_id`) falls inside the step's annotation; a run whose dispatch
  is not in the capture belongs to no step; runs whose first host event comes after
  their first op (XLA:CPU's completion marker of a program it queued: the launch went
  unrecorded) are paired in order with the steps that launched no run, where that
  pairing is unambiguous; where the runtime records no dispatch events at all, a run
  belongs to the last annotation that started before its first op. GPU: each kernel,
  through its `correlation_id`, to the host launch inside the annotation.
- A step starts when both its host side began (the annotation) and the device had
  finished what was launched before it: `max(annotation start, previous work's end)`
  (never after its own first op), and ends when its last device op ends (or its
  annotation, if later: a host that blocks inside the step). This is what a training
  loop measures when it times a step to the moment it sees the result: pipelined steps
  tile the device timeline, and a pause between steps (input, logging, a sleep) belongs
  to no step.
- A step none of whose work was captured is dropped; a step whose work the capture cut
  off is kept but marked incomplete (CPU runs leave a host event that ends when the run
  completes; without such markers, the last step is incomplete when its work runs into
  the end of the capture).

Per step and device: busy time (union of the device's top-level ops in the window),
compute time (union of its non-collective top-level ops), so that the collective time
that is *exposed* (no compute beside it) is busy - compute; and FLOPs of the ops of the
step's work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xdiag.analysis import intervals
from xdiag.xplane.arrays import index_type

_NONE = np.iinfo(np.int64).min


def marks(carriers: np.ndarray, step_vals: np.ndarray, sel: np.ndarray | None,
          start_ns: np.ndarray, end_ns: np.ndarray,
          model_flops: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """(step numbers, first annotation start, last annotation end, model FLOPs) of the
    step annotations, so that the per-event columns can be freed before the step table
    is built. `carriers`/`step_vals`: the events carrying `step_num` (reader order) and
    it; `sel`: the timed events in reader order (None: all of them); `model_flops`: the
    events carrying a `model_flops` stat and it -- the FLOPs of the step the job itself
    declares on its annotation (NaN where it does not)."""
    if sel is None:
        where, steps = carriers, step_vals
    else:  # their positions among the timed events
        at = np.minimum(np.searchsorted(sel, carriers), max(len(sel) - 1, 0))
        timed = (sel[at] == carriers) if len(sel) else np.zeros(len(carriers), bool)
        where, steps = at[timed], step_vals[timed]
    steps = np.asarray(steps).astype(np.int64)
    uniq, inv = np.unique(steps, return_inverse=True)
    a = np.full(len(uniq), np.iinfo(np.int64).max)
    b = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(a, inv, start_ns[where])
    np.maximum.at(b, inv, end_ns[where])
    declared = np.full(len(uniq), np.nan)
    if model_flops is not None and len(model_flops[0]) and len(carriers):
        f_ev, f_val = model_flops
        j = np.minimum(np.searchsorted(f_ev, carriers), len(f_ev) - 1)
        hit = f_ev[j] == carriers
        vals = np.asarray(f_val, np.float64)[j]
        if sel is not None:
            hit, vals = hit[timed], vals[timed]
        ok = hit & np.isfinite(vals) & (vals >= 0)
        np.fmax.at(declared, inv[ok], vals[ok])
    return uniq, a, b, declared


def annotation_at(a: np.ndarray, b: np.ndarray, t: np.ndarray,
                   inside: bool) -> np.ndarray:
    """Index of the last annotation starting at or before each time (-1: none); with
    `inside`, only when the time also falls before that annotation's end."""
    if not len(a):
        return np.full(len(t), -1, np.int64)
    by_start = np.argsort(a, kind="stable")
    k = np.searchsorted(a[by_start], t, side="right") - 1
    ok = k >= 0
    if inside:
        ok &= t <= b[by_start][np.maximum(k, 0)]
    return np.where(ok, by_start[np.maximum(k, 0)], -1)


def cpu_items(op_run: np.ndarray, has_run: np.ndarray, op_start: np.ndarray,
              op_end: np.ndarray, host_run: np.ndarray, host_start: np.ndarray,
              host_end: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Program runs as work items.

    Args:
      op_run, has_run: `run_id` of each device op slice, and whether it has one.
      op_start, op_end: the op slices' times.
      host_run, host_start, host_end: host (thread) events that carry a `run_id`.
      a, b: the step annotations' windows.

    Returns:
      `item` (per op slice: its item, -1 none), and per item `start`, `end`, `step`
      (annotation index, -1 none) and `done` (1: a host event ended when it completed,
      0: none did, -1: the profile has no such markers).
    """
    # int32 where it fits: a column per op slice, and the step table's peak is made of them.
    item = np.full(len(op_run), -1, index_type(len(op_run)))
    runs, inv = np.unique(op_run[has_run], return_inverse=True)
    item[has_run] = inv
    n = len(runs)
    start = np.full(n, np.iinfo(np.int64).max)
    end = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(start, inv, op_start[has_run])
    np.maximum.at(end, inv, op_end[has_run])
    # The host side of each run: its dispatch (the earliest host event of the run) and
    # whether some host event ends at or after its last op (it saw the run complete).
    dispatch = np.full(n, np.iinfo(np.int64).max)
    host_last = np.full(n, np.iinfo(np.int64).min)
    j = np.searchsorted(runs, host_run)
    known = (j < n) & (runs[np.minimum(j, max(n - 1, 0))] == host_run) if n else \
        np.zeros(len(host_run), bool)
    np.minimum.at(dispatch, j[known], host_start[known])
    np.maximum.at(host_last, j[known], host_end[known])
    has_dispatch = dispatch < np.iinfo(np.int64).max
    if has_dispatch.any():
        # A run whose dispatch is not in the capture (it began before, or was cut off
        # after the last annotation) belongs to no captured step.
        step = np.where(has_dispatch,
                        annotation_at(a, b, np.where(has_dispatch, dispatch, 0), True), -1)
        # A dispatch precedes the work it launches: a run whose first host event starts
        # after its first op had its launch unrecorded (XLA:CPU runs a program queued
        # behind the previous one from its own thread, and marks only the wait for its
        # completion there); such runs are paired with the steps that launched them.
        queued = has_dispatch & (dispatch > start)
        if queued.any():
            # ... and so are runs with no host event at all (cut off by the capture's
            # end) that began before the last step ended.
            queued |= ~has_dispatch & (start <= b.max())
            step = _queued_runs(step, queued, start, a)
    else:  # a runtime that records no dispatch events: by order
        step = annotation_at(a, b, start, False)
    # Completion markers: runs that finished inside the capture leave a host event
    # spanning them; if no run has one, completeness is unknown here.
    finished = host_last >= end
    done = np.where(finished, 1, 0) if finished.any() else np.full(n, -1)
    return {"item": item, "start": start, "end": end, "step": step, "done": done}


def _queued_runs(step: np.ndarray, queued: np.ndarray, start: np.ndarray,
                 a: np.ndarray) -> np.ndarray:
    """Steps of the `queued` runs (launch not recorded). Runs execute in the order they
    were launched, so when the steps left without a run can be paired in order with the
    queued runs that began after the first step did (the same number of runs per step,
    each starting after its step began), that pairing is the launch. Otherwise the
    steps are left as the runs' completion markers place them."""
    rest = step.copy()
    rest[queued] = -1
    free = np.setdiff1d(np.arange(len(a)), rest[rest >= 0])
    free = free[np.argsort(a[free], kind="stable")]
    todo = np.flatnonzero(queued & (start >= a.min()))
    todo = todo[np.argsort(start[todo], kind="stable")]
    if not len(free) or not len(todo) or len(todo) % len(free):
        return step
    pair = np.repeat(free, len(todo) // len(free))
    if not np.all(start[todo] >= a[pair]):
        return step
    rest[todo] = pair
    return rest


def gpu_items(kernel_corr: np.ndarray, kernel_start: np.ndarray, kernel_end: np.ndarray,
              launch_corr: np.ndarray, launch_start: np.ndarray, a: np.ndarray,
              b: np.ndarray) -> dict[str, np.ndarray]:
    """Kernels as work items, each tied through its correlation id to its host launch
    and through that to the annotation holding the launch."""
    order = np.argsort(launch_corr, kind="stable")
    l_corr, l_start = launch_corr[order], launch_start[order]
    j = np.minimum(np.searchsorted(l_corr, kernel_corr), max(len(l_corr) - 1, 0))
    found = (l_corr[j] == kernel_corr) if len(l_corr) else np.zeros(len(kernel_corr), bool)
    step = np.full(len(kernel_corr), -1, np.int64)
    if found.any():
        step[found] = annotation_at(a, b, l_start[j[found]], True)
    return {"item": np.arange(len(kernel_corr), dtype=np.int64), "start": kernel_start,
            "end": kernel_end, "step": step, "done": np.full(len(kernel_corr), -1)}


def windows(items: dict[str, np.ndarray], a: np.ndarray, b: np.ndarray,
            capture_end: int) -> dict[str, np.ndarray]:
    """Each step's window on the device (see the module docstring) from its work items.

    Returns per annotation: `start_ns`, `end_ns`, `device_start_ns`, `device_end_ns`
    (`_NONE` when no work was captured), `has_work` and `complete` (bool).
    """
    n = len(a)
    start, end, step = items["start"], items["end"], items["step"]
    dev_first = np.full(n, np.iinfo(np.int64).max)
    dev_last = np.full(n, np.iinfo(np.int64).min)
    linked = step >= 0
    np.minimum.at(dev_first, step[linked], start[linked])
    np.maximum.at(dev_last, step[linked], end[linked])
    has_work = dev_first < np.iinfo(np.int64).max
    # Work launched before a step's first op (earlier steps', or not stepped at all)
    # holds the device until its end.
    by_start = np.argsort(start, kind="stable")
    prefix_end = np.maximum.accumulate(end[by_start]) if len(start) else np.zeros(0, np.int64)
    k = np.searchsorted(start[by_start], dev_first, side="left") - 1
    prior_end = np.where(k >= 0, prefix_end[np.maximum(k, 0)] if len(start) else 0, _NONE)
    w_start = np.where(has_work, np.maximum(a, np.minimum(prior_end, dev_first)), a)
    w_end = np.where(has_work, np.maximum(b, dev_last), b)
    complete = np.ones(n, bool)
    done = items["done"]
    if (done >= 0).any():
        # Known per run: a step is complete when all of its runs are.
        unfinished = np.zeros(n, bool)
        bad = linked & (done == 0)
        unfinished[step[bad]] = True
        complete = ~unfinished
    elif has_work.any():
        # Unknown: the last step is cut off when its work runs into the capture's end.
        last = int(np.argmax(np.where(has_work, w_start, np.iinfo(np.int64).min)))
        margin = max(100_000, int(0.01 * (w_end[last] - w_start[last])))
        complete[last] = capture_end - dev_last[last] > margin
    return {"start_ns": w_start, "end_ns": w_end,
            "device_start_ns": np.where(has_work, dev_first, _NONE),
            "device_end_ns": np.where(has_work, dev_last, _NONE),
            "has_work": has_work, "complete": complete}


def table(uniq: np.ndarray, a: np.ndarray, b: np.ndarray, declared: np.ndarray,
          win: dict[str, np.ndarray], units: list[dict[str, Any]],
          op_flops: np.ndarray) -> dict[str, np.ndarray]:
    """The host's step table.

    Args:
      uniq, a, b, declared: step numbers, annotation windows and declared model FLOPs
        (see `marks`).
      win: `windows` of those steps.
      units: per device, `slices` (positions into `op_flops` of its op slices),
        `start`/`end` (their times), `top` (bool: nests in no other op), `collective`
        (bool), `step` (each slice's step: annotation index, -1 none) and `device` (its
        number); `program_flops` optionally, per step. Consumed: each unit's per-op
        columns are dropped once read (they are the peak of ingest's memory).
      op_flops: per op slice, its FLOPs (0 for ops whose cost counts elsewhere).

    Returns:
      Arrays (a profile can hold tens of thousands of steps): `step`, `start_ns`,
      `end_ns`, `host_start_ns`, `host_end_ns`, `device_start_ns`, `device_end_ns`,
      `complete`, `model_flops` (NaN: not declared), `any_busy_ns` [S]; `devices` [D];
      `busy_ns`, `collective_ns`, `flops` [D, S] (`flops`: what the HLO cost model
      counts for the ops that ran).
    """
    keep = win["has_work"] if win["has_work"].any() else np.ones(len(uniq), bool)
    idx = np.flatnonzero(keep)
    ws, we = win["start_ns"][idx], win["end_ns"][idx]
    remap = np.full(len(uniq) + 1, -1, np.int64)
    remap[idx] = np.arange(len(idx))
    devices = [u["device"] for u in units]
    busy, coll, flops, tops_s, tops_e = [], [], [], [], []
    for u in units:
        top = u.pop("top")
        s, e = u.pop("start")[top], u.pop("end")[top]
        us, ue = intervals.union(s, e)
        c_top = u.pop("collective")[top]
        # (No collectives, as on most devices: compute is all of it, and no second copy
        # of the per-op columns, which are ingest's peak memory.)
        cs, ce = intervals.union(s[~c_top], e[~c_top]) if c_top.any() else (us, ue)
        del s, e, c_top, top
        b_u = intervals.overlap_sum(us, ue, None, ws, we).round()
        busy.append(b_u)
        coll.append(np.maximum(b_u - intervals.overlap_sum(cs, ce, None, ws, we).round(), 0))
        del cs, ce
        st = remap[u.pop("step")]
        f = np.zeros(len(idx))
        ok = st >= 0
        np.add.at(f, st[ok], op_flops[u.pop("slices")][ok])
        del st, ok
        if u.get("program_flops") is not None:
            f = np.maximum(f, u["program_flops"][idx])
        flops.append(f)
        tops_s.append(us)
        tops_e.append(ue)
    if tops_s:
        starts, ends = np.concatenate(tops_s), np.concatenate(tops_e)
        del tops_s[:], tops_e[:]
        us, ue = intervals.union(starts, ends)
        del starts, ends
        any_busy = intervals.overlap_sum(us, ue, None, ws, we).round()
    else:
        any_busy = np.zeros(len(idx))
    shape = (len(units), len(idx))
    return {"step": uniq[idx], "start_ns": ws, "end_ns": we, "host_start_ns": a[idx],
            "host_end_ns": b[idx], "device_start_ns": win["device_start_ns"][idx],
            "device_end_ns": win["device_end_ns"][idx],
            "complete": win["complete"][idx].astype(np.int8),
            "model_flops": declared[idx].astype(np.float64), "any_busy_ns": any_busy,
            "devices": np.array(devices, dtype=np.int64),
            "busy_ns": np.array(busy).reshape(shape),
            "collective_ns": np.array(coll).reshape(shape),
            "flops": np.array(flops).reshape(shape)}
