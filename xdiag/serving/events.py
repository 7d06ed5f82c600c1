"""One event's details for the viewer: its stats from the raw host file (the derived
views do not copy them; `xplane/events.py` reads that one event's bytes), its place on
the timeline, and, once ingest has built the op table, its op's category and cost and
its JAX name stack."""

from __future__ import annotations

from typing import Any

import numpy as np

from xdiag.core.errors import NotFound
from xdiag.serving.profile import ProfileData


def details(data: ProfileData, eid: int) -> dict[str, Any]:
    """Everything about event `eid` (the timeline's id) the details panel shows."""
    h, src = data.host_of(eid)
    pos = h.position(src)
    if pos < 0:
        raise NotFound(f"event {eid} is an aggregate without a position on the timeline")
    idx = h.index
    seg = int(np.searchsorted(idx.seg_ptr, pos, side="right")) - 1
    stats = _jsonable(h.events().event_stats(src))
    hlo = None
    if "hlo_op" in stats:
        hlo = {"op": stats.get("hlo_op"), "module": stats.get("hlo_module"),
               "program_id": stats.get("program_id")}
    track = h.track_base + int(idx.seg_track[seg])
    out = {"id": eid, "name": h.names[int(idx.ev_name[pos])], "track": track,
           "host": h.host, "depth": int(idx.seg_depth[seg]),
           "start_ns": int(idx.ev_start[pos]), "dur_ns": int(idx.ev_end[pos] - idx.ev_start[pos]),
           "stats": stats, "hlo": hlo, "category": None, "flops": None, "bytes": None}
    # Cost and category come from the op table: absent (None) until ingest has built it.
    if data.tracks[track].get("kind") == "xla_ops" and data.complete:
        op_name = (hlo or {}).get("op") or out["name"]
        module = (hlo or {}).get("module")
        # A GPU kernel is counted under its own fusion (kernel `x_fusion_3` is op
        # `x_fusion.3`) or name, not under the command buffer its hlo_op names.
        op = op_lookup(data, op_name, module) or op_lookup(data, out["name"], module,
                                                           kernel=True)
        scope = h.scopes().get(int(idx.ev_name[pos]))
        if scope:
            out["scope"] = scope  # the JAX name stack: named scopes, primitive
        if op:
            per = max(op["occurrences"], 1)
            out.update(category=op["category"],
                       flops=None if op["flops"] is None else op["flops"] / per,
                       bytes=None if op["bytes"] is None else op["bytes"] / per)
            if hlo is None:
                out["hlo"] = {"op": op["op"], "module": op["module"],
                              "program_id": op["program_id"]}
    return out


def op_lookup(data: ProfileData, op: str, module: str | None, *,
              kernel: bool = False) -> dict[str, Any] | None:
    """The op table row of `op` (with `kernel`: of the op a GPU kernel of that name ran)."""
    ops = data.analysis("ops")["ops"]
    same = (lambda o: o["op"] == op or o["op"].replace(".", "_") == op) if kernel else \
        (lambda o: o["op"] == op)
    return next((o for o in ops if same(o) and (not module or o["module"] == module)), None)


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in stats.items():
        if isinstance(v, bytes):
            v = f"<{len(v)} bytes>"
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out
