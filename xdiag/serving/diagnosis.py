"""The diagnosis views of a profile, as ingest stored them (`analysis/diagnosis`), for the
API and the CLI: findings (with the memory rule applied here, when the profile has a
memory view), the framework tree (source lines filled in from the HLO modules, once per
opened profile) and the hosts x steps view (one host's per-device breakdown on request).

A profile ingested before the diagnosis existed has none of these files: the answer says
so (`available: false`), it is not an error.
"""

from __future__ import annotations

import functools
import threading
import weakref
from typing import Any

from xdiag.analysis.diagnosis import rules, scopes
from xdiag.core import jsonio
from xdiag.core.errors import NotFound
from xdiag.serving.profile import ProfileData
from xdiag.store import layout

NOT_AVAILABLE = ("not available for this profile (ingested by an older version of xdiag, "
                 "before the diagnosis existed; re-ingest it: xdiag ingest PROFILE)")

_cache: weakref.WeakKeyDictionary[ProfileData, dict[str, Any]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _stored(data: ProfileData, name: str) -> dict[str, Any]:
    data.require_complete(name)
    with _lock:
        per = _cache.setdefault(data, {})
        if name in per:
            return per[name]
    try:
        view = jsonio.loads(data.store.read(layout.Derived.of(data.record).view(name)))
    except NotFound:
        view = {"available": False, "reason": NOT_AVAILABLE}
    view.setdefault("available", True)
    with _lock:
        _cache.setdefault(data, {})[name] = view
    return view


def _memory(data: ProfileData) -> dict[str, Any] | None:
    """Per device, the peak memory in use against the capacity, from the memory views
    (`serving/memory.py`): the device allocators' peaks where the capture has them, else
    the buffer assignment's peak heap of each program that ran against the device's
    memory (not the host's RAM: a CPU capture's devices are not near any limit there).
    None: the profile has no memory views."""
    from xdiag.serving import memory

    try:
        view = memory.overview(data)
    except NotFound:
        return None
    cap = view.get("capacity") or {}
    devices = [{"host": a.get("host"), "device": a["name"], "peak_bytes": a["peak_bytes_in_use"],
                "capacity_bytes": a["capacity_bytes"], "source": "allocator"}
               for a in (view.get("allocators") or {}).get("allocators", [])
               if "host" not in a["name"].lower() and a.get("capacity_bytes")]
    if not devices and cap.get("bytes") and cap.get("source") in ("device", "device_table"):
        devices = [{"host": p.get("host"), "device": p["id"], "peak_bytes": p["peak_heap_bytes"],
                    "capacity_bytes": cap["bytes"], "source": "buffer assignment"}
                   for p in view.get("programs", [])
                   if p.get("available") and p.get("ran_ns") and p.get("peak_heap_bytes")]
    if not view.get("available") and not devices:
        return None
    return {"devices": devices}


def diagnosis(data: ProfileData) -> dict[str, Any]:
    """The ranked findings, the rule table and the rules skipped."""
    view = _stored(data, "diagnosis")
    if not view.get("available"):
        return view
    with _lock:
        done = _cache.get(data, {}).get("_diagnosis_with_memory")
    if done is not None:
        return done
    out = _with_memory(_capped(view), _memory(data))
    with _lock:
        _cache.setdefault(data, {})["_diagnosis_with_memory"] = out
    return out


def _capped(view: dict[str, Any]) -> dict[str, Any]:
    """A diagnosis stored before `cost_share` was capped at 1 (a step cannot lose more
    than it lasts), with it capped."""
    if all((f.get("cost_share") or 0) <= 1 for f in view.get("findings", [])):
        return view
    return {**view, "findings": [{**f, "cost_share": min(f["cost_share"], 1.0)}
                                 if (f.get("cost_share") or 0) > 1 else f
                                 for f in view["findings"]]}


def _with_memory(view: dict[str, Any], memory: dict[str, Any] | None) -> dict[str, Any]:
    """The stored diagnosis with the memory rule applied (the memory views are read at
    request time: they are not an input of the ingest's diagnosis)."""
    if memory is None:
        return view
    th = rules.THRESHOLDS["memory_capacity"]
    x = rules.Inputs(device_kind=view.get("device_kind", "cpu"), hosts=[], ops={},
                     roofline={}, steps={}, memory=memory)
    summ = view.get("summary") or {}
    extra = [f.to_json(summ.get("period_ns") or summ.get("step_ns"))
             for f in rules.memory_capacity(x, th)]
    out = {**view, "skipped": [s for s in view.get("skipped", [])
                               if s.get("rule") != "memory_capacity"]}
    if extra:
        # Memory is a risk, not time: it costs 0 per step and ranks after the rest.
        out["findings"] = [*view["findings"], *extra]
        out["rules"] = [{**r, "fired": True} if r["rule"] == "memory_capacity" else r
                        for r in view.get("rules", [])]
    return out


@functools.lru_cache(maxsize=16)
def _sources(proto: bytes) -> dict[str, str]:
    from xdiag.analysis.hlo.module import parse_module

    try:
        module = parse_module(proto)
    except Exception:  # an odd module: no source lines, not an error
        return {}
    return {i.name: i.source for i in module.instructions() if i.source}


def framework(data: ProfileData) -> dict[str, Any]:
    """The framework tree, each node's `source` (file:line of its top op) filled in."""
    view = _stored(data, "framework")
    if not view.get("available") or view.get("_sources_filled"):
        return view
    fps = {(m["name"], m["program_id"]): m["fingerprint"]
           for m in data.manifest.get("modules", [])}
    derived = layout.Derived.of(data.record)
    for node in scopes.nodes(view["root"]):
        op = node.get("op")
        fp = fps.get((op["module"], op["program_id"])) if op else None
        if fp is None:
            continue
        try:
            src = _sources(data.store.read(derived.hlo(fp)))
        except NotFound:
            continue
        node["source"] = src.get(op["op"])
    view["_sources_filled"] = True
    return view


def hosts_steps(data: ProfileData, host: str | None = None) -> dict[str, Any]:
    """Every host's steps; with `host`, that host's per-device breakdown too."""
    view = _stored(data, "hosts_steps")
    if not view.get("available"):
        return view
    out = {k: v for k, v in view.items() if k != "device_breakdown"}
    if host is not None:
        breakdown = view.get("device_breakdown") or {}
        if host not in breakdown:
            known = ", ".join(sorted(breakdown)) or "none with steps"
            raise NotFound(f"no host {host!r} with steps in profile "
                           f"{data.record['id']!r} (hosts: {known})")
        out["device_breakdown"] = breakdown[host]
    return out


def public(view: dict[str, Any]) -> dict[str, Any]:
    """A view without its internal markers."""
    return {k: v for k, v in view.items() if not k.startswith("_")}
