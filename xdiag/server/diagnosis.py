"""/api/v1/profiles/<id>/diagnosis, /framework, /hosts_steps: what is wrong with a profile
(ranked findings), time by JAX named scope, and every host's steps side by side.

The answers' JSON schemas are `RESPONSE_SCHEMAS` (published in the OpenAPI document):
`xdiag diagnose --json` prints the `/diagnosis` answer, and scripts rely on its shape.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from xdiag.core.names import NAME_PATTERN
from xdiag.server.auth import requires
from xdiag.server.context import services
from xdiag.server.params import Text, query
from xdiag.serving import diagnosis as views

bp = Blueprint("diagnosis", __name__, url_prefix="/api/v1")


def _data(pid: str) -> Any:
    svc = services()
    return svc.views.get(svc.profiles.get(pid))


@bp.get("/profiles/<pid>/diagnosis")
@requires("viewer", profile_arg="pid")
def diagnosis(pid: str) -> Any:
    """Findings ranked by the time they cost per step, with evidence, links and the rule table."""
    return jsonify(views.public(views.diagnosis(_data(pid))))


@bp.get("/profiles/<pid>/framework")
@requires("viewer", profile_arg="pid")
def framework(pid: str) -> Any:
    """Time by JAX named scope: a tree with self/total time, FLOPs, bytes and source lines."""
    return jsonify(views.public(views.framework(_data(pid))))


@bp.get("/profiles/<pid>/hosts_steps")
@requires("viewer", profile_arg="pid")
@query(Text("host", "a host of the profile: adds its per-device breakdown",
            pattern=NAME_PATTERN, max_length=200, what="a host name"))
def hosts_steps(pid: str, host: str | None) -> Any:
    """Every host's step times and breakdown side by side, the slowest host per step, skew."""
    return jsonify(views.public(views.hosts_steps(_data(pid), host)))


_NUM = {"type": "number"}
_NUM_OR_NULL = {"type": ["number", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}
_UNAVAILABLE = {"type": "object", "required": ["available", "reason"],
                "properties": {"available": {"const": False}, "reason": {"type": "string"}}}
_WINDOW = {"type": "object", "required": ["host", "start_ns", "end_ns"], "properties": {
    "host": {"type": "string"}, "track": _INT_OR_NULL, "device": _INT_OR_NULL,
    "start_ns": {"type": "integer"}, "end_ns": {"type": "integer"}, "step": _INT_OR_NULL}}
FINDING = {
    "type": "object",
    "required": ["id", "rule", "title", "severity", "cost_ns_per_step", "cost_share",
                 "confidence", "evidence", "what_to_try", "summary", "links"],
    "properties": {
        "id": {"type": "string", "description": "rule:subject, stable across profiles"},
        "rule": {"type": "string"},
        "title": {"type": "string"},
        "severity": {"enum": ["high", "medium", "low"]},
        "cost_ns_per_step": {**_NUM, "description": "estimated ns lost per step, the rank: "
                             "a median over the complete steps (recompilation: a mean, "
                             "since most steps do not compile)"},
        "cost_share": {**_NUM_OR_NULL, "description": "cost_ns_per_step / summary.period_ns, at most 1"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "evidence": {"type": "array", "items": {
            "type": "object", "required": ["label", "value", "unit"],
            "properties": {"label": {"type": "string"}, "unit": {"type": "string"},
                           "value": {}}}},
        "what_to_try": {"type": "array", "items": {"type": "string"}},
        "summary": {"type": "boolean", "description": "a roll-up of other findings (low MFU)"},
        "links": {"type": "object", "properties": {
            "timeline": _WINDOW,
            "ops": {"type": "object", "description": "op table filter (module, op, q, "
                                                     "category, host)"},
            "roofline": {"type": "object", "description": "module, program_id, op"},
            "hosts_steps": {"type": "object", "properties": {"host": {"type": "string"}}},
            "framework": {"type": "object", "properties": {"path": {"type": "string"}},
                          "description": "the op's node in /framework"},
            "memory": {"type": "object"}}},
    }}
DIAGNOSIS = {"oneOf": [_UNAVAILABLE, {
    "type": "object",
    "required": ["available", "schema", "profile_id", "device_kind", "summary", "findings",
                 "rules", "skipped"],
    "properties": {
        "available": {"const": True},
        "schema": {"const": "xdiag.diagnosis/1"},
        "profile_id": {"type": "string"}, "device_kind": {"type": "string"},
        "summary": {"type": "object", "properties": {
            "steps": {"type": "integer"}, "hosts": {"type": "integer"},
            "devices": {"type": "integer"}, "step_ns": _NUM_OR_NULL, "mfu": _NUM_OR_NULL,
            "period_ns": {**_NUM_OR_NULL, "description": "mean complete step plus the idle "
                          "gap after it: what a step can lose at most"},
            "top": _STR_OR_NULL}},
        "findings": {"type": "array", "items": FINDING,
                     "description": "ranked: cost_ns_per_step descending"},
        "rules": {"type": "array", "items": {
            "type": "object", "required": ["rule", "title", "thresholds", "fired"],
            "properties": {"rule": {"type": "string"}, "title": {"type": "string"},
                           "thresholds": {"type": "object"}, "fired": {"type": "boolean"}}}},
        "skipped": {"type": "array", "items": {
            "type": "object", "properties": {"rule": {"type": "string"},
                                             "reason": {"type": "string"}}}},
    }}]}
_NODE = {"type": "object",
         "required": ["name", "path", "self_ns", "total_ns", "total_ns_per_step",
                      "share_of_step", "share", "flops", "bytes", "ops", "source", "children"],
         "properties": {"name": {"type": "string"}, "path": {"type": "string"},
                        "self_ns": _NUM, "total_ns": _NUM, "total_ns_per_step": _NUM,
                        "share_of_step": _NUM_OR_NULL, "share": _NUM, "flops": _NUM,
                        "bytes": _NUM, "ops": {"type": "integer"}, "source": _STR_OR_NULL,
                        "op": {"type": ["object", "null"]},
                        # Nodes of the same shape (not a $ref: this schema is embedded
                        # in the OpenAPI document, where "#/" is that document's root).
                        "children": {"type": "array", "items": {"type": "object"},
                                     "description": "nodes of this shape, largest first"}}}
FRAMEWORK = {"oneOf": [_UNAVAILABLE, {
    "type": "object", "required": ["available", "steps", "devices", "step_ns",
                                   "total_self_ns", "root"],
    "properties": {"available": {"const": True}, "steps": {"type": "integer"},
                   "devices": {"type": "integer"},
                   "step_ns": {**_NUM_OR_NULL, "description": "mean complete step"},
                   "busy_share_of_step": {**_NUM_OR_NULL, "description": "devices' op time "
                                          "inside the complete steps over their time"},
                   "total_self_ns": _NUM, "root": _NODE}}]}
_COLUMN = {"type": "array", "items": _NUM_OR_NULL}
HOSTS_STEPS = {"oneOf": [_UNAVAILABLE, {
    "type": "object", "required": ["available", "steps", "hosts", "slowest", "skew"],
    "properties": {
        "available": {"const": True},
        "steps": {"type": "array", "items": {"type": "integer"}},
        "hosts": {"type": "array", "items": {"type": "object", "properties": {
            "host": {"type": "string"}, "devices": {"type": "array"},
            **{k: _COLUMN for k in ("dur_ns", "start_ns", "compute_ns", "collective_ns",
                                    "host_ns", "idle_ns", "gap_ns")},
            "mean_dur_ns": _NUM_OR_NULL, "slowest_count": {"type": "integer"}}}},
        "slowest": {"type": "array", "items": {"type": "object", "properties": {
            "step": {"type": "integer"}, "host": {"type": "string"}, "dur_ns": _NUM,
            "excess_ns": _NUM}}},
        "skew": {"type": "object"},
        "device_breakdown": {"type": "object", "description": "with ?host=: [device][step]"},
    }}]}
RESPONSE_SCHEMAS = {"diagnosis.diagnosis": DIAGNOSIS, "diagnosis.framework": FRAMEWORK,
                    "diagnosis.hosts_steps": HOSTS_STEPS}
