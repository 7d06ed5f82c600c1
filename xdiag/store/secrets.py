"""API tokens and share links: random secrets kept in the store only as SHA-256 hashes.

A secret has >= 256 random bits, so a fast hash is enough (nothing to brute
force); the clear text exists only in the response that created it. Records
live under `.xdiag/tokens/<hash>.json` and `.xdiag/shares/<hash>.json`, so every
service replica sees the same ones and a revocation made through one replica
holds on all of them at the next request. The short public id of a record is
the first 16 hex digits of its hash (enough to find it by prefix listing, far
too little to recover the secret).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from xdiag.core.errors import BadRequest, Gone, NotFound
from xdiag.core.names import split_profile_id
from xdiag.core.roles import ROLES
from xdiag.store import ObjectStore, layout

TOKEN_PREFIX = "xdt_"
SHARE_PREFIX = "xds_"
SIGNIN_PREFIX = "xdss_"  # a browser sign-in (its cookie)
SIGNIN_S = 30 * 86400
MAX_EXPIRY_S = 90 * 86400
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)  # 256 bits


def parse_duration(text: str | int | None, default: str = "7d") -> int:
    """'90s', '30m', '12h', '7d', '2w' -> seconds (at most 90 days)."""
    if isinstance(text, int):
        seconds = text
    else:
        m = _DURATION.match(str(text or default))
        if not m:
            raise BadRequest(f"expiry {text!r} is not a duration like 30m, 12h, 7d or 2w")
        seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if not 0 < seconds <= MAX_EXPIRY_S:
        raise BadRequest("expiry must be between 1 second and 90 days")
    return seconds


class Tokens:
    """API tokens with a role (viewer < editor < admin)."""

    prefix = layout.TOKENS

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock

    def create(self, role: str, name: str, created_by: str | None = None) -> tuple[str, dict]:
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")  # core/roles.py
        token = new_secret(TOKEN_PREFIX)
        h = digest(token)
        record = {"id": h[:16], "name": name[:100], "role": role, "created_at": self.clock(),
                  "created_by": created_by}
        self.store.write_json(f"{self.prefix}{h}.json", record, if_generation=0)
        return token, record

    def lookup(self, token: str) -> dict[str, Any] | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return self.lookup_hash(digest(token))

    def lookup_hash(self, token_hash: str) -> dict[str, Any] | None:
        try:
            return self.store.read_json(f"{self.prefix}{token_hash}.json")
        except NotFound:
            return None

    def list(self) -> list[dict[str, Any]]:
        return sorted((r for _, r in self.store.iter_json(self.prefix)),
                      key=lambda r: r["created_at"])

    def revoke(self, token_id: str) -> None:
        keys = self._keys(token_id)
        if not keys:
            raise NotFound(f"no token {token_id!r}")
        self.store.delete(keys[0])

    def _keys(self, rid: str) -> list[str]:
        if not re.fullmatch(r"[0-9a-f]{16}", rid):
            raise NotFound(f"no record {rid!r}")
        return self.store.list(f"{self.prefix}{rid}")


class SignIns:
    """Browser sign-ins: the cookie holds a sign-in secret, never the API token itself.

    A sign-in refers to its token by hash, so revoking the token ends its sign-ins, and
    signing out deletes the sign-in (a leaked cookie dies with it).
    """

    prefix = layout.SIGNINS

    def __init__(self, store: ObjectStore, tokens: Tokens,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.tokens, self.clock = store, tokens, clock

    def create(self, token: str) -> str:
        secret = new_secret(SIGNIN_PREFIX)
        now = self.clock()
        self.store.write_json(f"{self.prefix}{digest(secret)}.json",
                              {"token_hash": digest(token), "created_at": now,
                               "expires_at": now + SIGNIN_S}, if_generation=0)
        return secret

    def token_record(self, secret: str) -> dict[str, Any] | None:
        """The token record behind a live sign-in, or None."""
        if not secret.startswith(SIGNIN_PREFIX) or len(secret) > 200:
            return None
        try:
            rec = self.store.read_json(f"{self.prefix}{digest(secret)}.json")
        except NotFound:
            return None
        if self.clock() >= rec["expires_at"]:
            return None
        return self.tokens.lookup_hash(rec["token_hash"])

    def end(self, secret: str) -> None:
        if secret.startswith(SIGNIN_PREFIX) and len(secret) <= 200:
            self.store.delete(f"{self.prefix}{digest(secret)}.json")


class Shares:
    """Read-only links to one profile and a view state, with expiry and revocation."""

    prefix = layout.SHARES

    def __init__(self, store: ObjectStore, clock: Callable[[], float] = time.time) -> None:
        self.store, self.clock = store, clock

    def create(self, profile_id: str, view: Any, expires_in: Any, created_by: str | None,
               owner: str | None = None) -> tuple[str, dict[str, Any]]:
        """A new link; `created_by` is shown, `owner` (the creator's identity, not a name
        that another token may share) decides who may revoke it."""
        split_profile_id(profile_id)
        if view is not None and not isinstance(view, dict):
            raise BadRequest("view must be a JSON object (tab, t0, t1, sel, q, ...)")
        if len(str(view or {})) > 4000:
            raise BadRequest("view state is too large (4 kB at most)")
        token = new_secret(SHARE_PREFIX)
        h = digest(token)
        now = self.clock()
        record = {"id": h[:16], "profile_id": profile_id, "view": view or {},
                  "created_at": now, "created_by": created_by, "owner": owner,
                  "expires_at": now + parse_duration(expires_in), "revoked_at": None,
                  "opens": 0, "last_opened_at": None, "last_opened_by": None}
        self.store.write_json(f"{self.prefix}{h}.json", record, if_generation=0)
        return token, record

    def resolve(self, token: str) -> dict[str, Any]:
        """The share a token names; NotFound (unknown/revoked) or Gone (expired)."""
        if not token.startswith(SHARE_PREFIX) or len(token) > 200:
            raise NotFound("this share link does not exist")
        try:
            record = self.store.read_json(f"{self.prefix}{digest(token)}.json")
        except NotFound:
            raise NotFound("this share link does not exist") from None
        if record.get("revoked_at"):
            raise NotFound("this share link was revoked")
        if self.clock() >= record["expires_at"]:
            raise Gone("this share link has expired; ask its owner for a new one")
        return record

    def record_open(self, token: str, by: str | None) -> dict[str, Any]:
        now = self.clock()

        def bump(r: Any) -> Any:
            if r is None:
                raise NotFound("this share link does not exist")
            return {**r, "opens": int(r.get("opens", 0)) + 1, "last_opened_at": now,
                    "last_opened_by": by}

        return self.store.update_json(f"{self.prefix}{digest(token)}.json", bump)

    def list(self, profile_id: str | None = None) -> list[dict[str, Any]]:
        rows = [r for _, r in self.store.iter_json(self.prefix)
                if profile_id is None or r["profile_id"] == profile_id]
        return sorted(rows, key=lambda r: r["created_at"], reverse=True)

    def get(self, share_id: str) -> tuple[str, dict[str, Any]]:
        if not re.fullmatch(r"[0-9a-f]{16}", share_id):
            raise NotFound(f"no share {share_id!r}")
        keys = self.store.list(f"{self.prefix}{share_id}")
        if not keys:
            raise NotFound(f"no share {share_id!r}")
        return keys[0], self.store.read_json(keys[0])

    def revoke(self, share_id: str) -> dict[str, Any]:
        key, _ = self.get(share_id)
        now = self.clock()
        return self.store.update_json(key, lambda r: {**r, "revoked_at": r.get("revoked_at") or now})
