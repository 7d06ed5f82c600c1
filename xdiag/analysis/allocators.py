"""The memory profile of a host: each allocator's bytes in use over time.

The JAX/XLA runtime on GPU and TPU records every allocation and deallocation of its
allocators (`GPU_0_bfc`, `xla_gpu_host_bfc`, ...) as `MemoryAllocation` /
`MemoryDeallocation` events on the host plane, each with the allocator's state after
it (bytes allocated, reserved, available, fragmentation, its lifetime peak) and the
allocation itself (requested and allocated bytes, address, op, shape, dtype). On CPU
the runtime records none.

Semantics are stock xprof's `memory_profile` (xplane_to_memory_profile.cc): one
snapshot per event; an allocator's peak is the last event, in file order, whose
`bytes_reserved + bytes_allocated` is the largest; its capacity is reserved +
allocated + available at that event. The allocations live at the peak are those
allocated before it (up to and including it) whose address was not freed since; what
the allocator held that no event of the capture allocated is one row, "allocated
before the capture" (xprof's "unused preallocated device memory").

Pure: lean columns in, JSON-ready dicts out. Times are ns from the profile start.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HOST_PLANE = "/host:CPU"
ALLOCATION, DEALLOCATION = "MemoryAllocation", "MemoryDeallocation"
# The event stats read (xprof's StatType names).
STATS = ("allocator_name", "index_on_host", "device_ordinal", "bytes_reserved",
         "bytes_allocated", "bytes_available", "fragmentation", "peak_bytes_in_use",
         "requested_bytes", "allocation_bytes", "addr", "tf_op", "region_type", "data_type",
         "tensor_shapes")
MAX_SERIES_POINTS = 4096
LIVE_ROWS = 500
NO_EVENTS = ("not available because this capture has no allocator events (CPU captures "
             "carry none: the XLA CPU runtime does not record its allocations)")


def has_allocator_events(cols: Any) -> bool:
    """Whether the host plane declares allocation events (cheap: metadata only)."""
    p = cols.plane(HOST_PLANE)
    return p is not None and any(n in (ALLOCATION, DEALLOCATION)
                                 for n in p.event_metadata.names)




def _value(values: Any, where: np.ndarray, idx: np.ndarray, default: Any) -> list[Any]:
    pos = np.minimum(np.searchsorted(where, idx), max(len(where) - 1, 0))
    hit = (where[pos] == idx) if len(where) else np.zeros(len(idx), bool)
    out = []
    for k, h in zip(pos, hit, strict=True):
        if not h:
            out.append(default)
            continue
        v = values[k]
        out.append(v.item() if hasattr(v, "item") else v)
    return out


def allocator_events(cols: Any, profile_t0_ns: int) -> dict[str, list[Any]]:
    """The allocation events of the host plane as columns, in file order.

    Args:
        cols: lean columns read with (at least) `STATS`.
        profile_t0_ns: the profile's start (absolute ns): times become ns from it.
    """
    codes, table = cols.event_names()
    wanted = [table.index(n) for n in (ALLOCATION, DEALLOCATION) if n in table]
    p = cols.plane(HOST_PLANE)
    if not wanted or p is None:
        return {}
    in_plane = np.zeros(len(codes), bool)
    in_plane[p.event_start:p.event_stop] = True
    idx = np.flatnonzero(np.isin(codes, wanted) & in_plane)
    out: dict[str, list[Any]] = {
        "t_ns": ((cols.events.start_ps[idx] / 1000.0) + (cols.t0_ns - profile_t0_ns)).tolist(),
        "allocation": (codes[idx] == table.index(ALLOCATION)
                       if ALLOCATION in table else np.zeros(len(idx), bool)).tolist(),
    }
    for name in STATS:
        default: Any = "" if name in ("allocator_name", "tf_op", "region_type",
                                      "tensor_shapes") else None
        try:
            where, values = cols.event_stat_sparse(name)
        except (KeyError, ValueError, RuntimeError):
            out[name] = [default] * len(idx)
            continue
        out[name] = _value(values, where, idx, default)
    return out


def _memory_id(ev: dict[str, list[Any]], i: int) -> str:
    name = ev["allocator_name"][i]
    if name:
        return str(name)
    for key in ("index_on_host", "device_ordinal"):
        if ev[key][i] is not None:
            return str(ev[key][i])
    return ""


def _int(v: Any) -> int:
    return int(v) if v is not None else 0


def _downsample(order: list[int], keep: int, limit: int, in_use: list[int]) -> list[int]:
    if len(order) <= limit:
        return order
    step = -(-len(order) // limit)
    out = []
    for a in range(0, len(order), step):
        seg = order[a:a + step]
        j = keep if keep in seg else max(seg, key=lambda i: in_use[i])
        out.append(j)
    return out


def allocator_profile(ev: dict[str, list[Any]], *, max_points: int = MAX_SERIES_POINTS
                      ) -> dict[str, Any]:
    """Per allocator: series, peak, its time, capacity, headroom, allocations live at the
    peak (see the module docstring)."""
    n = len(ev.get("t_ns", ()))
    if n == 0:
        return {"available": False, "reason": NO_EVENTS, "allocators": []}
    by_alloc: dict[str, list[int]] = {}
    for i in range(n):
        by_alloc.setdefault(_memory_id(ev, i), []).append(i)
    allocators = []
    for name, rows in by_alloc.items():
        in_use = {i: _int(ev["bytes_reserved"][i]) + _int(ev["bytes_allocated"][i])
                  for i in rows}
        peak_i, peak = rows[0], -1
        for i in rows:  # file order, ">=": the last of equal peaks, as xprof
            if in_use[i] >= peak:
                peak_i, peak = i, in_use[i]
        capacity = peak + _int(ev["bytes_available"][peak_i])
        order = sorted(rows, key=lambda i: (ev["t_ns"][i], i))
        keep = _downsample(order, peak_i, max_points, in_use)
        peak_t = ev["t_ns"][peak_i]
        # Allocations live at the peak: allocated up to it, not freed since (by address).
        live: dict[Any, int] = {}
        for i in order:
            if (ev["t_ns"][i], i) > (peak_t, peak_i):
                break
            addr = ev["addr"][i]
            if ev["allocation"][i]:
                live[addr] = i
            else:
                live.pop(addr, None)
        rows_live = [{
            "bytes": _int(ev["allocation_bytes"][i]),
            "requested_bytes": _int(ev["requested_bytes"][i]),
            "op": ev["tf_op"][i] or "", "shape": ev["tensor_shapes"][i] or "",
            "dtype": "" if ev["data_type"][i] in (None, 0) else str(ev["data_type"][i]),
            "region_type": ev["region_type"][i] or "", "address": _int(ev["addr"][i]),
            "t_ns": ev["t_ns"][i]} for i in live.values()]
        rows_live.sort(key=lambda r: (-r["bytes"], -r["requested_bytes"], r["op"]))
        heap_at_peak = _int(ev["bytes_allocated"][peak_i])
        unmapped = heap_at_peak - sum(r["bytes"] for r in rows_live)
        if unmapped > 0:
            rows_live.insert(0, {"bytes": unmapped, "requested_bytes": unmapped,
                                 "op": "allocated before the capture", "shape": "",
                                 "dtype": "", "region_type": "persist/dynamic",
                                 "address": 0, "t_ns": None})
            rows_live.sort(key=lambda r: -r["bytes"])
        allocators.append({
            "name": name,
            "capacity_bytes": capacity,
            "peak_bytes_in_use": peak,
            "peak_time_ns": peak_t,
            "peak_reserved_bytes": _int(ev["bytes_reserved"][peak_i]),
            "peak_fragmentation": float(ev["fragmentation"][peak_i] or 0.0),
            "lifetime_peak_bytes": _int(ev["peak_bytes_in_use"][rows[-1]]),
            "headroom_bytes": capacity - peak,
            "events": len(rows),
            "series": {
                "total_points": len(order), "downsampled": len(keep) < len(order),
                "t_ns": [ev["t_ns"][i] for i in keep],
                "bytes_in_use": [in_use[i] for i in keep],
                "bytes_reserved": [_int(ev["bytes_reserved"][i]) for i in keep],
                "bytes_available": [_int(ev["bytes_available"][i]) for i in keep],
                "fragmentation": [float(ev["fragmentation"][i] or 0.0) for i in keep],
            },
            "live_at_peak": rows_live[:LIVE_ROWS],
            "live_at_peak_count": len(rows_live),
        })
    allocators.sort(key=lambda a: -a["peak_bytes_in_use"])
    return {"available": True, "reason": None, "allocators": allocators}
