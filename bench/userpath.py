"""The wait where the user waits: `xdiag serve` as its own process, the CLI as its own
process, the web UI's requests over real HTTP.

    python -m bench.userpath FILE [FILE ...]      (make bench runs it through bench/run.py)

Per file, on a fresh local store and a fresh `xdiag serve`:

- upload: `xdiag upload FILE` from its process start to the URL it prints, then the
  first whole-profile viewport the page would show: the web UI's own request sequence
  (webui/src: `GET /session`, `GET /profiles/<id>` and its long poll `?wait=timeline`
  while ingesting, `GET .../tracks`, then `GET .../timeline` for the whole profile at
  the plan `lib/prefetch.ts` makes for a 1280 px canvas, binary, with the tracks the
  default layout draws);
- the whole ingest (the record's long poll `?wait=ready`), and the same file uploaded
  again (a store that has seen one profile: host peaks and HLO costs known);
- new windows over real HTTP (one keep-alive connection, as a browser's);
- peak RSS of the server's process tree (sampled from /proc every 10 ms, and the main
  process's own VmHWM).

Times are wall seconds from the `time.perf_counter()` of this process.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TIMELINE_MIME = "application/x-xdiag-timeline"  # webui/src/api/wire.ts
CANVAS_PX = 1280  # the trace canvas of a 1440 px wide window
URL_RE = re.compile(r"(https?://\S+/p/(\S+?))(\s|$)")


def env() -> dict[str, str]:
    """The user's environment: nothing configured (no XDIAG_HOST_PEAKS)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("XDIAG_")}
    out.update(TF_CPP_MIN_LOG_LEVEL="2")
    return out


# -- the server's process tree ------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def _rss_kb(pid: int, field: str = "VmRSS") -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(pid: int) -> float:
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        total += _rss_kb(p)
        todo += _children(p)
    return total / 1024


class RssSampler:
    """Peak RSS of a process and its descendants, sampled every `period_s`."""

    def __init__(self, pid: int, period_s: float = 0.01) -> None:
        self.pid, self.period_s = pid, period_s
        self.peak_mb = 0.0
        self.marks: dict[str, float] = {}
        self._lock = threading.Lock()  # a sample taken before a mark must not land after it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            with self._lock:
                self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))

    def mark(self, label: str) -> float:
        """The peak since the last mark, kept under `label`; the peak starts again."""
        with self._lock:
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            self.marks[label], self.peak_mb = self.peak_mb, 0.0
        return self.marks[label]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Server:
    """`xdiag serve --store STORE` as its own process on a free port."""

    def __init__(self, store: Path, port: int = 0) -> None:
        from tests.support import free_port

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(store.parent / f"serve-{self.port}.log", "w")
        t = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xdiag", "serve", "--store", str(store), "--port",
             str(self.port)], cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=self.log,
            text=True)
        self.proc.stdout.readline()  # "xdiag serving URL ...": it accepts connections now
        self.start_s = time.perf_counter() - t
        self.rss = RssSampler(self.proc.pid)

    def hwm_mb(self) -> float:
        return _rss_kb(self.proc.pid, "VmHWM") / 1024

    def stop(self) -> None:
        self.rss.stop()
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# -- the web UI's requests ------------------------------------------------------------


def default_tracks(tracks: list[dict[str, Any]]) -> list[int]:
    """The ids the trace view asks for at first (render/timeline-layout.ts: a host's
    thread group starts collapsed when it also has devices and more than 8 threads)."""
    collapsed = set()
    for host in {t["host"] for t in tracks}:
        ts = [t for t in tracks if t["host"] == host]
        if any(t["group"] == "device" for t in ts) and \
                sum(t["group"] == "thread" for t in ts) > 8:
            collapsed.add(host)
    return sorted(t["id"] for t in tracks
                  if not (t["group"] == "thread" and t["host"] in collapsed))


def plan_fetch(t0: float, t1: float, width_px: int, b0: float, b1: float) -> tuple[int, int, int]:
    """webui/src/lib/prefetch.ts planFetch, for the view [t0, t1] in bounds [b0, b1]."""
    span = max(t1 - t0, 1)
    q = 2.0 ** math.ceil(math.log2(span))
    a = math.floor(t0 / q) * q
    full = 4 * max(128, math.ceil(width_px / 128) * 128)
    start, end = max(b0, a - q), min(b1, a + 3 * q)
    width = max(1, min(16384, round(full * (end - start) / (4 * q))))
    return math.floor(start), math.ceil(end), width


def open_view(http: Any, base: str, pid: str) -> dict[str, Any]:
    """The page /p/<pid> up to its first timeline body: the web UI's request sequence.
    Returns the time of each request and the body's size."""
    api = f"{base}/api/v1"
    steps: dict[str, float] = {}

    def get(label: str, path: str, **kw: Any) -> Any:
        t = time.perf_counter()
        r = http.get(api + path, timeout=60, **kw)
        r.raise_for_status()
        steps[label] = steps.get(label, 0.0) + time.perf_counter() - t
        return r

    get("session", "/session")
    p = get("profile", f"/profiles/{pid}").json()
    polls = 0
    while p["status"] == "ingesting" and not p.get("timeline_ready"):
        p = get("long_poll", f"/profiles/{pid}?wait=timeline&timeout=10").json()
        polls += 1
    if p["status"] == "failed":
        raise RuntimeError(f"{pid} failed: {p.get('error')}")
    tr = get("tracks", f"/profiles/{pid}/tracks").json()
    b0, b1 = tr.get("start_ns") or 0, max((tr.get("start_ns") or 0) + 1, tr["end_ns"])
    start, end, width = plan_fetch(b0, b1, CANVAS_PX, b0, b1)
    ids = ",".join(map(str, default_tracks(tr["tracks"])))
    body = get("viewport", f"/profiles/{pid}/timeline?start_ns={start}&end_ns={end}"
               f"&width={width}&tracks={ids}", headers={"Accept": TIMELINE_MIME}).content
    return {"requests_s": steps, "long_polls": polls, "bytes": len(body),
            "status_at_open": p["status"], "end_ns": tr["end_ns"], "tracks": ids}


def wait_ready(http: Any, base: str, pid: str) -> dict[str, Any]:
    while True:
        p = http.get(f"{base}/api/v1/profiles/{pid}?wait=ready&timeout=25", timeout=60).json()
        if p["status"] != "ingesting":
            return p


def windows(span_ns: int, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """The same random new windows as bench/worker.py (log-uniform lengths)."""
    from bench.worker import _windows

    return _windows(span_ns, n, seed)


def new_windows(base: str, pid: str, end_ns: int, tracks: str, n: int) -> dict[str, float]:
    """`n` new windows of the trace (random, log-uniform lengths, as bench/worker.py's),
    each at 4 x the canvas width (the density the trace view asks for; it also pads the
    window, see `plan_fetch`), one request at a time over real HTTP. The client is
    http.client (a new connection when the server closes one, as a browser does), not
    `requests`, whose own Python costs ~1 ms a request on this VM: the time is the
    server's and the network's."""
    import http.client
    from urllib.parse import urlsplit

    host = urlsplit(base)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=60)
    times = []
    sizes = []
    for a, b in windows(int(end_ns), n):
        start, end, width = a, b, 4 * CANVAS_PX
        t = time.perf_counter()
        conn.request("GET", f"/api/v1/profiles/{pid}/timeline?start_ns={start}&end_ns={end}"
                     f"&width={width}&tracks={tracks}",
                     headers={"Accept": TIMELINE_MIME})
        r = conn.getresponse()
        body = r.read()
        times.append(time.perf_counter() - t)
        sizes.append(len(body))
        assert r.status == 200, body[:300]
        if r.getheader("Connection", "").lower() == "close":
            conn.close()
    conn.close()
    return {"p50": float(np.median(times)), "p90": float(np.percentile(times, 90)), "n": n,
            "bytes_p50": float(np.median(sizes))}


# -- the CLI ------------------------------------------------------------------------


def upload(server: Server, path: Path, session: str, *extra: str) -> dict[str, Any]:
    """`xdiag upload PATH` from its process start: when the URL is printed, the first
    viewport after it, the CLI's exit, the whole ingest."""
    import requests

    http = requests.Session()
    t0 = time.perf_counter()
    cli = subprocess.Popen([sys.executable, "-m", "xdiag", "upload", str(path), "--server",
                            server.url, "--run", "bench", "--session", session, *extra],
                           cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    url = pid = None
    for line in cli.stdout:
        m = URL_RE.search(line)
        if m:
            url, pid = m.group(1), m.group(2)
            break
    t_url = time.perf_counter() - t0
    if pid is None:
        raise RuntimeError(f"xdiag upload printed no URL: {cli.stderr.read()[-2000:]}")
    view = open_view(http, server.url, pid)
    t_view = time.perf_counter() - t0
    _rest, err = cli.communicate(timeout=600)
    t_exit = time.perf_counter() - t0
    if cli.returncode != 0:
        raise RuntimeError(f"xdiag upload failed: {err[-2000:]}")
    rec = wait_ready(http, server.url, pid)
    t_ready = time.perf_counter() - t0
    return {"id": pid, "url": url, "url_s": t_url, "first_view_s": t_view, "cli_exit_s": t_exit,
            "ready_s": t_ready, "view": view, "record": rec, "cli_stderr": err[-4000:],
            "status": rec["status"], "ingest": rec.get("ingest"),
            "stages": stages(rec, t0, t_url, t_view, t_ready, view)}


def stages(rec: dict[str, Any], t0: float, t_url: float, t_view: float, t_ready: float,
           view: dict[str, Any]) -> dict[str, float]:
    """Where an upload's time went, from the CLI's process start (seconds): the record
    says when the body had arrived (`upload.received_at`, after `receive_s`) and when
    the session was stored (`created_at`)."""
    up = rec.get("upload") or {}
    created = _epoch_to_perf(int(rec["created_at"] * 1e9)) - t0
    out: dict[str, float] = {}
    if up.get("received_at"):
        received = _epoch_to_perf(int(up["received_at"] * 1e9)) - t0
        out["cli start-up"] = received - up["receive_s"]
        out["body sent and written"] = up["receive_s"]
        out["validate (parse) and store"] = created - received
    out["ingest to the timeline, URL printed"] = t_url - created
    out["web UI requests to the first viewport"] = t_view - t_url
    out["rest of the ingest (tables, HLO, roofline)"] = t_ready - t_url
    for k, v in view["requests_s"].items():
        out[f"  {k}"] = v
    return out


def measure_file(path: Path, n_windows: int = 100) -> dict[str, Any]:
    """Upload twice (a fresh store, then a store that has seen one profile), new windows,
    peak RSS; one fresh `xdiag serve` for this file."""
    work = Path(tempfile.mkdtemp(prefix="bench-userpath-"))
    server = Server(work / "store")
    try:
        first = upload(server, path, "first")
        rss_first = server.rss.mark("first")
        second = upload(server, path, "second")
        rss_second = server.rss.mark("second")
        win = new_windows(server.url, second["id"], second["view"]["end_ns"],
                          second["view"]["tracks"], n_windows)
        rss_windows = server.rss.mark("windows")
        hwm = server.hwm_mb()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"file": path.name, "bytes": path.stat().st_size, "serve_start_s": server.start_s,
            "first": first, "second": second, "windows": win,
            "rss_tree_peak_mb": max(rss_first, rss_second, rss_windows, hwm),
            "rss_marks_mb": {"first": rss_first, "second": rss_second, "windows": rss_windows},
            "server_hwm_mb": hwm}


# -- capture ----------------------------------------------------------------------


def _epoch_to_perf(epoch_ns: int) -> float:
    """An absolute time (ns since the epoch) on this process's perf_counter clock."""
    return time.perf_counter() - (time.time() - epoch_ns / 1e9)


def capture(server: Server, job: str, duration_ms: int = 2000) -> dict[str, Any]:
    """`xdiag capture JOB` from its process start to the URL it prints and the first
    viewport after it, measured from the end of the trace window, and split at the
    trace's arrival in the service: before it, the job's profiler (its trace converted
    and sent after the window); after it, validation, storing, the index and the page's
    requests."""
    import requests

    http = requests.Session()
    t0 = time.perf_counter()
    cli = subprocess.Popen([sys.executable, "-m", "xdiag", "capture", job, "--duration-ms",
                            str(duration_ms), "--server", server.url], cwd=ROOT, env=env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = None
    for line in cli.stdout:
        m = URL_RE.search(line)
        if m:
            pid = m.group(2)
            break
    t_url = time.perf_counter()
    if pid is None:
        raise RuntimeError(f"xdiag capture printed no URL: {cli.stderr.read()[-2000:]}")
    view = open_view(http, server.url, pid)
    t_view = time.perf_counter()
    _, err = cli.communicate(timeout=600)
    rec = wait_ready(http, server.url, pid)
    cap_url = f"{server.url}/api/v1/captures/{rec['capture']['id']}"
    cap = http.get(cap_url, timeout=30).json()
    for _ in range(60):  # the profiler's answer is recorded once it has come
        if cap.get("rpc_answered_at") or "trace_in_at" not in cap:
            break
        time.sleep(0.1)
        cap = http.get(cap_url, timeout=30).json()
    # The service opens every host's window capture.ALIGN_DELAY_S (0.3 s) after it starts
    # the capture (`started_at`); the trace is in the service at `trace_in_at` (the job's
    # profiler has closed the file; older services: `trace_s` after the start, which
    # also held the validation parse and the RPC's answer).
    started = cap["started_at"]
    end = _epoch_to_perf(int((started + 0.3 + duration_ms / 1000) * 1e9))
    trace_in = _epoch_to_perf(int((cap.get("trace_in_at") or
                                   started + cap["phases"]["trace_s"]) * 1e9))
    return {"id": pid, "window_end_to_url_s": t_url - end, "window_end_to_view_s": t_view - end,
            "job_side_s": trace_in - end, "trace_in_to_view_s": t_view - trace_in,
            "trace_in_to_url_s": t_url - trace_in,
            # Negative: the first view was served before the job's profiler answered the
            # RPC (a capture used to wait for that answer before it validated the trace).
            "rpc_answer_to_view_s": t_view - _epoch_to_perf(int(cap["rpc_answered_at"] * 1e9))
            if cap.get("rpc_answered_at") else None,
            "cli_url_s": t_url - t0, "duration_ms": duration_ms, "events": rec["events"],
            "bytes": sum(h["bytes"] for h in rec["hosts"]), "view": view, "returncode":
            cli.returncode, "phases": cap.get("phases"), "ingest": rec.get("ingest"),
            "cli_stderr": err[-2000:]}


def capture_trainer(captures: int = 3, keep: Path | None = None) -> dict[str, Any]:
    """The demo trainer with its agent against a fresh `xdiag serve`; `captures` captures
    of it, each timed by `capture`. The first capture's file is kept at `keep`."""
    import requests

    work = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    server = Server(work / "store")
    log = open(work / "trainer.log", "w")
    job = subprocess.Popen([sys.executable, "-m", "trainer.train", "--forever",
                            "--xdiag-server", server.url, "--job", "bench"], cwd=ROOT,
                           env=env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if any(j["job"] == "bench" and j["live"] for j in
                       requests.get(server.url + "/api/v1/jobs", timeout=5).json()):
                    break
            time.sleep(1)
        # Past compilation (15-20 s on CPU), into steady steps.
        while time.monotonic() < deadline and \
                sum(line.startswith("step") for line in open(work / "trainer.log")) < 5:
            time.sleep(1)
        runs = [capture(server, "bench") for _ in range(captures)]
        if keep is not None and not keep.exists():
            src = next((work / "store").glob(f"bench/plugins/profile/*/*{layout_suffix()}"))
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, keep)
        return {"runs": runs, "rss_tree_peak_mb": server.rss.mark("captures"),
                "server_hwm_mb": server.hwm_mb()}
    finally:
        job.kill()
        job.wait(30)
        log.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def layout_suffix() -> str:
    from xdiag.store import layout

    return layout.XPLANE_SUFFIX


def summary_line(r: dict[str, Any]) -> str:
    f, s, w = r["first"], r["second"], r["windows"]
    return (f"{r['file']}: URL {f['url_s']:.2f} s, first view {f['first_view_s']:.2f} s, "
            f"ready {f['ready_s']:.2f} s (ingest.seconds {f['ingest']['seconds']:.2f}); "
            f"again: URL {s['url_s']:.2f}, view {s['first_view_s']:.2f}, ready "
            f"{s['ready_s']:.2f} (ingest {s['ingest']['seconds']:.2f}); windows p50 "
            f"{w['p50'] * 1e3:.2f} ms p90 {w['p90'] * 1e3:.2f} ms; tree RSS "
            f"{r['rss_tree_peak_mb']:.0f} MB = {r['rss_tree_peak_mb'] * 2**20 / r['bytes']:.2f}x")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--windows", type=int, default=100)
    ap.add_argument("--capture", action="store_true", help="capture the demo trainer")
    args = ap.parse_args()
    if args.capture:
        c = capture_trainer()
        for r in c["runs"]:
            rpc = r["rpc_answer_to_view_s"]
            print(f"capture: window end -> URL {r['window_end_to_url_s']:.2f} s, -> first view "
                  f"{r['window_end_to_view_s']:.2f} s (the job's profiler {r['job_side_s']:.2f} s, "
                  f"trace in -> first view {r['trace_in_to_view_s']:.2f} s; the job's RPC answer "
                  f"-> first view {'-' if rpc is None else f'{rpc:.2f}'} s; {r['events']:,} "
                  f"events, {r['bytes'] / 1e6:.0f} MB), phases {r['phases']}", flush=True)
    for p in args.files:
        r = measure_file(p, args.windows)
        print(summary_line(r), flush=True)
        for label in ("first", "second"):
            print(f"  {label}: " + ", ".join(f"{k.strip()} {v:.3f}"
                                             for k, v in r[label]["stages"].items()), flush=True)
        print(f"  rss marks {r['rss_marks_mb']}, server VmHWM {r['server_hwm_mb']:.0f} MB",
              flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
