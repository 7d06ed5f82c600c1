"""`make run`: the service on the local store plus the demo trainer with the agent.

Starts `xdiag serve`, then the trainer (`python -m trainer.train --forever`)
registered as job `demo`, waits until the job is registered, takes one first
capture so the viewer has something to show, and prints the URL. Ctrl-C stops
everything.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from xdiag.core.config import REPO_ROOT


def _wait_for(url: str, what: str, timeout: float, ok=lambda r: r.ok) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            resp = requests.get(url, timeout=2)
            if ok(resp):
                return resp
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"error: {what} did not come up within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", default=str(REPO_ROOT / "var" / "xdiag-store"))
    parser.add_argument("--port", type=int, default=8791)
    parser.add_argument("--job", default="demo")
    parser.add_argument("--no-capture", action="store_true")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    Path(args.store).mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []

    def stop(*_: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    log_dir = REPO_ROOT / "var"
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "xdiag", "serve", "--store", args.store, "--port", str(args.port)],
        env=env))
    _wait_for(url + "/healthz", "the xdiag service", 60)
    trainer_log = open(log_dir / "demo-trainer.log", "w")
    procs.append(subprocess.Popen(
        [sys.executable, "-m", "trainer.train", "--forever", "--sleep-ms", "100",
         "--xdiag-server", url, "--job", args.job], env=env, cwd=REPO_ROOT, stdout=trainer_log,
        stderr=subprocess.STDOUT))
    print(f"demo trainer starting (log: {trainer_log.name}) …", flush=True)
    _wait_for(url + "/api/v1/jobs", "the demo trainer's registration", 300,
              ok=lambda r: r.ok and any(j["job"] == args.job and j["live"] for j in r.json()))
    if not args.no_capture:
        # The first steps compile (15-20 s on CPU): capture once a few steps have run.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and sum(
                line.startswith("step") for line in open(trainer_log.name)) < 5:
            time.sleep(1)
        cap = requests.post(url + "/api/v1/captures", json={
            "job": args.job, "duration_ms": 2000, "wait": True}, timeout=300).json()
        print(f"first capture: {cap.get('url') or cap.get('error')}", flush=True)
    print(f"\n  xdiag is running: {url}\n  capture again with: .venv/bin/xdiag capture "
          f"{args.job}\n  Ctrl-C stops the service and the trainer.\n", flush=True)
    while all(p.poll() is None for p in procs):
        time.sleep(1)
    stop()


if __name__ == "__main__":
    main()
