"""/api/v1/profiles/<id>/...: timeline, events, search and the analyses; /api/v1/diff."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from xdiag.server.auth import requires
from xdiag.server.context import services
from xdiag.server.params import NOT_BLANK, PROFILE_ID, Flag, Int, IntList, Text, query
from xdiag.serving import wire
from xdiag.serving.events import details as event_details
from xdiag.serving.profile import MAX_WIDTH, ProfileData
from xdiag.serving.search import SEARCH_LIMIT
from xdiag.serving.search import search as search_events

bp = Blueprint("queries", __name__, url_prefix="/api/v1")


def _data(pid: str, *, early: bool = False) -> ProfileData:
    """The profile's views. `early`: the timeline endpoints answer as soon as the index is
    written, while ingest still computes the op and step tables (409 until then)."""
    svc = services()
    return svc.views.get(svc.profiles.get(pid), early=early)


@bp.get("/profiles/<pid>/tracks")
@requires("viewer", profile_arg="pid")
def tracks(pid: str) -> Any:
    """Tracks in display order, the time span and step markers."""
    return Response(_data(pid, early=True).tracks_json(), mimetype="application/json")


@bp.get("/profiles/<pid>/timeline")
@requires("viewer", profile_arg="pid")
@query(Int("start_ns", "window start, ns from the profile start", default=0),
       Int("end_ns", "window end (default: the profile's end)"),
       Int("width", "viewport width in pixels", default=1000, lo=1, hi=MAX_WIDTH),
       IntList("tracks", "comma-separated track ids (default: all)", lo=0, hi=2**31 - 1),
       Text("format", "json for JSON; binary otherwise", default="binary",
            choices=("binary", "json")))
def timeline(pid: str, start_ns: int, end_ns: int | None, width: int,
             tracks: list[int] | None, format: str) -> Any:
    """Slices in a viewport, about two per pixel per depth (binary; format=json for JSON)."""
    d = _data(pid, early=True)
    body = wire.Body()
    header, cols = d.timeline(start_ns, d.end_ns if end_ns is None else end_ns, width,
                              tracks or None, columns=body.columns if format != "json" else None)
    if format == "json":
        strings, cols = header["strings"], wire.widen(header, cols)
        slices = [{"id": int(i), "name": strings[int(n)], "track": int(t), "depth": int(dp),
                   "start_ns": float(s), "dur_ns": float(du)}
                  for s, du, i, n, t, dp in zip(cols["start_ns"], cols["dur_ns"], cols["id"],
                                                cols["name"], cols["track"], cols["depth"],
                                                strict=True)]
        return jsonify({k: header[k] for k in ("start_ns", "end_ns", "width",
                                               "bucket_ns", "tracks")}
                       | {"version": wire.VERSION, "slices": slices})
    return Response(body.encode(header), mimetype=wire.MIME,
                    headers={"Cache-Control": "private, max-age=3600"})


@bp.get("/profiles/<pid>/events/<int(max=4294967295):eid>")
@requires("viewer", profile_arg="pid")
def event(pid: str, eid: int) -> Any:
    """All details of one event."""
    return jsonify(event_details(_data(pid, early=True), eid))


@bp.get("/profiles/<pid>/search")
@requires("viewer", profile_arg="pid")
@query(Text("q", "substring of event names or op scopes (any case)", required=True,
            pattern=NOT_BLANK, what="a text that is not only spaces"),
       Int("after_ns", "the next page: events starting after this time"),
       Int("limit", "events per page", default=100, lo=1, hi=SEARCH_LIMIT))
def search(pid: str, q: str, after_ns: int | None, limit: int) -> Any:
    """Events whose name contains q (case-insensitive), over the whole profile, in time order."""
    return jsonify(search_events(_data(pid, early=True), q, after_ns, limit))


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
@query(Text("op", "the instruction whose neighbourhood to graph"),
       Int("hops", "graph radius around op", default=2, lo=0, hi=8),
       Flag("expand", "expand fusions (1/true/all)", default=False))
def hlo_module(pid: str, module: str, op: str | None, hops: int, expand: bool) -> Any:
    """HLO text of a module and the graph around `op`."""
    from xdiag.serving.hlo import module_view

    d = _data(pid)
    return jsonify(module_view(d, module, op=op, hops=hops, expand=expand))


@bp.get("/profiles/<pid>/export")
@requires("viewer", profile_arg="pid")
@query(Text("format", "perfetto (the only format)", default="perfetto", choices=("perfetto",)))
def export(pid: str, format: str) -> Any:
    """The whole timeline as a Perfetto trace (every event; streamed)."""
    from xdiag.serving.export import perfetto_packets

    d = _data(pid)
    return Response(perfetto_packets(d), mimetype="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{pid}.perfetto-trace"'})


@bp.get("/diff")
@requires("viewer")
@query(Text("a", "profile id (baseline)", required=True, **PROFILE_ID),
       Text("b", "profile id (compared)", required=True, **PROFILE_ID))
def diff(a: str, b: str) -> Any:
    """Compare two profiles: per-op time deltas and step time."""
    from xdiag.analysis.diff import diff_findings, diff_views
    from xdiag.serving.diagnosis import diagnosis

    da, db = _data(a), _data(b)
    return jsonify({**diff_views(a, b, da.analysis("ops"), db.analysis("ops"),
                                 da.analysis("steps"), db.analysis("steps"),
                                 span_a_ns=da.end_ns, span_b_ns=db.end_ns),
                    "findings": diff_findings(diagnosis(da), diagnosis(db))})


