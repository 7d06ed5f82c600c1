"""/healthz (store reachable?) and /metrics (Prometheus), plus per-request metrics."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from xdiag import __version__
from xdiag.core.errors import XdiagError
from xdiag.core.metrics import HTTP_REQUESTS, HTTP_SECONDS, REGISTRY
from xdiag.server.context import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    svc = services()
    try:
        svc.store.list(".xdiag/health-probe/")
    except XdiagError as exc:
        return jsonify({"ok": False, "store": svc.store.url, "error": exc.code,
                        "detail": exc.detail}), 503
    return jsonify({"ok": True, "store": svc.store.url, "version": __version__})


@bp.get("/metrics")
def metrics() -> Any:
    return Response(generate_latest(REGISTRY), mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)

    @app.before_request
    def _start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _record(resp: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        HTTP_REQUESTS.labels(request.method, endpoint, str(resp.status_code)).inc()
        if "t0" in g:
            HTTP_SECONDS.labels(endpoint).observe(time.perf_counter() - g.t0)
        return resp
