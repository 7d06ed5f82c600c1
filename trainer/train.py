"""`python -m trainer.train`: parse the config, pick devices, hand over to loop.run.

Without an accelerator, 8 CPU devices are simulated (XLA_FLAGS is set before
JAX is imported, unless the flag is already there), so the default mesh
data=2 x fsdp=2 x expert=2 runs anywhere. Examples:

    python -m trainer.train --steps 30
    python -m trainer.train --forever --sleep-ms 100 --xdiag-server http://127.0.0.1:8791
    python -m trainer.train --config run.yaml --checkpoint-dir /tmp/ck --resume
    python -m trainer.train --preset moe_64x8 --print-params
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Sequence

from trainer import config

CPU_DEVICES = 8
_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def _installed(*modules: str) -> bool:
    return any(importlib.util.find_spec(m) is not None for m in modules)


def has_accelerator() -> bool:
    """Best guess, without importing JAX, whether JAX will find a GPU or TPU."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return any(p.strip() not in ("", "cpu") for p in platforms.split(","))
    gpu = glob.glob("/dev/nvidia[0-9]*") and _installed("jax_cuda12_plugin",
                                                         "jax_cuda13_plugin")
    tpu = (glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*")) and _installed(
        "libtpu")
    return bool(gpu or tpu)


def default_cpu_devices(n: int = CPU_DEVICES) -> None:
    """Simulate n CPU devices unless an accelerator is present or XLA_FLAGS says otherwise."""
    if "jax" in sys.modules:
        return  # too late to change the device count
    flags = os.environ.get("XLA_FLAGS", "")
    if _DEVICE_FLAG in flags or has_accelerator():
        return
    os.environ["XLA_FLAGS"] = f"{flags} {_DEVICE_FLAG}={n}".strip()


def print_params(cfg) -> None:
    """Build the model abstractly (no allocation) and print its parameter counts."""
    from trainer import metrics, step

    _, params = step.abstract_params(cfg)
    total = metrics.count_params(params)
    active = metrics.active_from_total(cfg, total)
    print(f"params: total {total:,} ({total / 1e9:.2f} B), active per token {active:,} "
          f"({active / 1e9:.2f} B); {cfg.num_experts} experts, top-{cfg.num_experts_per_tok}")


def _interrupt(signum, frame):
    raise KeyboardInterrupt  # loop.run finishes checkpoints and exits cleanly


def main(argv: Sequence[str] | None = None) -> int:
    cfg, args = config.from_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    for name in ("trainer", "xdiag"):  # ours at INFO; libraries (orbax, absl) stay quiet
        logging.getLogger(name).setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, _interrupt)
    default_cpu_devices()
    if args.print_params:
        print_params(cfg)
        return 0
    from trainer import loop  # imports JAX: only after XLA_FLAGS is final

    loop.run(cfg, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
