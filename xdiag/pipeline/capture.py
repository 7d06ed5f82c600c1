"""Capture an XLA trace from every live host of a job, in one session.

All reachable hosts are traced in parallel, one call to the xprof capture client
each, every window opening at the same wall-clock instant (`delay_ms`), so the
hosts' windows are aligned — and the data proves it (`windows_overlap`). The
client's own comma-separated multi-address mode does the same but adds ~3 s of
fixed overhead. The job's profiler writes its trace into the client's folder and
answers only after freeing its own copy (0.35-1.2 s later on the demo trainer): a
host's trace is taken when its file is closed (`arrival.py`). Each host's result is
checked on its own and reported in words; the good ones are stored as one session
(one `<host>.xplane.pb` per host), and ingest is started.

Progress is written to the store (`.xdiag/captures/<id>.json`) so any service
replica can answer a poll.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from xdiag.core import metrics, tempfiles
from xdiag.core.errors import BadRequest, CaptureFailed, NotFound, XdiagError
from xdiag.core.names import check_job, sanitize
from xdiag.core.targets import check_host_syntax
from xdiag.core.values import to_int
from xdiag.pipeline import admit
from xdiag.pipeline.admit import Admission
from xdiag.pipeline.arrival import TraceArrival
from xdiag.pipeline.runner import IngestRunner
from xdiag.store import ObjectStore, layout
from xdiag.store.registry import Registry

log = logging.getLogger("xdiag.capture")

MAX_DURATION_MS = 300_000


@dataclasses.dataclass
class CaptureRequest:
    job: str
    duration_ms: int = 2000
    host_tracer_level: int = 2
    device_tracer_level: int = 1
    python_tracer_level: int = 0
    targets: tuple[tuple[str, int], ...] = ()  # unregistered host:port (admin flag only)

    @classmethod
    def from_json(cls, body: Any) -> CaptureRequest:
        if not isinstance(body, dict):
            raise BadRequest("capture request must be a JSON object")
        raw_targets = body.get("targets") or ()
        if not isinstance(raw_targets, list | tuple) or len(raw_targets) > 256:
            raise BadRequest("targets must be a list of at most 256 'host:port' strings")
        return cls(
            job=check_job(body.get("job", "")),
            duration_ms=to_int(body.get("duration_ms", 2000), "duration_ms", lo=1,
                               hi=MAX_DURATION_MS),
            host_tracer_level=to_int(body.get("host_tracer_level", 2), "host_tracer_level",
                                     lo=0, hi=3),
            device_tracer_level=to_int(body.get("device_tracer_level", 1),
                                       "device_tracer_level", lo=0, hi=3),
            python_tracer_level=to_int(body.get("python_tracer_level", 0),
                                       "python_tracer_level", lo=0, hi=3),
            targets=tuple(_parse_target(t) for t in raw_targets),
        )


def _parse_target(text: object) -> tuple[str, int]:
    host, _, port = str(text)[:300].rpartition(":")
    return check_host_syntax(host.strip("[]")), to_int(port, f"port of target {text!r}",
                                                       lo=1, hi=65535)


def probe_port(host: str, port: int, timeout: float = 2.0) -> str | None:
    """None if a TCP connection opens, else the reason in words: one reason for every
    failure, so a capture's answer never tells a closed port from a filtered one."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError:
        return UNREACHABLE


UNREACHABLE = ("unreachable: no profiler answered at this address (process exited or its "
               "profiler server is not running, port closed or filtered, or host down)")


# Every host's window opens at the same wall-clock instant, this far after the request.
ALIGN_DELAY_S = 0.3


def _trace(address: str, logdir: str, req: CaptureRequest, start_at: float) -> None:
    """One host, through the xprof capture client; its window opens at `start_at`. Its
    errors are not reported: the caller judges the host by the file it left, or not."""
    from xprof.convert import _pywrap_profiler_plugin as plugin

    try:
        _call_trace(plugin, address, logdir, req, start_at)
    except Exception as exc:
        log.info("capture from %s failed: %s", address, exc)


def _call_trace(plugin: Any, address: str, logdir: str, req: CaptureRequest,
                start_at: float) -> None:
    plugin.trace(
        address,
        logdir,
        "",
        True,
        req.duration_ms,
        1,
        {
            "host_tracer_level": req.host_tracer_level,
            "device_tracer_level": req.device_tracer_level,
            "python_tracer_level": req.python_tracer_level,
            "delay_ms": max(0, int((start_at - time.time()) * 1000)),
        },
    )


class Captures:
    """Runs captures in background threads and keeps their progress in the store."""

    def __init__(self, store: ObjectStore, registry: Registry, admission: Admission,
                 ingest: IngestRunner) -> None:
        self.store, self.registry, self.admission, self.ingest = \
            store, registry, admission, ingest
        self._threads: dict[str, threading.Thread] = {}
        self._rpcs: dict[str, list[threading.Thread]] = {}  # profiler RPCs still answering

    # -- state --------------------------------------------------------------

    def _save(self, cap: dict[str, Any]) -> dict[str, Any]:
        public = {**cap, "hosts": [_public(h) for h in cap["hosts"]]}
        self.store.write_json(layout.capture_key(cap["id"]), public)
        if self.ingest.live is not None:
            self.ingest.live.changes.notify()  # a long poll of this capture looks again
        return public

    def get(self, cid: str) -> dict[str, Any]:
        try:
            return self.store.read_json(layout.capture_key(cid))
        except NotFound:
            raise NotFound(f"no capture {cid!r}") from None

    # -- running ------------------------------------------------------------

    def start(self, req: CaptureRequest, *, base_url: str,
              wait: bool = False) -> dict[str, Any]:
        """Start a capture; `base_url` (the service's, as the caller sees it) makes the
        profile's link."""
        if req.targets:  # the caller checked the admin flag and role
            hosts = [{"host": h, "port": p, "process_index": i, "state": "live", "peaks": None}
                     for i, (h, p) in enumerate(req.targets)]
        else:
            hosts = self.registry.hosts(req.job)  # NotFound: job not registered
        cap = {
            "id": f"{req.job}-{int(time.time())}-{secrets.token_hex(3)}",
            "job": req.job,
            "state": "capturing",
            "duration_ms": req.duration_ms,
            "started_at": time.time(),
            "finished_at": None,
            "hosts": [
                {
                    "host": sanitize(f"{h.get('hostname') or h['host']}_{h['port']}"),
                    "address": f"{h['host']}:{h['port']}",
                    "process_index": h["process_index"],
                    "state": "capturing",
                    "error": None if h["state"] == "live" else
                    f"stale: no heartbeat for more than {self.registry.ttl_s:.0f} s",
                    "bytes": None,
                    "window_ns": None,
                    "_host": h["host"],
                    "_port": int(h["port"]),
                }
                for h in hosts
            ],
            "windows_overlap": None,
            "profile_id": None,
            "url": None,
            "error": None,
            "wall_s": None,
            "peaks": {h["host"] + ":" + str(h["port"]): h.get("peaks") for h in hosts},
            "device_kind": next((h.get("device_kind") for h in hosts if h.get("device_kind")), None),
        }
        for h in cap["hosts"]:
            if h["error"]:
                h["state"] = "failed"
        self._save(cap)
        if wait:
            return _public_cap(self._run(cap, req, base_url))
        thread = threading.Thread(target=self._run, args=(cap, req, base_url), daemon=True,
                                  name=f"capture-{cap['id']}")
        self._threads[cap["id"]] = thread
        snapshot = _public_cap(cap)  # taken before the thread starts mutating `cap`
        thread.start()
        return snapshot

    def _run(self, cap: dict[str, Any], req: CaptureRequest, base_url: str) -> dict[str, Any]:
        t_start = time.monotonic()
        tmp = tempfiles.mkdtemp("xdiag-capture-")  # tagged with its writer: swept after a crash
        try:
            self._capture(cap, req, tmp, base_url)
        except XdiagError as exc:
            cap["state"], cap["error"] = "failed", exc.detail
        except Exception as exc:  # never leave a capture "running" forever
            log.exception("capture %s crashed", cap["id"])
            cap["state"], cap["error"] = "failed", f"internal error: {exc}"
        finally:
            metrics.CAPTURES.labels(cap["state"] if cap["state"] == "failed" else "done").inc()
            for h in cap["hosts"]:
                metrics.CAPTURE_HOSTS.labels(h["state"]).inc()
            cap["wall_s"] = round(time.monotonic() - t_start, 3)
            cap["finished_at"] = time.time()
            self._save(cap)
            # A trace was taken when its file was complete; the RPC that wrote it answers
            # once its job has freed its copy (usually before the ingest ends): the
            # capture's folder goes after that answer.
            rpcs = self._rpcs.pop(cap["id"], [])
            for rpc in rpcs:
                rpc.join(5)
            answers = [h["_answered_at"] for h in cap["hosts"] if h.get("_answered_at")]
            if rpcs and answers:  # when the last profiler answered: a capture waited for it
                cap["rpc_answered_at"] = max(answers)
                self._save(cap)
            shutil.rmtree(tmp, ignore_errors=True)
            self._threads.pop(cap["id"], None)
        return cap

    def _capture(self, cap: dict[str, Any], req: CaptureRequest, tmp: Path,
                 base_url: str) -> None:
        todo = [h for h in cap["hosts"] if h["state"] == "capturing"]
        if not todo:
            raise CaptureFailed(f"job {req.job!r} has no live hosts (all heartbeats are stale)")
        policy = self.registry.policy
        for h in todo:  # checked again here: registrations from before a policy change
            try:
                h["_dial"] = policy.dial_address(h["_host"], h["_port"])
            except XdiagError as exc:
                h["state"], h["error"] = "failed", f"refused: {exc.detail}"
        todo = [h for h in todo if h["state"] == "capturing"]
        with cf.ThreadPoolExecutor(max_workers=min(32, len(todo))) as pool:
            reasons = list(pool.map(lambda h: probe_port(*_split(h["_dial"])), todo))
        for h, reason in zip(todo, reasons, strict=True):
            if reason:
                h["state"], h["error"] = "failed", reason
        reachable = [h for h in todo if h["state"] == "capturing"]
        self._save(cap)
        if reachable:
            cap["phases"] = {}
            self._trace_hosts(cap, req, reachable, tmp)
        saved = [h for h in cap["hosts"] if h["state"] == "saved"]
        if not saved:
            raise CaptureFailed("no host returned a trace: " + "; ".join(
                f"{h['host']}: {h['error']}" for h in cap["hosts"]))
        self._store(cap, req, saved, base_url)

    def _trace_hosts(self, cap: dict[str, Any], req: CaptureRequest,
                     hosts: list[dict[str, Any]], tmp: Path) -> None:
        """Trace every host in parallel, all windows opening at the same instant.

        One client call per host (the client's own multi-address mode adds ~3 s of
        fixed overhead); the shared start time keeps the windows aligned, which the
        caller verifies on the data (`windows_overlap`). A host's trace is taken as soon
        as its profiler has closed the file (`arrival.py`), before the RPC answers; its
        pages are flushed to disk in the background while it is validated, so that
        storing it (a hard link plus fsync on a local store) finds nothing left to write.
        """
        timeout_s = ALIGN_DELAY_S + req.duration_ms / 1000 + 30
        t_start = time.monotonic()
        start_at = time.time() + ALIGN_DELAY_S
        flush = self.store.local_path(layout.capture_key(cap["id"])) is not None
        workers = []
        for i, h in enumerate(hosts):
            logdir = tmp / f"host{i}"
            name = h["_dial"].replace(":", "_") + layout.XPLANE_SUFFIX
            watch = TraceArrival(logdir, name)  # before the RPC: it sees the file closed

            def rpc(h: dict[str, Any] = h, logdir: Path = logdir) -> None:
                _trace(h["_dial"], str(logdir), req, start_at)
                h["_answered_at"] = time.time()

            w = threading.Thread(target=rpc, daemon=True)
            w.start()
            workers.append((h, watch, w))
        self._rpcs[cap["id"]] = [w for _, _, w in workers]
        try:
            t_in = self._take_traces(cap, workers, time.monotonic() + timeout_s, timeout_s,
                                     flush)
        finally:
            for _, watch, _ in workers:
                watch.close()
        if t_in is not None:
            cap["phases"]["trace_s"] = round(t_in - t_start, 3)

    def _take_traces(self, cap: dict[str, Any], workers: list[tuple[dict[str, Any],
                     TraceArrival, threading.Thread]], deadline: float, timeout_s: float,
                     flush: bool) -> float | None:
        """Each host's trace once complete (or its failure), validated in host order;
        returns when the last trace was in (time.monotonic()), None if none came."""
        t_in = t_checked = None
        for h, watch, w in workers:
            path = watch.wait(w, deadline)
            if path is None:
                # The same words as a refused connection: a capture's answer must not say
                # whether something else listens at an address (open vs closed ports).
                h["state"], h["error"] = "failed", UNREACHABLE
                if w.is_alive():
                    log.info("capture %s: %s gave no trace within %.0f s", cap["id"],
                             h["address"], timeout_s)
                continue
            t_in = time.monotonic()
            h["_arrived_at"] = time.time()
            if flush:
                _flush_behind(path)
            try:
                # One host: its ingest runs in this process and takes over the parse.
                summary = admit.inspect_xplane(path, h["host"], keep=len(workers) == 1)
            except XdiagError as exc:
                h["state"], h["error"] = "failed", exc.detail
                continue
            t_checked = time.monotonic()
            h["state"], h["bytes"], h["events"] = "saved", summary.bytes, summary.events
            h["window_ns"] = list(summary.window_ns) if summary.window_ns else None
            h["_path"], h["_summary"] = str(path), summary
        if t_in is not None:
            # The trace is in the service (the last host's file complete), then checked.
            cap["trace_in_at"] = max(h.get("_arrived_at", 0.0) for h, _, _ in workers)
            if t_checked is not None:
                cap["phases"]["validate_s"] = round(t_checked - t_in, 3)
        return t_in

    def _store(self, cap: dict[str, Any], req: CaptureRequest,
               saved: list[dict[str, Any]], base_url: str) -> None:
        cap["state"] = "saving"
        cap["windows_overlap"] = admit.windows_overlap(
            [tuple(h["window_ns"]) if h["window_ns"] else None for h in saved])
        self._save(cap)
        t = time.monotonic()
        record = self.admission.store_session(
            run=req.job,
            session=admit.new_session_name(),
            # The traces are this capture's temporary files: the store may take them over.
            files=[admit.HostFile(h["host"], Path(h["_path"]), owned=True) for h in saved],
            summaries={h["host"]: h["_summary"] for h in saved},
            source="capture",
            job=req.job,
            extra={
                "capture": {
                    "id": cap["id"],
                    "duration_ms": req.duration_ms,
                    "tracer_levels": [req.host_tracer_level, req.device_tracer_level,
                                      req.python_tracer_level],
                    "failed_hosts": [{"host": h["host"], "error": h["error"]}
                                     for h in cap["hosts"] if h["state"] == "failed"],
                },
                "peaks": _host_peaks(cap),
                "device_kind": cap.get("device_kind"),
            },
        )
        cap["profile_id"] = record["id"]
        cap["url"] = f"{base_url.rstrip('/')}/p/{record['id']}"
        cap["state"] = "ingesting"
        cap.setdefault("phases", {})["save_s"] = round(time.monotonic() - t, 3)
        self._save(cap)
        t = time.monotonic()
        self.ingest.run(record["id"])
        cap["phases"]["ingest_s"] = round(time.monotonic() - t, 3)
        cap["state"] = "done"


def _flush_behind(path: Path) -> None:
    """Write the trace's pages to disk in a thread (the fsync releases the GIL) while it
    is validated: the store's own fsync of its hard link then has nothing left to do
    (~40 ms for a 64 MB trace on this VM's disk, off the path to the first view), or waits
    only for what is still being written. Nothing waits for this thread itself."""
    def flush() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass  # the store's own fsync will say what is wrong

    threading.Thread(target=flush, daemon=True, name="capture-flush").start()


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _public(h: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in h.items() if not k.startswith("_")}


def _public_cap(cap: dict[str, Any]) -> dict[str, Any]:
    return {**cap, "hosts": [_public(h) for h in cap["hosts"]]}


def _host_peaks(cap: dict[str, Any]) -> dict[str, Any] | None:
    """The agents' measured host peaks, kept with the profile for the CPU roofline."""
    peaks = [p for p in cap.get("peaks", {}).values() if p]
    if not peaks:
        return None
    return {
        "matmul_gflops": min(p.get("matmul_gflops", 0.0) for p in peaks),
        "memcpy_gbps": min(p.get("memcpy_gbps", 0.0) for p in peaks),
        "source": "agent",
    }
