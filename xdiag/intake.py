"""Raw host files -> a stored session and a catalogued profile.

Shared by capture and upload. Every host file is validated (non-empty, at most
2 GiB, parses as an XSpace with events) BEFORE anything becomes visible, so bad
input leaves the store unchanged: the copies into the store run while the files
are validated, but staged (a local store's temporary files) and only committed
once all are valid. If a store write fails halfway, what was written is removed
again. Only then is the profile record created and ingest scheduled.
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

from xdiag import workers
from xdiag.errors import InvalidProfile, XdiagError
from xdiag.names import check_name, profile_id
from xdiag.store import ObjectStore, layout

MAX_XPLANE_BYTES = 2 * 1024**3


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


@workers.gc_paused()
def inspect_xplane(path: Path, label: str = "", *, keep: bool = False) -> XplaneSummary:
    """Parse a host file fully; raise InvalidProfile saying what is wrong with it.

    The lean reader validates every byte like the full one but keeps no stats, so
    checking a large upload costs a fraction of its ingest. With `keep`, it keeps the
    stats analysis reads, and the columns ride along in `parsed` so that the ingest of
    this file need not parse it again (see xplane/handoff.py).
    """
    from xdiag.xplane.lean import read_xspace_lean

    label = label or Path(path).name
    size = _check_size(path, label)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            if keep:
                from xdiag.analysis.host import ANALYSED_STATS

                cols = read_xspace_lean(buf, stats=ANALYSED_STATS)
            else:
                cols = read_xspace_lean(buf, drop_pages=False)
        except InvalidProfile as exc:
            raise InvalidProfile(f"{label}: {exc.detail}") from None
        n = len(cols.events)
        window = _window_ns(cols) if n else None
        planes = len(cols.planes)
        cols.data = None  # the columns hold copies: nothing points into the mapping
        if not keep:
            del cols
    if n == 0:
        raise InvalidProfile(f"{label}: the trace holds no events (empty trace)")
    return XplaneSummary(bytes=size, events=n, planes=planes, window_ns=window,
                         parsed=cols if keep else None)


def _check_size(path: Path, label: str) -> int:
    size = Path(path).stat().st_size
    if size == 0:
        raise InvalidProfile(f"{label}: empty file (0 bytes) — the capture recorded nothing")
    if size > MAX_XPLANE_BYTES:
        raise InvalidProfile(f"{label}: {size} bytes is over the 2 GiB limit for one host file")
    return size


def _window_ns(cols: Any) -> tuple[int, int]:
    """[first start, last end] of the events, absolute ns since the epoch."""
    import numpy as np

    ev = cols.events
    if ev.aggregated.any():  # rare: mask out the events with no time
        timed = ~ev.aggregated
        if not timed.any():
            return cols.t0_ns, cols.t0_ns
        start, dur = ev.start_ps[timed], ev.duration_ps[timed]
    else:
        start, dur = ev.start_ps, ev.duration_ps
    # The latest end, a block at a time: no n-sized temporary to fault in (5M events:
    # 8 ms instead of 15-45 ms).
    block = np.empty(min(len(start), 1 << 16), np.int64)
    last = -(2**63)
    for a in range(0, len(start), len(block)):
        part = block[:len(start[a:a + len(block)])]
        np.add(start[a:a + len(block)], dur[a:a + len(block)], out=part)
        last = max(last, int(part.max()))
    return cols.t0_ns + int(start.min()) // 1000, cols.t0_ns + -(-last // 1000)


def new_session_name(store: ObjectStore, run: str, when: float | None = None) -> str:
    """A timestamped session name like stock jax.profiler uses, unique within the run."""
    base = dt.datetime.fromtimestamp(when or time.time(), dt.UTC).strftime("%Y_%m_%d_%H_%M_%S")
    name, n = base, 1
    while store.list(layout.session_prefix(run, name)):
        n += 1
        name = f"{base}_{n}"
    return name


def windows_overlap(windows: list[tuple[int, int] | None]) -> bool | None:
    spans = [w for w in windows if w]
    if len(spans) < 2:
        return None
    return max(a for a, _ in spans) < min(b for _, b in spans)


def store_session(
    store: ObjectStore,
    profiles: Any,
    *,
    run: str,
    session: str,
    files: list[HostFile],
    source: str,
    job: str | None = None,
    extra: dict[str, Any] | None = None,
    summaries: dict[str, XplaneSummary] | None = None,
) -> dict[str, Any]:
    """Validate, write raw files, create the profile record (status `ingesting`)."""
    check_name(run, "run")
    check_name(session, "session")
    if not files:
        raise InvalidProfile("no .xplane.pb host files were given")
    hosts = [check_name(f.host, "host") for f in files]
    if len(set(hosts)) != len(hosts):
        raise InvalidProfile(f"duplicate host names in one session: {sorted(hosts)}")
    pid = profile_id(run, session)
    if profiles.exists(pid) or store.list(layout.session_prefix(run, session)):
        from xdiag.errors import Conflict

        raise Conflict(f"profile {pid!r} already exists; choose another session name")
    summaries = dict(summaries or {})
    for f in files:
        _check_size(f.path, f"{f.host}.xplane.pb")
    # The files go into the store (staged: not visible) while they are validated.
    with cf.ThreadPoolExecutor(1, thread_name_prefix="xdiag-intake-copy") as copier:
        staging = [copier.submit(store.stage_file, layout.raw_key(run, session, f.host), f.path,
                                 owned=f.owned)
                   for f in files]
        try:
            for f in files:
                if f.host not in summaries:
                    # One host file is ingested in this process: keep its parse for it.
                    summaries[f.host] = inspect_xplane(f.path, f"{f.host}.xplane.pb",
                                                       keep=len(files) == 1)
            staged = [s.result() for s in staging]
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
        created = profiles.create(record)
        for f in files:
            if summaries[f.host].parsed is not None:
                from xdiag.xplane import handoff

                key = layout.raw_key(run, session, f.host)
                handoff.put(store.url, key, summaries[f.host].bytes, summaries[f.host].parsed)
                summaries[f.host].parsed = None
        return created
    except BaseException as exc:
        for st in staged[len(written):]:
            st.abort()
        for key in written:  # leave no partial session behind
            try:
                store.delete(key)
            except XdiagError:
                pass
        if isinstance(exc, XdiagError):
            raise
        raise


def adopt_session(store: ObjectStore, profiles: Any, run: str, session: str) -> dict[str, Any]:
    """Catalogue a raw session that was written straight into the store (e.g. by the
    xprofiler CLI or `jax.profiler.trace(gs://...)`), without copying it."""
    import tempfile

    keys = [k for k in store.list(layout.session_prefix(run, session))
            if k.endswith(layout.XPLANE_SUFFIX) and "/.xdiag/" not in k]
    if not keys:
        raise InvalidProfile(f"no .xplane.pb files under {layout.session_prefix(run, session)}")
    hosts = []
    with tempfile.TemporaryDirectory(prefix="xdiag-adopt-") as tmp:
        for key in keys:
            host = layout.host_from_raw_key(key)
            path = store.local_path(key)
            if path is None:
                path = Path(tmp) / "h.xplane.pb"
                store.download_to(key, path)
            s = inspect_xplane(path, f"{host}.xplane.pb")
            hosts.append({"host": check_name(host, "host"), "bytes": s.bytes, "events": s.events,
                          "window_ns": list(s.window_ns) if s.window_ns else None})
    record = {"id": profile_id(run, session), "run": run, "session": session,
              "status": "ingesting", "error": None, "created_at": time.time(),
              "source": "store", "job": None, "hosts": hosts,
              "events": sum(h["events"] for h in hosts),
              "windows_overlap": windows_overlap([tuple(h["window_ns"]) if h["window_ns"]
                                                  else None for h in hosts])}
    return profiles.create(record)
