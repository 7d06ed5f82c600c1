"""Flask app factory: settings -> services -> blueprints. See docs/architecture.md."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException

from xdiag.core import jsonio
from xdiag.core.config import Settings
from xdiag.core.errors import XdiagError
from xdiag.server.services import Services

log = logging.getLogger("xdiag.server")


class _JSONProvider(DefaultJSONProvider):
    """jsonify through jsonio (orjson): a 10M-event profile's tracks answer is 3.4 MB of
    JSON, 60 ms with the stdlib. Flask's own encoder takes what orjson cannot."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        try:
            return jsonio.dumps(obj).decode()
        except TypeError:
            return super().dumps(obj, **kwargs)


def create_app(settings: Settings | None = None, test_config: dict[str, Any] | None = None,
               services: Services | None = None) -> Flask:
    """Build the WSGI app.

    Settings come from `XDIAG_*` environment variables unless given; `test_config`
    overrides Flask config keys.
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None)
    app.json = _JSONProvider(app)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_upload_bytes + 16 * 1024 * 1024)
    if test_config:
        app.config.update(test_config)
    svc = services or Services(settings)
    app.extensions["xdiag"] = svc

    from xdiag.server import (
        agents,
        auth,
        captures,
        diagnosis,
        gate,
        health,
        kernels,
        logs,
        memory,
        openapi,
        profiles,
        queries,
        shares,
        ui,
    )

    logs.install()
    gate.init_app(app, svc.settings)  # forwarded headers, Host, body size: first of all
    health.init_app(app)
    app.register_blueprint(auth.bp)  # then who is calling (before_app_request), and sign-in
    for blueprint in (agents.bp, captures.bp, profiles.bp, queries.bp, memory.bp, diagnosis.bp,
                      kernels.bp, shares.bp, openapi.bp, ui.bp):
        app.register_blueprint(blueprint)

    @app.errorhandler(XdiagError)
    def _xdiag_error(exc: XdiagError) -> Any:
        resp = jsonify(exc.to_json())
        if "retry_after" in exc.extra:
            resp.headers["Retry-After"] = str(exc.extra["retry_after"])
        return resp, exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        resp = jsonify({"error": code, "detail": exc.description})
        # werkzeug's own headers (405: `Allow`, the methods the URL takes; RFC 9110)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp, exc.code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        # The exception's name and text are for the log, never for the caller.
        ref = secrets.token_hex(4)
        log.exception("unhandled error [ref %s]", ref)
        return jsonify({"error": "internal", "detail": f"internal error (reference {ref} in "
                        "the service log): please report it"}), 500

    svc.start()  # resume and clean what dead processes left, now and on a schedule
    return app
