"""A tiny sharded JAX training loop that serves the profiler (used by the capture fixture).

Usage: python profiled_job.py PORT [SECONDS]. Prints "ready" once compiled.
"""

import os
import sys
import time

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def main() -> None:
    port = int(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    jax.profiler.start_server(port)
    mesh = jax.make_mesh((8,), ("d",))
    x = jax.device_put(jnp.ones((8 * 32, 256)), NamedSharding(mesh, P("d")))
    w = jnp.full((256, 256), 0.01)

    @jax.jit
    def train_step(x, w):
        for _ in range(2):
            x = jnp.tanh(x @ w)
        return x, (x**2).mean()

    train_step(x, w)[1].block_until_ready()
    print("ready", flush=True)
    deadline = time.time() + seconds
    step = 0
    while time.time() < deadline:
        with jax.profiler.StepTraceAnnotation("train", step_num=step):
            x, loss = train_step(x, w)
            loss.block_until_ready()
        step += 1
        time.sleep(0.002)


if __name__ == "__main__":
    main()
