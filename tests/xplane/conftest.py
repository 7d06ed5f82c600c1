"""Fixtures for the XSpace reader tests: a live capture, a synthetic file, a golden file."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIXTURES = HERE.parent / "fixtures"
CPU_SMALL = FIXTURES / "cpu_small.xplane.pb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, timeout: float) -> str:
    """Reads the job's output until it prints "ready"; returns what it printed."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.5):
            if proc.poll() is not None:
                break
            continue
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.strip() == "ready":
            return "".join(seen)
    raise RuntimeError("profiled job did not get ready:\n" + "".join(seen[-40:]))


@pytest.fixture(scope="session")
def real_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~300 ms CPU capture (8 forced devices) of a small sharded jitted loop.

    Session-scoped: the job start (jax import + compile) dominates, so every
    test module shares one capture.
    """
    from xprof.convert import _pywrap_profiler_plugin as plugin

    logdir = tmp_path_factory.mktemp("capture")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "profiled_job.py"), str(port), "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"},
    )
    try:
        _wait_ready(proc, timeout=120)
        options = {"host_tracer_level": 2, "device_tracer_level": 1, "python_tracer_level": 0}
        plugin.trace(f"127.0.0.1:{port}", str(logdir), "", True, 300, 3, options)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    files = sorted(logdir.glob("plugins/profile/*/*.xplane.pb"))
    assert len(files) == 1, f"capture wrote {files}"
    return files[0]


@pytest.fixture(scope="session")
def synth_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic profile (4 devices, 20k events) in its own directory."""
    from xdiag.xplane.synth import write_synthetic_xspace

    out = tmp_path_factory.mktemp("synth") / "synthetic.xplane.pb"
    write_synthetic_xspace(out, 20_000, n_devices=4, seed=1)
    return out


@pytest.fixture(scope="session")
def cpu_small() -> Path:
    """The golden CPU capture committed in tests/fixtures (8 devices, 5 steps)."""
    return CPU_SMALL
