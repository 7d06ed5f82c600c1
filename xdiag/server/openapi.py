"""GET /api/v1/openapi.json, generated from the app's own routes so it cannot drift.

Paths, methods and path parameters (typed from the URL converters and the name rules)
come from the URL map; summaries from each view's docstring; query parameters from each
view's `@query` declaration (the same objects that parse them, params.py); roles and
security from `@requires`; request bodies from `BODIES` below, with the most each
endpoint reads (gate.py) as `x-max-bytes`; answers from `SUCCESS` below and the errors a
route can give by what it declares (see `_errors`). tests/reliability/test_api_schema.py
holds a running service to all of it (schemathesis).
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify
from werkzeug.routing import Rule
from werkzeug.routing.converters import NumberConverter

from xdiag import __version__
from xdiag.core.names import MAX_PROFILE_ID, NAME_PATTERN, PROFILE_ID_PATTERN
from xdiag.core.targets import HOSTNAME_RE
from xdiag.server.diagnosis import RESPONSE_SCHEMAS
from xdiag.server.gate import ANY_HOST_PATHS, JSON_BODY_MAX, UPLOAD

bp = Blueprint("openapi", __name__)

JSON, OCTET, HTML = "application/json", "application/octet-stream", "text/html"
TIMELINE = "application/x-xdiag-timeline"

_NAME = {"type": "string", "pattern": NAME_PATTERN, "maxLength": 200}
_HEX16 = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
_PRINTABLE = {"type": "string", "pattern": "^[ -~]*$", "maxLength": 256}
_HOSTNAME = {"type": "string", "pattern": f"^{HOSTNAME_RE}$", "maxLength": 253}
_PORT_RE = r"([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])"
# Path parameters by name (anything else: a string).
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "pid": {"type": "string", "pattern": PROFILE_ID_PATTERN, "maxLength": MAX_PROFILE_ID,
            "description": "profile id <run>~<session>"},
    "host": _NAME,
    "cid": _NAME,
    "share_id": _HEX16,
    "token_id": _HEX16,
}

_REGISTRATION = {
    "type": "object", "required": ["job", "process_index", "host", "port"],
    "properties": {
        "job": {**_NAME, "maxLength": 120},
        "process_index": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "host": {"anyOf": [{"type": "string", "format": "ipv4"},
                           {"type": "string", "format": "ipv6"}, _HOSTNAME],
                 "description": "the address the agent calls from (target policy)"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "process_count": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "pid": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        "device_count": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "local_device_count": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        # Printable text (the service takes any printable Unicode; ASCII is what agents send).
        "hostname": _PRINTABLE, "device_kind": _PRINTABLE, "jax_version": _PRINTABLE,
        "peaks": {"type": "object", "maxProperties": 8,
                  "propertyNames": {"pattern": "^[a-z0-9_]{1,64}$"},
                  "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1e12}},
    }}
_LEVEL = {"type": "integer", "minimum": 0, "maximum": 3}

# endpoint -> (content type, schema, description)
BODIES: dict[str, tuple[str, dict[str, Any], str]] = {
    "agents.agent_register": (JSON, _REGISTRATION, "agent registration"),
    "agents.agent_heartbeat": (JSON, _REGISTRATION, "agent registration"),
    "agents.agent_deregister": (JSON, _REGISTRATION, "agent registration"),
    "captures.capture_start": (JSON, {
        "type": "object", "required": ["job"], "properties": {
            "job": {**_NAME, "maxLength": 120},
            "duration_ms": {"type": "integer", "minimum": 1, "maximum": 300_000},
            "host_tracer_level": _LEVEL, "device_tracer_level": _LEVEL,
            "python_tracer_level": _LEVEL, "wait": {"type": "boolean"},
            "targets": {"type": "array", "maxItems": 256, "items": {
                "type": "string", "pattern": f"^{HOSTNAME_RE}:{_PORT_RE}$"},
                        "description": "host:port (admin, XDIAG_ALLOW_ARBITRARY_TARGETS only)"}}},
        "a capture of every live host of a job"),
    "profiles.profile_upload": ("multipart/form-data", {
        "type": "object", "required": ["file"], "properties": {
            "file": {"type": "array", "minItems": 1, "items": {
                "type": "string", "format": "binary"},
                "description": "one part per host, each named <host>.xplane.pb"},
            "run": _NAME, "session": _NAME, "job": _NAME}},
        "one session: a .xplane.pb file per host"),
    "shares.share_create": (JSON, {
        "type": "object", "required": ["profile_id"], "properties": {
            "profile_id": PATH_PARAMS["pid"],
            "view": {"type": ["object", "null"],
                     "description": "view state (tab, t0, t1, sel, q, ...), at most 4 kB"},
            "expires_in": {"oneOf": [
                # Every duration up to 90 days the parser takes, in each unit.
                {"type": "string", "pattern": r"^\s*([1-9]\d{0,5}\s*s|[1-9]\d{0,4}\s*m|"
                                              r"[1-9]\d{0,2}\s*h|([1-9]|[1-8]\d|90)\s*d|"
                                              r"([1-9]|1[0-2])\s*w)\s*$"},
                {"type": "integer", "minimum": 1, "maximum": 90 * 86400}],
                "description": "30m, 12h, 7d, 2w or seconds: at most 90 days (default 7d)"}}},
        "a read-only link to one profile and a view"),
    "auth.login": (JSON, {"type": "object", "required": ["token"], "properties": {
        "token": {"type": "string", "maxLength": 200}}}, "an API token"),
    "shares.token_create": (JSON, {
        "type": "object", "required": ["role"], "properties": {
            "role": {"type": "string", "enum": ["viewer", "editor", "admin"]},
            "name": {"type": "string", "maxLength": 100}}}, "a new API token"),
}

# endpoint -> {status: content types} of its successful answers (else 200, JSON)
SUCCESS: dict[str, dict[str, tuple[str, ...]]] = {
    "captures.capture_start": {"200": (JSON,), "202": (JSON,)},  # 200 with "wait": true
    "profiles.profile_upload": {"201": (JSON,)},
    "profiles.profile_delete": {"204": ()},
    "profiles.profile_raw": {"200": (OCTET,)},
    "queries.timeline": {"200": (TIMELINE, JSON)},  # format=json: JSON
    "queries.export": {"200": (OCTET,)},
    "shares.share_create": {"201": (JSON,)},
    "shares.share_revoke": {"204": ()},
    "shares.share_open": {"200": (HTML,)},
    "shares.token_create": {"201": (JSON,)},
    "shares.token_revoke": {"204": ()},
    "health.metrics": {"200": ("text/plain",)},
    "kernels.kernel_stats": {"200": (JSON,)},
}

# Views that read a profile's derived views: 409 while it ingests (or failed, or its views
# are being rebuilt in the background).
_PROFILE_VIEWS = ("queries.", "diagnosis.", "memory.", "kernels.", "profiles.profile_upload")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}

_ERROR_TEXT = {
    "400": "bad input (a parameter, a body, a name; or a Host this service does not answer to)",
    "401": "not signed in, or the credentials are not valid",
    "403": "the role is too low, the target is refused, or a cross-origin write",
    "404": "no such profile, event, module, share, token, capture or job",
    "409": "the profile is still being ingested or failed, or the name is taken",
    "410": "the share link has expired",
    "412": "a concurrent write won; try again",
    "413": "the request body is over this endpoint's limit",
    "429": "too many failed credentials from this client; see Retry-After",
    "502": "every host of the capture failed",
    "503": "the store is unreachable",
}

_ERROR_CONTENT = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}


def _errors(rule: Rule, view: Any, method: str) -> list[str]:
    """The error statuses this route can answer (all with the Error body)."""
    public = rule.rule in ANY_HOST_PATHS
    codes = {"413"}  # any request's body can be over its limit
    if rule.endpoint != "health.metrics":
        codes.add("503")  # the store (tokens and sessions are in it too)
    if not public:  # the Host check and the caller's identity run before every view
        codes |= {"400", "401", "429"}
    role = getattr(view, "required_role", None)
    if role or method in MUTATING:
        codes.add("403")  # a role or share link too weak; a cross-origin or CSRF-less write
    if role:
        codes.add("410")  # an expired share link
    if rule.arguments or rule.endpoint in ("queries.diff", "memory.memory_diff",
                                           "shares.share_create",
                                           "agents.agent_heartbeat", "captures.capture_start"):
        codes.add("404")
    if rule.endpoint.startswith(_PROFILE_VIEWS):
        codes.add("409")
    if method in MUTATING and not public:
        codes.add("412")
    if rule.endpoint == "captures.capture_start":
        codes.add("502")
    if rule.endpoint == "shares.share_open":
        codes |= {"404", "410"}
    return sorted(codes)


def _path_param(rule: Rule, name: str) -> dict[str, Any]:
    conv = rule._converters.get(name)  # werkzeug keeps them only there
    if isinstance(conv, NumberConverter):
        schema: dict[str, Any] = {"type": "integer", "minimum": max(conv.min or 0, 0)}
        if conv.max is not None:
            schema["maximum"] = conv.max
    else:
        schema = dict(PATH_PARAMS.get(name, {"type": "string"}))
    desc = schema.pop("description", None)
    return {"name": name, "in": "path", "required": True, "schema": schema,
            **({"description": desc} if desc else {})}


def _security(view: Any) -> list[dict[str, list[str]]] | None:
    role = getattr(view, "required_role", None)
    if role is None:
        return []  # open to anyone (auth modes token and iap included)
    options: list[dict[str, list[str]]] = [{"bearer": []}, {"session": []}]
    if role == "viewer" and getattr(view, "profile_arg", None):
        options.append({"share": []})  # reads of the shared profile
    return options


# Operation ids are public names (generated clients use them): they keep the blueprint
# names they were published under, before the API's blueprints were split by resource.
_PUBLISHED = {"agents": "api", "captures": "api", "profiles": "api", "queries": "views",
              "auth": "shares"}


def _published(endpoint: str) -> str:
    group, _, name = endpoint.partition(".")
    return f"{_PUBLISHED.get(group, group)}.{name}"


def _operation(rule: Rule, view: Any, method: str) -> dict[str, Any]:
    doc = (view.__doc__ or _published(rule.endpoint)).strip().splitlines()[0]
    params = [_path_param(rule, a) for a in sorted(rule.arguments)]
    # An optional parameter sent empty reads as absent (params.query): allowEmptyValue.
    params += [{"name": p.name, "in": "query", "required": p.required,
                **({} if p.required else {"allowEmptyValue": True}),
                "description": p.description, "schema": p.schema()}
               for p in getattr(view, "query_params", ())]
    responses: dict[str, Any] = {}
    for status, types in SUCCESS.get(rule.endpoint, {"200": (JSON,)}).items():
        schema = RESPONSE_SCHEMAS.get(rule.endpoint)  # stable answers scripts rely on
        responses[status] = {"description": "OK" if status != "204" else "No Content",
                             **({"content": {t: {"schema": schema} if schema and t == JSON
                                             else {} for t in types}} if types else {})}
    for status in _errors(rule, view, method):
        responses[status] = {"$ref": f"#/components/responses/{status}"}
        if rule.endpoint == "shares.share_open" and status in ("404", "410"):
            # A page for browsers; JSON when Accept asks for it.
            responses[status] = {"description": _ERROR_TEXT[status],
                                 "content": {**_ERROR_CONTENT, HTML: {}}}
    op: dict[str, Any] = {
        "operationId": _published(rule.endpoint).replace(".", "_") + "_" + method.lower(),
        "summary": doc,
        "parameters": params,
        "responses": responses,
        "security": _security(view),
        "x-required-role": getattr(view, "required_role", None),
    }
    if rule.endpoint in BODIES:
        ctype, schema, desc = BODIES[rule.endpoint]
        limit = getattr(view, "max_body", JSON_BODY_MAX)
        op["requestBody"] = {
            "required": True, "description": desc, "content": {ctype: {"schema": schema}},
            "x-max-bytes": limit if limit != UPLOAD else
            current_app.extensions["xdiag"].settings.max_upload_bytes}
    return op


DOCUMENTED_PREFIXES = ("/api/", "/healthz", "/metrics", "/s/")


def build_spec() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        view = current_app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, view, method)
    return {
        "openapi": "3.1.0",
        "info": {"title": "xdiag", "version": __version__,
                 "description": "Profiling service for JAX/XLA training. Times are ns from the "
                                "profile start. See docs/api.md. Under XDIAG_AUTH=none no "
                                "credentials are needed; `x-required-role` is the role each "
                                "operation needs under token and iap."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": {
                "type": "object", "required": ["error", "detail"],
                "properties": {"error": {"type": "string", "description": "stable code"},
                               "detail": {"type": "string",
                                          "description": "what happened, what to do"}}}},
            "responses": {status: {"description": text, "content": _ERROR_CONTENT}
                          for status, text in _ERROR_TEXT.items()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token (xdt_...): `xdiag token create`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "xdiag_session",
                            "description": "a browser's sign-in (POST /api/v1/auth/login); "
                                           "writes also send X-CSRF-Token"},
                "share": {"type": "apiKey", "in": "header", "name": "X-Xdiag-Share",
                          "description": "a share link's token: reads of its one profile"}},
        },
    }


@bp.get("/api/v1/openapi.json")
def openapi() -> Any:
    """This document."""
    return jsonify(build_spec())
