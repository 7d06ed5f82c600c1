"""A straggler: one process of a multi-process job (jax.distributed, 2 CPU devices per
process) does extra device work on all its devices before every step, and the others wait
for it in the step's cross-process all-reduce.

Planted per step: on the slowed process, the extra work's own wall time (perf_counter
around it, blocking on its result); 0 on the others. Every process runs exactly the steps
the test asks for (they meet in a collective every step; harness.py --fixed-steps).
Usage: straggler.py SERVER JOB --coordinator HOST:PORT --num-processes N --process-id I
                    [--slow 1] [--extra 2] --fixed-steps
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import time

import harness
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

ROWS, D, LAYERS = 128, 512, 4


def extra_args(ap) -> None:
    ap.add_argument("--coordinator", required=True)
    ap.add_argument("--num-processes", type=int, required=True)
    ap.add_argument("--process-id", type=int, required=True)
    ap.add_argument("--slow", type=int, default=1, help="the process index slowed down")
    ap.add_argument("--extra", type=int, default=2, help="extra 1024^3 matmuls per step")


def main() -> None:
    args = harness.parse_args(extra_args)
    jax.distributed.initialize(args.coordinator, num_processes=args.num_processes,
                               process_id=args.process_id)
    agent = harness.start_agent(args)
    import model

    m = model.mesh()  # every device of every process
    ws = model.params(m, LAYERS, D)
    host_x = np.random.default_rng(0).standard_normal((ROWS, D), np.float32)
    x = jax.make_array_from_callback((ROWS, D), NamedSharding(m, P("d", None)),
                                     lambda idx: host_x[idx])
    forward = model.forward_fn(m)

    @jax.jit
    def loss_fn(ws, x):  # the step's data-parallel reduction: all processes meet here
        y = forward(ws, x)
        return jax.lax.with_sharding_constraint(jnp.mean(y * y), NamedSharding(m, P()))

    slow = jax.process_index() == args.slow
    # This process's own work, spread over its own devices (the whole host is slow, not one
    # of its devices): rows sharded, the matrix replicated, so no collective.
    mine = Mesh(np.array(jax.local_devices()), ("l",))
    local = jax.device_put(jnp.ones((1024, 1024)) / 1024, NamedSharding(mine, P("l", None)))
    mat = jax.device_put(jnp.eye(1024), NamedSharding(mine, P()))

    @jax.jit
    def extra(a, mat):  # arguments, not closed over: no 4 MiB constant in the program
        for _ in range(args.extra):
            a = jnp.tanh(a @ mat)
        return a

    def step(i: int) -> float:
        planted = 0.0
        if slow:
            t = time.perf_counter()
            extra(local, mat).block_until_ready()
            planted = time.perf_counter() - t
        loss_fn(ws, x).block_until_ready()
        return planted

    def warmup() -> None:
        extra(local, mat).block_until_ready()
        step(0)

    def oracle() -> dict[str, float]:
        out = {"slow": float(slow), "step_s": harness.median_time(lambda: step(0))}
        if slow:
            out["planted_s"] = harness.median_time(lambda: extra(local, mat).block_until_ready())
        return out

    harness.run(harness.Case("straggler", step, warmup=warmup, oracle=oracle), args, agent)


if __name__ == "__main__":
    main()
