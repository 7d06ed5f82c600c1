"""Ingest's runner: which profile is ingested, where, and what its record then says.

A profile's ingest is one task per host file (`host_task.py`: a pure analysis in an
I/O shell, in a process pool when the files are large, else in this process), then the
merge (`merge.py`) whose manifest, written last, marks the views complete. Ingest is
idempotent (same input, same files) and restartable (a profile without a manifest is
ingested again). A corrupt host file fails the whole profile with the reason, and its
partial views are removed. Status: `ingesting` -> `ready` / `failed`.

Who ingests a profile is its session claim (`claims.py`, taken over from the upload,
renewed while ingest runs). A store outage is retried (`RETRY_DELAYS_S`), then
recorded as a failure that `resume_pending` retries with backoff; what a dead or
stalled process left (`ingesting` under an abandoned claim, an unfinished upload)
is resumed or removed by `resume_pending`, which the service runs at start-up and
on a schedule, and `xdiag ingest` resumes one profile; a profile whose views are of
an older `layout.VERSION` is queued too (`submit`), by the same pass or by the first
reader that finds them stale. Failure reasons are written for users; an unexpected
exception is logged with a reference the reason quotes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing as mp
import os
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

from xdiag.analysis.profile import needs_host_peaks, profile_t0
from xdiag.core import heap, metrics, threads
from xdiag.core.errors import Conflict, NotFound, StoreError, XdiagError
from xdiag.core.names import profile_id
from xdiag.pipeline import host_task, merge
from xdiag.pipeline.claims import LEASE_S, Claim, Claims
from xdiag.pipeline.costs import CostMemo
from xdiag.pipeline.handoff import Handoff
from xdiag.pipeline.hostpeaks import ServicePeaks
from xdiag.store import ObjectStore, layout
from xdiag.store.live import Live
from xdiag.store.profiles import Profiles

log = logging.getLogger("xdiag.ingest")

# Below this total size a process pool costs more (start-up, imports) than it saves.
POOL_MIN_BYTES = 64 * 1024 * 1024
# A store outage during ingest: retried after these pauses (on top of the store
# client's own retries), then the profile is `failed` with `retry_at`, and
# `resume_pending` tries again after RESUME_BACKOFF_S, doubling, up to RESUME_MAX_S,
# at most MAX_RESUMES times.
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0)
RESUME_BACKOFF_S = 30.0
RESUME_MAX_S = 1800.0
MAX_RESUMES = 12


def preload() -> None:
    """Imports what ingest runs, so that a serving process does it at start-up and not
    during its first capture's ingest: the modules (numpy glue, protobuf descriptors,
    regexes) take ~40-60 ms of CPU to load, which a user would otherwise wait for on the
    first capture only."""
    from xdiag.analysis import host, opstats, peaks, roofline, steps  # noqa: F401
    from xdiag.analysis.hlo import cost  # noqa: F401
    from xdiag.core import pack  # noqa: F401
    from xdiag.xplane import lean  # noqa: F401


class IngestRunner:
    """Runs ingest (a process pool per runner) and moves profiles to `ready` / `failed`."""

    def __init__(self, store: ObjectStore, profiles: Profiles, claims: Claims, *,
                 live: Live | None = None, handoff: Handoff | None = None,
                 host_peaks: ServicePeaks | None = None, processes: int = 0) -> None:
        self.store, self.profiles, self.claims = store, profiles, claims
        self.live, self.handoff = live, handoff
        self.host_peaks = host_peaks or ServicePeaks(store)
        self.costs = CostMemo()  # the last few modules' costs (host tasks in this process)
        self.processes = processes or min(4, os.cpu_count() or 1)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._queue = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest")
        self._queued: set[str] = set()  # submitted, not finished
        self._active: set[str] = set()  # in run() now
        self._admitting = 0  # uploads being received and validated (`admitting`)
        self._analysing = 0  # ingests in their host tasks (a host file's columns held)
        self._lock = threading.Lock()
        self.host_peaks.busy = self.busy  # its background probe waits for a quiet service
        # Threads share two C heaps: a parse, an analysis and the viewports of one upload
        # run on three threads (core/heap.py), each one's freed memory otherwise kept.
        heap.limit_arenas()
        self.host_peaks.holding = self.holding  # no probe beside an ingest's columns

    def busy(self) -> bool:
        """Whether a profile is being admitted or ingested by this runner now."""
        return bool(self._admitting or self._active or self._queued)

    def holding(self) -> bool:
        """Whether a host file's columns are held now, by an upload being received and
        parsed or an ingest's host tasks (the parse, the analysis): the host peak probe
        (hostpeaks.py, ~230 MB) runs only when none is. Not queued ingests: a merge
        that waits for the probe may keep them from starting."""
        return bool(self._admitting or self._analysing)

    @contextlib.contextmanager
    def admitting(self) -> Iterator[None]:
        """Marks an upload being received and validated, whose ingest follows."""
        with self._lock:
            self._admitting += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitting -= 1

    def shutdown(self) -> None:
        """Stop the worker processes (they would otherwise outlive a killed service)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: never fork a process that runs threads (Flask, capture).
                # Hosts run side by side: each process gets its share of the cores.
                self._pool = cf.ProcessPoolExecutor(
                    self.processes, mp_context=mp.get_context("forkserver"),
                    initializer=host_task.init_worker,
                    initargs=(max(1, threads.cores() // self.processes),))
            return self._pool

    @threads.gc_paused()
    def ingest(self, record: dict[str, Any], *, inline: bool = False,
               hosts: list[str] | None = None) -> dict[str, Any]:
        """Build every derived view of `record`; return the ingest summary.

        With `hosts`, only those host files are analysed (one pod per host file in a
        Kubernetes Job); `finalize` then merges them. Raises XdiagError naming the
        failing host if a host file is unusable.
        """
        try:
            return self._ingest(record, inline=inline, hosts=hosts)
        finally:
            # What the ingest freed goes back to the system, not kept by the C heap
            # (core/heap.py): the service then holds what it still uses.
            heap.release()

    def _ingest(self, record: dict[str, Any], *, inline: bool,
                hosts: list[str] | None) -> dict[str, Any]:
        derived = layout.Derived.of(record)
        todo = hosts or [h["host"] for h in record["hosts"]]
        t0_ns = profile_t0(record)
        total_bytes = sum(h.get("bytes") or 0 for h in record["hosts"])
        t_start = time.perf_counter()
        done: dict[str, dict[str, Any]] = {}

        def progress(result: dict[str, Any]) -> None:
            """Each finished host is recorded on the profile, so clients can show progress."""
            done[result["host"]] = result
            if len(todo) > 1 and self.profiles.exists(record["id"]):
                self.profiles.update(record["id"], ingest_progress={
                    "hosts_done": len(done), "hosts": len(todo),
                    "events_done": sum(r["events"] for r in done.values())})

        with self._lock:
            self._analysing += 1
        try:
            if inline or len(todo) == 1 or total_bytes < POOL_MIN_BYTES:
                for h in todo:
                    progress(host_task.ingest_host(
                        self.store, record["run"], record["session"], h, t0_ns, derived,
                        costs=self.costs, live=self.live, handoff=self.handoff))
            else:
                futures = [self._executor().submit(host_task.in_worker, self.store.url,
                                                   record["run"], record["session"], h,
                                                   t0_ns, derived.prefix) for h in todo]
                for f in cf.as_completed(futures):
                    progress(f.result())
            results = [done[h] for h in todo]
            heap.release()  # the hosts' columns are gone: before the merge (and a host probe)
        finally:
            with self._lock:
                self._analysing -= 1
        if hosts is not None:
            return {"hosts": [{"host": r["host"], "events": r["events"]} for r in results]}
        seconds = time.perf_counter() - t_start
        # The service host's peaks are measured once per store, at start-up: a profile
        # that needs them waits here (the probe runs once no host's columns are held,
        # hostpeaks.py), and that wait is not this profile's ingest time.
        waited = 0.0
        if needs_host_peaks(record, results):
            t_wait = time.perf_counter()
            self.host_peaks.get()
            waited = time.perf_counter() - t_wait
        info = merge.finalize(self.store, record, results, self.host_peaks, seconds)
        if waited > 0.001:
            info["host_peaks_wait_s"] = round(waited, 4)
        return info

    def finalize(self, record: dict[str, Any]) -> dict[str, Any]:
        """Merge hosts ingested earlier (by other processes) into the profile's views."""
        return merge.finalize(self.store, record, merge.stored_results(self.store, record),
                              self.host_peaks)

    def run(self, pid: str, *, inline: bool = False,
            pending_only: bool = False) -> dict[str, Any]:
        """Ingest one profile and record the outcome on it; return the record.

        Takes the profile's session claim first: Conflict if a live process holds it.
        `pending_only`: do nothing unless the profile still needs an ingest (a queued
        resume that another process may have finished meanwhile)."""
        record = self.profiles.get(pid)
        if pending_only and not _pending(record, time.time()):
            return record
        with self._lock:
            if pid in self._active:
                raise Conflict(f"profile {pid!r} is being ingested by this service already")
            self._active.add(pid)
        try:
            taken_over = self.claims.mine(record["run"], record["session"]) is None
            claim = self.claims.take_over(record["run"], record["session"],
                                     has_record=True)
            if claim is None:
                raise Conflict(f"profile {pid!r} is being ingested by another process; it "
                               "will be `ready` or `failed` when that ends")
            return self._run_claimed(record, claim, inline=inline, taken_over=taken_over)
        finally:
            with self._lock:
                self._active.discard(pid)

    def _run_claimed(self, record: dict[str, Any], claim: Claim, *, inline: bool,
                     taken_over: bool) -> dict[str, Any]:
        pid = record["id"]
        try:
            if taken_over and record["status"] == "ingesting":
                # An interrupted ingest starts over: its early timeline files may predate
                # a machine crash that lost bytes they point to.
                self.store.delete_prefix(layout.Derived.of(record).prefix)
            if record["status"] == "failed":  # a retry: viewers see it ingest again
                record = self.profiles.update(pid, status="ingesting", error=None)
        except StoreError as exc:
            claim.forget()
            log.warning("ingest of %s not started: %s", pid, exc.detail)
            return record
        renewer = _Renewer(claim)
        try:
            outcome = self._attempts(record, inline)
        finally:
            renewer.stop()
        return self._finish(record, claim, outcome)

    def _attempts(self, record: dict[str, Any], inline: bool) -> tuple[str, Any]:
        """("ready", info) | ("failed", reason) | ("transient", reason)."""
        pid = record["id"]
        for delay in (*RETRY_DELAYS_S, None):
            try:
                return "ready", self.ingest(record, inline=inline)
            except StoreError as exc:
                if delay is None:
                    return "transient", exc.detail
                log.warning("ingest of %s: %s; trying again in %.0f s", pid, exc.detail, delay)
                time.sleep(delay)
            except XdiagError as exc:
                return "failed", exc.detail
            except Exception:
                ref = secrets.token_hex(4)
                log.exception("ingest of %s failed (reference %s)", pid, ref)
                return "failed", (f"ingest stopped on an internal error (reference {ref}): a "
                                  "bug in xdiag, not in the profile. The service log has the "
                                  f"details; `xdiag ingest {pid}` tries again.")
        raise AssertionError("unreachable")

    def _finish(self, record: dict[str, Any], claim: Claim,
                outcome: tuple[str, Any]) -> dict[str, Any]:
        """Record the outcome and release the claim. With the store unreachable, the
        claim is left abandoned and the profile `ingesting`: resume_pending retries."""
        pid, (status, value) = record["id"], outcome
        try:
            if not claim.held():  # taken over meanwhile (we stalled): its ingest counts
                claim.forget()
                return self.profiles.get(pid)
            if not self.profiles.exists(pid):  # deleted while it ingested: leave nothing
                self.store.delete_prefix(layout.session_prefix(record["run"],
                                                               record["session"]))
                claim.release()
                raise NotFound(f"profile {pid!r} was deleted while it was ingested")
            if status == "ready":
                metrics.INGESTS.labels("ready").inc()
                out = self.profiles.update(pid, status="ready", error=None, ingest=value,
                                           duration_ns=value.get("end_ns"), retry_at=None,
                                           retries=0)
            else:
                self.store.delete_prefix(layout.Derived.of(record).prefix)  # no half-built views
                metrics.INGESTS.labels("failed").inc()
                retry: dict[str, Any] = {"retry_at": None}
                if status == "transient":
                    retries = int(record.get("retries") or 0) + 1
                    retry = {"retries": retries, "retry_at": time.time() + min(
                        RESUME_MAX_S, RESUME_BACKOFF_S * 2 ** (retries - 1))
                        if retries < MAX_RESUMES else None}
                    value = (f"the store could not be reached while ingesting ({value}). "
                             + ("Ingest tries again by itself once it is back"
                                if retry["retry_at"] else "Ingest gave up retrying")
                             + f"; `xdiag ingest {pid}` retries now.")
                out = self.profiles.update(pid, status="failed", error=value, **retry)
            claim.release()
        except StoreError as exc:
            claim.forget()
            log.warning("ingest of %s: outcome %r not recorded (%s); it is resumed later",
                        pid, status, exc.detail)
            out = record
        if self.live is not None:
            self.live.changes.notify()
        return out

    def submit(self, pid: str) -> None:
        """Ingest in the background, if it still needs it when its turn comes."""
        with self._lock:
            if pid in self._queued:
                return
            self._queued.add(pid)

        def job() -> None:
            try:
                self.run(pid, pending_only=True)
            except XdiagError as exc:  # e.g. another process ingests it, or it was deleted
                log.info("ingest of %s not run: %s", pid, exc.detail)
            except Exception:
                log.exception("ingest of %s crashed", pid)
            finally:
                with self._lock:
                    self._queued.discard(pid)

        self._queue.submit(job)

    def resume_pending(self) -> int:
        """Queue what no live process will finish; return how many were queued.

        - an abandoned claim (`claims.py`) of a profile still `ingesting`: its ingest
          starts over, its partial views removed first (they may predate a machine
          crash that lost bytes they point to); one of a profile no longer ingesting
          is deleted; one without a profile record is an upload that never finished,
          whose files are removed;
        - a profile `ingesting` that nobody claims, one `failed` for a store outage
          whose `retry_at` has come, one `ready` from an older ingest version.
        Safe to run in every replica at once: claims are taken under preconditions."""
        now = time.time()
        listed = {p["id"]: p for p in self.profiles.list()}
        claimed: set[str] = set()
        pending: set[str] = set()
        for run, session, body, gen in self.claims.all():
            pid = profile_id(run, session)
            claimed.add(pid)
            has_record = pid in listed or self.profiles.exists(pid)
            if not self.claims.abandoned(body, has_record=has_record, now=now):
                continue
            if not has_record:
                self._remove_unfinished_upload(run, session)
            elif (listed.get(pid) or self.profiles.get(pid))["status"] == "ingesting":
                pending.add(pid)
            else:  # its ingest ended, the claim was not released (store unreachable)
                with contextlib.suppress(XdiagError):
                    self.store.delete(layout.claim_key(run, session), if_generation=gen)
        for pid, p in listed.items():
            if (p["status"] == "ingesting" and pid not in claimed) or (
                    p["status"] != "ingesting" and _pending(p, now)):
                pending.add(pid)
        queued = 0
        for pid in sorted(pending):
            try:
                rec = self.profiles.get(pid)  # the record: the index may lag
                if rec["status"] == "ingesting":
                    claim = self.claims.take_over(rec["run"], rec["session"],
                                             has_record=True)
                    if claim is None:
                        continue  # a live process holds it
                    rec = self.profiles.get(pid)  # as it is now that nobody else writes it
                    if not _pending(rec, now):
                        claim.release()  # finished between the listing and the claim
                        continue
                    if rec["status"] == "ingesting":
                        self.store.delete_prefix(layout.Derived.of(rec).prefix)
            except NotFound:
                continue  # deleted meanwhile
            self.submit(pid)
            queued += 1
        return queued

    def _remove_unfinished_upload(self, run: str, session: str) -> None:
        """The files of an upload whose process died before it created the profile."""
        claim = self.claims.take_over(run, session, has_record=False, purpose="cleanup")
        if claim is None or self.profiles.exists(profile_id(run, session)):
            if claim is not None:
                claim.forget()
            return
        n = self.store.delete_prefix(layout.session_prefix(run, session))
        log.info("removed %d file(s) of an unfinished upload of %s", n,
                 profile_id(run, session))
        claim.release()


def _pending(record: dict[str, Any], now: float) -> bool:
    """Whether a profile still needs an ingest (see `IngestRunner.resume_pending`)."""
    status = record.get("status")
    if status == "ingesting":
        return True
    if status == "failed":
        return bool(record.get("retry_at")) and record["retry_at"] <= now
    return status == "ready" and ((record.get("ingest") or {}).get("version", record.get(
        "ingest_version")) != layout.VERSION)


class _Renewer:
    """Renews an ingest's claim every LEASE_S / 4 while it runs, so that no other
    replica takes over a long ingest."""

    def __init__(self, claim: Claim) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(claim,), daemon=True,
                                        name="xdiag-claim-renewer")
        self._thread.start()

    def _loop(self, claim: Claim) -> None:
        while not self._stop.wait(LEASE_S / 4):
            with contextlib.suppress(XdiagError):
                claim.renew()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)  # a renewal in flight changes the claim's generation
