"""The access log of `xdiag serve` (werkzeug's request handler, imported only by `serve`:
the client commands start ~45 ms sooner without werkzeug's server and http.server)."""

from __future__ import annotations

import os
import re

from werkzeug.serving import WSGIRequestHandler


class RedactingHandler(WSGIRequestHandler):
    """Access log without secrets (share-link tokens in paths are masked) and without the
    noise of agent heartbeats and UI polling: successful GETs and agent calls are not logged
    unless XDIAG_ACCESS_LOG=all."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        quiet = str(code).isdigit() and int(str(code)) < 400 and (
            self.command == "GET" or self.path.startswith("/api/v1/agents/"))
        if quiet and os.environ.get("XDIAG_ACCESS_LOG") != "all":
            return
        real = self.path
        self.path = re.sub(r"/s/[^/?\s]+", "/s/<redacted>", real)
        self.requestline = re.sub(r"/s/[^/?\s]+", "/s/<redacted>", self.requestline)
        try:
            super().log_request(code, size)
        finally:
            self.path = real
