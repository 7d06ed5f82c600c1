"""Session claims: which process is writing a session — its upload, then its ingest.

`<root>/.xdiag/claims/<run>/<session>.json` (`layout.claim_key`) is created only if
absent (a generation precondition), before anything of the session is written: two
uploads can never take the same session, and an upload never writes where a profile
already is. The claim is held from the start of the upload until its ingest ends
(`ready` or `failed`); a long ingest renews it. So a claim also says who is ingesting a
profile.

A claim names its owner process (`tempfiles.owner()`) and the service container in it
that holds it (`holder`: a test process may run several). It is *abandoned* when its
owner process is dead (same machine), when it is this container's and no longer in use
here, or when it was not renewed for `LEASE_S` (an ingest) or `UPLOAD_MAX_S` (an upload
that has no profile record yet). Abandoned claims are taken over:
`IngestRunner.resume_pending` resumes their ingest, or removes the unfinished upload.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from typing import Any

from xdiag.core import jsonio, tempfiles
from xdiag.core.errors import InvalidName, NotFound, PreconditionFailed
from xdiag.store import ObjectStore, layout

LEASE_S = 120.0  # an ingest renews its claim every LEASE_S / 4
UPLOAD_MAX_S = 3600.0  # validating and copying 2 GiB takes minutes, not an hour
JOBS_LEASE_S = 6 * 3600.0  # an ingest split over Kubernetes Jobs (`join`)


@dataclasses.dataclass
class Claim:
    claims: Claims
    run: str
    session: str
    body: dict[str, Any]
    generation: int

    @property
    def key(self) -> str:
        return layout.claim_key(self.run, self.session)

    @property
    def store(self) -> ObjectStore:
        return self.claims.store

    def renew(self) -> bool:
        """Mark it alive (`renewed_at`); False if it is no longer ours."""
        body = {**self.body, "renewed_at": time.time()}
        try:
            self.generation = self.store.write_json(self.key, body,
                                                    if_generation=self.generation)
        except PreconditionFailed:
            return self.held()
        self.body = body
        return True

    def held(self) -> bool:
        """Whether the store still holds this claim (read, not assumed)."""
        try:
            body = self.store.read_json(self.key)
        except NotFound:
            return False
        return isinstance(body, dict) and body.get("token") == self.body["token"]

    def release(self) -> None:
        """Delete it (only if it is still ours) and stop using it."""
        try:
            self.store.delete(self.key, if_generation=self.generation)
        except PreconditionFailed:
            pass  # taken over meanwhile: no longer ours to delete
        finally:
            self.forget()

    def forget(self) -> None:
        """Stop using it here but leave it in the store: an unfinished upload or ingest
        this process could not undo (the store was unreachable). It is abandoned from
        now on, and the next `resume_pending` finishes or removes what it names."""
        self.claims._forget(self)


class Claims:
    """The claims of one store as one service container sees them: those it holds, by key."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.holder = secrets.token_hex(4)  # this container among others in the process
        self._lock = threading.Lock()
        self._held: dict[str, Claim] = {}

    def _forget(self, claim: Claim) -> None:
        with self._lock:
            if self._held.get(claim.key) is claim:
                del self._held[claim.key]

    def _new_body(self, run: str, session: str, purpose: str) -> dict[str, Any]:
        now = time.time()
        return {"run": run, "session": session, "owner": tempfiles.owner(),
                "holder": self.holder, "token": secrets.token_hex(8), "purpose": purpose,
                "created_at": now, "renewed_at": now}

    def _write(self, run: str, session: str, purpose: str, if_generation: int) -> Claim | None:
        """Write a claim under a precondition; None if another writer got there first. A
        write retried after a lost answer finds our own token and counts as ours."""
        body = self._new_body(run, session, purpose)
        k = layout.claim_key(run, session)
        try:
            gen = self.store.write_json(k, body, if_generation=if_generation)
        except PreconditionFailed:
            try:
                raw, gen = self.store.read_versioned(k)
            except NotFound:
                return None
            if jsonio.loads(raw).get("token") != body["token"]:
                return None
        c = Claim(self, run, session, body, gen)
        with self._lock:
            self._held[k] = c
        return c

    def create(self, run: str, session: str, purpose: str = "upload") -> Claim | None:
        """Claim a session nobody claims; None if it is claimed."""
        return self._write(run, session, purpose, 0)

    def mine(self, run: str, session: str) -> Claim | None:
        """This container's claim of the session, if it holds one."""
        with self._lock:
            return self._held.get(layout.claim_key(run, session))

    def read(self, run: str, session: str) -> tuple[dict[str, Any], int] | None:
        try:
            raw, gen = self.store.read_versioned(layout.claim_key(run, session))
        except NotFound:
            return None
        try:
            body = jsonio.loads(raw)
        except ValueError:
            body = {}
        return (body if isinstance(body, dict) else {}), gen

    def abandoned(self, body: dict[str, Any], *, has_record: bool,
                  now: float | None = None) -> bool:
        """Whether nobody works on what the claim names any more (see the module
        docstring)."""
        age = (now or time.time()) - float(body.get("renewed_at") or body.get("created_at")
                                           or 0)
        if body.get("purpose") == "jobs":  # pods come and go: only its age tells
            return age > JOBS_LEASE_S
        state = tempfiles.owner_state(str(body.get("owner", "")))
        if state == "dead":
            return True
        if state == "mine" and body.get("holder") == self.holder:
            key = layout.claim_key(str(body.get("run")), str(body.get("session")))
            with self._lock:
                held = self._held.get(key)
            return held is None or held.body.get("token") != body.get("token")
        # Another live process, or another container of this one: only its age tells.
        return age > (LEASE_S if has_record else UPLOAD_MAX_S)

    def take_over(self, run: str, session: str, *, has_record: bool,
                  purpose: str = "ingest") -> Claim | None:
        """This container's claim of the session: the one it holds, a new one if nobody
        claims it, or the abandoned one of another; None if a live holder has it."""
        held = self.mine(run, session)
        if held is not None:
            return held
        current = self.read(run, session)
        if current is None:
            return self._write(run, session, purpose, 0)
        body, gen = current
        if not self.abandoned(body, has_record=has_record):
            return None
        return self._write(run, session, purpose, gen)

    def join(self, run: str, session: str) -> None:
        """Mark the session as ingested by several processes that each do a part (the
        Kubernetes ingest Jobs: one pod per host file, then a finalize): whoever holds
        the claim, it is kept alive (`JOBS_LEASE_S`) until the finalize deletes it."""
        def apply(current: Any) -> Any:
            body = current if isinstance(current, dict) and current.get("token") else \
                self._new_body(run, session, "jobs")
            return {**body, "purpose": "jobs", "renewed_at": time.time()}

        self.store.update_json(layout.claim_key(run, session), apply)
        held = self.mine(run, session)
        if held is not None:
            held.forget()  # no longer this container's alone

    def all(self) -> list[tuple[str, str, dict[str, Any], int]]:
        """(run, session, body, generation) of every claim in the store."""
        out = []
        for k in self.store.list(layout.CLAIMS):
            run, _, name = k[len(layout.CLAIMS):].partition("/")
            if not name.endswith(".json") or "/" in name:
                continue
            try:
                current = self.read(run, name[:-len(".json")])
            except InvalidName:  # a key not written by us: skipped
                continue
            if current is not None:
                out.append((run, name[:-len(".json")], *current))
        return out
