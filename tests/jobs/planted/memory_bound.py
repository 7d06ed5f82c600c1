"""A memory-bound hot op: an elementwise chain updating a 64 MiB array in place (one fusion
that streams it through memory: 4 FLOPs per 8 bytes read and written), then a small matmul,
the hot op dominating the step.

The two parts are separate jitted programs so that the job can time the hot op inside
every step. Planted per step: the hot op's own wall time (perf_counter around it,
blocking on its result).
Usage: memory_bound.py SERVER JOB [--n 4096]
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import time
from functools import partial

import harness
import jax
import jax.numpy as jnp
import numpy as np


def main() -> None:
    args = harness.parse_args(lambda ap: ap.add_argument("--n", type=int, default=4096))
    agent = harness.start_agent(args)
    n = args.n
    state = {"a": jnp.asarray(np.random.default_rng(0).standard_normal((n, n), np.float32))}
    x, w = jnp.ones((128, 512)), jnp.full((512, 512), 1e-3)

    # In place (donated): read n*n, write n*n, 4 FLOPs per element, and no 64 MiB buffer
    # to allocate and fault in on the host every step. A contraction: values stay finite.
    @partial(jax.jit, donate_argnums=0)
    def hot(a):
        return (a * 0.5 + 0.25) * 0.999 + 1e-4

    def run_hot() -> None:
        state["a"] = hot(state["a"])
        state["a"].block_until_ready()

    @jax.jit
    def small(x, w):
        return jnp.tanh(x @ w)

    def step(i: int) -> float:
        t = time.perf_counter()
        run_hot()
        planted = time.perf_counter() - t
        small(x, w).block_until_ready()
        return planted

    def oracle() -> dict[str, float]:
        hot_s, small_s = harness.ab_times(run_hot,
                                          lambda: small(x, w).block_until_ready())
        return {"hot_s": hot_s, "rest_s": small_s, "hot_bytes": float(2 * n * n * 4),
                "hot_flops": float(4 * n * n)}

    harness.run(harness.Case("memory_bound", step, warmup=lambda: step(0), oracle=oracle),
                args, agent)


if __name__ == "__main__":
    main()
