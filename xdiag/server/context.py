"""Request-side helpers: the services of the current app, JSON bodies, the base URL.

Query parameters are parsed by `params.py`; body sizes are bounded by `gate.py`."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from xdiag.core.errors import BadRequest, PayloadTooLarge
from xdiag.server.services import Services


def services() -> Services:
    return current_app.extensions["xdiag"]


def json_body() -> dict[str, Any]:
    # A chunked body stops at the endpoint's limit (gate.py) and reads as cut short there:
    # say so, rather than "not JSON".
    data = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(data) >= limit:
        raise PayloadTooLarge(f"request body is over this endpoint's limit of {limit} bytes")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object body (Content-Type: application/json)")
    return body


def base_url() -> str:
    svc = services()
    return (svc.settings.public_url or request.host_url).rstrip("/")
