"""/api/v1/agents/* and /api/v1/jobs: the in-job agents' registrations and the jobs they make."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify, request

from xdiag.server.auth import requires
from xdiag.server.context import json_body, services
from xdiag.server.gate import AGENT_BODY_MAX, accepts_body
from xdiag.store.registry import Caller

bp = Blueprint("agents", __name__, url_prefix="/api/v1")


def _caller() -> Caller:
    """The registering identity and the address it calls from (proxy-aware: gate.py)."""
    p = g.principal
    admin = p.role == "admin"
    return Caller(identity=p.id or "anonymous", client=request.remote_addr, admin=admin,
                  any_source=admin and services().settings.allow_arbitrary_targets)


@bp.post("/agents/register")
@accepts_body(AGENT_BODY_MAX)
@requires("editor")
def agent_register() -> Any:
    """Register a process of a job: its own address (the one it calls from), inside the
    allowed networks; the first identity to register a job owns it."""
    reg = services().registry.register(json_body(), _caller())
    return jsonify({"ok": True, "registration": reg})


@bp.post("/agents/heartbeat")
@accepts_body(AGENT_BODY_MAX)
@requires("editor")
def agent_heartbeat() -> Any:
    services().registry.heartbeat(json_body(), _caller())
    return jsonify({"ok": True})


@bp.post("/agents/deregister")
@accepts_body(AGENT_BODY_MAX)
@requires("editor")
def agent_deregister() -> Any:
    services().registry.deregister(json_body(), _caller())
    return jsonify({"ok": True})


@bp.get("/jobs")
@requires("viewer")
def jobs() -> Any:
    return jsonify(services().registry.jobs())
