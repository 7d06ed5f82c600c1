"""Access control: the endpoint x role matrix, share-link scope, expiry, revocation, CSRF,
rate limiting, IAP, and secrets never stored or logged in clear text."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from support import FIXTURES

from xdiag.core.config import Settings
from xdiag.server import create_app
from xdiag.server.services import Services

SMALL = FIXTURES / "cpu_small.xplane.pb"
ROLES = ("anonymous", "viewer", "editor", "admin")
RANK = {"anonymous": 0, "viewer": 1, "editor": 2, "admin": 3}


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


def make_app(store_url: str, clock: Clock | None = None, **settings):
    svc = Services(Settings(store=store_url, auth=settings.pop("auth", "token"),
                            ingest_inline=True, **settings), clock=clock or Clock())
    return create_app(services=svc), svc


def add_profile(svc: Services, run: str) -> str:
    from xdiag.pipeline import admit

    rec = svc.admission.store_session(run=run, session="s1",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    return svc.ingest.run(rec["id"], inline=True)["id"]


@pytest.fixture
def world(tmp_path: Path):
    clock = Clock()
    app, svc = make_app(str(tmp_path / "store"), clock)
    pa, pb = add_profile(svc, "alpha"), add_profile(svc, "beta")
    tokens = {r: svc.tokens.create(r, f"{r}-user")[0] for r in ("viewer", "editor", "admin")}
    return app, svc, clock, pa, pb, tokens


def call(client, method: str, path: str, token: str | None = None, **kw):
    headers = kw.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.open(path, method=method, headers=headers, **kw)


AGENT = {"job": "j", "process_index": 0, "host": "127.0.0.1", "port": 9}


def endpoints(pa: str) -> list[tuple[str, str, str, dict, int]]:
    """(minimum role, method, path, request kwargs, the answer a caller with that role
    gets) for every API endpoint. The answers are the ones the inputs call for (a
    capture of a job nobody registered is a 404), so a route that crashes (500) or
    refuses a caller it should serve fails the matrix."""
    p = f"/api/v1/profiles/{pa}"
    return [
        ("viewer", "GET", "/api/v1/jobs", {}, 200),
        ("viewer", "GET", "/api/v1/profiles", {}, 200),
        ("viewer", "GET", p, {}, 200),
        ("viewer", "GET", f"{p}/tracks", {}, 200),
        ("viewer", "GET", f"{p}/timeline?start_ns=0&end_ns=1000000&width=100", {}, 200),
        ("viewer", "GET", f"{p}/events/0", {}, 200),
        ("viewer", "GET", f"{p}/search?q=fusion", {}, 200),
        ("viewer", "GET", f"{p}/ops", {}, 200),
        ("viewer", "GET", f"{p}/roofline", {}, 200),
        ("viewer", "GET", f"{p}/steps", {}, 200),
        ("viewer", "GET", f"{p}/diagnosis", {}, 200),
        ("viewer", "GET", f"{p}/framework", {}, 200),
        ("viewer", "GET", f"{p}/hosts_steps?host=h0", {}, 200),
        ("viewer", "GET", f"{p}/hlo", {}, 200),
        ("viewer", "GET", f"{p}/hlo/nomodule", {}, 404),
        ("viewer", "GET", f"{p}/memory", {}, 200),
        ("viewer", "GET", f"{p}/memory/programs/jit_train_step", {}, 200),
        ("viewer", "GET", f"{p}/memory/allocators", {}, 200),
        ("viewer", "GET", f"{p}/kernels", {}, 200),
        ("viewer", "GET", f"/api/v1/diff/memory?a={pa}&b={pa}", {}, 200),
        ("viewer", "GET", f"{p}/raw/h0", {}, 200),
        ("viewer", "GET", f"{p}/export", {}, 200),
        ("viewer", "GET", f"/api/v1/diff?a={pa}&b={pa}", {}, 200),
        ("viewer", "GET", "/api/v1/captures/nope-1", {}, 404),
        ("editor", "POST", "/api/v1/agents/register", {"json": AGENT}, 200),
        ("editor", "POST", "/api/v1/agents/heartbeat", {"json": AGENT}, 200),
        ("editor", "POST", "/api/v1/agents/deregister", {"json": AGENT}, 200),
        ("editor", "POST", "/api/v1/captures", {"json": {"job": "nojob"}}, 404),
        ("editor", "POST", "/api/v1/profiles", {"data": {}}, 400),
        ("editor", "POST", "/api/v1/shares", {"json": {"profile_id": pa}}, 201),
        ("editor", "GET", "/api/v1/shares", {}, 200),
        ("editor", "DELETE", "/api/v1/shares/0000000000000000", {}, 404),
        ("admin", "DELETE", "/api/v1/profiles/zzz~none", {}, 404),
        ("admin", "POST", "/api/v1/tokens", {"json": {"role": "viewer", "name": "x"}}, 201),
        ("admin", "GET", "/api/v1/tokens", {}, 200),
        ("admin", "DELETE", "/api/v1/tokens/0000000000000000", {}, 404),
    ]


def test_every_api_route_is_in_the_matrix(world) -> None:
    app, _, _, pa, _, _ = world
    adapter = app.url_map.bind("localhost")
    covered = {(m, adapter.match(path.split("?")[0], method=m)[0])
               for _, m, path, _, _ in endpoints(pa)}
    public = {"/api/v1/openapi.json", "/api/v1/session", "/api/v1/auth/login",
              "/api/v1/auth/logout"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule in public:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, rule.endpoint) in covered, (method, rule.rule)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(world, role: str) -> None:
    app, _svc, _, pa, _, tokens = world
    client = app.test_client()
    for need, method, path, kw, answer in endpoints(pa):
        resp = call(client, method, path, tokens.get(role), **kw)
        if RANK[role] >= RANK[need]:
            assert resp.status_code == answer, (role, method, path, resp.status_code,
                                                resp.get_json(silent=True))
        else:
            assert resp.status_code == (401 if role == "anonymous" else 403), \
                (role, method, path, resp.status_code)
            assert resp.json["detail"]


def test_share_link_scope(world) -> None:
    app, svc, _, pa, pb, tokens = world
    client = app.test_client()
    r = call(client, "POST", "/api/v1/shares", tokens["editor"],
             json={"profile_id": pa, "view": {"tab": "trace", "t0": 5, "t1": 99},
                   "expires_in": "1h"})
    assert r.status_code == 201
    token, url = r.json["token"], r.json["url"]
    assert url.endswith(f"/s/{token}") and len(token) >= 40
    guest = app.test_client()  # a fresh browser: no sign-in
    page = guest.get(f"/s/{token}")
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    hdr = {"X-Xdiag-Share": token}
    s = guest.get("/api/v1/session", headers=hdr).json
    assert s["read_only"] and s["share"]["profile_id"] == pa and s["share"]["view"]["t0"] == 5
    for path in ("", "/tracks", "/ops", "/roofline", "/steps", "/search?q=f",
                 "/timeline?start_ns=0&end_ns=100000&width=10"):
        assert guest.get(f"/api/v1/profiles/{pa}{path}").status_code == 200, path  # cookie
        assert app.test_client().get(f"/api/v1/profiles/{pa}{path}",
                                     headers=hdr).status_code == 200, path  # header
    denied = [("GET", f"/api/v1/profiles/{pb}"), ("GET", f"/api/v1/profiles/{pb}/ops"),
              ("GET", "/api/v1/profiles"), ("GET", "/api/v1/jobs"),
              ("POST", "/api/v1/captures"), ("POST", "/api/v1/shares"),
              ("DELETE", f"/api/v1/profiles/{pa}"), ("GET", f"/api/v1/diff?a={pa}&b={pb}")]
    for method, path in denied:
        resp = guest.open(path, method=method, json={"profile_id": pa, "job": "x"})
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert "share link" in resp.json["detail"]
    rec = svc.shares.list(pa)[0]
    assert rec["opens"] == 1 and rec["last_opened_at"]


def test_share_expiry_and_revocation(world) -> None:
    app, _svc, clock, pa, _, tokens = world
    client = app.test_client()
    make = lambda exp: call(client, "POST", "/api/v1/shares", tokens["editor"],  # noqa: E731
                            json={"profile_id": pa, "expires_in": exp}).json
    short, other = make("30m"), make("7d")
    assert client.get(f"/s/{short['token']}").status_code == 200
    clock.t += 31 * 60
    r = app.test_client().get(f"/s/{short['token']}")
    assert r.status_code == 410 and b"expired" in r.data
    r = app.test_client().get(f"/api/v1/profiles/{pa}", headers={"X-Xdiag-Share": short["token"]})
    assert r.status_code == 410
    assert app.test_client().get(f"/s/{other['token']}").status_code == 200
    # Only the creator (or an admin) revokes.
    viewer_try = call(client, "DELETE", f"/api/v1/shares/{other['id']}", tokens["viewer"])
    assert viewer_try.status_code == 403
    assert call(client, "DELETE", f"/api/v1/shares/{other['id']}",
                tokens["editor"]).status_code == 204
    assert app.test_client().get(f"/s/{other['token']}").status_code == 404
    assert app.test_client().get("/s/xds_unknown").status_code == 404
    listed = call(client, "GET", "/api/v1/shares", tokens["editor"]).json
    assert all("token" not in s for s in listed) and len(listed) == 2


def test_revocation_on_one_replica_holds_on_another(gcs_url: str) -> None:
    app1, svc1 = make_app(gcs_url)
    app2, _svc2 = make_app(gcs_url)
    pid = add_profile(svc1, "shared")
    editor, _ = svc1.tokens.create("editor", "e")
    r = call(app1.test_client(), "POST", "/api/v1/shares", editor, json={"profile_id": pid})
    token, sid = r.json["token"], r.json["id"]
    assert app2.test_client().get(f"/s/{token}").status_code == 200  # made on 1, opens on 2
    assert call(app2.test_client(), "DELETE", f"/api/v1/shares/{sid}", editor).status_code == 204
    assert app1.test_client().get(f"/s/{token}").status_code == 404  # revoked on 2, gone on 1
    assert app1.test_client().get(f"/api/v1/profiles/{pid}",
                                  headers={"X-Xdiag-Share": token}).status_code == 404


def test_secrets_never_in_store_or_logs(world, caplog) -> None:
    app, svc, _, pa, _, tokens = world
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    share = call(client, "POST", "/api/v1/shares", tokens["editor"],
                 json={"profile_id": pa}).json["token"]
    app.test_client().get(f"/s/{share}")
    call(client, "GET", "/api/v1/profiles", tokens["viewer"])
    call(client, "GET", "/api/v1/profiles", "xdt_wrong-token")
    secrets = [*tokens.values(), share]
    for key in svc.store.list(""):
        data = svc.store.read(key)
        for s in secrets:
            assert s.encode() not in data, key
    for s in secrets:
        assert s not in caplog.text


def test_serve_access_log_redacts_share_tokens(tmp_path: Path, serve) -> None:
    import urllib.request

    from xdiag.server.services import Services as S

    store = str(tmp_path / "store")
    s = S(Settings(store=store, ingest_inline=True))
    pid = add_profile(s, "logged")
    token, _ = s.shares.create(pid, {}, "1h", "t")
    admin, _ = s.tokens.create("admin", "a")
    svc = serve(store, "--auth", "token", env={"XDIAG_ACCESS_LOG": "all"})
    urllib.request.urlopen(f"{svc.url}/s/{token}").read()
    req = urllib.request.Request(f"{svc.url}/api/v1/profiles",
                                 headers={"Authorization": f"Bearer {admin}"})
    urllib.request.urlopen(req).read()
    svc.stop()
    log = svc.log_path.read_text()
    assert "/s/<redacted>" in log
    assert token not in log and admin not in log


def test_cookie_sign_in_needs_csrf_for_mutations(world) -> None:
    app, _svc, _, pa, _, tokens = world
    browser = app.test_client()
    r = browser.post("/api/v1/auth/login", json={"token": tokens["editor"]})
    assert r.status_code == 200
    cookies = r.headers.getlist("Set-Cookie")
    assert any("xdiag_session=" in c and "HttpOnly" in c and "SameSite=Strict" in c
               for c in cookies)
    csrf = r.json["csrf_token"]
    assert browser.get("/api/v1/profiles").status_code == 200  # reads need no CSRF
    assert browser.post("/api/v1/shares", json={"profile_id": pa}).status_code == 403
    ok = browser.post("/api/v1/shares", json={"profile_id": pa}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    # Bearer callers (CLI, agent) carry no ambient credentials: no CSRF token needed.
    assert call(app.test_client(), "POST", "/api/v1/shares", tokens["editor"],
                json={"profile_id": pa}).status_code == 201
    assert app.test_client().post("/api/v1/auth/login",
                                  json={"token": "xdt_nope"}).status_code == 401


def test_failed_attempts_are_rate_limited(world) -> None:
    app, *_ = world
    client = app.test_client()
    codes = [call(client, "GET", "/api/v1/profiles", f"xdt_bad{i}").status_code
             for i in range(25)]
    assert codes[:20] == [401] * 20 and codes[-1] == 429
    r = call(client, "GET", "/api/v1/profiles", "xdt_bad")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    share_codes = [app.test_client().get(f"/s/xds_guess{i}").status_code for i in range(3)]
    assert share_codes == [429] * 3  # same client address: still blocked


def test_auth_none_refuses_cross_origin_mutations(tmp_path: Path) -> None:
    app, _ = make_app(str(tmp_path / "s"), auth="none")
    c = app.test_client()
    r = c.post("/api/v1/captures", json={"job": "x"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert c.post("/api/v1/captures", json={"job": "x"}).status_code == 404  # allowed, no job


def test_serve_refuses_public_bind_without_auth(tmp_path: Path) -> None:
    from support import run_cli

    res = run_cli("serve", "--store", str(tmp_path / "s"), "--host", "0.0.0.0", timeout=60)
    assert res.returncode == 2 and "refusing" in res.stderr


# -- IAP ----------------------------------------------------------------------


@pytest.fixture
def iap(tmp_path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem_priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    pem_pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    keys = tmp_path / "iap_keys.json"
    keys.write_text(json.dumps({"kid-1": pem_pub}))
    aud = "/projects/123/global/backendServices/456"
    app, svc = make_app(str(tmp_path / "store"), auth="iap", iap_keys_file=str(keys),
                        iap_audience=aud, iap_roles="boss@corp.com=admin,*@corp.com=editor")
    return app, svc, pem_priv, aud


def iap_jwt(pem_priv: str, aud: str, email: str, kid: str = "kid-1", **over) -> str:
    from google.auth import crypt, jwt

    now = int(time.time())
    claims = {"iss": "https://cloud.google.com/iap", "aud": aud, "email": email,
              "sub": "accounts.google.com:1", "iat": now, "exp": now + 600, **over}
    signer = crypt.ES256Signer.from_string(pem_priv, key_id=kid)
    return jwt.encode(signer, claims).decode()


def test_iap_identity_only_after_verification(iap) -> None:
    app, _, priv, aud = iap
    c = app.test_client()
    h = lambda t: {"X-Goog-IAP-JWT-Assertion": t}  # noqa: E731
    me = c.get("/api/v1/session", headers=h(iap_jwt(priv, aud, "boss@corp.com"))).json
    assert (me["user"], me["role"]) == ("boss@corp.com", "admin")
    dev = c.get("/api/v1/session", headers=h(iap_jwt(priv, aud, "dev@corp.com"))).json
    assert dev["role"] == "editor"
    ext = iap_jwt(priv, aud, "guest@other.com")
    assert c.get("/api/v1/session", headers=h(ext)).json["role"] == "viewer"
    assert c.post("/api/v1/captures", json={"job": "x"}, headers=h(ext)).status_code == 403
    assert c.get("/api/v1/profiles").status_code == 401  # no header: not signed in

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    bad = [iap_jwt(other, aud, "boss@corp.com"),  # signed by someone else
           iap_jwt(priv, "/projects/999/other", "boss@corp.com"),  # wrong audience
           iap_jwt(priv, aud, "boss@corp.com", exp=int(time.time()) - 3600),  # expired
           iap_jwt(priv, aud, "boss@corp.com", iss="https://evil"),  # wrong issuer
           "not.a.jwt"]
    for t in bad:
        r = app.test_client().get("/api/v1/profiles", headers=h(t))
        assert r.status_code == 401, t


def test_iap_mode_accepts_api_tokens_from_inside_the_cluster(iap) -> None:
    app, svc, _, _ = iap
    editor, _ = svc.tokens.create("editor", "agent")
    c = app.test_client()
    r = c.post("/api/v1/agents/register", json=AGENT, headers={"Authorization": f"Bearer {editor}"})
    assert r.status_code == 200
    assert c.post("/api/v1/agents/register", json=AGENT,
                  headers={"Authorization": "Bearer xdt_forged"}).status_code == 401


def test_sign_out_ends_the_session_server_side(world) -> None:
    app, _svc, _, _, _, tokens = world
    browser = app.test_client()
    r = browser.post("/api/v1/auth/login", json={"token": tokens["viewer"]})
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("xdiag_session="))
    session = cookie.split(";")[0].split("=", 1)[1]
    assert session != tokens["viewer"] and session.startswith("xdss_")  # never the token
    csrf = r.json["csrf_token"]
    assert browser.get("/api/v1/profiles").status_code == 200
    # Replaying the cookie from elsewhere works until sign-out...
    thief = app.test_client()
    thief.set_cookie("xdiag_session", session)
    assert thief.get("/api/v1/profiles").status_code == 200
    assert browser.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
    # ...and not after it.
    assert thief.get("/api/v1/profiles").status_code == 401


def test_revoking_a_token_ends_its_browser_sessions(world) -> None:
    app, svc, _, _, _, tokens = world
    browser = app.test_client()
    browser.post("/api/v1/auth/login", json={"token": tokens["editor"]})
    assert browser.get("/api/v1/profiles").status_code == 200
    (rec,) = [t for t in svc.tokens.list() if t["role"] == "editor"]
    svc.tokens.revoke(rec["id"])
    assert browser.get("/api/v1/profiles").status_code == 401
