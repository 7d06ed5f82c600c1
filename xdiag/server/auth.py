"""Who is calling and what they may do: the identity of every request, role checks
(`@requires`), CSRF, share links, and browser sign-in (`/api/v1/auth/*`,
`/api/v1/session`). In flaskr's shape: one blueprint whose `before_app_request` loads
the caller into `g.principal`, and a decorator every view declares its role with.

Modes (`XDIAG_AUTH`):
- `none`: no access control; every caller is admin. The server refuses to bind a
  non-loopback address in this mode unless `--insecure`. Cross-origin mutating
  requests are still refused (a web page must not drive a local service).
- `token`: API tokens (`Authorization: Bearer xdt_...`, used by the CLI and the
  agent) or, in a browser, a sign-in (`POST /api/v1/auth/login` with a token sets an
  HttpOnly SameSite cookie holding a sign-in secret that refers to the token by hash;
  sign-out deletes it); cookie-authenticated mutating requests must carry
  `X-CSRF-Token`, a value derived from that sign-in's secret (`csrf_token`), so a
  token planted from elsewhere (a sibling subdomain setting cookies) never matches.
- `iap`: identity from Google IAP's signed header `X-Goog-IAP-JWT-Assertion`,
  trusted only after verifying the ES256 signature against the configured keys,
  the audience, issuer and expiry; roles by e-mail from `XDIAG_IAP_ROLES`.
  Requests without that header (agents and CLIs inside the cluster, which do not
  pass through IAP) may authenticate with an API token instead.

Roles are `core/roles.py`'s. A share link (`/s/<token>`, then the `xdiag_share` cookie
or `X-Xdiag-Share` header) grants viewer access to its one profile to a caller who is
otherwise not signed in (under `none` everyone can do everything anyway:
`share_grants` says so).

Failures (a wrong token, sign-in, share link or IAP assertion) are rate limited per
client address (behind trusted proxies, the real client's: `gate.py`) by the
container's `RateLimiter`; a request that presents valid credentials is never refused
by the limiter, so a flood of wrong tokens from a shared address cannot lock its users
out.

Every mutating request's `Origin`, when present, must be this service's own origin; the
Host header itself was checked before (`gate.py`), which is what defeats DNS rebinding,
and forwarded headers count only from trusted proxies.
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, g, jsonify, make_response, request

from xdiag.core.errors import BadRequest, Forbidden, Gone, NotFound, Unauthorized, XdiagError
from xdiag.core.roles import ROLES, allows, check_role
from xdiag.server.context import json_body, services
from xdiag.server.gate import ANY_HOST_PATHS
from xdiag.server.services import Services
from xdiag.store.secrets import SIGNIN_S

bp = Blueprint("auth", __name__)

F = TypeVar("F", bound=Callable[..., Any])

SIGNIN_COOKIE = "xdiag_session"  # a browser sign-in (the cookie's name since release 1)
CSRF_COOKIE = "xdiag_csrf"
SHARE_COOKIE = "xdiag_share"
SHARE_HEADER = "X-Xdiag-Share"
CSRF_HEADER = "X-CSRF-Token"
IAP_HEADER = "X-Goog-IAP-JWT-Assertion"
IAP_ISSUER = "https://cloud.google.com/iap"
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


@dataclasses.dataclass
class Principal:
    kind: str  # none | token | iap | anonymous
    user: str | None  # for people: a token's name, an e-mail
    role: str | None  # None: not signed in
    via_cookie: bool = False
    # Who it is, for ownership (share links, jobs): names collide, this does not.
    id: str | None = None


def _client() -> str:
    """The client's address; behind a trusted proxy the real client's (gate.py)."""
    return request.remote_addr or "unknown"


def csrf_token(secret: str) -> str:
    """The CSRF token of a browser sign-in: derived from its secret, so bound to it."""
    return hmac.new(secret.encode(), b"xdiag-csrf-v1", hashlib.sha256).hexdigest()


def share_grants(mode: str, profile_id: str) -> dict[str, Any]:
    """What a share link lets its holder do under auth `mode`, in words and as flags."""
    if mode == "none":
        return {"read_only": False, "profile_only": False, "access_control": False,
                "summary": "This service runs without access control (XDIAG_AUTH=none): "
                           "anyone who can reach it can already see every profile, capture, "
                           "upload and delete, with or without this link. The link only "
                           "opens this view; it restricts nothing."}
    return {"read_only": True, "profile_only": True, "access_control": True,
            "summary": f"Read-only access to profile {profile_id} only, for anyone holding "
                       "the link until it expires or is revoked."}


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _iap_roles(spec: str) -> list[tuple[str, str]]:
    """'alice@x.com=admin,*@x.com=editor' -> [(pattern, role)], first match wins."""
    out = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        pattern, _, role = part.partition("=")
        if role not in ROLES:
            raise ValueError(f"XDIAG_IAP_ROLES: {part!r} needs =viewer, =editor or =admin")
        out.append((pattern.strip().lower(), role))
    return out


def verify_iap(assertion: str, keys: dict[str, str], audience: str) -> dict[str, Any]:
    """Verify an IAP JWT (ES256) and return its claims; raise Unauthorized if anything is off."""
    from google.auth import jwt as gjwt

    if not keys or not audience:
        raise Unauthorized("IAP mode needs XDIAG_IAP_KEYS_FILE and XDIAG_IAP_AUDIENCE")
    try:
        head = assertion.split(".")[0]
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
        if header.get("alg") != "ES256":
            raise ValueError(f"unexpected algorithm {header.get('alg')!r}")
        claims = gjwt.decode(assertion, certs=keys, audience=audience, clock_skew_in_seconds=30)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise Unauthorized(f"IAP assertion rejected: {exc}") from None
    if claims.get("iss") != IAP_ISSUER:
        raise Unauthorized("IAP assertion rejected: wrong issuer")
    if not claims.get("email"):
        raise Unauthorized("IAP assertion has no e-mail")
    return claims


def load_principal(svc: Services) -> Principal:
    """Resolve the caller of the current request."""
    settings = svc.settings
    mode = settings.auth
    if mode == "none":
        return Principal("none", "local", "admin", id="local")
    if mode == "iap":
        assertion = request.headers.get(IAP_HEADER)
        if not assertion:
            # In-cluster callers (agents, the CLI in a pod) do not pass through IAP: they
            # authenticate with an API token, exactly as in token mode.
            return _token_principal(svc) if _bearer() else Principal("anonymous", None, None)
        try:
            claims = verify_iap(assertion, svc.iap_keys(), settings.iap_audience)
        except Unauthorized:
            svc.limiter.fail(_client())
            raise
        email = str(claims["email"]).lower()
        role = next((r for pat, r in _iap_roles(settings.iap_roles) if fnmatch.fnmatch(email, pat)),
                    "viewer")
        return Principal("iap", email, role, id=f"iap:{email}")
    if mode != "token":
        raise BadRequest(f"unknown auth mode {mode!r}")
    return _token_principal(svc)


def _token_principal(svc: Services) -> Principal:
    token = _bearer()
    if token is None and request.cookies.get(SIGNIN_COOKIE):
        record = svc.signins.token_record(request.cookies[SIGNIN_COOKIE])
        if record is None:
            svc.limiter.fail(_client())
            raise Unauthorized("your session ended (signed out, expired or its token was "
                               "revoked): sign in again")
        return Principal("token", record["name"] or record["id"], record["role"], True,
                         id=f"token:{record['id']}")
    if token is None:
        return Principal("anonymous", None, None)
    record = svc.tokens.lookup(token)
    if record is None:
        svc.limiter.fail(_client())
        raise Unauthorized("the API token is not valid (revoked or mistyped); create one with "
                           "`xdiag token create --role ...`")
    return Principal("token", record["name"] or record["id"], record["role"],
                     id=f"token:{record['id']}")


def share_token() -> str | None:
    return request.headers.get(SHARE_HEADER) or request.cookies.get(SHARE_COOKIE)


def load_share(svc: Services) -> dict[str, Any] | None:
    """The share record this request carries, if any (checked lazily: only when needed)."""
    if "share" not in g:
        token = share_token()
        g.share = None
        if token:
            try:
                g.share = svc.shares.resolve(token)
            except (NotFound, Gone):
                svc.limiter.fail(_client())
                raise
    return g.share


def check_csrf(principal: Principal) -> None:
    if request.method not in MUTATING:
        return
    if principal.via_cookie:
        sent = request.headers.get(CSRF_HEADER) or ""
        expected = csrf_token(request.cookies.get(SIGNIN_COOKIE, ""))
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Forbidden("missing or wrong X-CSRF-Token header (reload the page)")
    # The request's own origin: Host was checked against the allowed names, and scheme and
    # host come from forwarded headers only when a trusted proxy sent them (gate.py).
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise Forbidden(f"cross-origin request from {origin[:100]} refused")


def authorize(svc: Services, role: str, profile_id: str | None = None) -> None:
    """Raise unless the caller has `role` (or a share link to `profile_id`, for reads)."""
    p: Principal = g.principal
    if allows(p.role, role):
        return
    # A share link only ever grants viewer, so it matters only to callers not signed in.
    share = load_share(svc) if p.role is None and share_token() else None
    if share is not None:
        if role == "viewer" and profile_id is not None and profile_id == share["profile_id"]:
            return
        raise Forbidden(f"this share link grants read-only access to profile "
                        f"{share['profile_id']!r} only")
    if p.role is None:
        raise Unauthorized("sign in first: send `Authorization: Bearer <token>` or use the "
                           "sign-in page")
    raise Forbidden(f"this needs the {role} role; you are {p.role}")


def requires(role: str, *, profile_arg: str | None = None) -> Callable[[F], F]:
    """Declare the minimum role for a view (checked before the view runs).

    `profile_arg` names the view argument holding a profile id: a share link
    grants viewer access to that one profile only.
    """
    check_role(role)

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            authorize(services(), role, kwargs.get(profile_arg) if profile_arg else None)
            return view(*args, **kwargs)

        checked.required_role = role  # type: ignore[attr-defined]
        checked.profile_arg = profile_arg  # type: ignore[attr-defined]  # (openapi.py)
        return checked  # type: ignore[return-value]

    return wrap


@bp.before_app_request
def identify() -> None:
    """Who the caller is, for every request but the probes and static assets."""
    if request.path in ANY_HOST_PATHS or request.path.startswith("/assets/"):
        return
    g.principal = load_principal(services())
    check_csrf(g.principal)


def _secure() -> bool:
    # The scheme came from X-Forwarded-Proto only if a trusted proxy sent it (gate.py).
    return request.scheme == "https"


@bp.get("/api/v1/session")
def session() -> Any:
    """Who the caller is, the auth mode and, when opened through a share link, the share."""
    svc = services()
    p: Principal = g.principal
    share = None
    # Only the header counts here: the SPA sends it while showing /s/<token>; the cookie
    # (set by /s/<token>) must not turn the rest of the UI read-only in the same browser.
    if request.headers.get(SHARE_HEADER):
        try:
            s = load_share(svc)
            share = {"profile_id": s["profile_id"], "view": s["view"],
                     "expires_at": s["expires_at"], "id": s["id"]} if s else None
        except XdiagError:
            share = None
    signed_in = p.role is not None and svc.settings.auth != "none"
    csrf = csrf_token(request.cookies[SIGNIN_COOKIE]) if p.via_cookie else None
    return jsonify({"auth": svc.settings.auth, "user": p.user, "role": p.role, "share": share,
                    "csrf_token": csrf, "read_only": share is not None and not signed_in})


@bp.post("/api/v1/auth/login")
def login() -> Any:
    """Sign a browser in with an API token (sets an HttpOnly session cookie)."""
    svc = services()
    if svc.settings.auth != "token":
        raise BadRequest(f"sign-in with a token is only used in token mode (this service uses "
                         f"{svc.settings.auth!r})")
    token = json_body().get("token", "")
    record = svc.tokens.lookup(token.strip()) if isinstance(token, str) else None
    if record is None:
        svc.limiter.fail(_client())
        raise Unauthorized("that token is not valid")
    secret = svc.signins.create(token.strip())
    resp = make_response(jsonify({"user": record["name"], "role": record["role"],
                                  "csrf_token": csrf_token(secret)}))
    resp.set_cookie(SIGNIN_COOKIE, secret, httponly=True, samesite="Strict",
                    secure=_secure(), max_age=SIGNIN_S)
    return resp


@bp.post("/api/v1/auth/logout")
def logout() -> Any:
    """End the browser's session (the session is deleted server-side, not just forgotten)."""
    if request.cookies.get(SIGNIN_COOKIE):
        services().signins.end(request.cookies[SIGNIN_COOKIE])
    resp = make_response(jsonify({"ok": True}))
    for name in (SIGNIN_COOKIE, CSRF_COOKIE, SHARE_COOKIE):
        resp.delete_cookie(name)
    return resp
