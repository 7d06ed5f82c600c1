"""/api/v1/captures: start a capture of every live host of a job, and follow it."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify

from xdiag.core.errors import Forbidden, NotFound
from xdiag.core.names import check_name
from xdiag.pipeline.capture import CaptureRequest
from xdiag.server.auth import authorize, requires
from xdiag.server.context import base_url, json_body, services
from xdiag.server.params import Int, Text, query
from xdiag.serving.early import timeline_ready

bp = Blueprint("captures", __name__, url_prefix="/api/v1")

WAIT_MAX_S = 25  # below proxies' idle timeouts, as the profile's long poll


@bp.post("/captures")
@requires("editor")
def capture_start() -> Any:
    body = json_body()
    req = CaptureRequest.from_json(body)
    svc = services()
    if req.targets:
        if not svc.settings.allow_arbitrary_targets:
            raise Forbidden("capturing unregistered host:port targets is disabled: register the "
                            "job with xdiag.agent.start(...), or start the service with "
                            "XDIAG_ALLOW_ARBITRARY_TARGETS=1")
        authorize(svc, "admin")
    cap = svc.captures.start(req, base_url=base_url(), wait=bool(body.get("wait")))
    return jsonify(cap), (200 if body.get("wait") else 202)


@bp.get("/captures/<cid>")
@requires("viewer")
@query(Text("wait", "timeline | done: answer when the captured profile's timeline can be "
            "opened (or the capture has ended) / when the capture has ended",
            default="", choices=("timeline", "done")),
       Text("state", "with wait: answer at once if the capture's state is no longer this "
            "one (the state the caller last saw)", default=""),
       Int("timeout", f"seconds to wait at most (default 10, max {WAIT_MAX_S})", default=10,
           lo=0, hi=WAIT_MAX_S))
def capture_get(cid: str, wait: str, state: str, timeout: int) -> Any:
    """The capture's progress. `wait=timeline` holds the answer until its profile's
    timeline can be opened (`timeline_ready`: the CLI prints the link then), `wait=done`
    until it has ended; either answers earlier when the state moves past `state`, and
    after `timeout` seconds at most: a client follows a capture without polling."""
    svc = services()
    cid = check_name(cid, "capture")
    changes = svc.live.changes
    deadline = time.monotonic() + (timeout if wait else 0)
    while True:
        seen = changes.count
        cap = svc.captures.get(cid)
        if cap.get("profile_id"):
            try:
                record = svc.profiles.get(cap["profile_id"])
            except NotFound:  # deleted meanwhile
                record = {"status": "deleted"}
            cap["profile_status"] = record["status"]
            cap["timeline_ready"] = record["status"] == "ready" or (
                record["status"] == "ingesting" and
                timeline_ready(svc.store, svc.live.early, record))
        ended = cap["state"] in ("done", "failed")
        settled = ended or (wait == "timeline" and cap.get("timeline_ready"))
        left = deadline - time.monotonic()
        if not wait or settled or (state and cap["state"] != state) or left <= 0:
            return jsonify(cap)
        # A capture run by another replica sends no notice: look again.
        changes.wait(seen, min(left, svc.store.recheck_s))
