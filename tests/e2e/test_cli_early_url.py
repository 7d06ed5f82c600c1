"""The URL `xdiag upload` and `xdiag capture` print is honest: it comes as soon as the
profile's timeline can be viewed, while ingest still builds the op and step tables (held
here, so the early path is the one taken), and then

- the printed URL's timeline answers 200 at once, and the page opens on the trace and
  reaches `ready` by itself when the ingest ends;
- `--wait` (and `--json`, whose object scripts read) returns only once the ingest is
  complete, and a later command that needs the whole profile (`export`) waits for it.

The service runs in this process (its ingest held by `hold_tables`); the CLI and the job
are processes of their own, as a user's are."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from e2e_support import SMALL, wait_trace_loaded
from support import JobProcess, hold_tables, run_cli, wait_for_hosts
from werkzeug.serving import make_server

from xdiag.core.config import Settings
from xdiag.server import create_app
from xdiag.server.services import Services

URL_LINE = re.compile(r"^(http://\S+/p/(\S+))\s+\((.*)\)$")
TIMELINE_MIME = "application/x-xdiag-timeline"
PEAKS = "matmul_gflops=100,memcpy_gbps=20"  # no probe of this host in the test


@pytest.fixture
def held_service(tmp_path: Path, monkeypatch):
    """`xdiag serve`'s app on a free port, every ingest held after its timeline."""
    reached, release = hold_tables(monkeypatch)
    svc = Services(Settings(store=str(tmp_path / "store"), host_peaks=PEAKS))
    server = make_server("127.0.0.1", 0, create_app(services=svc), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", reached, release
    finally:
        release.set()
        server.shutdown()
        svc.ingest.shutdown()


def _viewable_at_once(base: str, pid: str) -> dict:
    """The page's requests for the printed profile, answered now (no retry, no 409)."""
    rec = requests.get(f"{base}/api/v1/profiles/{pid}", timeout=10).json()
    tracks = requests.get(f"{base}/api/v1/profiles/{pid}/tracks", timeout=10)
    assert tracks.status_code == 200, tracks.text
    end = tracks.json()["end_ns"]
    tl = requests.get(f"{base}/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={end}&width=1200",
                      headers={"Accept": TIMELINE_MIME}, timeout=10)
    assert tl.status_code == 200 and tl.headers["Content-Type"].startswith(TIMELINE_MIME)
    assert len(tl.content) > 1000
    return rec


@pytest.mark.e2e
def test_upload_url_opens_at_once_and_wait_waits(held_service, ui, tmp_path: Path) -> None:
    base, reached, release = held_service
    res = run_cli("upload", str(SMALL), "--server", base, "--run", "cli", "--session", "early")
    assert res.returncode == 0, res.stderr
    url, pid, state = URL_LINE.match(res.stdout.strip()).groups()
    assert reached.is_set() and not release.is_set()  # printed while the tables are held
    assert "still ingesting" in state
    rec = _viewable_at_once(base, pid)
    assert rec["status"] == "ingesting" and rec["timeline_ready"]
    # A script's next command that needs the whole profile waits for the ingest.
    exported = tmp_path / "early.perfetto-trace"
    export = subprocess.Popen([sys.executable, "-m", "xdiag", "export", pid, "-o", str(exported),
                               "--server", base], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)

    # --wait (a script's choice) and --json (its default) return after the whole ingest.
    waited = subprocess.Popen([sys.executable, "-m", "xdiag", "upload", str(SMALL), "--json",
                               "--server", base, "--run", "cli", "--session", "waited"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not requests.get(f"{base}/api/v1/profiles/cli~waited?wait=timeline&timeout=5",
                               timeout=10).json().get("timeline_ready"):
            assert time.monotonic() < deadline
        time.sleep(0.5)
        assert waited.poll() is None  # the timeline is ready; --json waits for the rest
        assert export.poll() is None and not exported.exists()

        page, _ = ui.new_page(base)
        page.goto(url)
        page.get_by_test_id("timeline-early").wait_for()
        wait_trace_loaded(page)
        release.set()
        page.get_by_test_id("tab-ops").wait_for(timeout=60_000)
        assert page.get_by_test_id("profile-status").inner_text() == "ready"
        out, err = waited.communicate(timeout=120)
        _, export_err = export.communicate(timeout=120)
    finally:
        for proc in (waited, export):
            if proc.poll() is None:
                proc.kill()
    assert waited.returncode == 0, err
    assert export.returncode == 0 and exported.stat().st_size > 1000, export_err
    assert json.loads(out)["status"] == "ready"
    ops = requests.get(f"{base}/api/v1/profiles/cli~waited/ops", timeout=10)
    assert ops.status_code == 200 and ops.json()["ops"]


@pytest.mark.e2e
def test_capture_url_opens_at_once(held_service, tmp_path: Path) -> None:
    base, reached, release = held_service
    job = JobProcess(base, "early", tmp_path)
    try:
        wait_for_hosts(base, "early", 1)
        res = run_cli("capture", "early", "--duration-ms", "300", "--server", base, timeout=120)
        assert res.returncode == 0, res.stderr
        url, pid, state = URL_LINE.match(res.stdout.strip().splitlines()[-1]).groups()
        assert reached.is_set() and not release.is_set()
        assert "still ingesting" in state and url.endswith(pid)
        rec = _viewable_at_once(base, pid)
        assert rec["status"] == "ingesting" and rec["source"] == "capture"
        release.set()
        done = requests.get(f"{base}/api/v1/profiles/{pid}?wait=ready&timeout=20", timeout=30)
        assert done.json()["status"] == "ready"
    finally:
        job.kill()
