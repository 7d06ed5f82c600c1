"""The built web UI: static assets plus the SPA shell for every non-API path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, send_from_directory
from werkzeug.routing import PathConverter

from xdiag.server.context import services

bp = Blueprint("ui", __name__)


class SpaPath(PathConverter):
    """Any path but the API's: so `GET` on a POST-only API URL is a 405 whose `Allow` lists
    what that URL takes, not the SPA shell nor a 404."""

    regex = r"(?!api/)[^/].*?"


# Before the routes below: deferred functions run in the order they were recorded.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("spa", SpaPath))

_MISSING = """<!doctype html><meta charset=utf-8><title>xdiag</title>
<h1>xdiag</h1><p>The web UI is not built. Run <code>make run</code> (or
<code>cd webui && npm ci && npm run build</code>) and reload. The API is at
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>"""


def _dist() -> Path:
    return Path(services().settings.webui_dir)


@bp.get("/assets/<path:name>")
def assets(name: str) -> Any:
    resp = send_from_directory(_dist() / "assets", name, max_age=31536000)
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"  # hashed names
    return resp


@bp.get("/")
@bp.get("/<spa:path>")
def spa(path: str = "") -> Any:
    dist = _dist()
    if path and (dist / path).is_file() and "/" not in path:  # favicon.svg etc.
        return send_from_directory(dist, path)
    index = dist / "index.html"
    if not index.is_file():
        return Response(_MISSING, mimetype="text/html")
    resp = send_from_directory(dist, "index.html")
    resp.headers["Cache-Control"] = "no-cache"
    return resp
