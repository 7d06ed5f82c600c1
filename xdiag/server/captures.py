"""/api/v1/captures: start a capture of every live host of a job, and follow it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from xdiag.core.errors import Forbidden
from xdiag.core.names import check_name
from xdiag.pipeline.capture import CaptureRequest
from xdiag.server.auth import authorize, requires
from xdiag.server.context import base_url, json_body, services

bp = Blueprint("captures", __name__, url_prefix="/api/v1")


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
def capture_get(cid: str) -> Any:
    return jsonify(services().captures.get(check_name(cid, "capture")))
