"""Recompilation inside the capture: the batch grows by 8 rows every `--every` steps (a
padded-bucket bug), so every few steps jit traces and compiles the step again. The step
itself is ~1 GFLOP, so that a capture holds several steps between compiles.

Planted per step: on the steps where the batch shape is new, that step's wall time (the
new-shaped batch made, traced, compiled, run) minus the median of the steps that did not
compile (the job's own clock); 0 elsewhere.
The oracle also times one compile of a shape not seen (first call minus cached calls).
Usage: recompile.py SERVER JOB [--every 4]
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import statistics
import time

import harness
import jax
import jax.numpy as jnp
import numpy as np

D, LAYERS = 1024, 2


def main() -> None:
    args = harness.parse_args(lambda ap: ap.add_argument("--every", type=int, default=4))
    agent = harness.start_agent(args)
    ws = [jnp.full((D, D), 1.0 / D) * (k + 1) for k in range(LAYERS)]

    @jax.jit
    def step_fn(ws, x):
        for k, w in enumerate(ws):  # unrolled: a bigger program, a longer compile
            x = jnp.tanh(x @ w) + jnp.sin(x) * (0.1 * k)
        return x

    cached: list[float] = []

    def rows(i: int) -> int:
        return 256 + 8 * (i // args.every)

    def step(i: int) -> float:
        t = time.perf_counter()
        x = np.ones((rows(i), D), np.float32)  # the loader's batch, one size bigger at times
        step_fn(ws, x).block_until_ready()
        d = time.perf_counter() - t
        if i % args.every:  # same shape as the step before: no compile
            cached.append(d)
            return 0.0
        return max(0.0, d - statistics.median(cached[-10:] or [0.0]))

    def warmup() -> None:
        step_fn(ws, np.ones((rows(0), D), np.float32)).block_until_ready()
        for _ in range(3):
            step(1)

    def oracle() -> dict[str, float]:
        t = time.perf_counter()
        probe = np.ones((rows(0) - 4, D), np.float32)  # a shape not seen
        step_fn(ws, probe).block_until_ready()
        first = time.perf_counter() - t
        again = harness.median_time(lambda: step_fn(ws, probe).block_until_ready())
        return {"compile_s": first - again, "cached_step_s": again,
                "steps_per_compile": float(args.every)}

    harness.run(harness.Case("recompile", step, warmup=warmup, oracle=oracle), args, agent)


if __name__ == "__main__":
    main()
