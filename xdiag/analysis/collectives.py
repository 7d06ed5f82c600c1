"""Collectives: how long each device waited for the others, apart from the transfer."""

from __future__ import annotations

import numpy as np

from xdiag.analysis import timeline
from xdiag.analysis.event_stats import EventStats


def wait_and_transfer(es: EventStats, idx: timeline.TimelineIndex, pos: np.ndarray,
                      inv: np.ndarray, row_op: list[int], row_dev: list[int],
                      coll_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per op-table row: (wait ns, transfer ns, known) summed over its collective slices.

    One run of a collective is the k-th slice of that op in one program run on each
    device (CPU: by run_id); it cannot move data before its last participant arrives, so
    on a device the time from its own start to the last start is waiting for the other
    devices, and the rest is the transfer. Known only where at least two devices' parts
    of a run are in this host's file."""
    n_rows = len(row_op)
    wait, transfer, seen = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows, bool)
    run = es.run_id if not callable(es.run_id) else None
    is_coll = np.zeros(n_rows, bool)
    is_coll[coll_rows] = True
    sl = np.flatnonzero(is_coll[inv])
    if run is None or not len(sl):
        return wait, transfer, seen
    vals, has = run
    src = idx.ev_src[pos[sl]]
    sl = sl[has[src]]
    if not len(sl):
        return wait, transfer, seen
    src = idx.ev_src[pos[sl]]
    r = np.asarray(vals)[src].astype(np.int64)
    op = np.asarray(row_op, np.int64)[inv[sl]]
    dev = np.asarray(row_dev, np.int64)[inv[sl]]
    s, e = idx.ev_start[pos[sl]], idx.ev_end[pos[sl]]
    order = np.lexsort((s, op, r, dev))
    r, op, dev, s, e, sl = r[order], op[order], dev[order], s[order], e[order], sl[order]
    new_group = np.ones(len(sl), bool)
    new_group[1:] = (r[1:] != r[:-1]) | (op[1:] != op[:-1]) | (dev[1:] != dev[:-1])
    first = np.maximum.accumulate(np.where(new_group, np.arange(len(sl)), 0))
    rank = np.arange(len(sl)) - first
    _, inst = np.unique(np.stack([r, op, rank], axis=1), axis=0, return_inverse=True)
    inst = inst.reshape(-1)
    last = np.full(inst.max() + 1, np.iinfo(np.int64).min)
    np.maximum.at(last, inst, s)
    parts = np.bincount(inst)
    ok = parts[inst] >= 2
    arrive = last[inst]
    w = np.clip(arrive - s, 0, e - s)
    t = np.maximum(e - np.maximum(s, arrive), 0)
    rows = inv[sl]
    np.add.at(wait, rows[ok], w[ok])
    np.add.at(transfer, rows[ok], t[ok])
    seen[rows[ok]] = True
    return wait, transfer, seen
