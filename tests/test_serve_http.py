"""`xdiag serve`'s HTTP server (cli/httpserver.py) as a browser meets it: connections kept
open between requests, a body it refuses not read, binary windows whole, the access log."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path

from support import FIXTURES

from xdiag.core.config import Settings
from xdiag.pipeline import admit
from xdiag.server.services import Services
from xdiag.serving import wire


def add_profile(svc: Services, run: str) -> str:
    rec = svc.admission.store_session(run=run, session="s1", source="upload", files=[
        admit.HostFile("h0", FIXTURES / "cpu_small.xplane.pb")])
    return svc.ingest.run(rec["id"], inline=True)["id"]


def test_one_connection_serves_many_requests_and_a_refused_body_closes_it(
        tmp_path: Path, serve) -> None:
    store = str(tmp_path / "store")
    s = Services(Settings(store=store, ingest_inline=True))
    pid = add_profile(s, "kept")
    svc = serve(store, env={"XDIAG_ACCESS_LOG": "all"})
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=30)
    conn.connect()
    sock = conn.sock
    tracks = None
    for path in ("/healthz", f"/api/v1/profiles/{pid}", f"/api/v1/profiles/{pid}/tracks"):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, body[:200])
        assert (r.getheader("Connection") or "").lower() != "close"
        tracks = body
    assert conn.sock is sock  # the same TCP connection all along
    end_ns = json.loads(tracks)["end_ns"]
    conn.request("GET", f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={end_ns}&width=800",
                 headers={"Accept": "application/x-xdiag-timeline"})
    r = conn.getresponse()
    header, cols = wire.decode(r.read())
    assert r.status == 200 and header["count"] == len(cols["id"]) > 0
    assert conn.sock is sock
    conn.close()

    # A 1 MiB JSON body (the limit is 16 KiB): 413 from the headers, the body never read,
    # the connection closed rather than drained.
    raw = socket.create_connection(("127.0.0.1", svc.port), timeout=30)
    raw.sendall(f"POST /api/v1/shares HTTP/1.1\r\nHost: 127.0.0.1:{svc.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {1 << 20}\r\n\r\n".encode())
    reply = b""
    while chunk := raw.recv(65536):
        reply += chunk
    raw.close()
    head = reply.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 413") and "connection: close" in head
    svc.stop()
    log = svc.log_path.read_text()
    assert f'"GET /api/v1/profiles/{pid}/tracks HTTP/1.1" 200' in log
    assert '"POST /api/v1/shares HTTP/1.1" 413' in log
