"""/api/v1/profiles/<id>/kernels: GPU kernel statistics (derived at ingest;
`serving/kernels.py`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from xdiag.server.auth import requires
from xdiag.server.context import services
from xdiag.server.params import Int, Text, query
from xdiag.serving import kernels

bp = Blueprint("kernels", __name__, url_prefix="/api/v1")


@bp.get("/profiles/<pid>/kernels")
@requires("viewer", profile_arg="pid")
@query(Text("q", "substring of the kernel name or its op", default=""),
       Text("sort", "total_ns | launches | avg_ns | max_ns | name", default="total_ns",
            choices=kernels.SORTS),
       Int("limit", "rows to return at most", default=500, lo=1, hi=100_000))
def kernel_stats(pid: str, q: str, sort: str, limit: int) -> Any:
    """Per GPU kernel and launch shape: launches, total/avg/min/max time, grid and block,
    registers per thread, shared memory, theoretical occupancy, tensor-core use and the
    op that launched it most (stock xprof's kernel_stats)."""
    svc = services()
    data = svc.views.get(svc.profiles.get(pid))
    return jsonify(kernels.kernel_stats(data, q=q, sort=sort, limit=limit))
