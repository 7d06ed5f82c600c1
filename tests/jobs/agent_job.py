"""A small JAX job with the xdiag agent, used by the end-to-end tests.

Usage: agent_job.py SERVER JOB [--steps N]  (8 CPU devices, runs until killed by default)
"""

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import jax
import jax.numpy as jnp

import xdiag.agent


def main() -> None:
    server, job = sys.argv[1], sys.argv[2]
    # Fixed peaks skip the 1 s probe: tests start several of these at once on 2 cores.
    agent = xdiag.agent.start(server=server, job=job, heartbeat_s=1.0,
                              peaks={"matmul_gflops": 50.0, "memcpy_gbps": 10.0})
    print(f"READY {agent.port}", flush=True)

    @jax.jit
    def step(x, w):
        for _ in range(2):
            x = jnp.tanh(x @ w)
        return x, x.sum()

    x = jnp.ones((128, 256))
    w = jnp.full((256, 256), 0.01)
    i = 0
    while True:
        with jax.profiler.StepTraceAnnotation("train", step_num=i):
            x, s = step(x, w)
            s.block_until_ready()
        i += 1


if __name__ == "__main__":
    main()
