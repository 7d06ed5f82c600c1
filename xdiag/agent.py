"""The in-job side of xdiag: two lines make any JAX program capturable.

    import xdiag.agent
    xdiag.agent.start(server="http://xdiag:8791", job="my-run")

`start` launches the JAX profiler server, then a daemon thread measures the
host's peaks (~1 s), registers with the service and heartbeats. Nothing here may
kill or stall training: every network error is logged once and retried in the
background with backoff, and the training thread never waits on the service.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import os
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import requests

log = logging.getLogger("xdiag.agent")

HEARTBEAT_S = 5.0
DEFAULT_SERVER = "http://127.0.0.1:8791"


def measure_host_peaks(seconds: float = 1.0) -> dict[str, float]:
    """Measure this host's matmul GFLOP/s and memory-copy GB/s in about `seconds`.

    These stand in for device peaks on CPU, where no vendor table applies. The
    matmul runs through XLA on the CPU backend — the same engine whose ops the
    roofline then compares against it — and the copy through numpy.
    """
    # The copies first, their buffers freed before JAX is imported: the probe's process
    # (a child of the service, `pipeline/hostpeaks.py`) then peaks at JAX's size, not
    # at JAX's plus 66 MB of buffers.
    src = np.ones(32 * 1024 * 1024 // 8)  # 32 MiB: larger than typical LLC
    dst = np.empty_like(src)
    np.copyto(dst, src)
    deadline = time.perf_counter() + seconds * 0.4
    best_bw = 0.0
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        np.copyto(dst, src)
        best_bw = max(best_bw, 2 * src.nbytes / (time.perf_counter() - t))  # read + write
    # Small ops whose data stays in cache run above the DRAM roof: the roofline explains
    # such points with the cache's bandwidth (a 1 MiB copy, cache-resident on any recent
    # CPU; rounds of 32 copies so per-call overhead does not count).
    small, small_dst = np.ones(1024 * 1024 // 8), np.empty(1024 * 1024 // 8)
    deadline = time.perf_counter() + seconds * 0.1
    best_cache = 0.0
    while True:
        t = time.perf_counter()
        for _ in range(32):
            np.copyto(small_dst, small)
        best_cache = max(best_cache, 64 * small.nbytes / (time.perf_counter() - t))
        if time.perf_counter() > deadline:
            break
    del src, dst, small, small_dst
    import jax
    import jax.numpy as jnp

    cpu = jax.devices("cpu")[0]
    n = 1024
    a = jax.device_put(jnp.ones((n, n), jnp.float32), cpu)
    mm = jax.jit(lambda x: x @ x)
    mm(a).block_until_ready()  # compile and warm up
    deadline = time.perf_counter() + seconds / 2
    best_flops = 0.0
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        mm(a).block_until_ready()
        best_flops = max(best_flops, 2 * n**3 / (time.perf_counter() - t))
    out = {"matmul_gflops": best_flops / 1e9, "memcpy_gbps": best_bw / 1e9,
           "cache_gbps": best_cache / 1e9, "probe_s": seconds}
    llc = _llc_bytes()
    if llc:
        out["llc_bytes"] = llc
    return out


def _llc_bytes() -> int | None:
    """The last-level cache size of this host (Linux sysfs, else sysconf), or None."""
    import glob

    best: tuple[int, int] | None = None
    for d in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        try:
            level = int(Path(d, "level").read_text())
            text = Path(d, "size").read_text().strip().upper()
        except (OSError, ValueError):
            continue
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit() and (best is None or level > best[0]):
            best = (level, int(digits) * mult)
    if best:
        return best[1]
    for name in ("SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
        try:
            size = os.sysconf(name)
        except (ValueError, OSError):
            continue
        if size and size > 0:
            return int(size)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _reachable_host(server: str) -> str:
    """The address the service should dial to reach this process's profiler port.

    The service accepts only the address a registration comes from, so this is the local
    address of the route to the service (no packet is sent), not the hostname's address,
    which on Debian-like hosts is 127.0.1.1."""
    if os.environ.get("XDIAG_AGENT_HOST"):
        return os.environ["XDIAG_AGENT_HOST"]
    url = urllib.parse.urlparse(server)
    server_host = url.hostname or "127.0.0.1"
    if server_host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1"
    try:
        family, _, _, _, addr = socket.getaddrinfo(server_host, url.port or 80,
                                                   proto=socket.IPPROTO_UDP)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(addr)
            return str(s.getsockname()[0])
    except OSError:
        pass
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return socket.gethostname()


class Refused(Exception):
    """The service answered, and refused the registration (policy, role, size)."""


@dataclasses.dataclass
class Agent:
    server: str
    job: str
    port: int
    host: str
    process_index: int
    process_count: int
    device_kind: str
    device_count: int
    local_device_count: int
    jax_version: str
    heartbeat_s: float = HEARTBEAT_S
    peaks: dict[str, float] | None = None
    registered: bool = False
    token: str | None = None
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = dataclasses.field(default=None, repr=False)
    _warned: bool = dataclasses.field(default=False, repr=False)
    _session: requests.Session = dataclasses.field(default_factory=requests.Session, repr=False)

    def registration(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "process_index": self.process_index,
            "process_count": self.process_count,
            "host": self.host,
            "port": self.port,
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "device_kind": self.device_kind,
            "device_count": self.device_count,
            "local_device_count": self.local_device_count,
            "jax_version": self.jax_version,
            "peaks": self.peaks,
        }

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _post(self, path: str, body: dict[str, Any]) -> None:
        resp = self._session.post(
            self.server.rstrip("/") + path, json=body, headers=self._headers(), timeout=5
        )
        if resp.status_code in (400, 403, 413):  # refused, not unreachable: say why
            try:
                detail = resp.json().get("detail")
            except ValueError:
                detail = resp.text[:300]
            raise Refused(f"HTTP {resp.status_code}: {detail}")
        resp.raise_for_status()

    def _loop(self) -> None:
        if self.peaks is None:
            try:
                self.peaks = measure_host_peaks()
            except Exception as exc:  # a failed probe must not stop registration
                log.warning("xdiag agent: host peak probe failed: %s", exc)
        backoff = 1.0
        while not self._stop.is_set():
            try:
                path = "/api/v1/agents/heartbeat" if self.registered else "/api/v1/agents/register"
                self._post(path, self.registration())
                if not self.registered or self._warned:
                    log.info("xdiag agent: registered %s/%d with %s", self.job,
                             self.process_index, self.server)
                self.registered, self._warned, backoff = True, False, 1.0
                self._stop.wait(self.heartbeat_s)
            except Exception as exc:
                # 404 on heartbeat means the service forgot us (e.g. store wiped): re-register.
                self.registered = False
                if not self._warned:
                    what = "refused this process" if isinstance(exc, Refused) else "unreachable"
                    log.warning("xdiag agent: service %s %s (%s); training continues, "
                                "retrying in the background", self.server, what, exc)
                    self._warned = True
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def stop(self, deregister: bool = True) -> None:
        """Stop heartbeating; deregister so the job disappears at once instead of going stale."""
        self._stop.set()
        if deregister and self.registered:
            try:
                self._session.post(
                    self.server.rstrip("/") + "/api/v1/agents/deregister",
                    json=self.registration(),
                    headers=self._headers(),
                    timeout=2,
                )
            except Exception:
                pass
            self.registered = False


_current: Agent | None = None
_lock = threading.Lock()


def start(
    server: str | None = None,
    job: str | None = None,
    port: int = 0,
    *,
    host: str | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    peaks: dict[str, float] | None = None,
) -> Agent:
    """Start the profiler server and register this process with the xdiag service.

    Args:
      server: service URL (default `$XDIAG_SERVER`, else http://127.0.0.1:8791).
      job: job name shared by every process of the job (default `$XDIAG_JOB`, else the
        script name).
      port: profiler server port; 0 picks a free one.
      host: address the service should dial (default: loopback when the service is
        local, else this machine's IP; `$XDIAG_AGENT_HOST` overrides).
      heartbeat_s: seconds between heartbeats.
      peaks: pre-measured host peaks; skips the ~1 s probe.

    Returns:
      The running Agent (idempotent: a second call returns the first agent).
    """
    global _current
    import jax

    from xdiag.core.names import check_name, sanitize

    with _lock:
        if _current is not None:
            return _current
        server = server or os.environ.get("XDIAG_SERVER") or DEFAULT_SERVER
        job = job or os.environ.get("XDIAG_JOB") or sanitize(
            os.path.splitext(os.path.basename(__import__("sys").argv[0] or "job"))[0]
        )
        check_name(job, "job")
        port = port or _free_port()
        jax.profiler.start_server(port)
        devices = jax.devices()
        agent = Agent(
            server=server,
            job=job,
            port=port,
            host=host or _reachable_host(server),
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            device_kind=devices[0].device_kind if devices else "unknown",
            device_count=jax.device_count(),
            local_device_count=jax.local_device_count(),
            jax_version=jax.__version__,
            heartbeat_s=heartbeat_s,
            peaks=peaks,
            token=os.environ.get("XDIAG_TOKEN"),
        )
        agent._thread = threading.Thread(target=agent._loop, name="xdiag-agent", daemon=True)
        agent._thread.start()
        atexit.register(agent.stop)
        _current = agent
        return agent


def current() -> Agent | None:
    return _current
