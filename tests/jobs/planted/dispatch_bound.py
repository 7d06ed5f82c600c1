"""Dispatch-bound: the step is an un-jitted Python loop of small ops (eager JAX), so the
host's per-op dispatch, not the device, sets the pace.

Planted per step: the eager step's wall time (perf_counter, every step) minus the same
computation jitted as one program (its best time here before the traced steps, alternating
with the eager step): what dispatching op by op costs.
Usage: dispatch_bound.py SERVER JOB [--ops 300]
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import time

import harness
import jax
import jax.numpy as jnp


def main() -> None:
    args = harness.parse_args(lambda ap: ap.add_argument("--ops", type=int, default=300))
    agent = harness.start_agent(args)
    x0 = jnp.linspace(0.0, 1.0, 256)
    ab: dict[str, float] = {}

    def update(x):  # the "optimizer": many tiny elementwise ops, one after another
        for k in range(args.ops // 3):
            x = x * 0.999 + 1e-3
            x = jnp.maximum(x, -1.0 - k)
        return x

    fused = jax.jit(update)

    def step(i: int) -> float:
        t = time.perf_counter()
        update(x0).block_until_ready()
        return max(0.0, time.perf_counter() - t - ab.get("jitted_step_s", 0.0))

    def warmup() -> None:
        update(x0).block_until_ready()
        fused(x0).block_until_ready()

    def oracle() -> dict[str, float]:
        ab["eager_step_s"], ab["jitted_step_s"] = harness.ab_times(
            lambda: update(x0).block_until_ready(), lambda: fused(x0).block_until_ready(),
            stat=min)
        ab["planted_s"] = max(0.0, ab["eager_step_s"] - ab["jitted_step_s"])
        ab["ops_per_step"] = float(args.ops // 3 * 3)
        return dict(ab)

    harness.run(harness.Case("dispatch_bound", step, warmup=warmup, oracle=oracle), args, agent)


if __name__ == "__main__":
    main()
