"""A capture's path from the trace's arrival to the printed link, without a JAX job.

The profiler RPC is replaced by what the JAX profiler server does (measured with strace
on the demo trainer): it writes the trace file into the client's log directory, closes
it, frees its copy of the trace, and only then answers. Here it answers only when the
test lets it, so each test shows that the capture took the trace at its `close`
(`pipeline/arrival.py`), not at the answer. Everything else is real: the service over
HTTP, `xdiag capture` (in process), the capture's long poll, the ingest.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from xdiag.pipeline import capture
from xdiag.pipeline.arrival import TraceArrival
from xdiag.store import layout

FIXTURES = Path(__file__).parent / "fixtures"
SMALL = FIXTURES / "cpu_small.xplane.pb"


# -- arrival: the file once its writer closed it ------------------------------------


def watched(folder: Path, timeout: float = 20) -> bool:
    """Whether an inotify watch of this process is on `folder` (from /proc/self/fdinfo),
    waiting up to `timeout` for one: the profiler's stand-in holds its file open until
    the capture watches the folder, as the real one serialises its trace meanwhile."""
    ino = f"ino:{os.stat(folder).st_ino:x} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") != "anon_inode:inotify":
                    continue
                with open(f"/proc/self/fdinfo/{fd}") as fh:
                    if any(ino in line for line in fh if line.startswith("inotify")):
                        return True
            except OSError:
                continue
        time.sleep(0.01)
    return False


def write_trace(folder: Path, name: str, data: bytes) -> None:
    """The profiler's write: its session folder, the file opened, half of it, then (once
    the folder is watched) the rest, closed."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / name, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        watched(folder)
        fh.write(data[len(data) // 2:])


def _writer(logdir: Path, name: str, data: bytes, answer: threading.Event,
            halves: threading.Event) -> threading.Thread:
    """The profiler's side: the file written in two halves (the second once `halves` is
    set), closed, then the RPC's answer when `answer` is set."""
    def run() -> None:
        folder = logdir / "plugins" / "profile" / "2026_12_07_20_00_00"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / name, "wb") as fh:
            fh.write(data[: len(data) // 2])
            fh.flush()
            halves.wait(30)
            fh.write(data[len(data) // 2:])
        answer.wait(30)

    return threading.Thread(target=run, daemon=True)


def test_arrival_takes_the_file_at_its_close_before_the_rpc_answers(tmp_path: Path) -> None:
    data = SMALL.read_bytes()
    answer, second_half = threading.Event(), threading.Event()
    watch = TraceArrival(tmp_path, "h_1.xplane.pb")
    rpc = _writer(tmp_path, "h_1.xplane.pb", data, answer, second_half)
    got: list[Path | None] = []
    waiter = threading.Thread(target=lambda: got.append(
        watch.wait(rpc, time.monotonic() + 30)))
    rpc.start()
    waiter.start()
    try:
        assert watched(tmp_path / "plugins" / "profile" / "2026_12_07_20_00_00")
        waiter.join(0.2)
        assert not got, "taken while half written"  # open, half written: not complete
        second_half.set()
        waiter.join(30)
        assert got and got[0] is not None
        assert got[0].read_bytes() == data  # the whole file, while the RPC has not answered
        assert rpc.is_alive() and watch.early
    finally:
        second_half.set()
        answer.set()
        rpc.join(30)


def test_arrival_falls_back_to_the_rpc_answer(tmp_path: Path) -> None:
    """A file already there when its folder is first seen (its close may be missed): the
    answer decides; no file at the answer: None; neither by the deadline: None."""
    data = SMALL.read_bytes()
    folder = tmp_path / "plugins" / "profile" / "s"
    folder.mkdir(parents=True)
    (folder / "h_1.xplane.pb").write_bytes(data)
    watch = TraceArrival(tmp_path, "h_1.xplane.pb")
    answered = threading.Thread(target=lambda: None)
    answered.start()
    path = watch.wait(answered, time.monotonic() + 30)
    assert path == folder / "h_1.xplane.pb" and not watch.early

    empty = TraceArrival(tmp_path / "other", "h_1.xplane.pb")
    assert empty.wait(answered, time.monotonic() + 30) is None

    never = threading.Event()
    hanging = threading.Thread(target=lambda: never.wait(30), daemon=True)
    hanging.start()
    try:
        late = TraceArrival(tmp_path / "late", "h_1.xplane.pb")
        assert late.wait(hanging, time.monotonic() + 0.2) is None
    finally:
        never.set()


# -- the service and the CLI ---------------------------------------------------------


class FakeProfiler:
    """`capture._trace` as the JAX profiler server behaves: the file, closed, then the
    answer, held back until `release()` (at most 30 s: then `timed_out`)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.answer = threading.Event()
        self.timed_out = False
        self.calls = 0

    def __call__(self, address: str, logdir: str, req: capture.CaptureRequest,
                 start_at: float) -> None:
        self.calls += 1
        time.sleep(max(0.0, start_at - time.time()) + req.duration_ms / 1000)
        write_trace(Path(logdir) / "plugins" / "profile" / "2026_12_07_20_00_00",
                    address.replace(":", "_") + layout.XPLANE_SUFFIX, self.data)
        if not self.answer.wait(30):
            self.timed_out = True

    def release(self) -> None:
        self.answer.set()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    """A real HTTP service in this process (so the profiler can be replaced), a port the
    capture's probe can connect to, and a job registered at it."""
    from werkzeug.serving import make_server

    from xdiag.core.config import Settings
    from xdiag.server import create_app
    from xdiag.server.services import Services

    store = tmp_path_factory.mktemp("capture-path") / "store"
    svc = Services(Settings(store=str(store)))
    app = create_app(svc.settings, services=svc)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{srv.server_port}"
    body = {"job": "cj", "process_index": 0, "process_count": 1, "host": "127.0.0.1",
            "port": listener.getsockname()[1], "hostname": "testhost", "pid": os.getpid(),
            "device_kind": "cpu", "device_count": 8, "local_device_count": 8,
            "jax_version": "0.10.2", "peaks": {"matmul_gflops": 100.0, "memcpy_gbps": 10.0}}
    r = requests.post(url + "/api/v1/agents/register", json=body, timeout=30)
    assert r.status_code == 200, r.text
    svc.settings.public_url = url
    try:
        yield url, svc
    finally:
        srv.shutdown()
        listener.close()
        svc.ingest.shutdown()


@pytest.fixture
def profiler(monkeypatch: pytest.MonkeyPatch):
    fake = FakeProfiler(SMALL.read_bytes())
    monkeypatch.setattr(capture, "_trace", fake)
    yield fake
    fake.release()


def _cli(url: str, *args: str) -> tuple[int, str, str]:
    from xdiag.cli.main import main

    res = CliRunner().invoke(
        main, ["capture", "cj", "--duration-ms", "1", "--server", url, *args])
    return res.exit_code, res.stdout, res.stderr


def test_cli_prints_the_link_before_the_profiler_answers(service, profiler) -> None:
    url, _ = service
    code, out, err = _cli(url)
    # The link came while the profiler's answer was still held back.
    assert code == 0, err
    assert not profiler.timed_out and not profiler.answer.is_set()
    link = out.strip().split()[0]
    pid = link.rsplit("/p/", 1)[1]
    assert link == f"{url}/p/{pid}" and "saved" in err
    # Honest: the printed link's timeline answers at once.
    r = requests.get(f"{url}/api/v1/profiles/{pid}/tracks", timeout=30)
    assert r.status_code == 200 and r.json()["tracks"]
    profiler.release()
    rec = requests.get(f"{url}/api/v1/profiles/{pid}?wait=ready&timeout=25", timeout=60).json()
    assert rec["status"] == "ready" and rec["source"] == "capture"
    # The stored trace is the profiler's file, byte for byte.
    host = rec["hosts"][0]["host"]
    raw = requests.get(f"{url}/api/v1/profiles/{pid}/raw/{host}", timeout=30).content
    assert raw == SMALL.read_bytes()


def test_capture_long_poll_and_phases(service, profiler) -> None:
    url, _ = service
    r = requests.post(url + "/api/v1/captures", json={"job": "cj", "duration_ms": 1},
                      timeout=30)
    assert r.status_code == 202
    cap = r.json()
    # `state`: an answer as soon as the state is not the one the caller saw.
    moved = requests.get(f"{url}/api/v1/captures/{cap['id']}",
                         params={"wait": "done", "state": "no-such-state"}, timeout=30).json()
    assert moved["id"] == cap["id"]
    opened = requests.get(f"{url}/api/v1/captures/{cap['id']}",
                          params={"wait": "timeline", "timeout": 25}, timeout=60).json()
    assert opened["timeline_ready"] is True and opened["state"] == "ingesting"
    assert opened["profile_status"] in ("ingesting", "ready")
    assert not profiler.answer.is_set()
    profiler.release()
    done = requests.get(f"{url}/api/v1/captures/{cap['id']}",
                        params={"wait": "done", "timeout": 25}, timeout=60).json()
    assert done["state"] == "done" and done["profile_status"] == "ready"
    deadline = time.monotonic() + 30  # the answer's time is added once it has come
    while "rpc_answered_at" not in done and time.monotonic() < deadline:
        time.sleep(0.05)
        done = requests.get(f"{url}/api/v1/captures/{cap['id']}", timeout=30).json()
    phases = done["phases"]
    assert set(phases) == {"trace_s", "validate_s", "save_s", "ingest_s"}
    assert done["started_at"] < done["trace_in_at"] < done["finished_at"]
    # The profiler answered after the profile's timeline opened (it was held back).
    assert done["trace_in_at"] < done["rpc_answered_at"] <= done["finished_at"]
    # No long poll without `wait`; junk is a 400, an unknown capture a 404.
    assert requests.get(f"{url}/api/v1/captures/{cap['id']}?wait=soon",
                        timeout=30).status_code == 400
    assert requests.get(f"{url}/api/v1/captures/{cap['id']}?wait=done&timeout=1e400",
                        timeout=30).status_code == 400
    assert requests.get(f"{url}/api/v1/captures/nosuch?wait=done",
                        timeout=30).status_code == 404


def test_cli_json_waits_for_the_whole_ingest(service, profiler) -> None:
    url, _ = service
    profiler.release()  # the profiler answers at once: the former order still works
    code, out, err = _cli(url, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["state"] == "done" and got["profile_status"] == "ready"
    assert got["url"].endswith("/p/" + got["id"]) and got["failed_hosts"] == 0
