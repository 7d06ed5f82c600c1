"""The GPU kernel statistics of a profile for the API (stock xprof's `kernel_stats`).

Derived at ingest per host (`analysis/kernel_stats.py`, `hosts/<host>.kernels.json`);
a request reads those files and merges the hosts' rows of one kernel and launch shape.
A GPU profile ingested before these views existed answers "not available"; a profile
without a GPU has no kernels.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

from xdiag.core.errors import NotFound
from xdiag.serving.profile import ProfileData
from xdiag.store import layout

OLD_INGEST = ("not available for this profile (ingested by an older version of xdiag, "
              "before the kernel statistics existed; re-ingest it: xdiag ingest PROFILE)")
NO_GPU = "no GPU kernels: this profile has no GPU device"
SORTS = ("total_ns", "launches", "avg_ns", "max_ns", "name")
_KEY = ("name", "grid", "block", "registers_per_thread", "static_shared_bytes",
        "dynamic_shared_bytes")
_memo: weakref.WeakKeyDictionary[ProfileData, dict[str, Any]] = weakref.WeakKeyDictionary()


def _is_gpu(data: ProfileData) -> bool:
    kind = str(data.manifest.get("device_kind") or "").lower()
    return any(t.get("lanes") for t in data.tracks) or "gpu" in kind or "nvidia" in kind


def _merged(data: ProfileData) -> dict[str, Any]:
    """The hosts' rows merged by kernel and launch shape (memoised per opened profile)."""
    got = _memo.get(data)
    if got is not None:
        return got
    derived = layout.Derived.of(data.record)
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    hosts, missing = [], []
    for h in data.manifest["hosts"]:
        try:
            cols = data.store.read_json(derived.kernels(h["host"]))["kernels"]
        except NotFound:
            missing.append(h["host"])
            continue
        hosts.append(h["host"])
        for values in zip(*cols.values(), strict=True):
            r = dict(zip(cols, values, strict=True))
            key = tuple(tuple(v) if isinstance(v, list) else v for v in (r[k] for k in _KEY))
            have = rows.get(key)
            if have is None:
                rows[key] = {**r, "hosts": [h["host"]]}
                continue
            t = have["total_ns"] + r["total_ns"]
            n = have["launches"] + r["launches"]
            have.update(total_ns=t, launches=n, avg_ns=t / max(n, 1),
                        min_ns=min(have["min_ns"], r["min_ns"]),
                        max_ns=max(have["max_ns"], r["max_ns"]),
                        ops=max(have["ops"], r["ops"]))
            have["hosts"].append(h["host"])
    out = {"rows": list(rows.values()), "hosts": hosts, "missing": missing}
    _memo[data] = out
    return out


def kernel_stats(data: ProfileData, *, q: str = "", sort: str = "total_ns",
                 limit: int = 500) -> dict[str, Any]:
    """GET .../kernels: per kernel and launch shape, longest total first (see docs/api.md)."""
    data.require_complete("kernel statistics")
    if not _is_gpu(data):
        return {"available": False, "reason": NO_GPU, "kernels": [], "total": 0,
                "summary": None}
    merged = _merged(data)
    if not merged["hosts"]:
        return {"available": False, "reason": OLD_INGEST, "kernels": [], "total": 0,
                "summary": None}
    rows = merged["rows"]
    if q:
        low = q.lower()
        rows = [r for r in rows if low in r["name"].lower() or low in (r["op"] or "").lower()]
    reverse = sort != "name"
    rows = sorted(rows, key=functools.partial(_sort_key, sort), reverse=reverse)
    every = merged["rows"]
    total_ns = sum(r["total_ns"] for r in every)
    summary = {
        "kernels": len({r["name"] for r in every}),
        "launches": sum(r["launches"] for r in every),
        "total_ns": total_ns,
        # Time in kernels whose name says they ran on tensor cores, and in those the
        # capture cannot tell.
        "tensor_core_ns": sum(r["total_ns"] for r in every if r["tensor_core"] is True),
        "tensor_core_unknown_ns": sum(r["total_ns"] for r in every if r["tensor_core"] is None),
    }
    return {"available": True, "reason": None,
            "partial": ({"missing_hosts": merged["missing"], "reason": OLD_INGEST}
                        if merged["missing"] else None),
            "summary": summary, "total": len(rows), "kernels": rows[:limit]}


def _sort_key(sort: str, r: dict[str, Any]) -> Any:
    return r[sort] if sort == "name" else (r[sort], r["total_ns"])
