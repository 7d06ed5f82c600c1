"""Soak: web-UI clients against `xdiag serve` as its own process (issue 16).

    python -m bench.soak [--users 50] [--seconds 60] [--warmup 15] [--events 1000000]
    make soak

A synthetic profile (xdiag.xplane.synth, as `make bench` makes them) is uploaded with the
CLI into a fresh local store; then headless locust users (in this process, FastHttpUser)
each replay the web UI's requests: the profile list, the profile record as the viewer's
long poll (`?wait=timeline`), its tracks and the whole-profile viewport; then, until the
end, zoomed viewports at random windows (log-uniform spans, the UI's 4x-wide request),
event details, search (and its next page), and the ops, steps and roofline tabs. After
`--warmup` s the statistics are reset and `--seconds` s are measured: p50 / p99 per kind
of request, requests per second, errors (any status but 200, or a body that is not what
the UI decodes: must be 0), and the peak RSS of the server's process tree (psutil, every
0.1 s) and of its main process (the kernel's VmHWM). The numbers go to the "Soak (50
clients)" section of bench/results.md (`--no-write`: printed only).

The load generator shares the machine with the server: on 2 cores what is measured is
the service under a load that takes part of one core itself.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()  # locust's own import does this; first, so nothing is imported unpatched

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import locust  # noqa: E402
import psutil  # noqa: E402
from locust import FastHttpUser, between, task  # noqa: E402
from locust.env import Environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
RESULTS = ROOT / "bench" / "results.md"
SECTION = "## Soak (50 clients)"
VIEWPORT_PX = 1280  # the trace panel's canvas; the UI asks for 4x its quantized width
KINDS = ("profiles", "profile ?wait=timeline", "tracks", "timeline whole", "timeline zoom",
         "event", "search", "search next page", "ops", "steps", "roofline")


# -- what the users replay ---------------------------------------------------------------


class Scene:
    """The profile under test and what the users pick from (ids, names), read once."""

    pid = ""
    end_ns = 1
    tracks: list[int] = []
    event_ids: list[int] = []
    words: list[str] = []
    think_s = (0.0, 0.1)


def _check(resp: Any, kind: str) -> None:
    """Anything but what the UI can use is an error (checked cheaply: the load generator
    shares the cores with the server)."""
    ctype = resp.headers.get("Content-Type", "")
    if resp.status_code != 200:
        resp.failure(f"{kind}: HTTP {resp.status_code}: {resp.text[:200] if resp.text else ''}")
    elif kind.startswith("timeline") and not resp.content.startswith(b"XDTL"):
        resp.failure(f"{kind}: not the binary timeline")
    elif not kind.startswith("timeline") and not (
            ctype.startswith("application/json") and resp.content[:1] in (b"{", b"[")):
        resp.failure(f"{kind}: not JSON ({ctype})")
    else:
        resp.success()


class Viewer(FastHttpUser):
    """One person in the web UI: opens the profile, then zooms, clicks, searches, tabs."""

    wait_time = between(*Scene.think_s)
    rng: random.Random

    def get(self, path: str, kind: str) -> Any:
        with self.client.get(path, name=kind, catch_response=True) as resp:
            _check(resp, kind)
            return resp

    def on_start(self) -> None:
        self.rng = random.Random(id(self))
        p = f"/api/v1/profiles/{Scene.pid}"
        self.get("/api/v1/profiles", "profiles")
        self.get(f"{p}?wait=timeline", "profile ?wait=timeline")
        self.get(f"{p}/tracks", "tracks")
        self.get(f"{p}/timeline?start_ns=0&end_ns={Scene.end_ns}&width={4 * VIEWPORT_PX}",
                 "timeline whole")

    @task(20)
    def zoom(self) -> None:
        # A window of log-uniform span, fetched as the UI plans it: aligned to a power of
        # two q, covering [a - q, a + 3q], 4 x the canvas wide.
        span = math.exp(self.rng.uniform(math.log(1_000), math.log(Scene.end_ns)))
        q = 2 ** math.ceil(math.log2(max(span, 1)))
        a = (int(self.rng.uniform(0, Scene.end_ns)) // q) * q
        start, end = max(0, a - q), min(Scene.end_ns, a + 3 * q)
        if end <= start:
            start, end = 0, Scene.end_ns
        self.get(f"/api/v1/profiles/{Scene.pid}/timeline?start_ns={start}&end_ns={end}"
                 f"&width={4 * VIEWPORT_PX}", "timeline zoom")

    @task(4)
    def event(self) -> None:
        eid = self.rng.choice(Scene.event_ids)
        self.get(f"/api/v1/profiles/{Scene.pid}/events/{eid}", "event")

    @task(2)
    def search(self) -> None:
        q = self.rng.choice(Scene.words)
        r = self.get(f"/api/v1/profiles/{Scene.pid}/search?q={q}&limit=100", "search")
        nxt = r.json().get("next_after_ns") if r.status_code == 200 else None
        if nxt is not None:
            self.get(f"/api/v1/profiles/{Scene.pid}/search?q={q}&after_ns={nxt}&limit=100",
                     "search next page")

    @task(1)
    def tabs(self) -> None:
        for tab in ("ops", "steps", "roofline"):
            self.get(f"/api/v1/profiles/{Scene.pid}/{tab}", tab)

    @task(1)
    def reopen(self) -> None:
        self.on_start()


# -- the service ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def synthetic(events: int) -> Path:
    """The bench's synthetic profile of `events` events (made once, kept in bench/data)."""
    path = DATA / f"synth_{events}.xplane.pb"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "xdiag.xplane.synth", str(path), "--events",
                        str(events)], check=True, cwd=ROOT)
    return path


class RssSampler:
    """Peak RSS of a process and its children, summed, sampled every `every_s`."""

    def __init__(self, pid: int, every_s: float = 0.1) -> None:
        self.proc, self.every_s, self.peak = psutil.Process(pid), every_s, 0
        self._run = True
        self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while self._run:
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            gevent.sleep(self.every_s)

    def stop(self) -> int:
        self._run = False
        self._greenlet.join(5)
        return self.peak


def _vm_hwm(pid: int) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024


def prepare(url: str, path: Path, env: dict[str, str]) -> None:
    """Upload the profile as a user would (the CLI waits for the whole ingest), then read
    what the users will pick from."""
    out = subprocess.run([sys.executable, "-m", "xdiag", "upload", str(path), "--server", url,
                          "--json"], capture_output=True, text=True, env=env, timeout=1800,
                         check=True)
    rec = json.loads(out.stdout)
    Scene.pid = rec["id"]
    base = f"{url}/api/v1/profiles/{Scene.pid}"
    tracks = _json(f"{base}/tracks")
    Scene.end_ns = int(tracks["end_ns"])
    ids, names = set(), set()
    for k in range(8):  # a few windows across the profile, as JSON, for ids and names
        a = Scene.end_ns * k // 8
        tl = _json(f"{base}/timeline?start_ns={a}&end_ns={a + Scene.end_ns // 64}&width=2000"
                   "&format=json")
        ids.update(s["id"] for s in tl["slices"])
        names.update(s["name"] for s in tl["slices"])
    rng = random.Random(0)
    Scene.event_ids = sorted(ids)
    words = sorted(names)
    # Whole names and parts of names (what people type), at most 20.
    Scene.words = sorted({w for n in rng.sample(words, min(10, len(words)))
                          for w in (n, n[: max(3, len(n) // 2)])})[:20]


# -- the run ---------------------------------------------------------------------------------


def run(users: int, seconds: float, warmup: float, events: int) -> dict[str, Any]:
    path = synthetic(events)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           "XDIAG_HOST_PEAKS": "matmul_gflops=100,memcpy_gbps=20"}
    with tempfile.TemporaryDirectory(prefix="xdiag-soak-") as tmp:
        log = open(Path(tmp) / "serve.log", "wb")
        server = subprocess.Popen([sys.executable, "-m", "xdiag", "serve", "--store",
                                   str(Path(tmp) / "store"), "--port", str(port)],
                                  stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    _json(f"{url}/healthz")
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("xdiag serve did not start") from None
                    time.sleep(0.2)
            sampler = RssSampler(server.pid)
            t0 = time.monotonic()
            prepare(url, path, env)
            upload_s = time.monotonic() - t0
            result = _load(url, users, seconds, warmup, server.pid)
            result.update(upload_s=upload_s, peak_rss_tree=sampler.stop(),
                          peak_rss_main=_vm_hwm(server.pid), events=events,
                          file_mb=path.stat().st_size / 2**20)
            errors = b"Traceback" in (Path(tmp) / "serve.log").read_bytes()
            result["server_tracebacks"] = errors
            return result
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


def _cpu_s(proc: psutil.Process, children: bool = True) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    total = 0.0
    for p in [proc, *(proc.children(recursive=True) if children else [])]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _load(url: str, users: int, seconds: float, warmup: float,
          server_pid: int) -> dict[str, Any]:
    Viewer.wait_time = between(*Scene.think_s)
    env = Environment(user_classes=[Viewer], host=url)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=max(1, users / 5))  # all of them within ~5 s
    gevent.sleep(warmup)
    env.stats.reset_all()
    me, server = psutil.Process(), psutil.Process(server_pid)
    t0, cpu_me, cpu_server = time.monotonic(), _cpu_s(me, False), _cpu_s(server)
    load_before = os.getloadavg()[0]
    gevent.sleep(seconds)
    elapsed = time.monotonic() - t0
    cpu_me, cpu_server = _cpu_s(me, False) - cpu_me, _cpu_s(server) - cpu_server
    load_after = os.getloadavg()[0]
    runner.quit()
    kinds = {}
    for kind in KINDS:
        e = env.stats.entries.get((kind, "GET"))
        if e is None or not e.num_requests:
            continue
        kinds[kind] = {"requests": e.num_requests, "failures": e.num_failures,
                       "p50_ms": e.get_response_time_percentile(0.5),
                       "p99_ms": e.get_response_time_percentile(0.99),
                       "max_ms": e.max_response_time}
    total = env.stats.total
    return {"users": users, "seconds": elapsed, "warmup_s": warmup, "kinds": kinds,
            "load_1min": (load_before, load_after),
            "cpu_cores": {"server": cpu_server / elapsed, "load_generator": cpu_me / elapsed},
            "requests": total.num_requests, "rps": total.num_requests / elapsed,
            "errors": total.num_failures,  # statuses, bodies, connection errors
            "error_samples": [f"{e.name}: {e.error}" for e in env.stats.errors.values()][:5],
            "p50_ms": total.get_response_time_percentile(0.5),
            "p99_ms": total.get_response_time_percentile(0.99)}


def report(r: dict[str, Any]) -> str:
    lines = [
        SECTION, "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on this VM: "
        f"{psutil.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"locust {locust.__version__} (headless, in-process FastHttpUser; the load "
        "generator shares the machine with the server). `python -m bench.soak` / `make soak`.",
        "",
        f"{r['users']} users replay the web UI against `xdiag serve` (its own process, local "
        f"store) on a {r['events']:,}-event synthetic profile ({r['file_mb']:.0f} MB, "
        f"uploaded with `xdiag upload` in {r['upload_s']:.1f} s, whole ingest included): "
        "profile list, the record's long poll (`?wait=timeline`), tracks, the whole "
        f"viewport ({4 * VIEWPORT_PX} px), then zoomed viewports at random windows "
        "(log-uniform spans), event details, search and its next page, ops/steps/roofline, "
        f"with {Scene.think_s[0] * 1000:.0f}-{Scene.think_s[1] * 1000:.0f} ms between a "
        f"user's requests. {r['warmup_s']:.0f} s warm-up, then {r['seconds']:.0f} s measured "
        f"(1-minute load average {r['load_1min'][0]:.1f} at the start, "
        f"{r['load_1min'][1]:.1f} at the end: the other engineers' work on this VM counts).",
        "",
        f"**{r['rps']:.0f} req/s, {r['requests']:,} requests, {r['errors']} errors; p50 "
        f"{r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms overall; peak RSS "
        f"{r['peak_rss_tree'] / 2**20:.0f} MB (server process tree, sampled), "
        f"{r['peak_rss_main'] / 2**20:.0f} MB (server main process, VmHWM); tracebacks in "
        f"the server log: {'yes' if r['server_tracebacks'] else 'none'}.** CPU while "
        f"measured: the server {r['cpu_cores']['server']:.2f} cores, the load generator "
        f"{r['cpu_cores']['load_generator']:.2f}.",
        "",
        "| request | count | p50 (ms) | p99 (ms) | max (ms) | errors |",
        "|---|---|---|---|---|---|",
    ]
    for kind, k in r["kinds"].items():
        lines.append(f"| {kind} | {k['requests']:,} | {k['p50_ms']:.0f} | {k['p99_ms']:.0f} "
                     f"| {k['max_ms']:.0f} | {k['failures']} |")
    lines += ["", "Latencies are locust's (rounded to 2 significant digits above 100 ms). "
              "Every kind of request waits about as long as the others: the time is queueing "
              "for one Python process (`xdiag serve` is one process with threads, as the "
              "image's gunicorn is: one gthread worker; a deployment scales with replicas).",
              ""]
    return "\n".join(lines)


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace the soak section of results.md (or add it at the end)."""
    old = path.read_text() if path.exists() else ""
    head, sep, tail = old.partition(SECTION)
    if sep:  # keep whatever follows the next section heading
        nxt = re.search(r"^## ", tail, flags=re.M)
        tail = tail[nxt.start():] if nxt else ""
        new = head + text + ("\n" + tail if tail else "")
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=15)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--think-ms", type=float, nargs=2, default=(0, 100),
                    help="a user's pause between requests, uniform in [a, b] ms")
    ap.add_argument("--no-write", action="store_true", help="print, leave results.md alone")
    args = ap.parse_args()
    Scene.think_s = (args.think_ms[0] / 1000, args.think_ms[1] / 1000)
    r = run(args.users, args.seconds, args.warmup, args.events)
    text = report(r)
    print(text)
    print(json.dumps(r, indent=1))
    if not args.no_write:
        write_section(text)
        print(f"written to {RESULTS}")
    if r["errors"]:
        sys.exit(f"{r['errors']} errors: {r['error_samples']}")


if __name__ == "__main__":
    main()
