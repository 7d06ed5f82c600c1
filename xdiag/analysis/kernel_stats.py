"""GPU kernel statistics (stock xprof's `kernel_stats`): per kernel and launch shape,
launches and total/avg/min/max time, grid and block, registers per thread, shared
memory, theoretical occupancy, tensor-core use, and the ops that launched it. Pure:
per-kernel arrays in, one table of columns out.

A kernel is an event of a device plane that carries CUPTI's `kernel_details` stat
("regs:104 static_shared:0 dynamic_shared:155648 grid:16,16,11 block:256,1,1
occ_pct:12.5"); memsets and memcopies carry none and are not kernels. Rows are keyed as
xprof keys them: kernel name and launch shape (grid, block, registers, shared memory).

Tensor cores: the capture does not record which unit a kernel used. As in xprof, the
kernel's name decides where it can (library kernels name their instructions: `hmma`,
`xmma`, `884`/`1688`/`16816` tiles, `wgmma`; cuBLAS's Hopper GEMMs are `nvjet_*`);
a kernel of an op with no matrix work (elementwise, reduction, copy) uses none; for a
compiler-generated kernel of a dot (a Triton GEMM fusion, a Pallas kernel) it is
unknown (None) rather than guessed.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from xdiag.xplane.arrays import factorize

COLUMNS = ("name", "launches", "total_ns", "avg_ns", "min_ns", "max_ns", "grid", "block",
           "registers_per_thread", "static_shared_bytes", "dynamic_shared_bytes",
           "occupancy_pct", "tensor_core", "op", "module", "ops")
_DETAIL = re.compile(r"(\w+):([\d.,]+)")
_TENSOR_CORE = re.compile(r"nvjet|hmma|xmma|wgmma|gmma|imma|tensorop|884|1688|16816|16832",
                          re.IGNORECASE)
# Op categories whose kernels do matrix work (may use tensor cores).
_MATRIX = frozenset({"dot", "convolution", "conv", "custom_call", "triton"})


def parse_details(text: str) -> dict[str, Any]:
    """CUPTI's kernel_details string as numbers: registers, shared memory, grid and
    block dims, occupancy. Missing fields are absent."""
    out: dict[str, Any] = {}
    for key, value in _DETAIL.findall(text or ""):
        try:
            if key in ("grid", "block"):
                dims = [int(v) for v in value.split(",") if v]
                out[key] = [*dims, 1, 1, 1][:3]
            elif key == "regs":
                out["registers_per_thread"] = int(value)
            elif key == "static_shared":
                out["static_shared_bytes"] = int(value)
            elif key == "dynamic_shared":
                out["dynamic_shared_bytes"] = int(value)
            elif key == "occ_pct":
                out["occupancy_pct"] = float(value)
        except ValueError:
            continue
    return out


def tensor_core(name: str, categories: set[str]) -> bool | None:
    """Whether a kernel uses tensor cores: True by its name, False when none of the ops
    it ran does matrix work, else None (unknown)."""
    if _TENSOR_CORE.search(name):
        return True
    if categories and not categories & _MATRIX:
        return False
    return None


def build(names: np.ndarray, name_table: list[str], details: np.ndarray,
          detail_table: list[Any],
          dur_ns: np.ndarray, ops: np.ndarray, op_table: list[str],
          module: np.ndarray, module_table: list[str],
          category_of: dict[str, tuple[str, str]]) -> dict[str, list[Any]]:
    """The kernel table of one host.

    Args:
        names: code of each launch's kernel name in `name_table`.
        name_table: kernel names.
        details: code of the launch's kernel_details string in `detail_table`.
        detail_table: the distinct kernel_details strings.
        dur_ns: duration of each launch (int64 ns).
        ops: code of the op each launch ran under, in `op_table`.
        op_table: op names.
        module: code of each launch's module in `module_table` (-1: none).
        module_table: module names.
        category_of: op name -> (category, fused category), from the op table.

    Returns:
        Columns (`COLUMNS`), rows by total time, longest first.
    """
    n = len(names)
    if n == 0:
        return {c: [] for c in COLUMNS}
    key = names.astype(np.int64) * (len(detail_table) + 1) + (details.astype(np.int64) + 1)
    keys, row = factorize(key)
    n_rows = len(keys)
    dur = dur_ns.astype(np.int64)
    launches = np.bincount(row, minlength=n_rows)
    total = np.bincount(row, weights=dur, minlength=n_rows)
    lo = np.full(n_rows, np.iinfo(np.int64).max, np.int64)
    hi = np.zeros(n_rows, np.int64)
    np.minimum.at(lo, row, dur)
    np.maximum.at(hi, row, dur)
    # Ops per row: the one that launched it most, and how many launched it.
    pair_vals, pair_codes = factorize(row.astype(np.int64) * (len(op_table) + 1)
                                      + (ops.astype(np.int64) + 1))
    pair_count = np.bincount(pair_codes)
    pair_row = pair_vals // (len(op_table) + 1)
    pair_op = pair_vals % (len(op_table) + 1) - 1
    order = np.lexsort((-pair_count, pair_row))
    first = np.ones(len(order), bool)
    first[1:] = pair_row[order][1:] != pair_row[order][:-1]
    top_op = np.full(n_rows, -1, np.int64)
    top_op[pair_row[order][first]] = pair_op[order][first]
    n_ops = np.bincount(pair_row, minlength=n_rows)
    row_ops: list[set[str]] = [set() for _ in range(n_rows)]
    for r, o in zip(pair_row.tolist(), pair_op.tolist(), strict=True):
        if o >= 0:
            row_ops[r].add(op_table[o])
    first_launch = np.full(n_rows, n, np.int64)
    np.minimum.at(first_launch, row, np.arange(n))
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for r in np.argsort(-total, kind="stable").tolist():
        k = int(keys[r])
        name = str(name_table[k // (len(detail_table) + 1)])
        code = k % (len(detail_table) + 1) - 1
        d = parse_details(str(detail_table[code])) if code >= 0 else {}
        cats = set()
        for op in row_ops[r]:
            cats.update(c for c in category_of.get(op, ("", "")) if c)
        m = int(module[first_launch[r]])
        out["name"].append(name)
        out["launches"].append(int(launches[r]))
        out["total_ns"].append(int(total[r]))
        out["avg_ns"].append(float(total[r]) / max(int(launches[r]), 1))
        out["min_ns"].append(int(lo[r]))
        out["max_ns"].append(int(hi[r]))
        out["grid"].append(d.get("grid"))
        out["block"].append(d.get("block"))
        for c in ("registers_per_thread", "static_shared_bytes", "dynamic_shared_bytes",
                  "occupancy_pct"):
            out[c].append(d.get(c))
        out["tensor_core"].append(tensor_core(name, cats))
        out["op"].append(op_table[int(top_op[r])] if top_op[r] >= 0 else None)
        out["module"].append(module_table[m] if m >= 0 else None)
        out["ops"].append(int(n_ops[r]))
    return out
