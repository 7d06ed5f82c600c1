"""Ingest's memory step for one host file: the memory views, derived once.

Per program the host's metadata plane carries (`analysis.memory.program_memory`, on
the `xla.HloProto` with its buffer assignment): one JSON per distinct HloProto, keyed by
its hash (`Derived.memory_program`), so the hosts of an SPMD job share it. Per host: its
allocators' memory profile (`analysis.allocators`; a second lean read of the raw file
for their stats, only when the host plane declares allocation events: GPU/TPU), the
device's memory size when a device plane states it, and the list of programs
(`Derived.memory`). A failure here is recorded in the view ("not available because
...") and never fails the ingest.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from xdiag.store import ObjectStore, layout

log = logging.getLogger("xdiag.ingest")

def _host_ram_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:
        return None


def _programs(store: ObjectStore, derived: layout.Derived, cols: Any) -> list[dict[str, Any]]:
    from xdiag.analysis.memory import program_memory, summary
    from xdiag.xplane.hlo import hlo_modules

    out = []
    for ref in hlo_modules(cols):
        key = hashlib.sha256(ref.hlo_proto).hexdigest()[:16]
        mkey = derived.memory_program(key)
        if store.exists(mkey):
            view = store.read_json(mkey)
        else:
            try:
                view = program_memory(ref.hlo_proto)
            except Exception as exc:  # one odd module must not fail the profile
                log.exception("memory view of %s failed", ref.metadata_name)
                view = {"available": False,
                        "reason": f"not available because the memory analysis failed: {exc}"}
            store.write_json(mkey, view)
        out.append({"id": f"{ref.name}({ref.program_id})", "name": ref.name,
                    "program_id": ref.program_id,
                    # the HLO view's key (`serving/hlo.py`): the module proto's hash
                    "fingerprint": hashlib.sha256(ref.proto).hexdigest()[:16],
                    "memory_key": key, **summary(view)})
    return out


def _device_memory(cols: Any) -> tuple[int | None, str]:
    for p in cols.planes:
        if p.name.startswith("/device:"):
            size = p.stats.get("memory_size")
            name = str(p.stats.get("gpu_device_name") or p.stats.get("device_type_name")
                       or p.name.split(":")[1])
            return (int(size) if size else None), name
    return None, "cpu"


def derive_memory(store: ObjectStore, derived: layout.Derived, host: str, cols: Any,
                  t0_ns: int, open_raw: Callable[[], Any]) -> dict[str, Any]:
    """Write the host's memory views (see the module docstring); return their summary.

    Args:
        cols: the host's lean columns (their planes' metadata is read; the per-event
            columns may be released).
        t0_ns: the profile's start (absolute ns).
        open_raw: returns the raw host file (a buffer or a path), for the allocators'
            stats; called only when the host plane declares allocation events.
    """
    from xdiag.analysis.allocators import (
        NO_EVENTS,
        STATS,
        allocator_events,
        allocator_profile,
        has_allocator_events,
    )
    from xdiag.xplane.lean import read_xspace_lean

    t = time.perf_counter()
    try:
        programs = _programs(store, derived, cols)
    except Exception as exc:
        log.exception("memory views of host %s failed", host)
        programs = []
        reason = f"not available because the memory analysis failed: {exc}"
    else:
        reason = None if programs else ("not available because this capture carries no "
                                         "HLO modules (no XLA program ran in it)")
    try:
        if has_allocator_events(cols):
            allocators = allocator_profile(allocator_events(
                read_xspace_lean(open_raw(), stats=STATS), t0_ns))
            for a in allocators["allocators"]:
                a["host"] = host
        else:
            allocators = {"available": False, "reason": NO_EVENTS, "allocators": []}
    except Exception as exc:
        log.exception("memory profile of host %s failed", host)
        allocators = {"available": False, "allocators": [],
                      "reason": f"not available because reading the allocator events failed: {exc}"}
    device_bytes, device_name = _device_memory(cols)
    view = {"format": 1, "host": host, "available": bool(programs), "reason": reason,
            "programs": programs, "allocators": allocators,
            "device_memory_bytes": device_bytes, "device_name": device_name,
            "host_ram_bytes": _host_ram_bytes(),
            "seconds": round(time.perf_counter() - t, 4)}
    store.write_json(derived.memory(host), view)
    return {"seconds": view["seconds"], "programs": len(programs)}


def raw_opener(store: ObjectStore, raw_key: str, tmpdir: str, buf: Any) -> Callable[[], Any]:
    """`open_raw` for `derive_memory`: the mapped file if ingest has it open, else the
    store's local path, else a download into `tmpdir`."""
    def open_raw() -> Any:
        if buf is not None:
            return buf
        path = store.local_path(raw_key)
        if path is None:
            from pathlib import Path

            path = Path(tmpdir) / "raw-memory.xplane.pb"
            store.download_to(raw_key, path)
        return path
    return open_raw
