"""Session claims: which process is writing a session — its upload, then its ingest.

`<root>/.xdiag/claims/<run>/<session>.json` is created only if absent (a generation
precondition), before anything of the session is written: two uploads can never
take the same session, and an upload never writes where a profile already is. The
claim is held from the start of the upload until its ingest ends (`ready` or
`failed`); a long ingest renews it. So a claim also says who is ingesting a profile.

A claim is *abandoned* when its owner process is dead (same machine: `tempfiles`),
when it is this process's and no longer in use here, or when it was not renewed for
`LEASE_S` (an ingest) or `UPLOAD_MAX_S` (an upload that has no profile record yet).
Abandoned claims are taken over: `IngestRunner.resume_pending` resumes their ingest,
or removes the unfinished upload.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from typing import Any

from xdiag.core import jsonio, tempfiles
from xdiag.core.errors import InvalidName, NotFound, PreconditionFailed
from xdiag.core.names import check_name
from xdiag.store import ObjectStore, layout

LEASE_S = 120.0  # an ingest renews its claim every LEASE_S / 4
UPLOAD_MAX_S = 3600.0  # validating and copying 2 GiB takes minutes, not an hour
JOBS_LEASE_S = 6 * 3600.0  # an ingest split over Kubernetes Jobs (`join`)

_lock = threading.Lock()
_held: dict[tuple[str, str], Claim] = {}  # (store url, key) -> claims in use here


def key(run: str, session: str) -> str:
    return f"{layout.CLAIMS}{check_name(run, 'run')}/{check_name(session, 'session')}.json"


@dataclasses.dataclass
class Claim:
    store: ObjectStore
    run: str
    session: str
    body: dict[str, Any]
    generation: int

    @property
    def key(self) -> str:
        return key(self.run, self.session)

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
        with _lock:
            if _held.get((self.store.url, self.key)) is self:
                del _held[(self.store.url, self.key)]


def _new_body(run: str, session: str, purpose: str) -> dict[str, Any]:
    now = time.time()
    return {"run": run, "session": session, "owner": tempfiles.owner(),
            "token": secrets.token_hex(8), "purpose": purpose, "created_at": now,
            "renewed_at": now}


def _write(store: ObjectStore, run: str, session: str, purpose: str,
           if_generation: int) -> Claim | None:
    """Write a claim under a precondition; None if another writer got there first. A
    write retried after a lost answer finds our own token and counts as ours."""
    body = _new_body(run, session, purpose)
    k = key(run, session)
    try:
        gen = store.write_json(k, body, if_generation=if_generation)
    except PreconditionFailed:
        try:
            raw, gen = store.read_versioned(k)
        except NotFound:
            return None
        if jsonio.loads(raw).get("token") != body["token"]:
            return None
    c = Claim(store, run, session, body, gen)
    with _lock:
        _held[(store.url, k)] = c
    return c


def create(store: ObjectStore, run: str, session: str, purpose: str = "upload") -> Claim | None:
    """Claim a session nobody claims; None if it is claimed."""
    return _write(store, run, session, purpose, 0)


def mine(store: ObjectStore, run: str, session: str) -> Claim | None:
    """This process's claim of the session, if it holds one."""
    with _lock:
        return _held.get((store.url, key(run, session)))


def read(store: ObjectStore, run: str, session: str) -> tuple[dict[str, Any], int] | None:
    try:
        raw, gen = store.read_versioned(key(run, session))
    except NotFound:
        return None
    try:
        body = jsonio.loads(raw)
    except ValueError:
        body = {}
    return (body if isinstance(body, dict) else {}), gen


def abandoned(store: ObjectStore, body: dict[str, Any], *, has_record: bool,
              now: float | None = None) -> bool:
    """Whether nobody works on what the claim names any more (see the module docstring)."""
    age = (now or time.time()) - float(body.get("renewed_at") or body.get("created_at") or 0)
    if body.get("purpose") == "jobs":  # pods come and go: only its age tells
        return age > JOBS_LEASE_S
    state = tempfiles.owner_state(str(body.get("owner", "")))
    if state == "dead":
        return True
    if state == "mine":
        run, session = body.get("run"), body.get("session")
        with _lock:
            held = _held.get((store.url, key(str(run), str(session))))
        return held is None or held.body.get("token") != body.get("token")
    return age > (LEASE_S if has_record else UPLOAD_MAX_S)


def take_over(store: ObjectStore, run: str, session: str, *, has_record: bool,
              purpose: str = "ingest") -> Claim | None:
    """This process's claim of the session: the one it holds, a new one if nobody
    claims it, or the abandoned one of another; None if a live process holds it."""
    held = mine(store, run, session)
    if held is not None:
        return held
    current = read(store, run, session)
    if current is None:
        return _write(store, run, session, purpose, 0)
    body, gen = current
    if not abandoned(store, body, has_record=has_record):
        return None
    return _write(store, run, session, purpose, gen)


def join(store: ObjectStore, run: str, session: str) -> None:
    """Mark the session as ingested by several processes that each do a part (the
    Kubernetes ingest Jobs: one pod per host file, then a finalize): whoever holds the
    claim, it is kept alive (`JOBS_LEASE_S`) until the finalize deletes it."""
    def apply(current: Any) -> Any:
        body = current if isinstance(current, dict) and current.get("token") else \
            _new_body(run, session, "jobs")
        return {**body, "purpose": "jobs", "renewed_at": time.time()}

    store.update_json(key(run, session), apply)
    held = mine(store, run, session)
    if held is not None:
        held.forget()  # no longer this process's alone


def all_claims(store: ObjectStore) -> list[tuple[str, str, dict[str, Any], int]]:
    """(run, session, body, generation) of every claim in the store."""
    out = []
    for k in store.list(layout.CLAIMS):
        run, _, name = k[len(layout.CLAIMS):].partition("/")
        if not name.endswith(".json") or "/" in name:
            continue
        try:
            current = read(store, run, name[:-len(".json")])
        except InvalidName:  # a key not written by us: skipped
            continue
        if current is not None:
            out.append((run, name[:-len(".json")], *current))
    return out

