"""The op table of one host: per (module, op, program, device) occurrences, total and
self time, category, FLOPs and bytes, and for collectives the time spent waiting apart
from the transfer; plus per-slice FLOPs and collective flags for the step table.

GPU kernels are counted under the op that launched them (`_kernel_op`).

Memory (this is ingest's peak stage): the grouping key is computed per slice in chunks
straight from the per-event stats, and factorized in place (`codes.py`), so
the table's transient memory is one int64 per slice (the key, which becomes each
slice's row) plus the slice positions, tracks and sources, instead of several int64s
per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xdiag.analysis import codes, collectives, timeline
from xdiag.analysis._intervals import row_sums
from xdiag.analysis.event_stats import EventStats
from xdiag.analysis.hlo_costs import COLLECTIVE, ModuleInfo
from xdiag.analysis.tracks import Track
from xdiag.xplane.arrays import factorize as _factorize_sorted
from xdiag.xplane.arrays import index_type


def op_events(idx: timeline.TimelineIndex,
               tracks: list[Track]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (in idx order) of XLA op slices, those on op tracks, with the track and
    row of each: op tracks are whole segments, so all three come from np.repeat."""
    pos, track, segs, sizes = _op_slices(idx, tracks)
    return pos, track, np.repeat(idx.seg_depth[segs], sizes)


def _op_slices(idx: timeline.TimelineIndex, tracks: list[Track]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`op_events`' positions and tracks, and the op segments and their sizes."""
    op_tracks = np.array([t.kind == "xla_ops" for t in tracks] + [False], dtype=bool)
    segs = np.flatnonzero(op_tracks[idx.seg_track]) if len(idx.seg_track) else \
        np.zeros(0, np.int64)
    sizes = np.diff(idx.seg_ptr)[segs]
    n = int(sizes.sum())
    dtype = np.int32 if len(idx.seg_ptr) and idx.seg_ptr[-1] < 2**31 else np.int64
    # pos = the op segments' aranges, concatenated: k + (segment start - its offset in pos).
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    pos = np.arange(n, dtype=dtype)
    pos += np.repeat((idx.seg_ptr[segs] - offset).astype(dtype), sizes)
    # Tracks fit in 16 bits but for the largest pods: a slice's track is kept to the end
    # of the step table, so its width is on ingest's peak.
    track_type = index_type(len(tracks), smallest=np.int16)
    return pos, np.repeat(idx.seg_track[segs].astype(track_type), sizes), segs, sizes


_SMALL_RANGE = 4096  # a grouping column with more values is factorized first


def _unique_rows(key: np.ndarray, columns: list[tuple[Callable[[int, int], np.ndarray], int]]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of (key, *columns) in lexicographic order, and each row's index
    among them: `key` (int64, one per row) is overwritten with that index and returned.

    Each of `columns` is made a chunk of rows at a time (`make(a, b)`), its values in
    [-1, size), and folded into the key; the key is factorized in place, before and after.
    """
    values = [codes.factorize_inplace(key)]
    for make, size in columns:
        col = None
        if size > _SMALL_RANGE:  # its distinct values instead, to keep the key small
            col = np.empty(len(key), np.int64)
            for a in codes.chunks(len(key)):
                col[a:a + codes.CHUNK] = make(a, min(a + codes.CHUNK, len(key)))
            vals = codes.factorize_inplace(col)
        else:
            vals = np.arange(-1, size, dtype=np.int64)
        for a in codes.chunks(len(key)):
            b = min(a + codes.CHUNK, len(key))
            part = key[a:b]
            part *= len(vals)
            if col is None:
                part += make(a, b)
                part += 1
            else:
                part += col[a:b]
        del col
        values.append(vals)
    ukey = codes.factorize_inplace(key)
    rows = np.zeros((len(ukey), len(values)), dtype=np.int64)
    rest = ukey.copy()
    for j in range(len(values) - 1, -1, -1):
        rows[:, j] = values[j][rest % len(values[j])]
        rest //= len(values[j])
    return rows, key


def build(es: EventStats, idx: timeline.TimelineIndex, tracks: list[Track],
              modules: list[ModuleInfo]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Op table per (module, op, program, device) over the op slices, plus per-slice FLOPs
    and collective flags for the step table. The grouping key is made a chunk of slices
    at a time and factorized in place: the peak stays near one int64 per slice."""
    pos, track_of_pos, _, _ = _op_slices(idx, tracks)
    names_codes, names = es.names
    op_codes, op_table, has_op = es.hlo_op
    mod_codes, mod_table, has_mod = es.hlo_module
    prog, has_prog = es.program_id
    prog = np.asarray(prog)
    op_names = np.array([str(x) for x in op_table] + names, dtype=object)
    mod_names = np.array([str(x) for x in mod_table] + [""], dtype=object)
    dev_lut = np.array([t.device if t.device is not None else -1 for t in tracks] + [-1],
                       dtype=np.int64)
    # Each slice's event (ev_src[pos]) is made a chunk at a time where it is read: a
    # whole column of it would be 4-8 bytes per slice more at ingest's peak.
    kernel_lut = np.array([t.kernels for t in tracks] + [False], dtype=bool)
    # (module, op, program) folded into one key per slice, a chunk of slices at a time:
    # ((module code) * n_op + op code) * n_prog + program code, where the program codes
    # index the distinct program ids of all events (-1: none).
    n_mod, n_op = len(mod_table) + 1, len(op_table) + len(names)

    def programs(s: np.ndarray | slice) -> np.ndarray:
        return np.where(has_prog[s], prog[s].astype(np.int64, copy=False), -1)
    prog_vals, prog_code = codes.coder(lambda a, b: programs(slice(a, b)), len(prog))
    n_prog = len(prog_vals)
    key = np.empty(len(pos), np.int64)
    for a in codes.chunks(len(pos)):
        s = idx.ev_src[pos[a:a + codes.CHUNK]]
        part = key[a:a + codes.CHUNK]
        part[...] = np.where(has_mod[s], mod_codes[s], n_mod - 1)
        part *= n_op
        part += np.where(has_op[s], op_codes[s], len(op_table) + names_codes[s])
        part *= max(n_prog, 1)
        part += prog_code(programs(s))
    columns: list[tuple[Callable[[int, int], np.ndarray], int]] = [
        (lambda a, b: dev_lut[track_of_pos[a:b]], int(dev_lut.max(initial=-1)) + 1)]
    if kernel_lut.any():  # GPU: the kernel name is part of the key
        columns.append((lambda a, b: np.where(kernel_lut[track_of_pos[a:b]],
                                              names_codes[idx.ev_src[pos[a:b]]], -1),
                        len(names)))
    rows, inv = _unique_rows(key, columns)  # inv: the key's own memory
    del key, columns
    folded = rows[:, 0]
    uniq = np.empty((len(rows), 5), np.int64)
    uniq[:, 2] = prog_vals[folded % max(n_prog, 1)] if n_prog else -1
    folded = folded // max(n_prog, 1)
    uniq[:, 1] = folded % n_op
    uniq[:, 0] = folded // n_op
    uniq[:, 3] = rows[:, 1]
    uniq[:, 4] = rows[:, 2] if rows.shape[1] > 2 else -1
    by_prog = {m.program_id: m for m in modules}
    # By name only when the name is unique: two compilations of one jitted function (other
    # shapes, other fusion decisions) share a name, and the wrong one's `dot` may be another
    # instruction entirely (an uploaded CNN's `dot` got a whole fusion's FLOPs that way).
    names_seen: dict[str, int] = {}
    for m in modules:
        names_seen[m.name] = names_seen.get(m.name, 0) + 1
    by_name = {m.name: m for m in modules if names_seen[m.name] == 1}
    # Resolve each distinct (module, op, program, kernel) to the op it is counted under,
    # once (a row per device repeats it); GPU kernels of one op (or unnamed kernels of one
    # command buffer) merge into one op.
    src_vals, src_of_row = _factorize_sorted(rows[:, 0] * (len(names) + 1) + (uniq[:, 4] + 1))
    first_row = np.full(len(src_vals), len(uniq), np.int64)
    np.minimum.at(first_row, src_of_row, np.arange(len(uniq)))
    op_of: dict[tuple[str, str, int], int] = {}  # (module, op, program) -> op id
    op_keys: list[tuple[str, str, int]] = []
    op_infos: list[ModuleInfo | None] = []
    unplaced: set[int] = set()
    op_of_src = np.empty(len(src_vals), np.int64)
    for s, u in enumerate(first_row.tolist()):
        mk, ok_, pid, _, kern = uniq[u].tolist()
        module, op = str(mod_names[mk]), str(op_names[ok_])
        info = by_prog.get(pid) or by_name.get(module)
        if kern >= 0:
            op = _kernel_op(info, names[kern], op if ok_ < len(op_table) else None)
        key = (module or (info.name if info else ""), op, int(pid))
        got = op_of.get(key)
        if got is None:
            got = op_of[key] = len(op_keys)
            op_keys.append(key)
            op_infos.append(info)
        if kern >= 0 and op == names[kern] and info is not None and op not in info.costs:
            unplaced.add(got)  # a GPU kernel tied to no instruction: listed under its name
        op_of_src[s] = got
    # Rows: (op, device), numbered in order of first appearance.
    n_dev = int(uniq[:, 3].max(initial=-1)) + 2
    row_key = op_of_src[src_of_row] * n_dev + (uniq[:, 3] + 1)
    keys_sorted, first, row_of = np.unique(row_key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    np.take(rank[row_of.reshape(-1)], inv, out=inv, mode="clip")  # in place
    row_op = (keys_sorted[order] // n_dev).tolist()
    row_dev = (keys_sorted[order] % n_dev - 1).tolist()
    n_rows = len(row_op)
    # Occurrences, total (inclusive: each slice's whole duration), self (what the device
    # spent in the op itself: children excluded, concurrent ops sharing their overlap; see
    # timeline.build) and top-level counts per row, in one pass.
    nested = idx.ev_nested[pos]
    occ, tot, slf, top = np.frombuffer(row_sums(
        np.ascontiguousarray(inv), pos, idx.ev_self, idx.ev_start, idx.ev_end,
        nested.view(np.uint8), n_rows), np.int64).reshape(4, n_rows)
    # GPU: an instruction of a command buffer runs once per launch of the graph, however
    # many kernels it has (a cuBLAS call: a memset and its GEMM): its costs are spread
    # over its kernels.
    share = _runs_per_kernel(inv, es.graph_run[idx.ev_src[pos]]
                             if es.graph_run is not None else None, occ)
    # Category and costs depend on the op only: once per op, not per op and device.
    # (category, fused category, FLOPs, bytes, costed, counted in its fusion, payload)
    desc = []
    for k, ((_, op, _), info) in enumerate(zip(op_keys, op_infos, strict=True)):
        cost = info.costs.get(op) if info else None
        if k in unplaced and not (info is not None and info.is_triton_kernel(op)):
            desc.append((guess_category(op), "unattributed", 0.0, 0.0, False, False, 0.0))
        elif cost is not None and not cost.flops and info is not None and op in info.triton_ops:
            # A Pallas/Triton call's FLOPs are its kernel's, which the HLO does not state
            # (no cost estimate in its backend config): unknown, not zero.
            desc.append(("custom_call", "triton", 0.0, 0.0, False, False, 0.0))
        elif cost is not None and cost.in_fusion:
            desc.append((cost.category, cost.fused_category, 0.0, 0.0, True, True, 0.0))
        elif cost is not None:
            desc.append((cost.category, cost.fused_category, cost.flops, cost.bytes, True,
                         False, cost.collective_bytes))
        elif info is not None and info.is_triton_kernel(op):
            desc.append(("custom_call", "triton", 0.0, 0.0, False, False, 0.0))
        else:  # FLOPs and bytes unknown
            desc.append((guess_category(op), "", 0.0, 0.0, False, False, 0.0))
    keys = [op_keys[o] for o in row_op]
    rdesc = [desc[o] if share[r] == 1.0 else
             (*desc[o][:2], desc[o][2] * share[r], desc[o][3] * share[r], *desc[o][4:6],
              desc[o][6] * share[r]) for r, o in enumerate(row_op)]
    cols_out: dict[str, list[Any]] = {
        "module": [k[0] for k in keys], "program_id": [k[2] for k in keys],
        "op": [k[1] for k in keys], "device": row_dev,
        "category": [d[0] for d in rdesc], "fused_category": [d[1] for d in rdesc],
        "occurrences": occ.tolist(), "total_ns": tot.tolist(), "self_ns": slf.tolist(),
        "flops": [d[2] for d in rdesc], "bytes": [d[3] for d in rdesc],
        "costed": [d[4] for d in rdesc], "in_fusion": [d[5] for d in rdesc],
        "collective_bytes": [d[6] for d in rdesc], "top_level": top.tolist()}
    # Collectives: per row, the time spent waiting for the other devices to arrive and the
    # time of the transfer itself (None where no other device's part is in this file).
    coll_rows = np.flatnonzero(np.asarray(cols_out["category"], dtype=object) == COLLECTIVE)
    if len(coll_rows):
        wait, transfer, known = collectives.wait_and_transfer(es, idx, pos, inv, row_op, row_dev, coll_rows)
        cols_out["wait_ns"] = [int(w) if k else None for w, k in zip(wait, known, strict=True)]
        cols_out["transfer_ns"] = [int(t) if k else None
                                   for t, k in zip(transfer, known, strict=True)]
    # Per slice (the step table's input); a constant column when no row differs.
    row_flops = np.asarray(cols_out["flops"], dtype=np.float64)
    row_coll = np.asarray(cols_out["category"], dtype=object) == COLLECTIVE
    ev_coll = row_coll[inv].astype(bool) if row_coll.any() else np.zeros(len(inv), bool)
    if row_flops.any():  # into the memory of `inv`, read last: an int64 per slice less
        ev_flops = inv.view(np.float64)
        np.take(row_flops, inv, out=ev_flops, mode="clip")  # each index read, then written
    else:
        ev_flops = np.zeros(len(inv), np.float64)
    del inv
    return cols_out, {"pos": pos, "track": track_of_pos, "flops": ev_flops,
                      "collective": ev_coll, "nested": nested,
                      "module_flops": {m.program_id: m.flops or 0.0 for m in modules}}


def _runs_per_kernel(inv: np.ndarray, graph_run: np.ndarray | None,
                     occ: np.ndarray) -> list[float]:
    """Per row: its executions over its slices. A slice is an execution of its op, but
    the kernels of one graph launch (`graph_run` >= 0) that ran one instruction are one."""
    out = np.ones(len(occ), np.float64)
    if graph_run is None or not np.any(graph_run >= 0):
        return out.tolist()
    in_graph = graph_run >= 0
    rows, runs = inv[in_graph], graph_run[in_graph]
    pairs = np.unique(np.stack([rows, runs]), axis=1)
    execs = occ - np.bincount(rows, minlength=len(occ)) + np.bincount(pairs[0],
                                                                        minlength=len(occ))
    has = occ > 0
    out[has] = execs[has] / occ[has]
    return out.tolist()


def _kernel_op(info: ModuleInfo | None, kernel: str, hlo_op: str | None) -> str:
    """The op a GPU kernel is counted under: the instruction that launched it (its
    `hlo_op`, which `gpu_kernels.resolve` has set for the kernels of command buffers it
    could place) unless that is still a whole command buffer (CUDA graph); there, the
    instruction the kernel is named after (fusions); else the kernel's name (a kernel
    that fits no instruction, listed with its time). Not the kernel's name first: XLA shares one kernel among identical
    fusions (`loop_add_fusion.1` ... `.5` all launch `loop_add_fusion`)."""
    if hlo_op and not hlo_op.startswith("command_buffer"):
        return hlo_op
    inst = info.op_of_kernel(kernel) if info else None
    return inst or kernel


_GUESSES = (("all-reduce", COLLECTIVE), ("all-gather", COLLECTIVE), ("reduce-scatter", COLLECTIVE),
            ("all-to-all", COLLECTIVE), ("collective-permute", COLLECTIVE),
            ("fusion", "fusion"), ("convolution", "dot"), ("dot", "dot"), ("gemm", "dot"),
            ("copy", "copy"), ("custom-call", "custom_call"), ("while", "control_flow"),
            # GPU library kernels, by name: cuBLAS(Lt)/CUTLASS GEMMs, copies, sorts.
            ("nvjet", "dot"), ("xmma", "dot"), ("cutlass", "dot"), ("memcpy", "copy"),
            ("memset", "copy"), ("sort", "sort"), ("nccl", COLLECTIVE))


def guess_category(op: str) -> str:
    """Category from the op name when no HLO module is available (uploaded w/o metadata)."""
    low = op.lower()
    return next((cat for key, cat in _GUESSES if key in low), "other")
