"""Raw session -> derived, versioned, read-optimised views (stub: counts events).

The analysis issue replaces `ingest_session` with the real pipeline; the
runner around it (status transitions, background queue, restart) stays.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from typing import Any

from xdiag.errors import XdiagError
from xdiag.store import ObjectStore, layout

log = logging.getLogger("xdiag.ingest")

VERSION = 0


def ingest_session(store: ObjectStore, record: dict[str, Any]) -> dict[str, Any]:
    """Stub: record 'ingested: N events per host' in the derived folder."""
    from xdiag.xplane.reader import read_xspace

    counts = {}
    for host in record["hosts"]:
        cols = read_xspace(store.read(layout.raw_key(record["run"], record["session"], host["host"])))
        counts[host["host"]] = int(cols.num_events)
    prefix = layout.derived_prefix(record["run"], record["session"], VERSION)
    store.write_json(prefix + "summary.json", {"ingested_events_per_host": counts})
    return {"version": VERSION, "events_per_host": counts}


class IngestRunner:
    """Runs ingest for profiles and moves their status to `ready` or `failed`."""

    def __init__(self, store: ObjectStore, profiles: Any, workers: int = 1) -> None:
        self.store, self.profiles = store, profiles
        self._pool = cf.ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ingest")
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def run(self, pid: str) -> dict[str, Any]:
        record = self.profiles.get(pid)
        t0 = time.perf_counter()
        try:
            info = ingest_session(self.store, record)
        except XdiagError as exc:
            return self.profiles.update(pid, status="failed", error=exc.detail)
        except Exception as exc:
            log.exception("ingest of %s failed", pid)
            return self.profiles.update(pid, status="failed", error=f"ingest failed: {exc}")
        seconds = time.perf_counter() - t0
        events = record.get("events") or 0
        info.update(seconds=round(seconds, 4), events_per_s=round(events / max(seconds, 1e-9)))
        return self.profiles.update(pid, status="ready", error=None, ingest=info)

    def submit(self, pid: str) -> None:
        with self._lock:
            if pid in self._running:
                return
            self._running.add(pid)

        def job() -> None:
            try:
                self.run(pid)
            finally:
                with self._lock:
                    self._running.discard(pid)

        self._pool.submit(job)

    def resume_pending(self) -> int:
        """Restart ingest of profiles left `ingesting` by a crash or restart."""
        pending = [p["id"] for p in self.profiles.list(status="ingesting")]
        for pid in pending:
            self.submit(pid)
        return len(pending)
