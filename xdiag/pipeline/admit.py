"""Admission: raw host files in, a stored session and a catalogued profile out — or nothing.

Shared by capture and upload. The session is claimed first (`claims.py`: created
only if absent), so two uploads never share a session and none writes where a
profile already is: a name the user chose that is taken is refused (409) without
touching anything of it; a name the service proposed (`new_session_name`) moves on
to the next free one. Every host file is validated (non-empty, at most 2 GiB,
parses as an XSpace with events, and holds what ingest needs:
`analysis/validation.py`) BEFORE anything becomes visible, so bad input leaves the
store unchanged: the copies into the store run while the files are validated, but
staged (a local store's temporary files) and only committed once all are valid. If a
store write fails halfway, what was written is removed again (or, with the store
unreachable, left to `IngestRunner.resume_pending` under the abandoned claim). Only
then is the profile record created; the claim passes to its ingest, and a single host
file's parse with it (`handoff.py`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as dt
import mmap
import time
from pathlib import Path
from typing import Any

from xdiag.analysis import validation
from xdiag.core import tempfiles, threads
from xdiag.core.errors import Conflict, InvalidProfile, StoreError
from xdiag.core.names import check_name, profile_id
from xdiag.pipeline.claims import Claim, Claims
from xdiag.pipeline.handoff import Handoff
from xdiag.store import ObjectStore, layout
from xdiag.store.profiles import Profiles

MAX_XPLANE_BYTES = 2 * 1024**3
AUTO_NAME_TRIES = 100  # `<base>`, `<base>_2`, ... for a session name the service chose


class SessionName(str):
    """A session name the service proposed (`new_session_name`), not one a user chose:
    `store_session` takes it, or the next free one if it is taken by then. (Kept only
    while it is passed on as is: `str(name)` is a plain name again.)"""


@dataclasses.dataclass
class HostFile:
    host: str
    path: Path
    # The caller's own temporary file (a capture's trace, an HTTP upload's body), which
    # the store may take over instead of copying; never a user's file.
    owned: bool = False


@dataclasses.dataclass
class XplaneSummary:
    bytes: int
    events: int
    planes: int
    window_ns: tuple[int, int] | None  # absolute ns since the epoch
    # With inspect_xplane(keep=True): the file parsed for analysis, handed to the ingest.
    parsed: Any = dataclasses.field(default=None, repr=False, compare=False)


@threads.gc_paused()
def inspect_xplane(path: Path, label: str = "", *, keep: bool = False) -> XplaneSummary:
    """Parse a host file fully; raise InvalidProfile saying what is wrong with it.

    The lean reader validates every byte like the full one but keeps no stats, so
    checking a large upload costs a fraction of its ingest. With `keep`, it keeps the
    stats analysis reads, and the columns ride along in `parsed` so that the ingest of
    this file need not parse it again (see handoff.py).
    """
    from xdiag.analysis.event_stats import ANALYSED_STATS
    from xdiag.xplane.lean import read_xspace_lean

    label = label or Path(path).name
    size = _check_size(path, label)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            # The analysed stats always: validation checks their types (~7% more parse).
            cols = read_xspace_lean(buf, stats=ANALYSED_STATS, drop_pages=keep)
        except InvalidProfile as exc:
            raise InvalidProfile(f"{label}: {exc.detail}") from None
        n = len(cols.events)
        if n == 0:
            raise InvalidProfile(f"{label}: the trace holds no events (empty trace)")
        window = validation.check_host(cols, label)
        planes = len(cols.planes)
        cols.data = None  # the columns hold copies: nothing points into the mapping
        if not keep:
            del cols
    return XplaneSummary(bytes=size, events=n, planes=planes, window_ns=window,
                         parsed=cols if keep else None)


def _check_size(path: Path, label: str) -> int:
    size = Path(path).stat().st_size
    if size == 0:
        raise InvalidProfile(f"{label}: empty file (0 bytes) — the capture recorded nothing")
    if size > MAX_XPLANE_BYTES:
        raise InvalidProfile(f"{label}: {size} bytes is over the 2 GiB limit for one host file")
    return size


def new_session_name(when: float | None = None) -> SessionName:
    """A timestamped session name like stock jax.profiler uses. Only proposed: the
    store may already hold it; `store_session` makes it unique when it claims it."""
    return SessionName(dt.datetime.fromtimestamp(when or time.time(), dt.UTC)
                       .strftime("%Y_%m_%d_%H_%M_%S"))


def windows_overlap(windows: list[tuple[int, int] | None]) -> bool | None:
    spans = [w for w in windows if w]
    if len(spans) < 2:
        return None
    return max(a for a, _ in spans) < min(b for _, b in spans)


class Admission:
    """Admits host files into one store: claims, validation, raw files, profile records."""

    def __init__(self, store: ObjectStore, profiles: Profiles, claims: Claims,
                 handoff: Handoff | None = None) -> None:
        self.store, self.profiles, self.claims, self.handoff = store, profiles, claims, handoff

    def _claim_free(self, run: str, session: str) -> Claim | None:
        """Claim the session if nobody claims it and nothing of a profile is there; None
        if it is taken. Files of a deleted profile's views left behind are removed."""
        claim = self.claims.create(run, session)
        if claim is None:
            return None
        try:
            prefix = layout.session_prefix(run, session)
            left = self.store.list(prefix)
            if self.profiles.exists(profile_id(run, session)) or any(
                    not k[len(prefix):].startswith(layout.STATE + "/") for k in left):
                claim.release()
                return None
            for k in left:  # no record and no raw file: views nobody will read
                self.store.delete(k)
        except BaseException:
            claim.forget()  # whatever the store holds now, the claim is abandoned
            raise
        return claim

    def claim_session(self, run: str, session: str | None) -> tuple[str, Claim]:
        """The session to write, claimed: `session` if free; for a proposed name (or
        None), the first free of `<name>`, `<name>_2`, ... Conflict if it is taken."""
        check_name(run, "run")
        auto = session is None or isinstance(session, SessionName)
        base = check_name(str(session) if session is not None else new_session_name(), "session")
        for n in range(1, (AUTO_NAME_TRIES if auto else 1) + 1):
            name = base if n == 1 else f"{base}_{n}"
            claim = self._claim_free(run, name)
            if claim is not None:
                return name, claim
        if auto:
            raise Conflict(f"no free session name in run {run!r} from {base!r} to "
                           f"{base}_{AUTO_NAME_TRIES}; try again in a second")
        raise Conflict(f"profile {profile_id(run, base)!r} already exists, or is being "
                       "uploaded right now; choose another session name")

    def store_session(self, *, run: str, session: str | None, files: list[HostFile],
                      source: str, job: str | None = None, extra: dict[str, Any] | None = None,
                      summaries: dict[str, XplaneSummary] | None = None) -> dict[str, Any]:
        """Claim a session, validate, write raw files, create the profile record (status
        `ingesting`); the claim is left to the profile's ingest (`IngestRunner.run`).

        `session`: the user's name (taken: Conflict), or a `SessionName` / None for the
        service's choice (the record says which was taken)."""
        check_name(run, "run")
        if session is not None:
            check_name(str(session), "session")
        if not files:
            raise InvalidProfile("no .xplane.pb host files were given")
        hosts = [check_name(f.host, "host") for f in files]
        if len(set(hosts)) != len(hosts):
            raise InvalidProfile(f"duplicate host names in one session: {sorted(hosts)}")
        summaries = dict(summaries or {})
        for f in files:
            _check_size(f.path, f"{f.host}.xplane.pb")
        session, claim = self.claim_session(run, session)
        try:
            return self._store_claimed(claim, run=run, session=session, files=files,
                                       source=source, job=job, extra=extra,
                                       summaries=summaries)
        except StoreError:
            claim.forget()  # the store is unreachable: resume_pending cleans up later
            raise
        except BaseException:
            claim.release()
            raise

    def _store_claimed(self, claim: Claim, *, run: str, session: str, files: list[HostFile],
                       source: str, job: str | None, extra: dict[str, Any] | None,
                       summaries: dict[str, XplaneSummary]) -> dict[str, Any]:
        store = self.store
        pid = profile_id(run, session)
        # One host file is ingested in this process: its parse is kept for the ingest.
        keep = len(files) == 1 and self.handoff is not None
        # The files go into the store (staged: not visible) while they are validated.
        with cf.ThreadPoolExecutor(1, thread_name_prefix="xdiag-admit-copy") as copier:
            staging = [copier.submit(store.stage_file, layout.raw_key(run, session, f.host),
                                     f.path, owned=f.owned)
                       for f in files]
            try:
                for f in files:
                    if f.host not in summaries:
                        summaries[f.host] = inspect_xplane(f.path, f"{f.host}.xplane.pb",
                                                           keep=keep)
                staged = [s.result() for s in staging]
                validation.check_session({f.host: summaries[f.host].window_ns for f in files})
            except BaseException:
                for s in staging:
                    with contextlib.suppress(BaseException):
                        s.result().abort()
                raise

        written: list[str] = []
        try:
            for i, f in enumerate(files):
                staged[i].commit()
                written.append(layout.raw_key(run, session, f.host))
            windows = [summaries[f.host].window_ns for f in files]
            record = {
                "id": pid,
                "run": run,
                "session": session,
                "status": "ingesting",
                "error": None,
                "created_at": time.time(),
                "source": source,
                "job": job,
                "hosts": [
                    {
                        "host": f.host,
                        "bytes": summaries[f.host].bytes,
                        "events": summaries[f.host].events,
                        "window_ns": list(summaries[f.host].window_ns or []) or None,
                    }
                    for f in files
                ],
                "events": sum(s.events for s in summaries.values()),
                "windows_overlap": windows_overlap(windows),
                **(extra or {}),
            }
            created = self.profiles.create(record)
            for f in files:
                if summaries[f.host].parsed is not None and self.handoff is not None:
                    self.handoff.put(layout.raw_key(run, session, f.host),
                                     summaries[f.host].bytes, summaries[f.host].parsed)
                summaries[f.host].parsed = None
            return created
        except BaseException as exc:
            for st in staged[len(written):]:
                st.abort()
            if isinstance(exc, StoreError):
                raise  # nothing more gets through now; the abandoned claim names the rest
            for key in written:  # leave no partial session behind (the claim makes it ours)
                store.delete(key)
            raise

    def adopt_session(self, run: str, session: str) -> dict[str, Any]:
        """Catalogue a raw session that was written straight into the store (e.g. by the
        xprofiler CLI or `jax.profiler.trace(gs://...)`), without copying it. Claimed like
        an upload (Conflict if another process claims it); the claim passes to its ingest."""
        store = self.store
        keys = [k for k in store.list(layout.session_prefix(run, session))
                if k.endswith(layout.XPLANE_SUFFIX) and "/.xdiag/" not in k]
        if not keys:
            raise InvalidProfile(f"no .xplane.pb files under "
                                 f"{layout.session_prefix(run, session)}")
        claim = self.claims.create(run, session, "adopt")
        if claim is None:
            raise Conflict(f"session {profile_id(run, session)!r} is being written by another "
                           "process; try again when it is done")
        hosts = []
        try:
            tmp = tempfiles.mkdtemp("xdiag-adopt-")
            try:
                for key in keys:
                    host = layout.host_from_raw_key(key)
                    path = store.local_path(key)
                    if path is None:
                        path = tmp / "h.xplane.pb"
                        store.download_to(key, path)
                    s = inspect_xplane(path, f"{host}.xplane.pb")
                    hosts.append({"host": check_name(host, "host"), "bytes": s.bytes,
                                  "events": s.events,
                                  "window_ns": list(s.window_ns) if s.window_ns else None})
            finally:
                tempfiles.remove(tmp)
            validation.check_session({h["host"]: h["window_ns"] for h in hosts})
            record = {"id": profile_id(run, session), "run": run, "session": session,
                      "status": "ingesting", "error": None, "created_at": time.time(),
                      "source": "store", "job": None, "hosts": hosts,
                      "events": sum(h["events"] for h in hosts),
                      "windows_overlap": windows_overlap([tuple(h["window_ns"])
                                                          if h["window_ns"] else None
                                                          for h in hosts])}
            return self.profiles.create(record)
        except StoreError:
            claim.forget()
            raise
        except BaseException:
            claim.release()
            raise
