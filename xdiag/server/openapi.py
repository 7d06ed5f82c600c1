"""GET /api/v1/openapi.json, generated from the app's own routes so it cannot drift.

Paths, methods and path parameters come from the URL map; summaries from each
view's docstring; query parameters and request bodies from `QUERY` / `BODIES`
below (a test checks that every API route is described).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify

from xdiag import __version__

bp = Blueprint("openapi", __name__)

# endpoint name -> [(query parameter, type, required, description)]
QUERY: dict[str, list[tuple[str, str, bool, str]]] = {
    "api.profiles_list": [
        ("q", "string", False, "substring of id or job"),
        ("run", "string", False, "only this run"),
        ("job", "string", False, "only this job"),
        ("status", "string", False, "ingesting | ready | failed"),
    ],
    "api.profile_upload": [("wait", "boolean", False, "return after ingest finished")],
    "api.profile_get": [
        ("wait", "string", False, "timeline | ready: while ingesting, answer when the "
         "timeline opens / the ingest ends"),
        ("timeout", "integer", False, "seconds to wait at most (default 10, max 25)"),
    ],
}

# endpoint name -> (content type, description)
BODIES: dict[str, tuple[str, str]] = {
    "api.agent_register": ("application/json", "agent registration"),
    "api.agent_heartbeat": ("application/json", "agent registration"),
    "api.agent_deregister": ("application/json", "{job, process_index}"),
    "api.capture_start": ("application/json", "{job, duration_ms, *_tracer_level, wait, "
                          "targets (admin, XDIAG_ALLOW_ARBITRARY_TARGETS only)}"),
    "api.profile_upload": ("multipart/form-data", "file parts named <host>.xplane.pb; run, session"),
}

DOCUMENTED_PREFIXES = ("/api/", "/healthz", "/metrics", "/s/")


def build_spec() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        doc = (view.__doc__ or rule.endpoint).strip().splitlines()[0]
        params = [{"name": a, "in": "path", "required": True, "schema": {"type": "string"}}
                  for a in sorted(rule.arguments)]
        params += [{"name": n, "in": "query", "required": req, "description": d,
                    "schema": {"type": t}} for n, t, req, d in QUERY.get(rule.endpoint, [])]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": rule.endpoint.replace(".", "_") + "_" + method.lower(),
                "summary": doc,
                "parameters": params,
                "responses": {"200": {"description": "OK"},
                              "default": {"description": "error",
                                          "content": {"application/json": {"schema": {
                                              "$ref": "#/components/schemas/Error"}}}}},
                "x-required-role": getattr(view, "required_role", None),
            }
            if rule.endpoint in BODIES:
                ctype, desc = BODIES[rule.endpoint]
                op["requestBody"] = {"description": desc, "content": {ctype: {"schema": {
                    "type": "object"}}}}
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "xdiag", "version": __version__,
                 "description": "Profiling service for JAX/XLA training. Times are ns from the "
                                "profile start. See docs/api.md."},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["error", "detail"],
            "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}}},
    }


@bp.get("/api/v1/openapi.json")
def openapi() -> Any:
    """This document."""
    return jsonify(build_spec())
