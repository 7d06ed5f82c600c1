"""Request-side helpers: the services of the current app, JSON bodies, ints from queries."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from xdiag.errors import BadRequest
from xdiag.services import Services


def services() -> Services:
    return current_app.extensions["xdiag"]


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body (Content-Type: application/json)")
    return body


def query_int(name: str, default: int | None = None, *, lo: int | None = None,
              hi: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise BadRequest(f"query parameter {name!r} is required")
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise BadRequest(f"query parameter {name!r} must be a number, got {raw!r}") from None
    if lo is not None and value < lo:
        raise BadRequest(f"{name} must be >= {lo}")
    if hi is not None and value > hi:
        raise BadRequest(f"{name} must be <= {hi}")
    return value


def base_url() -> str:
    svc = services()
    return (svc.settings.public_url or request.host_url).rstrip("/")
