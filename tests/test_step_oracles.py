"""Steps, step time and MFU against the job's own measurements, not our code.

The oracle is what a training loop measures: each step timed from when the host began
it to the moment the host saw its result, the job's own FLOPs and the same peak. Jobs run
with asynchronous dispatch -- the demo trainer's configuration (`--sleep-ms 100`), where a
step annotation covers only ~10 % of the step -- and blocking inside their annotation.
Two jobs: the in-repo MoE trainer (captured through the user's path: `xdiag serve`, the
agent, `xdiag capture`), and a CNN written with public JAX APIs only, traced with stock
`jax.profiler` (tests/jobs/cnn_job.py), whose FLOPs oracle is XLA's own cost analysis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import physics
import pytest
from support import ROOT, run_cli, wait_for_hosts

from xdiag.core.config import Settings
from xdiag.server.services import Services

pytestmark = pytest.mark.slow

# The job times a step to the moment its host sees the result; on a loaded 2-core machine
# that moment lags the device's last op by a scheduler's whim: 7 ms of a 122 ms step
# once (one boundary moved), and 3.5 ms of every ~130 ms blocking step with a benchmark
# beside the suite (the sum 3.0% off). So: the steps together within TOTAL_TOL, the
# typical (median) step within STEP_TOL, none past STEP_MAX (the annotation-window bug
# this guards against was 12x off).
STEP_TOL = 0.05  # step time, median over the steps
STEP_MAX = 0.12  # step time, any one step
TOTAL_TOL = 0.05  # step time, summed over the compared steps
MFU_TOL = 0.10  # MFU, relative


def _metrics(path: Path) -> dict[int, dict]:
    return {m["step"]: m for m in map(json.loads, path.read_text().splitlines())}


def _ingest(log_dir: Path, store: Path, host_peak_gflops: float, monkeypatch) -> dict:
    """Upload a jax.profiler log dir's host file into a fresh store and ingest it, with the
    host's peak FLOP/s set to the job's own figure; returns the steps view."""
    from xdiag.pipeline import admit

    (xplane,) = log_dir.glob("plugins/profile/*/*.xplane.pb")
    svc = Services(Settings(store=str(store), ingest_inline=True,
                            host_peaks=f"matmul_gflops={host_peak_gflops},memcpy_gbps=20"))
    rec = svc.admission.store_session(run="oracle", session="s",
                               files=[admit.HostFile("h0", xplane)], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    data = svc.views.get(rec)
    physics.check(data)  # every capture a test makes obeys physics
    return data.analysis("steps")


def _compare(steps: dict, want: dict[int, dict], mfu_of) -> list[tuple]:
    """(step, xdiag dur, job's, xdiag mfu, job's) for the complete steps both have."""
    rows = []
    for s in steps["steps"]:
        if not s["complete"] or s["step"] not in want:
            continue
        m = want[s["step"]]
        rows.append((s["step"], s["dur_ns"] / 1e9, m["step_s"], s["mfu"], mfu_of(m)))
    assert len(rows) >= 3, (steps["summary"], sorted(want))
    return rows


def _check(rows: list[tuple], what: str) -> None:
    report = "\n".join(f"  step {n}: {d * 1e3:8.2f} ms vs {w * 1e3:8.2f} ms, "
                       f"MFU {mx:.4f} vs {mw:.4f}" for n, d, w, mx, mw in rows)
    print(f"{what}:\n{report}")
    err = [abs(d - w) / w for _, d, w, _, _ in rows]
    assert sorted(err)[len(err) // 2] <= STEP_TOL, f"{what}: median step\n{report}"
    ours, theirs = sum(r[1] for r in rows), sum(r[2] for r in rows)
    assert abs(ours - theirs) <= TOTAL_TOL * theirs, f"{what}: all steps\n{report}"
    for (n, _, _, mx, mw), e in zip(rows, err, strict=True):
        assert e <= STEP_MAX, f"{what}: step {n}\n{report}"
        # The same FLOPs over a step whose boundary moved: MFU moves with it.
        assert mx == pytest.approx(mw, rel=max(MFU_TOL, e + 0.05)), \
            f"{what}: step {n}\n{report}"


def _cnn(tmp_path: Path, *flags: str) -> tuple[Path, Path]:
    log_dir, metrics = tmp_path / "log", tmp_path / "metrics.jsonl"
    subprocess.run([sys.executable, str(ROOT / "tests/jobs/cnn_job.py"), str(log_dir),
                    str(metrics), "--steps", "9", "--trace-first", "4", "--trace-steps", "5",
                    *flags], check=True, timeout=300, cwd=ROOT,
                   env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    return log_dir, metrics


@pytest.mark.parametrize("flags", [("--sleep-ms", "60"), ("--block",)],
                         ids=["async", "blocking"])
def test_public_api_cnn_steps_and_mfu_match_its_own(flags, tmp_path, monkeypatch) -> None:
    log_dir, metrics = _cnn(tmp_path, *flags)
    peak = 50.0  # GFLOP/s of the host, the same for both sides: MFU then compares FLOPs
    steps = _ingest(log_dir, tmp_path / "store", peak, monkeypatch)
    # The job's MFU: XLA's own FLOPs of the step over its own step time and the host peak.
    rows = _compare(steps, _metrics(metrics), lambda m: m["xla_flops"] / (m["step_s"] * peak * 1e9))
    _check(rows, f"cnn {flags}")
    if flags == ("--sleep-ms", "60"):
        # Asynchronous: the annotation is only the host's dispatch, well short of the step.
        assert all(s["host_dur_ns"] < 0.8 * s["dur_ns"] for s in steps["steps"] if s["complete"])


def test_trainer_blocking_steps_and_mfu_match_its_log(tmp_path, monkeypatch) -> None:
    log_dir, metrics = tmp_path / "log", tmp_path / "metrics.jsonl"
    subprocess.run([sys.executable, "-m", "trainer.train", "--steps", "9", "--block-steps",
                    "--trace-dir", str(log_dir), "--trace-first-step", "4",
                    "--trace-num-steps", "5", "--metrics-file", str(metrics)],
                   check=True, timeout=600, cwd=ROOT, capture_output=True)
    want = _metrics(metrics)
    # The trainer's MFU used its own measured host peak: the same one for xdiag.
    m = want[5]
    per_device = m["tflops_per_s_per_device"] * 1e12 / m["mfu"]
    steps = _ingest(log_dir, tmp_path / "store", per_device * 8 / 1e9, monkeypatch)
    assert steps["summary"]["mfu_source"].startswith("model FLOPs declared by the job")
    _check(_compare(steps, want, lambda m: m["mfu"]), "trainer, blocking")


def test_demo_trainer_captured_through_the_service_matches_its_log(serve, tmp_path) -> None:
    """`make run`'s configuration on the user's path: the trainer with the agent at
    --sleep-ms 100, captured by `xdiag capture`, read back over HTTP."""
    svc = serve(str(tmp_path / "store"))
    metrics = tmp_path / "metrics.jsonl"
    log = open(tmp_path / "trainer.log", "wb")
    trainer = subprocess.Popen(
        [sys.executable, "-m", "trainer.train", "--forever", "--sleep-ms", "100",
         "--xdiag-server", svc.url, "--job", "oracle", "--metrics-file", str(metrics)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_hosts(svc.url, "oracle", 1, timeout=300)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and (
                not metrics.exists() or len(metrics.read_text().splitlines()) < 4):
            time.sleep(0.5)  # past compilation
        res = run_cli("capture", "oracle", "--duration-ms", "1500", "--json", "--server", svc.url)
        assert res.returncode == 0, res.stderr
        pid = json.loads(res.stdout)["id"]
        time.sleep(1.0)  # the captured steps' metrics lines
    finally:
        trainer.terminate()
        trainer.wait(60)
        log.close()
    with urllib.request.urlopen(f"{svc.url}/api/v1/profiles/{pid}/steps", timeout=30) as r:
        steps = json.load(r)
    store = Services(Settings(store=str(tmp_path / "store")))
    physics.check(store.views.get(store.profiles.get(pid)))
    assert steps["summary"]["mfu_source"].startswith("model FLOPs declared by the job")
    rows = _compare(steps, _metrics(metrics), lambda m: m["mfu"])
    _check(rows, "demo trainer, asynchronous, captured")
    # The annotation covers the dispatch only; before device-side steps this was the step.
    assert all(s["host_dur_ns"] < 0.5 * s["dur_ns"] for s in steps["steps"] if s["complete"])
