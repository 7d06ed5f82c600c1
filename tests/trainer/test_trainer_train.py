"""train.py: the CLI entry point, its CPU-device default and clean interruption."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer import config, metrics, train

REPO = Path(__file__).resolve().parents[2]


def test_accelerator_detection_follows_jax_platforms(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert not train.has_accelerator()
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert train.has_accelerator()


def test_default_cpu_devices_sets_the_flag_only_when_free(monkeypatch):
    monkeypatch.delitem(sys.modules, "jax")  # pretend JAX is not imported yet
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    train.default_cpu_devices()
    assert os.environ["XLA_FLAGS"] == (
        "--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=8")
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
    train.default_cpu_devices()
    assert os.environ["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setenv("JAX_PLATFORMS", "cuda")
    train.default_cpu_devices()
    assert "XLA_FLAGS" not in os.environ


def _cli(*args, env=None, **kwargs):
    env = dict(os.environ, JAX_PLATFORMS="cpu", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "trainer.train", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            **kwargs)


def test_print_params_of_the_64x8_preset():
    proc = _cli("--preset", "moe_64x8", "--print-params")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    counts = metrics.analytic_param_counts(config.make("moe_64x8"))
    assert f"total {counts.total:,}" in out and f"active per token {counts.active:,}" in out


def test_sigterm_becomes_keyboard_interrupt():
    """loop.run turns KeyboardInterrupt into a final checkpoint (test_trainer_checkpoint)."""
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, train._interrupt)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("flag", ["--steps", "--sleep-ms"])
def test_run_flags_exist(flag):
    assert flag in config.parser().format_help()
