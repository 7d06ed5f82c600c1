"""The HTTP server under `xdiag serve`: cheroot, with keep-alive and a body writer that
sends a response in one `sendall`. Imported only by `serve`.

Why not werkzeug's development server: it closes every connection (a TCP set-up and a new
thread per request) and, to show a 413 rather than a reset, reads whatever the client sends
after a response, so it cannot keep one open. A 2.2 MB body over loopback, keep-alive
client, p50 on this 2-core VM: werkzeug 3.2 ms, cheroot 1.9 ms, cheroot with this writer
1.4 ms (cheroot's own copies the pending body into a bytearray, then again at each partial
`send`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import makefile, server, wsgi

from xdiag.server.logs import protect

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

THREADS = 32  # a long poll holds one while it waits; an idle keep-alive connection none
IDLE_TIMEOUT_S = 75  # a connection silent this long is closed (and a stalled upload ends)
STOP_GRACE_S = 2  # Ctrl-C / SIGTERM: requests in flight (a long poll) get this long to end


class _SendallWriter(makefile.StreamWriter):
    """cheroot's writer, but a body goes out in one `socket.sendall`, without copies."""

    def __init__(self, sock: Any, mode: str = "wb", bufsize: int = 8192) -> None:
        super().__init__(sock, mode, bufsize)
        self._sock = sock

    def write(self, val: Any, *args: Any, **kwargs: Any) -> int:
        with self._write_lock:
            if self._write_buf:
                self._flush_unlocked()
            self._sock.sendall(val)
        self.bytes_written += len(val)
        return len(val)


def _makefile(sock: Any, mode: str = "r", bufsize: int = 8192) -> Any:
    return _SendallWriter(sock, mode, bufsize) if "w" in mode else makefile.MakeFile(
        sock, mode, bufsize)


class _Connection(server.HTTPConnection):
    def __init__(self, srv: Any, sock: Any, makefile: Any = None) -> None:
        super().__init__(srv, sock, _makefile)


class AccessLog:
    """One line per request in werkzeug's format (`ADDR - - [date] "GET /p HTTP/1.1" 200 -`),
    through the `xdiag.access` logger (secrets masked, server/logs.py), without the noise
    of agent heartbeats and UI polling: successful GETs and agent calls are not logged
    unless XDIAG_ACCESS_LOG=all."""

    def __init__(self, app: Wsgi) -> None:
        self.app = app
        self.everything = os.environ.get("XDIAG_ACCESS_LOG") == "all"
        self.log = logging.getLogger("xdiag.access")
        if not self.log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            self.log.addHandler(handler)
            self.log.setLevel(logging.INFO)
            self.log.propagate = False
        protect(self.log)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def logged(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            self._line(environ, status, headers)
            return start_response(status, headers, *exc)

        return self.app(environ, logged)

    def _line(self, environ: dict[str, Any], status: str, headers: list[tuple[str, str]]) -> None:
        code = int(status[:3]) if status[:3].isdigit() else 0
        method, path = environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", "")
        quiet = 0 < code < 400 and (method == "GET" or path.startswith("/api/v1/agents/"))
        if quiet and not self.everything:
            return
        query = environ.get("QUERY_STRING")
        target = path + (f"?{query}" if query else "")
        size = next((v for k, v in headers if k.lower() == "content-length"), "-")
        self.log.info('%s - - [%s] "%s %s %s" %s %s', environ.get("REMOTE_ADDR", "-"),
                      time.strftime("%d/%b/%Y %H:%M:%S"), method, target,
                      environ.get("SERVER_PROTOCOL", "HTTP/1.1"), code, size)


def make_server(host: str, port: int, app: Wsgi) -> wsgi.Server:
    """Bound and listening (`port` 0: any free one; `bind_addr[1]` says which)."""
    srv = wsgi.Server((host, port), AccessLog(app), numthreads=THREADS, server_name="xdiag",
                      timeout=IDLE_TIMEOUT_S, request_queue_size=128,
                      shutdown_timeout=STOP_GRACE_S)
    srv.ConnectionClass = _Connection
    srv.version = "xdiag"  # the Server header
    srv.max_request_header_size = 64 * 1024
    srv.prepare()
    return srv
