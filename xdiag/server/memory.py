"""/api/v1/profiles/<id>/memory...: the memory viewer per program and the memory profile
per allocator (derived at ingest; `serving/memory.py`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from xdiag.server.auth import requires
from xdiag.server.context import services
from xdiag.server.params import PROFILE_ID, Int, Text, query
from xdiag.serving import memory as mem
from xdiag.serving.profile import ProfileData

bp = Blueprint("memory", __name__, url_prefix="/api/v1")


def _data(pid: str) -> ProfileData:
    svc = services()
    return svc.views.get(svc.profiles.get(pid))


@bp.get("/profiles/<pid>/memory")
@requires("viewer", profile_arg="pid")
def memory(pid: str) -> Any:
    """Programs with their peak memory (default: the one that ran the most time), the
    allocators' peaks and the device capacity headroom is measured against."""
    return jsonify(mem.overview(_data(pid)))


@bp.get("/profiles/<pid>/memory/programs/<program>")
@requires("viewer", profile_arg="pid")
@query(Int("memory_space", "memory space (color) of the buffer assignment (default: 0, "
           "the device's main memory)", lo=0, hi=2**31 - 1),
       Text("host", "host whose buffer assignment to show (default: the first with it)"),
       Int("limit", "buffers at the peak to return, largest first", default=mem.DEFAULT_LIMIT,
           lo=1, hi=mem.MAX_LIMIT))
def memory_program(pid: str, program: str, memory_space: int | None, host: str | None,
                   limit: int) -> Any:
    """One program's memory: peak heap, heap over program order, the buffers live at the
    peak (size, shape, op, source line, scope), grouped by category and named scope."""
    return jsonify(mem.program(_data(pid), program, memory_space=memory_space, host=host,
                               limit=limit))


@bp.get("/profiles/<pid>/memory/allocators")
@requires("viewer", profile_arg="pid")
@query(Text("host", "only this host's allocators"))
def memory_allocators(pid: str, host: str | None) -> Any:
    """Each allocator's bytes in use, reserved and fragmentation over time, its peak and
    capacity, and the allocations live at the peak (GPU/TPU captures)."""
    return jsonify(mem.allocators(_data(pid), host=host))


@bp.get("/diff/memory")
@requires("viewer")
@query(Text("a", "profile id (baseline)", required=True, **PROFILE_ID),
       Text("b", "profile id (compared)", required=True, **PROFILE_ID),
       Text("program", "program name or name(program_id) in A (default: A's default)"),
       Int("limit", "changed buffers to return, largest change first", default=50, lo=1,
           hi=mem.MAX_LIMIT))
def memory_diff(a: str, b: str, program: str | None, limit: int) -> Any:
    """Compare one program's peak memory in two profiles: the peak's change and the
    buffers at the peak that appeared, grew, shrank or went."""
    return jsonify(mem.diff(_data(a), _data(b), program, limit))
