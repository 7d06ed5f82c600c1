"""`xdiag memory PROFILE [--program P] [--json]`: where the bytes at a program's peak go.

Reads the memory endpoints (`/api/v1/profiles/<id>/memory...`): the program picker's
default (the program that ran the most time) unless `--program` names one, its peak,
the buffers live there, grouped by category and JAX named scope, the allocators'
peaks and the headroom against the device's capacity.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

from xdiag.cli.client import Client

MIB = 1 << 20


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    if abs(n) >= 1 << 30:
        return f"{n / (1 << 30):,.2f} GiB"
    if abs(n) >= MIB:
        return f"{n / MIB:,.2f} MiB"
    if abs(n) >= 1024:
        return f"{n / 1024:,.1f} KiB"
    return f"{n} B"


def fetch(client: Client, profile: str, program: str | None, limit: int) -> dict[str, Any]:
    """The overview, one program's view (the default one unless named) and the
    allocators, as one object."""
    base = f"/api/v1/profiles/{urllib.parse.quote(profile, safe='~')}/memory"
    overview = client.get(base)
    ref = program or overview.get("default_program")
    view = None
    if ref:
        view = client.get(f"{base}/programs/{urllib.parse.quote(ref, safe='()')}",
                          params={"limit": limit})
    return {"profile": profile, "overview": overview, "program": view,
            "allocators": client.get(f"{base}/allocators")}


def human(out: dict[str, Any]) -> str:
    o, v = out["overview"], out["program"]
    lines = []
    if not o.get("available") and not o.get("programs"):
        lines.append(o.get("reason") or "no memory views")
    else:
        lines.append("programs (most run time first):")
        for p in o["programs"]:
            mark = "*" if p["id"] == (v or {}).get("id") else " "
            peak = _size(p.get("peak_heap_bytes")) if p.get("available") else p.get("reason")
            lines.append(f" {mark} {p['id']:<40} peak {peak}  ran {p['ran_ns'] / 1e6:,.2f} ms")
    if v is not None:
        lines.append("")
        if not v.get("available"):
            lines.append(f"{v['id']}: {v.get('reason')}")
        else:
            cap = v.get("capacity") or {}
            lines.append(f"{v['id']} on {v['host']} (memory space {v['memory_space']}):")
            lines.append(f"  peak heap {_size(v['peak_heap_bytes'])} "
                         f"(unpadded {_size(v['peak_unpadded_heap_bytes'])}) at "
                         f"{v['peak_instruction'] or 'position ' + str(v['peak_position'])}")
            lines.append(f"  entry parameters {_size(v['entry_parameters_bytes'])}, "
                         f"maybe-live-out {_size(v['maybe_live_out_bytes'])}")
            if cap.get("bytes"):
                lines.append(f"  headroom {_size(v['headroom_bytes'])} of "
                             f"{_size(cap['bytes'])} ({cap['label']})")
            lines.append("  by category: " + ", ".join(
                f"{g['key']} {_size(g['bytes'])}" for g in v["groups"]["by_category"]))
            lines.append("  by scope:    " + ", ".join(
                f"{g['key']} {_size(g['bytes'])}" for g in v["groups"]["by_scope"][:8]))
            lines.append("  largest buffers at the peak:")
            for b in v["buffers"][:15]:
                src = b.get("source") or {}
                where = f"{src['file'].rsplit('/', 1)[-1]}:{src['line']}" if src else ""
                lines.append(f"    {_size(b['size_bytes']):>12}  {b['shape']:<28} "
                             f"{b['instruction']:<28} {b['category']:<15} "
                             f"{b['scope'] or '-':<12} {where}")
    a = out["allocators"]
    lines.append("")
    if not a.get("available"):
        lines.append(f"allocators: {a.get('reason')}")
    else:
        for al in a["allocators"]:
            lines.append(f"allocator {al['name']} ({al['host']}): peak "
                         f"{_size(al['peak_bytes_in_use'])} at "
                         f"{al['peak_time_ns'] / 1e6:,.3f} ms of {_size(al['capacity_bytes'])}"
                         f", headroom {_size(al['headroom_bytes'])}")
    return "\n".join(lines)


def run(client: Client, as_json: bool, profile: str, program: str | None, limit: int,
        emit: Callable[[Any, bool, Callable[[Any], str]], None]) -> None:
    emit(fetch(client, profile, program, limit), as_json, human)
