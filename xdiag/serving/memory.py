"""The memory views of a profile for the API: program list, one program, allocators.

Everything was derived at ingest (`pipeline/memory.py`); a request reads the host's
`hosts/<host>.memory.json` and at most one program's `memory/<hash>.json`, and adds
what needs the whole profile: which program ran the most time (the op table's
`by_program`), the capacity to measure headroom against, and the label saying where it
came from. A profile ingested before these views existed answers "not available".
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from xdiag.core.errors import NotFound
from xdiag.serving.profile import ProfileData
from xdiag.store import layout

OLD_INGEST = ("not available for this profile (ingested by an older version of xdiag; "
              "re-ingest it)")
DEFAULT_LIMIT = 200
MAX_LIMIT = 5000
GIB = 1 << 30

# Device memory by device kind (vendor data sheets), when neither the allocators nor the
# device plane state it. Matched by substring of the device kind, first match wins.
DEVICE_MEMORY: tuple[tuple[str, int, str], ...] = (
    ("H200", 141 * 10**9, "NVIDIA H200: 141 GB HBM3e"),
    ("H100 NVL", 94 * 10**9, "NVIDIA H100 NVL: 94 GB HBM3"),
    ("H100", 80 * GIB, "NVIDIA H100: 80 GiB HBM"),
    ("A100-SXM4-40GB", 40 * GIB, "NVIDIA A100: 40 GiB HBM2"),
    ("A100", 80 * GIB, "NVIDIA A100: 80 GiB HBM2e"),
    ("L4", 24 * GIB, "NVIDIA L4: 24 GiB GDDR6"),
    ("TPU v6", 32 * GIB, "TPU v6e: 32 GiB HBM per chip"),
    ("TPU v5p", 95 * GIB, "TPU v5p: 95 GiB HBM per chip"),
    ("TPU v5", 16 * GIB, "TPU v5e: 16 GiB HBM per chip"),
    ("TPU v4", 32 * GIB, "TPU v4: 32 GiB HBM per chip"),
)


# Per opened profile (the views cache reopens it when its manifest changes): the hosts'
# memory views, read once rather than per request (a pod session has one per host).
_HOST_VIEWS: weakref.WeakKeyDictionary[ProfileData, list[dict[str, Any]]] = \
    weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _host_views(data: ProfileData) -> list[dict[str, Any]]:
    with _LOCK:
        cached = _HOST_VIEWS.get(data)
    if cached is not None:
        return cached
    derived = layout.Derived.of(data.record)
    out = []
    for h in data.manifest["hosts"]:
        try:
            out.append(data.store.read_json(derived.memory(h["host"])))
        except NotFound:
            continue
    with _LOCK:
        _HOST_VIEWS[data] = out
    return out


def _ran_ns(data: ProfileData) -> dict[tuple[str, int], int]:
    try:
        rows = data.analysis("ops").get("by_program", [])
    except Exception:  # the op table is not there: no run times, the peak decides
        return {}
    return {(r["module"], int(r["program_id"])): int(r.get("self_ns") or 0) for r in rows}


def capacity(data: ProfileData, views: list[dict[str, Any]]) -> dict[str, Any]:
    """What the device holds: the device allocator's capacity, else the device plane's
    memory size, else the vendor table by device kind, else the host's RAM (CPU)."""
    device = [a for v in views for a in (v.get("allocators") or {}).get("allocators", [])
              if "host" not in a["name"].lower()]
    if device:
        a = max(device, key=lambda a: a["capacity_bytes"])
        return {"bytes": a["capacity_bytes"], "source": "allocator",
                "label": f"{a['name']} capacity (from its allocator events)"}
    for v in views:
        if v.get("device_memory_bytes"):
            return {"bytes": int(v["device_memory_bytes"]), "source": "device",
                    "label": f"{v.get('device_name') or 'device'} memory size (device plane)"}
    kind = str(data.manifest.get("device_kind") or "")
    for key, size, label in DEVICE_MEMORY:
        if key.lower() in kind.lower():
            return {"bytes": size, "source": "device_table", "label": f"device table: {label}"}
    if kind.lower() in ("", "cpu") or "cpu" in kind.lower():
        ram = next((v["host_ram_bytes"] for v in views if v.get("host_ram_bytes")), None)
        if ram:
            return {"bytes": int(ram), "source": "host_ram",
                    "label": "host RAM (CPU capture; the RAM of the machine that ingested "
                             "it: the capture does not record the profiled host's)"}
    return {"bytes": None, "source": None,
            "label": f"unknown: no allocator events and no table entry for {kind!r}"}


def _programs(data: ProfileData, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ran = _ran_ns(data)
    by_id: dict[str, dict[str, Any]] = {}
    for v in views:
        for p in v.get("programs", []):
            if p["id"] not in by_id:
                by_id[p["id"]] = {**p, "host": v["host"],
                                  "ran_ns": ran.get((p["name"], p["program_id"]), 0)}
    return sorted(by_id.values(),
                  key=lambda p: (-p["ran_ns"], -(p.get("peak_heap_bytes") or 0), p["id"]))


def _allocator_summary(views: list[dict[str, Any]]) -> dict[str, Any]:
    allocators = [a for v in views for a in (v.get("allocators") or {}).get("allocators", [])]
    if not views:
        return {"available": False, "reason": OLD_INGEST, "allocators": []}
    if not allocators:
        return {"available": False, "allocators": [],
                "reason": next((v["allocators"]["reason"] for v in views
                                if v.get("allocators")), OLD_INGEST)}
    return {"available": True, "reason": None, "allocators": [
        {k: a[k] for k in ("name", "host", "peak_bytes_in_use", "peak_time_ns",
                           "capacity_bytes", "headroom_bytes")} for a in allocators]}


def overview(data: ProfileData) -> dict[str, Any]:
    """GET .../memory: the program picker, the allocators' summary and the capacity."""
    views = _host_views(data)
    if not views:
        return {"available": False, "reason": OLD_INGEST, "default_program": None,
                "programs": [], "allocators": _allocator_summary(views),
                "capacity": capacity(data, views)}
    programs = _programs(data, views)
    available = [p for p in programs if p.get("available")]
    reason = None
    if not available:
        reason = (programs[0]["reason"] if programs else
                  next((v.get("reason") for v in views if v.get("reason")),
                       "not available because this capture carries no HLO modules"))
    return {"available": bool(available), "reason": reason,
            "default_program": (available or programs or [{"id": None}])[0]["id"],
            "programs": programs, "allocators": _allocator_summary(views),
            "capacity": capacity(data, views)}


@functools.lru_cache(maxsize=16)  # a train step's view is ~1 MB of JSON
def _program_view(store: Any, key: str) -> dict[str, Any]:
    return store.read_json(key)


def find_program(programs: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """A program by `name(program_id)`, its HLO fingerprint or its name (the one that ran
    the most time of that name)."""
    for p in programs:
        if ref in (p["id"], p["fingerprint"], p["memory_key"]):
            return p
    named = [p for p in programs if p["name"] == ref]
    if named:
        return named[0]
    known = ", ".join(p["id"] for p in programs) or "none"
    raise NotFound(f"no program {ref!r} in this profile's memory views (programs: {known})")


def program(data: ProfileData, ref: str, *, memory_space: int | None = None,
            host: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """GET .../memory/programs/<ref>: one program's memory (see docs/api.md)."""
    views = _host_views(data)
    if not views:
        raise NotFound(f"{OLD_INGEST}: no memory views")
    if host is not None:
        views = [v for v in views if v["host"] == host]
        if not views:
            raise NotFound(f"no host {host!r} with memory views in this profile")
    p = find_program(_programs(data, views), ref)
    head = {k: p[k] for k in ("id", "name", "program_id", "fingerprint", "host", "ran_ns")}
    view = _program_view(data.store, layout.Derived.of(data.record).memory_program(
        p["memory_key"]))
    if not view.get("available"):
        return {"available": False, "reason": view.get("reason"), **head}
    spaces = view["memory_spaces"]
    space = memory_space if memory_space is not None else (0 if 0 in spaces else spaces[0])
    if space not in spaces:  # a valid number, of a space this program does not use
        raise NotFound(f"memory_space {space} is not used by {p['id']} "
                       f"(memory spaces: {', '.join(map(str, spaces))})")
    s = view["spaces"][str(space)]
    cap = capacity(data, views)
    return {"available": True, "reason": None, **head, "memory_spaces": spaces,
            **{k: v for k, v in s.items() if k != "buffers"},
            "buffers": s["buffers"][:limit],
            "capacity": cap,
            "headroom_bytes": (cap["bytes"] - s["peak_heap_bytes"]) if cap["bytes"] else None}


def allocators(data: ProfileData, host: str | None = None) -> dict[str, Any]:
    """GET .../memory/allocators: each allocator's timeline, peak and live allocations."""
    views = _host_views(data)
    if not views:
        return {"available": False, "reason": OLD_INGEST, "allocators": []}
    if host is not None:
        views = [v for v in views if v["host"] == host]
        if not views:
            raise NotFound(f"no host {host!r} with memory views in this profile")
    out = [a for v in views for a in (v.get("allocators") or {}).get("allocators", [])]
    if not out:
        return {"available": False, "allocators": [],
                "reason": next((v["allocators"]["reason"] for v in views
                                if v.get("allocators")), OLD_INGEST)}
    return {"available": True, "reason": None, "allocators": out}


def diff(data_a: ProfileData, data_b: ProfileData, ref: str | None = None,
         limit: int = 50) -> dict[str, Any]:
    """GET /api/v1/diff/memory: one program's peak in A and B (by name: program ids differ
    between runs), and the buffers at the peak that changed (`analysis.diff.memory_diff`)."""
    from xdiag.analysis.diff import memory_diff

    oa = overview(data_a)
    if not oa["programs"]:
        return {"available": False, "reason": f"A: {oa['reason']}", "program": ref}
    pa = find_program(oa["programs"], ref or oa["default_program"])
    ob = overview(data_b)
    named = [p for p in ob["programs"] if p["name"] == pa["name"]]
    if not named:
        return {"available": False, "program": pa["name"],
                "reason": f"not available because B has no program named {pa['name']!r}"}
    va = program(data_a, pa["id"], limit=MAX_LIMIT)
    vb = program(data_b, named[0]["id"], limit=MAX_LIMIT)
    for side, v in (("A", va), ("B", vb)):
        if not v["available"]:
            return {"available": False, "program": pa["name"],
                    "reason": f"{side}: {v['reason']}"}
    return {"program": pa["name"], "a": va["id"], "b": vb["id"],
            **memory_diff(va, vb, limit=limit)}
