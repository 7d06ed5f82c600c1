"""cli/client.py's own transport (http.client, files sent from one reused buffer): what
`requests` gave the CLI, kept — the server's refusal of an upload read before its body is,
the environment's proxy honoured, and no `requests` import on the upload's path."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from xdiag.cli.client import Client, ClientError


def _refusing_server(answers: list[bytes]) -> tuple[socket.socket, threading.Thread]:
    """Answers each connection's request head with the next of `answers` and closes it
    without reading any body (as the service refuses an upload it won't take)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def serve() -> None:
        for answer in answers:
            conn, _ = srv.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            conn.sendall(answer)
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


def test_an_upload_refused_before_its_body_says_why(tmp_path: Path) -> None:
    big = tmp_path / "h.xplane.pb"
    big.write_bytes(b"\0" * (32 << 20))  # far more than the socket buffers hold
    body = json.dumps({"error": "unauthorized", "detail": "sign in first"}).encode()
    srv, t = _refusing_server([b"HTTP/1.1 401 UNAUTHORIZED\r\nContent-Type: application/json"
                               b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                               + body])
    client = Client(f"http://127.0.0.1:{srv.getsockname()[1]}")
    assert client._light is not None
    with pytest.raises(ClientError) as err:
        client.upload_session([("h", big)], run="r", wait=False)
    assert err.value.status == 401 and "sign in first" in err.value.detail
    t.join(10)
    srv.close()


def test_unreachable_service_and_the_environment_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(ClientError, match="cannot reach the xdiag service"):
        Client(f"http://127.0.0.1:{port}").get("/api/v1/profiles")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert Client(f"http://127.0.0.1:{port}")._light is None  # requests honours it
    monkeypatch.delenv("HTTP_PROXY")
    assert Client(f"https://127.0.0.1:{port}")._light is None


def test_the_upload_command_imports_no_requests() -> None:
    code = ("import sys, xdiag.cli.main, xdiag.cli.client as c; c.Client('http://x:1'); "
            "print('requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_a_kept_connection_the_service_closed_is_replaced() -> None:
    """The service may close an idle kept-alive connection: the next call, a POST too,
    goes on a new connection instead of failing."""
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
              b"\r\n{}")
    srv, t = _refusing_server([answer, answer])  # each connection closed after one answer
    client = Client(f"http://127.0.0.1:{srv.getsockname()[1]}")
    assert client.get("/api/v1/profiles") == {}
    t0 = client._light.conn
    select.select([t0.sock], [], [], 10)  # its close has arrived
    assert client.post("/api/v1/shares", json={"profile": "p"}) == {}
    assert client._light.conn is not t0
    t.join(10)
    srv.close()
