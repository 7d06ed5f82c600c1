"""GET /api/v1/openapi.json, generated from the app's own routes so it cannot drift.

Paths, methods and path parameters come from the URL map; summaries from each
view's docstring; query parameters from each view's `@query` declaration (the same
objects that parse them, params.py); request bodies from `BODIES` below, with the most
each endpoint reads (gate.py) as `maxLength`.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify

from xdiag import __version__
from xdiag.server.gate import JSON_BODY_MAX, UPLOAD

bp = Blueprint("openapi", __name__)

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
        params += [{"name": p.name, "in": "query", "required": p.required,
                    "description": p.description, "schema": p.schema()}
                   for p in getattr(view, "query_params", ())]
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
                limit = getattr(view, "max_body", JSON_BODY_MAX)
                op["requestBody"] = {"description": desc, "content": {ctype: {"schema": {
                    "type": "object"}}}, "x-max-bytes": limit if limit != UPLOAD else
                    current_app.extensions["xdiag"].settings.max_upload_bytes}
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
