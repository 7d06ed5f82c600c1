"""Raw session -> derived, versioned, read-optimised views next to it in the store.

    <session>/.xdiag/v<VERSION>/hosts/<host>.tl   timeline index + names (one per host)
    <session>/.xdiag/v<VERSION>/hosts/<host>.tl.json  its tracks and counts, written after it
    <session>/.xdiag/v<VERSION>/hosts/<host>.scopes.json  each op name's JAX name stack
    <session>/.xdiag/v<VERSION>/ops.json          op stats (per module, op; per device)
    <session>/.xdiag/v<VERSION>/steps.json        steps with their breakdown
    <session>/.xdiag/v<VERSION>/roofline.json     roofline points and peaks
    <session>/.xdiag/v<VERSION>/hlo/<fp>.pb       HLO module protos (deduplicated)
    <session>/.xdiag/v<VERSION>/manifest.json     written LAST: tracks, hosts, id bases

Each host file is analysed by `ingest_host` — a pure function of its bytes,
run in a process pool (one task per host, so memory is bounded by the pool
size). Ingest is idempotent (same input, same files) and restartable (the
manifest is written last; a profile without one is re-ingested). A corrupt host
file fails the whole profile with the reason, and its partial views are removed.

Who ingests a profile is its session claim (`claims.py`, taken over from the upload,
renewed while ingest runs). A store outage is retried (`RETRY_DELAYS_S`), then
recorded as a failure that `resume_pending` retries with backoff; what a dead or
stalled process left (`ingesting` under an abandoned claim, an unfinished upload)
is resumed or removed by `resume_pending`, which the service runs at start-up and
on a schedule, and `xdiag ingest` resumes one profile. Failure reasons are written
for users; an unexpected exception is logged with a reference the reason quotes.

Timeline first: each host's index is written before its op and step tables and
HLO costs are computed, so once every host's `.tl.json` exists the timeline can
be served (`early_manifest`) while the rest of ingest runs.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import logging
import mmap
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from xdiag.core import metrics, tempfiles, threads
from xdiag.core.errors import Conflict, InvalidProfile, NotFound, StoreError, XdiagError
from xdiag.core.names import profile_id
from xdiag.core.pack import unpack
from xdiag.pipeline import claims
from xdiag.store import ObjectStore, layout, open_store

log = logging.getLogger("xdiag.ingest")

VERSION = 5  # of the derived views; bump when their format changes (old ones are rebuilt)
COSTS_FORMAT = 4  # of the cached HLO costs (2: op columns; 3: in_fusion; 4: op_names)
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


class _Changes:
    """Ingest milestones in this process (a host's timeline written, a profile `ready` or
    `failed`), counted, so that a request can wait for the next one instead of polling."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0

    def notify(self) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until the count moves past `seen` (read before looking at the state), or timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self.count != seen, timeout)


CHANGES = _Changes()


class _EarlyIndexes:
    """Host timeline indexes this process has built and is still writing: a viewer in
    the same process opens them from memory at once instead of waiting for the file (a
    5M-event index is 133 MB, 50-100 ms to write). Each is dropped once its `.tl` and
    `.tl.json` are in the store, which then answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any],
                                                 dict[str, Any]]] = {}

    def put(self, store_url: str, key: str, arrays: dict[str, Any], meta: dict[str, Any],
            summary: dict[str, Any]) -> None:
        with self._lock:
            self._items[(store_url, key)] = (arrays, meta, summary)

    def get(self, store_url: str, key: str) -> tuple[dict[str, Any], dict[str, Any],
                                                     dict[str, Any]] | None:
        """(index arrays, index meta, the `.tl.json` summary), or None."""
        with self._lock:
            return self._items.get((store_url, key))

    def drop(self, store_url: str, key: str) -> None:
        with self._lock:
            self._items.pop((store_url, key), None)


EARLY = _EarlyIndexes()


def derived_prefix(record: dict[str, Any], version: int = VERSION) -> str:
    return layout.derived_prefix(record["run"], record["session"], version)


def profile_t0(record: dict[str, Any]) -> int:
    """The profile's time origin: the earliest host window start (absolute ns)."""
    windows = [h["window_ns"] for h in record["hosts"] if h.get("window_ns")]
    return min(w[0] for w in windows) if windows else 0


def _open_raw(store: ObjectStore, key: str, tmpdir: Path) -> tuple[Any, Any]:
    """An mmap of the raw host file (downloaded first if the store is remote)."""
    path = store.local_path(key)
    if path is None:
        path = tmpdir / "raw.xplane.pb"
        store.download_to(key, path)
    fh = open(path, "rb")
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise InvalidProfile("empty host file")
    return fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


class StoreCostCache:
    """HLO module costs by fingerprint in the store (`.xdiag/hlo-costs/`), shared by every
    ingest of every replica: repeated captures of one job reuse them. The last few are
    also kept in this process (decoding a train step's costs takes tens of ms, and the
    service ingests the same job's captures again and again); costs are immutable per
    fingerprint and read-only to their users."""

    _memo: collections.OrderedDict[tuple[str, str], dict[str, Any]] = collections.OrderedDict()
    _memo_lock = threading.Lock()
    MEMO_ENTRIES = 16

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def _key(self, fingerprint: str) -> str:
        # Versioned with the derived views and the costs' own format: a new cost model
        # must not read old costs.
        return f"{layout.STATE}/hlo-costs/v{VERSION}.{COSTS_FORMAT}/{fingerprint}.json"

    def _remember(self, fingerprint: str, costs: dict[str, Any]) -> None:
        with self._memo_lock:
            self._memo[(self.store.url, fingerprint)] = costs
            while len(self._memo) > self.MEMO_ENTRIES:
                self._memo.popitem(last=False)

    def get(self, fingerprint: str) -> dict[str, Any] | None:
        with self._memo_lock:
            costs = self._memo.get((self.store.url, fingerprint))
            if costs is not None:
                self._memo.move_to_end((self.store.url, fingerprint))
                return costs
        try:
            costs = self.store.read_json(self._key(fingerprint))
        except (NotFound, ValueError):
            return None
        self._remember(fingerprint, costs)
        return costs

    def put(self, fingerprint: str, costs: dict[str, Any]) -> None:
        try:
            self.store.write_json(self._key(fingerprint), costs, if_generation=0)
        except XdiagError:
            pass  # another ingest stored the same costs first
        self._remember(fingerprint, costs)


@threads.gc_paused()
def ingest_host(store_url: str, run: str, session: str, host: str, t0_ns: int,
                out_prefix: str) -> dict[str, Any]:
    """Analyse one host file and write its timeline file; return the small summaries.

    Runs in a worker process: takes only picklable arguments, opens the store itself.
    """
    from xdiag.analysis.host import ANALYSED_STATS, analyse_host
    from xdiag.core.pack import pack_parts
    from xdiag.pipeline import handoff
    from xdiag.xplane.lean import read_xspace_lean

    store = open_store(store_url)
    t_start = time.perf_counter()
    # The timeline file is written by a thread while the op and step tables are built
    # (the write and its fsync release the GIL); always joined before returning.
    writer = cf.ThreadPoolExecutor(1, thread_name_prefix="xdiag-tl-writer")
    written: list[cf.Future] = []

    def write_index(idx: Any, names: list[str], tracks: list[dict[str, Any]],
                    counts: dict[str, Any]) -> None:
        meta = {"host": host, "names": names, "tracks": tracks, **idx.meta()}
        arrays = idx.arrays()
        parts = list(pack_parts(arrays, meta))
        summary = {"host": host, "tracks": tracks, "timeline_events": idx.num_events, **counts}
        key = out_prefix + f"hosts/{host}.tl"
        # Servable from memory while it is written (a viewer of this process).
        EARLY.put(store.url, key, arrays, meta, summary)

        def write() -> None:
            try:
                # Readable at once, on disk before ingest_host returns (so before any
                # manifest): the viewer need not wait for the fsync of a large index. A
                # machine crash in between leaves the profile `ingesting`, and resuming
                # starts it over (resume_pending clears its derived views first).
                store.write_parts(key, parts, durable=False)
                # After the index itself: its presence says the index is complete.
                store.write_json(out_prefix + f"hosts/{host}.tl.json", summary)
            finally:
                EARLY.drop(store.url, key)
            CHANGES.notify()  # other processes and replicas see the timeline from now on
            store.make_durable(key)
        try:
            written.append(writer.submit(write))
        except BaseException:
            EARLY.drop(store.url, key)
            raise
        CHANGES.notify()

    raw_key = layout.raw_key(run, session, host)
    try:
        with tempfile.TemporaryDirectory(prefix=f"xdiag-ingest-{tempfiles.owner()}-") as tmp:
            # Parsed already when this process validated the upload (xplane/handoff.py).
            cols = handoff.take(store.url, raw_key, store.size(raw_key))
            fh = buf = None
            try:
                if cols is None:
                    fh, buf = _open_raw(store, raw_key, Path(tmp))
                    # Only what analysis reads; the file's pages are dropped while parsing.
                    cols = read_xspace_lean(buf, stats=ANALYSED_STATS)
                h = analyse_host(cols, t0_ns, release=True, cost_cache=StoreCostCache(store),
                                 on_index=write_index)
                del cols
            except InvalidProfile as exc:
                raise InvalidProfile(f"{host}: {exc.detail}") from None
            finally:
                if buf is not None:
                    try:
                        buf.close()
                    except BufferError:
                        pass  # a view is still alive; the mapping goes with the process
                    fh.close()
        for f in written:
            f.result()  # re-raises a failed write
    finally:
        writer.shutdown(wait=True)
    store.write_parts(out_prefix + f"hosts/{host}.steps", pack_parts(h.steps))
    # Each op name's JAX name stack, for search by named scope (name id -> op_name).
    store.write_json(out_prefix + f"hosts/{host}.scopes.json",
                     {"scopes": {str(k): v for k, v in h.scopes.items()}})
    for m in h.modules:
        key = out_prefix + f"hlo/{m.fingerprint}.pb"
        if not store.exists(key):
            store.write(key, m.proto)
    summary = {
        "host": host,
        "events": h.num_events,
        "aggregated_events": h.aggregated_events,
        "timeline_events": h.index.num_events,
        "tracks": h.tracks,
        "window_ns": list(h.window_ns),
        "ops": h.ops,
        "modules": [{k: getattr(m, k) for k in ("name", "program_id", "fingerprint",
                                                "instructions", "flops", "bytes")}
                    for m in h.modules],
        "device_kind_hint": h.device_kind_hint,
        "plane_peaks": h.plane_peaks,
        "seconds": time.perf_counter() - t_start,
    }
    # Kept so that a separate process (`xdiag ingest --finalize`) can merge the hosts.
    store.write_json(out_prefix + f"hosts/{host}.json", summary)
    return {**summary, "steps": h.steps}


def _timeline_views(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The profile's tracks and hosts (event id and track id bases) from the hosts'
    summaries, in record order: the same for the early and the final manifest."""
    tracks, hosts = [], []
    eid_base = 0
    for r in results:
        first = len(tracks)
        for t in r["tracks"]:
            tracks.append({**t, "id": len(tracks), "host": r["host"]})
        hosts.append({"host": r["host"], "events": r["events"], "eid_base": eid_base,
                      "track_base": first, "num_tracks": len(r["tracks"]),
                      "window_ns": r["window_ns"], "aggregated_events": r["aggregated_events"]})
        eid_base += r["events"]
    return {"tracks": tracks, "hosts": hosts,
            "end_ns": max((r["window_ns"][1] for r in results), default=0)}


def timeline_ready(store: ObjectStore, record: dict[str, Any]) -> bool:
    """Whether every host's index is built (in this process) or written (metadata
    look-ups only)."""
    prefix = derived_prefix(record)
    return all(EARLY.get(store.url, prefix + f"hosts/{h['host']}.tl") is not None or
               store.exists(prefix + f"hosts/{h['host']}.tl.json") for h in record["hosts"])


def early_manifest(store: ObjectStore, record: dict[str, Any]) -> dict[str, Any] | None:
    """The timeline part of the manifest of a profile still ingesting, once every host's
    index is built or written (None before): tracks, hosts and span, no steps or modules."""
    prefix = derived_prefix(record)
    results = []
    for h in record["hosts"]:
        held = EARLY.get(store.url, prefix + f"hosts/{h['host']}.tl")
        try:
            results.append(held[2] if held is not None else
                           store.read_json(prefix + f"hosts/{h['host']}.tl.json"))
        except (NotFound, ValueError):
            return None
    return {"version": VERSION, "profile_id": record["id"], "t0_ns": profile_t0(record),
            "steps": [], "modules": [], "events": sum(r["events"] for r in results),
            "complete": False, **_timeline_views(results)}


def _profile_views(record: dict[str, Any], results: list[dict[str, Any]],
                   service_peaks: Any = None) -> dict[str, Any]:
    """Merge the hosts' summaries into the profile-level views (pure).

    `service_peaks`: a callable returning the service host's measured peaks, used
    only when neither the xplane, the device table nor the agent provides peaks.
    """
    from xdiag.analysis import opstats, peaks, roofline, steps

    modules: dict[str, dict[str, Any]] = {}
    for r in results:
        for m in r["modules"]:
            # Prefer a host's entry with costs: another host may not have run it.
            if m["fingerprint"] not in modules or modules[m["fingerprint"]]["flops"] is None:
                modules[m["fingerprint"]] = m
    device_kind = record.get("device_kind") or next(
        (r["device_kind_hint"] for r in results), "cpu")
    plane_peaks = next((r["plane_peaks"] for r in results if r["plane_peaks"]), {})
    pk = peaks.resolve(device_kind, plane_peaks, record.get("peaks"), service_peaks)
    ops = opstats.merge([(r["host"], r["ops"]) for r in results], pk)
    step_view = steps.merge([r["steps"] for r in results], pk)
    return {
        **_timeline_views(results),
        "modules": modules,
        "ops": ops,
        "steps": step_view,
        "roofline": roofline.compute(ops, pk),
        "peaks": pk,
        "device_kind": device_kind,
    }


def _preload() -> None:
    """Imports what ingest runs when the service starts, not during its first capture's
    ingest: the modules (numpy glue, protobuf descriptors, regexes) take ~40-60 ms of
    CPU to load, which a user would otherwise wait for on the first capture only."""
    from xdiag.analysis import host, opstats, peaks, roofline, steps  # noqa: F401
    from xdiag.analysis.hlo import cost  # noqa: F401
    from xdiag.core import pack  # noqa: F401
    from xdiag.pipeline import handoff  # noqa: F401
    from xdiag.xplane import lean  # noqa: F401


class IngestRunner:
    """Runs ingest (a process pool per service) and moves profiles to `ready` / `failed`."""

    def __init__(self, store: ObjectStore, profiles: Any, workers: int = 0) -> None:
        # A single host file is ingested by a thread of the serving process, which holds
        # the GIL for Python-heavy stretches (HLO costing): with the default 5 ms switch
        # interval, a viewer's timeline request waits 5 ms at each hand-over (0.25 s for
        # the first viewport measured, 20-50 ms at 1 ms).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.store, self.profiles = store, profiles
        self.workers = workers or min(4, os.cpu_count() or 1)
        _preload()
        self._pool: cf.ProcessPoolExecutor | None = None
        self._queue = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="ingest")
        self._queued: set[str] = set()  # submitted, not finished
        self._active: set[str] = set()  # in run() now
        self._lock = threading.Lock()

    def shutdown(self) -> None:
        """Stop the worker processes (they would otherwise outlive a killed service)."""
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def service_host_peaks(self) -> dict[str, float]:
        """This deployment's host peaks, measured once and kept in the store, so every
        replica and every restart rates uploads without recorded peaks the same way."""
        key = f"{layout.STATE}/service-host-peaks.json"
        try:
            return self.store.read_json(key)
        except NotFound:
            from xdiag.agent import measure_host_peaks

            measured = measure_host_peaks(1.0)
            try:
                self.store.write_json(key, measured, if_generation=0)
            except XdiagError:
                return self.store.read_json(key)  # another replica measured first
            return measured

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # forkserver: never fork a process that runs threads (Flask, capture).
                # Hosts run side by side: each process gets its share of the cores.
                self._pool = cf.ProcessPoolExecutor(
                    self.workers, mp_context=mp.get_context("forkserver"),
                    initializer=threads.set_count,
                    initargs=(max(1, threads.cores() // self.workers),))
            return self._pool

    @threads.gc_paused()
    def ingest(self, record: dict[str, Any], *, inline: bool = False,
               hosts: list[str] | None = None) -> dict[str, Any]:
        """Build every derived view of `record`; return the ingest summary.

        With `hosts`, only those host files are analysed (one pod per host file in a
        Kubernetes Job); `finalize` then merges them. Raises XdiagError naming the
        failing host if a host file is unusable.
        """
        prefix = derived_prefix(record)
        todo = hosts or [h["host"] for h in record["hosts"]]
        args = [(self.store.url, record["run"], record["session"], h, profile_t0(record), prefix)
                for h in todo]
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

        if inline or len(todo) == 1 or total_bytes < POOL_MIN_BYTES:
            for a in args:
                progress(ingest_host(*a))
        else:
            futures = [self._executor().submit(ingest_host, *a) for a in args]
            for f in cf.as_completed(futures):
                progress(f.result())
        results = [done[h] for h in todo]
        if hosts is not None:
            return {"hosts": [{"host": r["host"], "events": r["events"]} for r in results]}
        return self.finalize(record, results, time.perf_counter() - t_start)

    @threads.gc_paused()
    def finalize(self, record: dict[str, Any], results: list[dict[str, Any]] | None = None,
                 seconds: float = 0.0) -> dict[str, Any]:
        """Merge the hosts' summaries into the profile views and write the manifest (last)."""
        prefix = derived_prefix(record)
        t_start = time.perf_counter()
        if results is None:
            try:
                results = [{**self.store.read_json(prefix + f"hosts/{h['host']}.json"),
                            "steps": unpack(self.store.read(prefix + f"hosts/{h['host']}.steps"))[0]}
                           for h in record["hosts"]]
            except NotFound as exc:
                raise Conflict(f"cannot finalize {record['id']}: {exc.detail}; ingest every "
                               "host first") from None
        views = _profile_views(record, results, self.service_host_peaks)
        for name in ("ops", "steps", "roofline"):
            self.store.write_json(prefix + f"{name}.json", views[name])
        seconds += time.perf_counter() - t_start
        events = sum(r["events"] for r in results)
        manifest = {
            "version": VERSION,
            "profile_id": record["id"],
            "end_ns": views["end_ns"],
            "t0_ns": profile_t0(record),
            "hosts": views["hosts"],
            "tracks": views["tracks"],
            "steps": [{"step": s["step"], "start_ns": s["start_ns"], "dur_ns": s["dur_ns"]}
                      for s in views["steps"]["steps"]],
            "modules": list(views["modules"].values()),
            "peaks": views["peaks"],
            "device_kind": views["device_kind"],
            "events": events,
            "seconds": seconds,
            "complete": True,
        }
        self.store.write_json(prefix + "manifest.json", manifest)  # last: marks completeness
        metrics.INGEST_SECONDS.observe(seconds)
        metrics.INGEST_EVENTS.inc(events)
        return {"version": VERSION, "seconds": round(seconds, 4), "end_ns": views["end_ns"],
                "events_per_s": round(events / max(seconds, 1e-9)),
                "hosts": [{"host": r["host"], "events": r["events"],
                           "seconds": round(r["seconds"], 4)} for r in results]}

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
            taken_over = claims.mine(self.store, record["run"], record["session"]) is None
            claim = claims.take_over(self.store, record["run"], record["session"],
                                     has_record=True)
            if claim is None:
                raise Conflict(f"profile {pid!r} is being ingested by another process; it "
                               "will be `ready` or `failed` when that ends")
            return self._run_claimed(record, claim, inline=inline, taken_over=taken_over)
        finally:
            with self._lock:
                self._active.discard(pid)

    def _run_claimed(self, record: dict[str, Any], claim: claims.Claim, *, inline: bool,
                     taken_over: bool) -> dict[str, Any]:
        pid = record["id"]
        try:
            if taken_over and record["status"] == "ingesting":
                # An interrupted ingest starts over: its early timeline files may predate
                # a machine crash that lost bytes they point to.
                self.store.delete_prefix(derived_prefix(record))
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

    def _finish(self, record: dict[str, Any], claim: claims.Claim,
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
                self.store.delete_prefix(derived_prefix(record))  # no half-built views
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
        CHANGES.notify()
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
        for run, session, body, gen in claims.all_claims(self.store):
            pid = profile_id(run, session)
            claimed.add(pid)
            has_record = pid in listed or self.profiles.exists(pid)
            if not claims.abandoned(self.store, body, has_record=has_record, now=now):
                continue
            if not has_record:
                self._remove_unfinished_upload(run, session)
            elif (listed.get(pid) or self.profiles.get(pid))["status"] == "ingesting":
                pending.add(pid)
            else:  # its ingest ended, the claim was not released (store unreachable)
                with contextlib.suppress(XdiagError):
                    self.store.delete(claims.key(run, session), if_generation=gen)
        for pid, p in listed.items():
            if (p["status"] == "ingesting" and pid not in claimed) or (
                    p["status"] != "ingesting" and _pending(p, now)):
                pending.add(pid)
        queued = 0
        for pid in sorted(pending):
            try:
                rec = self.profiles.get(pid)  # the record: the index may lag
                if rec["status"] == "ingesting":
                    claim = claims.take_over(self.store, rec["run"], rec["session"],
                                             has_record=True)
                    if claim is None:
                        continue  # a live process holds it
                    rec = self.profiles.get(pid)  # as it is now that nobody else writes it
                    if not _pending(rec, now):
                        claim.release()  # finished between the listing and the claim
                        continue
                    if rec["status"] == "ingesting":
                        self.store.delete_prefix(derived_prefix(rec))
            except NotFound:
                continue  # deleted meanwhile
            self.submit(pid)
            queued += 1
        return queued

    def _remove_unfinished_upload(self, run: str, session: str) -> None:
        """The files of an upload whose process died before it created the profile."""
        claim = claims.take_over(self.store, run, session, has_record=False, purpose="cleanup")
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
        "ingest_version")) != VERSION)


class _Renewer:
    """Renews an ingest's claim every LEASE_S / 4 while it runs, so that no other
    replica takes over a long ingest."""

    def __init__(self, claim: claims.Claim) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(claim,), daemon=True,
                                        name="xdiag-claim-renewer")
        self._thread.start()

    def _loop(self, claim: claims.Claim) -> None:
        while not self._stop.wait(claims.LEASE_S / 4):
            with contextlib.suppress(XdiagError):
                claim.renew()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)  # a renewal in flight changes the claim's generation
