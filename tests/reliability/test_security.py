"""Issue 16, items 5-10: the attacks that worked, kept as tests. All traffic on 127.0.0.1.

Each test is one reproduced attack and fails on the code before its fix: SSRF through agent
registration, DNS rebinding and forwarded headers, lockout by a flood of wrong tokens,
unbounded request bodies, share tokens in access logs, share ownership by name, share links
under auth=none, and junk numbers (500s). Real servers where the server matters (`xdiag
serve`, gunicorn as the image runs it), Flask's test client elsewhere.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FIXTURES, ROOT, Service, free_port, run_cli

from xdiag.core.config import Settings
from xdiag.pipeline import admit
from xdiag.server import create_app
from xdiag.server.services import Services

SMALL = FIXTURES / "cpu_small.xplane.pb"
JUNK = ["inf", "-inf", "1e400", "nan", "NaN", "12abc", "0x10", "", "9" * 400, "\uff11\uff12"]  # the last: fullwidth 12


# -- helpers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One store with one ready profile, shared by the module's apps and servers."""
    root = str(tmp_path_factory.mktemp("sec") / "store")
    svc = Services(Settings(store=root, ingest_inline=True))
    rec = svc.admission.store_session(run="sec", session="s1",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    svc.ingest.run(rec["id"], inline=True)
    return root


PID = "sec~s1"


def make_app(store: str, **settings):
    svc = Services(Settings(store=store, ingest_inline=True, **{"auth": "token", **settings}))
    return create_app(services=svc), svc


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def agent(job: str = "j", host: str = "127.0.0.1", port: int = 9, index: int = 0) -> dict:
    return {"job": job, "process_index": index, "host": host, "port": port}


class Listener:
    """A TCP port that counts the connections it gets (and closes each at once)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


# -- 5. SSRF through registration -------------------------------------------------


@pytest.mark.parametrize("host", ["169.254.169.254", "metadata.google.internal", "fd00:ec2::254",
                                  "10.1.2.3", "192.168.0.1", "example.com", "8.8.8.8"])
def test_registration_of_metadata_private_or_public_targets_is_refused(store, host) -> None:
    app, svc = make_app(store)
    editor, _ = svc.tokens.create("editor", "agents")
    r = app.test_client().post("/api/v1/agents/register", json=agent(f"ssrf-{host[:3]}", host),
                               headers=bearer(editor))
    assert r.status_code == 403 and r.json["error"] == "target_refused", r.json
    assert not [j for j in app.test_client().get("/api/v1/jobs", headers=bearer(editor)).json
                if j["job"].startswith("ssrf-")]


def test_a_capture_never_dials_a_refused_target(tmp_path: Path, listener: Listener) -> None:
    """Loopback is outside this service's networks: neither a registration, nor an admin's
    explicit target, nor a registration already in the store (written before the policy,
    or by a replica configured otherwise) makes it connect there."""
    app, svc = make_app(str(tmp_path / "store"), target_networks="10.0.0.0/8",
                        allow_arbitrary_targets=True)
    admin, _ = svc.tokens.create("admin", "root")
    c = app.test_client()
    r = c.post("/api/v1/agents/register", json=agent("x", "127.0.0.1", listener.port),
               headers=bearer(admin))
    assert r.status_code == 403
    r = c.post("/api/v1/captures", json={"job": "x", "wait": True, "duration_ms": 100,
                                         "targets": [f"127.0.0.1:{listener.port}",
                                                     "169.254.169.254:80"]},
               headers=bearer(admin))
    assert r.json["state"] == "failed", r.json
    assert all(h["error"].startswith("refused:") for h in r.json["hosts"]), r.json
    legacy = {**agent("legacy", "127.0.0.1", listener.port), "last_seen": time.time(),
              "registered_at": time.time()}
    svc.store.write_json(f".xdiag/jobs/legacy/0@127.0.0.1_{listener.port}.json", legacy)
    r = c.post("/api/v1/captures", json={"job": "legacy", "wait": True, "duration_ms": 100},
               headers=bearer(admin))
    assert r.json["state"] == "failed" and "refused" in r.json["hosts"][0]["error"], r.json
    time.sleep(0.2)
    assert listener.connections == 0


def test_capture_errors_do_not_tell_open_ports_from_closed(tmp_path: Path,
                                                            listener: Listener) -> None:
    app, _ = make_app(str(tmp_path / "store"), auth="none")
    c = app.test_client()
    closed = free_port()
    for i, port in enumerate((listener.port, closed)):
        assert c.post("/api/v1/agents/register", json=agent("scan", port=port, index=i)
                      ).status_code == 200
    r = c.post("/api/v1/captures", json={"job": "scan", "wait": True, "duration_ms": 100})
    errors = {h["address"]: h["error"] for h in r.json["hosts"]}
    assert len(errors) == 2 and len(set(errors.values())) == 1, errors
    assert listener.connections >= 1  # the open port was tried, and reads as the closed one


def test_jobs_belong_to_whoever_registered_them(tmp_path: Path) -> None:
    """Two editors whose tokens even share a name: neither adds hosts to, nor deregisters
    hosts of, the other's job; an admin can."""
    app, svc = make_app(str(tmp_path / "store"))
    alice, _ = svc.tokens.create("editor", "ci")
    mallory, _ = svc.tokens.create("editor", "ci")
    admin, _ = svc.tokens.create("admin", "root")
    c = app.test_client()
    assert c.post("/api/v1/agents/register", json=agent("train", port=9001),
                  headers=bearer(alice)).status_code == 200
    r = c.post("/api/v1/agents/register", json=agent("train", port=9002, index=1),
               headers=bearer(mallory))
    assert r.status_code == 403, r.json
    r = c.post("/api/v1/agents/deregister", json=agent("train", port=9001),
               headers=bearer(mallory))
    assert r.status_code == 403, r.json
    (job,) = c.get("/api/v1/jobs", headers=bearer(alice)).json
    assert [h["port"] for h in job["hosts"]] == [9001]
    assert c.post("/api/v1/agents/deregister", json=agent("train", port=9001),
                  headers=bearer(admin)).status_code == 200
    assert c.get("/api/v1/jobs", headers=bearer(alice)).json == []


def test_oversize_registration_is_refused_before_it_is_read(tmp_path: Path) -> None:
    app, svc = make_app(str(tmp_path / "store"))
    editor, _ = svc.tokens.create("editor", "agents")
    c = app.test_client()
    big = {**agent(), "hostname": "h" * (17 * 1024 * 1024)}
    r = c.post("/api/v1/agents/register", data=json.dumps(big),
               headers={**bearer(editor), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json["error"] == "payload_too_large"
    r = c.post("/api/v1/agents/register", json={**agent(), "device_kind": "x" * 3000},
               headers=bearer(editor))
    assert r.status_code == 400  # fits the body limit, not the field's
    assert c.get("/api/v1/jobs", headers=bearer(editor)).json == []


# -- 6. DNS rebinding, forwarded headers, CSRF ---------------------------------------


@pytest.fixture(scope="module")
def open_service(store, tmp_path_factory) -> Iterator[Service]:
    """`xdiag serve` with its default auth (none), as a developer runs it."""
    svc = Service(store, tmp_path_factory.mktemp("open"))
    yield svc
    svc.stop()


def raw(url: str, method: str, path: str, host: str, body: dict | None = None,
        headers: dict | None = None) -> tuple[int, dict]:
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={
        "Host": host, **({"Content-Type": "application/json"} if data else {}), **(headers or {})})
    resp = conn.getresponse()
    text = resp.read()
    conn.close()
    return resp.status, (json.loads(text) if text.startswith(b"{") else {})


def test_dns_rebinding_host_is_refused_loopback_answers(open_service: Service) -> None:
    """A page on rebind.attacker.example whose name now resolves to 127.0.0.1: its requests
    carry its own Host. They get 400 and change nothing; the service's own names work."""
    url, port = open_service.url, open_service.port
    for method, path, body in (("DELETE", f"/api/v1/profiles/{PID}", None),
                               ("POST", "/api/v1/agents/register", agent("rebound")),
                               ("GET", "/api/v1/profiles", None)):
        status, out = raw(url, method, path, f"rebind.attacker.example:{port}", body)
        assert status == 400 and out["error"] == "bad_host", (method, path, status, out)
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert raw(url, "GET", f"/api/v1/profiles/{PID}", host)[0] == 200, host
    assert raw(url, "GET", "/healthz", "10.9.8.7:8791")[0] == 200  # probes by pod IP


def test_forwarded_headers_count_only_from_trusted_proxies(store) -> None:
    app, _ = make_app(store, auth="none")
    c = app.test_client()
    evil = {"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example"}
    r = c.post("/api/v1/captures", json={"job": "x"}, headers=evil)
    assert r.status_code == 403 and "cross-origin" in r.json["detail"]  # was: allowed
    r = c.post("/api/v1/captures", json={"job": "x"},
               headers={"X-Forwarded-Host": "evil.example", "Origin": "http://evil.example"})
    assert r.status_code == 403
    # Behind a configured proxy its forwarded host and scheme are the request's own.
    proxied, _ = make_app(store, auth="none", trusted_proxies="127.0.0.1/32",
                          allowed_hosts="xdiag.example.com")
    pc = proxied.test_client()
    fwd = {"X-Forwarded-Host": "xdiag.example.com", "X-Forwarded-Proto": "https",
           "Origin": "https://xdiag.example.com"}
    assert pc.post("/api/v1/captures", json={"job": "x"}, headers=fwd).status_code == 404  # no job
    assert pc.get("/api/v1/profiles", headers={"X-Forwarded-Host": "evil.example"}
                  ).status_code == 400  # a forwarded Host is checked like any other


def test_agent_address_behind_proxies(tmp_path: Path) -> None:
    """X-Forwarded-For names the agent's address only when a trusted proxy sent it."""
    app, svc = make_app(str(tmp_path / "store"), target_networks="10.0.0.0/8")
    editor, _ = svc.tokens.create("editor", "agents")
    xff = {**bearer(editor), "X-Forwarded-For": "10.1.2.3"}
    r = app.test_client().post("/api/v1/agents/register", json=agent(host="10.1.2.3"), headers=xff)
    assert r.status_code == 403  # spoofed: the peer is 127.0.0.1, not a proxy
    proxied, _ = make_app(str(tmp_path / "store"), target_networks="10.0.0.0/8",
                          trusted_proxies="127.0.0.0/8")
    r = proxied.test_client().post("/api/v1/agents/register", json=agent(host="10.1.2.3"),
                                   headers=xff)
    assert r.status_code == 200, r.json
    r = proxied.test_client().post("/api/v1/agents/register", json=agent(host="10.1.2.4"),
                                   headers=xff)
    assert r.status_code == 403


def test_csrf_token_is_bound_to_the_session(store) -> None:
    app, svc = make_app(store)
    a, _ = svc.tokens.create("editor", "a")
    b, _ = svc.tokens.create("editor", "b")
    alice, bob = app.test_client(), app.test_client()
    csrf_a = alice.post("/api/v1/auth/login", json={"token": a}).json["csrf_token"]
    csrf_b = bob.post("/api/v1/auth/login", json={"token": b}).json["csrf_token"]
    assert csrf_a != csrf_b
    share = {"profile_id": PID}
    assert bob.post("/api/v1/shares", json=share, headers={"X-CSRF-Token": csrf_a}
                    ).status_code == 403
    # A planted double-submit cookie no longer counts: only the session's own token does.
    bob.set_cookie("xdiag_csrf", "planted")
    assert bob.post("/api/v1/shares", json=share, headers={"X-CSRF-Token": "planted"}
                    ).status_code == 403
    assert bob.post("/api/v1/shares", json=share, headers={"X-CSRF-Token": csrf_b}
                    ).status_code == 201
    assert bob.get("/api/v1/session").json["csrf_token"] == csrf_b


# -- 7. lockout and memory ------------------------------------------------------------


def test_a_flood_of_wrong_tokens_does_not_lock_out_valid_credentials(store) -> None:
    app, svc = make_app(store)
    viewer, _ = svc.tokens.create("viewer", "v")
    share, _ = svc.shares.create(PID, {}, "1h", "t")
    c = app.test_client()
    codes = [c.get("/api/v1/profiles", headers=bearer(f"xdt_wrong{i}")).status_code
             for i in range(25)]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert c.get("/api/v1/profiles", headers=bearer(viewer)).status_code == 200
    assert c.get(f"/api/v1/profiles/{PID}", headers={"X-Xdiag-Share": share}).status_code == 200
    assert c.get(f"/s/{share}").status_code == 200
    browser = app.test_client()
    assert browser.post("/api/v1/auth/login", json={"token": viewer}).status_code == 200
    assert browser.get("/api/v1/profiles").status_code == 200
    assert c.get(f"/s/xds_guess{'x' * 40}").status_code == 429  # guesses stay limited
    # Behind a trusted proxy each real client has its own count; a forged
    # X-Forwarded-For from a direct client does not buy a fresh one.
    proxied, _ = make_app(store, trusted_proxies="127.0.0.1/32")
    pc = proxied.test_client()
    for _ in range(21):
        pc.get("/api/v1/profiles", headers={**bearer("xdt_x"), "X-Forwarded-For": "203.0.113.5"})
    assert pc.get("/api/v1/profiles", headers={**bearer("xdt_x"), "X-Forwarded-For":
                                               "203.0.113.6"}).status_code == 401
    assert pc.get("/api/v1/profiles", headers={**bearer("xdt_x"), "X-Forwarded-For":
                                               "203.0.113.5"}).status_code == 429
    plain = make_app(store)[0].test_client()
    for i in range(21):
        plain.get("/api/v1/profiles", headers={**bearer("xdt_y"),
                                               "X-Forwarded-For": f"198.51.100.{i}"})
    assert plain.get("/api/v1/profiles", headers={**bearer("xdt_y"), "X-Forwarded-For":
                                                  "192.0.2.1"}).status_code == 429


@pytest.fixture(scope="module")
def token_service(store, tmp_path_factory) -> Iterator[Service]:
    svc = Service(store, tmp_path_factory.mktemp("tok"), "--auth", "token",
                  env={"XDIAG_ACCESS_LOG": "all"})
    yield svc
    svc.stop()


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def test_a_1gib_sign_in_body_is_refused_without_reading_it(token_service: Service) -> None:
    """Unauthenticated: POST /api/v1/auth/login with 1 GiB (declared, then chunked). 413
    at once; the server's peak memory does not move."""
    svc = token_service
    before = _peak_rss_mib(svc.proc.pid)
    head = (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:{svc.port}\r\n"
            "Content-Type: application/json\r\n")
    # Declared length: answered from the headers.
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    t0 = time.monotonic()
    s.sendall((head + f"Content-Length: {1 << 30}\r\n\r\n").encode() + b'{"token": "' +
              b"x" * 65536)
    first = s.recv(4096).split(b"\r\n", 1)[0]
    s.close()
    assert b" 413 " in first and time.monotonic() - t0 < 5, first
    # Chunked, streamed as a generator would: the server stops it at its limit.
    s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
    s.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
    chunk = b"100000\r\n" + b" " * (1 << 20) + b"\r\n"
    sent = 0
    try:
        while sent < 1 << 30 and not select.select([s], [], [], 0)[0]:
            s.sendall(chunk)
            sent += 1 << 20
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    first = s.recv(4096).split(b"\r\n", 1)[0]
    s.close()
    assert b" 413 " in first, first
    assert sent <= 64 << 20, f"the server read {sent >> 20} MiB before refusing"
    assert _peak_rss_mib(svc.proc.pid) - before < 64


# -- 8. secrets in logs, share ownership -------------------------------------------------


def _dockerfile_cmd() -> list[str]:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    m = re.search(r"^CMD (\[.*?\])\s*$", text.replace("\\\n", " "), re.M | re.S)
    return json.loads(m.group(1))


def test_gunicorn_access_log_masks_share_links_and_tokens(store, tmp_path: Path) -> None:
    """The image's server, run as its CMD says (shipped config included), bound to an
    ephemeral loopback port; even a log format that prints headers shows no secret."""
    s = Services(Settings(store=store))
    share, _ = s.shares.create(PID, {}, "1h", "t")
    admin, _ = s.tokens.create("admin", "a")
    cmd = _dockerfile_cmd()
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "gunicorn"), *cmd[1:]]
    cmd[cmd.index("--bind") + 1] = f"127.0.0.1:{port}"
    cmd[cmd.index("--worker-tmp-dir") + 1] = str(tmp_path)
    env = {**os.environ, "XDIAG_STORE": store, "XDIAG_AUTH": "token", "XDIAG_PORT": str(port),
           "GUNICORN_CMD_ARGS": "--access-logformat '%(h)s \"%(r)s\" %(s)s \"%(f)s\" "
                                "%({authorization}i)s %({x-xdiag-share}i)s %(U)s %(q)s'"}
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
        # The image's server refuses an unauthenticated 1 GiB body from its headers too.
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Content-Length: {1 << 30}\r\n\r\n".encode() + b"x" * 65536)
        assert b" 413 " in sock.recv(4096).split(b"\r\n", 1)[0]
        sock.close()
        for path, headers in ((f"/s/{share}", {}), (f"/s/{share}?x=1", {}),
                              ("/api/v1/profiles", bearer(admin)),
                              (f"/api/v1/profiles/{PID}", {"X-Xdiag-Share": share,
                                                          "Referer": f"{url}/s/{share}"})):
            req = urllib.request.Request(url + path, headers=headers)
            assert urllib.request.urlopen(req, timeout=10).status == 200
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    assert "/s/<redacted>" in text and "GET /api/v1/profiles" in text, text[-2000:]
    assert share not in text and admin not in text, text[-2000:]
    assert share.split("_", 1)[1] not in text  # not even the token without its prefix


def test_share_links_are_owned_by_identity_not_by_name(store) -> None:
    """Two editors whose tokens have the same name: one cannot revoke the other's links."""
    app, svc = make_app(store)
    alice, _ = svc.tokens.create("editor", "ci")
    mallory, _ = svc.tokens.create("editor", "ci")
    c = app.test_client()
    sid = c.post("/api/v1/shares", json={"profile_id": PID}, headers=bearer(alice)).json["id"]
    assert c.delete(f"/api/v1/shares/{sid}", headers=bearer(mallory)).status_code == 403
    assert c.delete(f"/api/v1/shares/{sid}", headers=bearer(alice)).status_code == 204


# -- 9. what a share link grants ------------------------------------------------------------


def test_share_creation_says_what_the_link_grants(store) -> None:
    app, svc = make_app(store)
    editor, _ = svc.tokens.create("editor", "e")
    g = app.test_client().post("/api/v1/shares", json={"profile_id": PID},
                               headers=bearer(editor)).json["grants"]
    assert g["read_only"] and g["profile_only"] and "Read-only" in g["summary"]
    app, _ = make_app(store, auth="none")
    g = app.test_client().post("/api/v1/shares", json={"profile_id": PID}).json["grants"]
    assert not g["read_only"] and not g["access_control"]
    assert "without access control" in g["summary"] and "delete" in g["summary"]


def test_cli_share_says_what_the_link_grants_under_auth_none(open_service: Service) -> None:
    res = run_cli("share", PID, "--server", open_service.url, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().startswith(open_service.url + "/s/xds_")
    assert "warning:" in res.stderr and "without access control" in res.stderr
    res = run_cli("share", PID, "--json", "--server", open_service.url, timeout=60)
    assert json.loads(res.stdout)["grants"]["access_control"] is False
    # The web UI's share dialog says the same: tests/e2e/test_share_ui.py.


# -- 10. junk values ---------------------------------------------------------------------------


def _declared_numbers(app) -> list[tuple[str, str]]:
    """(endpoint, parameter) for every number any route takes from its query."""
    from xdiag.server.params import Int

    return sorted((ep, p.name) for ep, view in app.view_functions.items()
                  for p in getattr(view, "query_params", ()) if isinstance(p, Int))


def test_every_query_parameter_is_parsed_by_the_one_helper() -> None:
    """No view reads request.args itself: a new route cannot skip the parsing."""
    for path in (ROOT / "xdiag" / "server").glob("*.py"):
        if path.name != "params.py":
            assert "request.args" not in path.read_text(), path.name


def test_junk_numbers_get_a_clear_400_on_every_route(store) -> None:
    app, _ = make_app(store, auth="none")
    c = app.test_client()
    urls = {"queries.timeline": f"/api/v1/profiles/{PID}/timeline?",
            "queries.search": f"/api/v1/profiles/{PID}/search?q=fusion&",
            "queries.hlo_module": f"/api/v1/profiles/{PID}/hlo/none?",
            "profiles.profile_get": f"/api/v1/profiles/{PID}?wait=timeline&",
            "memory.memory_program": f"/api/v1/profiles/{PID}/memory/programs/none?",
            "memory.memory_diff": f"/api/v1/diff/memory?a={PID}&b={PID}&",
            "kernels.kernel_stats": f"/api/v1/profiles/{PID}/kernels?",
            "captures.capture_get": "/api/v1/captures/none?"}
    declared = _declared_numbers(app)
    assert {ep for ep, _ in declared} == set(urls), declared  # a new one: add its URL here
    for endpoint, name in declared:
        for junk in [j for j in JUNK if j]:
            r = c.get(urls[endpoint] + urllib.parse.urlencode({name: junk}))
            assert r.status_code == 400, (endpoint, name, junk, r.status_code)
            assert r.json["error"] == "invalid_value" and name in r.json["detail"], r.json
    r = c.get(f"/api/v1/profiles/{PID}/timeline?tracks=0,1e400")
    assert r.status_code == 400 and "tracks" in r.json["detail"]
    assert c.get(f"/api/v1/profiles/{PID}/events/{'9' * 40}").status_code == 404


@pytest.mark.parametrize("body", [
    {"job": "x", "duration_ms": 1e400}, {"job": "x", "duration_ms": "nan"},
    {"job": "x", "host_tracer_level": True}, {"job": "x", "targets": ["127.0.0.1:1e400"]},
    {"job": "x", "targets": "127.0.0.1:9"}, {"job": "x" * 300},
])
def test_junk_capture_requests_get_400(store, body) -> None:
    app, _ = make_app(store, auth="none")
    r = app.test_client().post("/api/v1/captures", data=json.dumps(body),
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["detail"], (body, r.status_code, r.json)


@pytest.mark.parametrize("raw_body", [
    '{"job": "j", "process_index": 0, "host": "127.0.0.1", "port": 1e400}',
    '{"job": "j", "process_index": NaN, "host": "127.0.0.1", "port": 9}',
    '{"job": "j", "process_index": 0, "host": "127.0.0.1", "port": 9, "peaks": {"m": Infinity}}',
    '{"job": "j", "process_index": 1e30, "host": "127.0.0.1", "port": 9}',
])
def test_junk_registrations_get_400(store, raw_body: str) -> None:
    app, _ = make_app(store, auth="none")
    r = app.test_client().post("/api/v1/agents/register", data=raw_body,
                               headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["detail"], (raw_body, r.json)


def test_ids_too_long_for_a_file_name_get_4xx(store) -> None:
    app, _ = make_app(store, auth="none")
    c = app.test_client()
    long_id = "r" * 150 + "~" + "s" * 150  # two valid names, one 301-byte file name
    for method, path, kw in (("GET", f"/api/v1/profiles/{long_id}", {}),
                             ("GET", f"/api/v1/profiles/{long_id}/tracks", {}),
                             ("DELETE", f"/api/v1/profiles/{long_id}", {}),
                             ("GET", f"/api/v1/diff?a={long_id}&b={PID}", {}),
                             ("POST", "/api/v1/shares", {"json": {"profile_id": long_id}}),
                             ("GET", f"/api/v1/captures/{'c' * 250}", {}),
                             ("POST", "/api/v1/shares", {"json": {"profile_id": PID,
                                                                  "expires_in": 1e300}})):
        r = c.open(path, method=method, **kw)
        assert 400 <= r.status_code < 500 and r.json["detail"], (method, path, r.status_code)
