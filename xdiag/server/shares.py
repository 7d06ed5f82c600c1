"""Share links (/s/<token>, /api/v1/shares) and API tokens (/api/v1/tokens)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from xdiag.core.errors import BadRequest, Forbidden, Gone, NotFound
from xdiag.core.values import to_int
from xdiag.server import ui
from xdiag.server.auth import SHARE_COOKIE, Principal, requires, share_grants
from xdiag.server.context import base_url, json_body, services
from xdiag.server.params import PROFILE_ID, Text, query
from xdiag.store.secrets import MAX_EXPIRY_S

bp = Blueprint("shares", __name__)


def _secure() -> bool:
    # The scheme came from X-Forwarded-Proto only if a trusted proxy sent it (gate.py).
    return request.scheme == "https"


def _share_url(token: str) -> str:
    return f"{base_url()}/s/{token}"


# -- share links -------------------------------------------------------------


@bp.post("/api/v1/shares")
@requires("editor")
def share_create() -> Any:
    """Create a read-only link to one profile and a view state (the token is shown once).

    `grants` says what the link lets its holder do under this service's auth mode: under
    `none` (no access control) it restricts nothing, and the answer says so."""
    svc = services()
    body = json_body()
    pid, expires_in = body.get("profile_id", ""), body.get("expires_in", "7d")
    if not isinstance(pid, str):
        raise BadRequest("profile_id must be a profile id (a string: <run>~<session>)")
    if not isinstance(expires_in, str):  # seconds, as every number from users (core/values.py)
        expires_in = to_int(expires_in, "expires_in (seconds, or a duration like 7d)", lo=1,
                            hi=MAX_EXPIRY_S)
    svc.profiles.get(pid)  # 404 for unknown profiles: never share what does not exist
    p: Principal = g.principal
    token, record = svc.shares.create(pid, body.get("view"), expires_in, p.user, owner=p.id)
    return jsonify({**record, "token": token, "url": _share_url(token),
                    "grants": share_grants(svc.settings.auth, pid)}), 201


@bp.get("/api/v1/shares")
@requires("editor")
@query(Text("profile_id", "only the links to this profile", **PROFILE_ID))
def share_list(profile_id: str | None) -> Any:
    """Share links (no tokens), optionally of one profile."""
    return jsonify(services().shares.list(profile_id or None))


@bp.delete("/api/v1/shares/<share_id>")
@requires("editor")
def share_revoke(share_id: str) -> Any:
    """Revoke a share link (editors: their own; admins: any)."""
    svc = services()
    _, record = svc.shares.get(share_id)
    p: Principal = g.principal
    # By identity (the token's hash id, the IAP e-mail), never by name: names collide.
    if p.role != "admin" and (not record.get("owner") or record["owner"] != p.id):
        raise Forbidden("only the link's creator or an admin can revoke it")
    svc.shares.revoke(share_id)
    return Response(status=204)


_PAGE = """<!doctype html><meta charset=utf-8><title>xdiag — {title}</title>
<style>body{{font:16px system-ui;margin:15vh auto;max-width:36em;padding:0 1em}}</style>
<h1>{title}</h1><p>{detail}</p>"""


@bp.get("/s/<token>")
def share_open(token: str) -> Any:
    """Open a share link: the viewer, read-only, at the shared view."""
    svc = services()
    try:
        record = svc.shares.resolve(token)
    except (NotFound, Gone) as exc:
        svc.limiter.fail(request.remote_addr or "unknown")  # 429 past the limit
        if request.accept_mimetypes.best == "application/json":
            return jsonify(exc.to_json()), exc.status
        title = "Link expired" if isinstance(exc, Gone) else "Link not found"
        return Response(_PAGE.format(title=title, detail=exc.detail), status=exc.status,
                        mimetype="text/html")
    svc.shares.record_open(token, g.principal.user if g.principal.role else None)
    resp = ui.spa("")
    resp.set_cookie(SHARE_COOKIE, token, httponly=True, samesite="Lax", secure=_secure(),
                    max_age=max(1, int(record["expires_at"] - svc.clock())))
    resp.headers["Referrer-Policy"] = "no-referrer"  # keep the token out of Referer headers
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -- API tokens --------------------------------------------------------------


@bp.post("/api/v1/tokens")
@requires("admin")
def token_create() -> Any:
    """Create an API token with a role (the token is shown once)."""
    body = json_body()
    role, name = body.get("role", ""), body.get("name", "")
    if not isinstance(role, str) or not isinstance(name, str):
        raise BadRequest("role and name must be strings: {\"role\": \"viewer\", \"name\": \"ci\"}")
    token, record = services().tokens.create(role, name, g.principal.user)
    return jsonify({**record, "token": token}), 201


@bp.get("/api/v1/tokens")
@requires("admin")
def token_list() -> Any:
    """API tokens (ids, names, roles; never the tokens)."""
    return jsonify(services().tokens.list())


@bp.delete("/api/v1/tokens/<token_id>")
@requires("admin")
def token_revoke(token_id: str) -> Any:
    """Revoke an API token."""
    services().tokens.revoke(token_id)
    return Response(status=204)
