"""/api/v1/profiles/<id>/...: timeline, events, search and the analyses; /api/v1/diff."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from xdiag.errors import BadRequest
from xdiag.server import wire
from xdiag.server.authz import requires
from xdiag.server.context import query_int, services
from xdiag.views import ProfileData

bp = Blueprint("views", __name__, url_prefix="/api/v1")


def _data(pid: str, *, early: bool = False) -> ProfileData:
    """The profile's views. `early`: the timeline endpoints answer as soon as the index is
    written, while ingest still computes the op and step tables (409 until then)."""
    svc = services()
    return svc.views.get(svc.profiles.get(pid), early=early)


@bp.get("/profiles/<pid>/tracks")
@requires("viewer", profile_arg="pid")
def tracks(pid: str) -> Any:
    """Tracks in display order, the time span and step markers."""
    d = _data(pid, early=True)
    return jsonify({"start_ns": 0, "end_ns": d.end_ns, "tracks": d.tracks,
                    "steps": d.manifest["steps"], "hosts": [h["host"] for h in d.manifest["hosts"]],
                    "complete": d.complete})


@bp.get("/profiles/<pid>/timeline")
@requires("viewer", profile_arg="pid")
def timeline(pid: str) -> Any:
    """Slices in a viewport, about two per pixel per depth (binary; format=json for JSON)."""
    d = _data(pid, early=True)
    start = query_int("start_ns", 0)
    end = query_int("end_ns", d.end_ns)
    width = query_int("width", 1000)
    raw_tracks = request.args.get("tracks")
    tracks = None
    if raw_tracks:
        try:
            tracks = [int(t) for t in raw_tracks.split(",") if t.strip()]
        except ValueError:
            raise BadRequest("tracks must be a comma-separated list of track ids") from None
    header, cols = d.timeline(start, end, width, tracks)
    if request.args.get("format") == "json":
        strings = header["strings"]
        slices = [{"id": int(i), "name": strings[int(n)], "track": int(t), "depth": int(dp),
                   "start_ns": float(s), "dur_ns": float(du)}
                  for s, du, i, n, t, dp in zip(cols["start_ns"], cols["dur_ns"], cols["id"],
                                                cols["name"], cols["track"], cols["depth"],
                                                strict=True)]
        return jsonify({k: header[k] for k in ("version", "start_ns", "end_ns", "width",
                                               "bucket_ns", "tracks")} | {"slices": slices})
    return Response(wire.encode(header, cols), mimetype="application/x-xdiag-timeline",
                    headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/profiles/<pid>/events/<int:eid>")
@requires("viewer", profile_arg="pid")
def event(pid: str, eid: int) -> Any:
    """All details of one event."""
    return jsonify(_data(pid, early=True).event(eid))


@bp.get("/profiles/<pid>/search")
@requires("viewer", profile_arg="pid")
def search(pid: str) -> Any:
    """Events whose name contains q (case-insensitive), over the whole profile, in time order."""
    after = request.args.get("after_ns")
    return jsonify(_data(pid, early=True).search(request.args.get("q", ""),
                                     int(float(after)) if after not in (None, "") else None,
                                     query_int("limit", 100, lo=1)))


def _stored_json(body: bytes) -> Response:
    return Response(body, mimetype="application/json")


@bp.get("/profiles/<pid>/ops")
@requires("viewer", profile_arg="pid")
def ops(pid: str) -> Any:
    """Op statistics per module and HLO op, by category and by program."""
    return _stored_json(_data(pid).analysis_json("ops"))


@bp.get("/profiles/<pid>/roofline")
@requires("viewer", profile_arg="pid")
def roofline(pid: str) -> Any:
    """Roofline points per op and per program, with the peaks used."""
    return _stored_json(_data(pid).analysis_json("roofline"))


@bp.get("/profiles/<pid>/steps")
@requires("viewer", profile_arg="pid")
def steps(pid: str) -> Any:
    """Steps with their time breakdown and MFU."""
    return _stored_json(_data(pid).analysis_json("steps"))


@bp.get("/profiles/<pid>/hlo")
@requires("viewer", profile_arg="pid")
def hlo_modules(pid: str) -> Any:
    """HLO modules of the profile."""
    mods = _data(pid).manifest["modules"]
    return jsonify({"modules": [{**m, "id": f"{m['name']}({m['program_id']})"} for m in mods]})


@bp.get("/profiles/<pid>/hlo/<module>")
@requires("viewer", profile_arg="pid")
def hlo_module(pid: str, module: str) -> Any:
    """HLO text of a module and the graph around `op`."""
    from xdiag.hlo_views import module_view

    d = _data(pid)
    expand = request.args.get("expand", "")
    return jsonify(module_view(d, module, op=request.args.get("op") or None,
                               hops=query_int("hops", 2, lo=0, hi=8),
                               expand=expand in ("1", "true", "all")))


@bp.get("/profiles/<pid>/export")
@requires("viewer", profile_arg="pid")
def export(pid: str) -> Any:
    """The whole timeline as a Perfetto trace (every event; streamed)."""
    from xdiag.export import perfetto_packets

    if request.args.get("format", "perfetto") != "perfetto":
        raise BadRequest("format must be 'perfetto'")
    d = _data(pid)
    return Response(perfetto_packets(d), mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{pid}.perfetto-trace"'})


@bp.get("/diff")
@requires("viewer")
def diff() -> Any:
    """Compare two profiles: per-op time deltas and step time."""
    from xdiag.analysis.diff import diff_views

    a, b = request.args.get("a"), request.args.get("b")
    if not a or not b:
        raise BadRequest("diff needs two profile ids: ?a=<id>&b=<id>")
    da, db = _data(a), _data(b)
    return jsonify(diff_views(a, b, da.analysis("ops"), db.analysis("ops"),
                              da.analysis("steps"), db.analysis("steps"),
                              span_a_ns=da.end_ns, span_b_ns=db.end_ns))


