"""The agent never stalls or kills the job; it registers once the service is there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from support import ROOT, free_port, wait_for_hosts

JOB = str(ROOT / "tests" / "jobs" / "steps_job.py")


def test_job_runs_while_service_is_down_then_registers(tmp_path: Path, serve) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, JOB, url, "late", "12"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # the job trains with nobody listening
    assert proc.poll() is None, proc.stderr.read()
    svc = serve(str(tmp_path / "store"), port=port)
    hosts = wait_for_hosts(svc.url, "late", 1, timeout=40)
    assert hosts[0]["state"] == "live"
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    steps = int(out.split()[1])
    assert steps > 50, out  # it kept stepping the whole time
    assert err.count("unreachable") == 1, err  # warned once, in words
    # A clean exit deregisters: the job disappears at once instead of going stale.
    with urllib.request.urlopen(svc.url + "/api/v1/jobs") as r:
        assert [j for j in json.load(r) if j["job"] == "late"] == []
