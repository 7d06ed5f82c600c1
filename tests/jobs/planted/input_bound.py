"""Input-bound: before each step the host prepares the batch (numpy decode + a wait on slow
storage, `--input-ms`) while the devices have nothing to do.

The batch is made inside the step annotation, the way `for i in ...: with
StepTraceAnnotation(...): batch = next(loader); step(batch)` reads. Planted per step: the
input function's own wall time (perf_counter around it).
Usage: input_bound.py SERVER JOB [--input-ms 40]
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import time

import harness
import jax
import model
import numpy as np

ROWS, D, LAYERS = 256, 1024, 2


def main() -> None:
    args = harness.parse_args(lambda ap: ap.add_argument("--input-ms", type=float, default=40.0))
    agent = harness.start_agent(args)
    m = model.mesh()
    ws = model.params(m, LAYERS, D)
    forward = model.forward_fn(m)
    sharding = model.batch(m, ROWS, D).sharding
    rng = np.random.default_rng(0)

    def load_batch() -> jax.Array:
        raw = rng.integers(0, 255, (ROWS, D), dtype=np.uint8)  # "decode"
        time.sleep(args.input_ms / 1e3)  # "storage"
        return jax.device_put((raw.astype(np.float32) - 127.5) / 64.0, sharding)

    def step(i: int) -> float:
        t = time.perf_counter()
        x = load_batch()
        planted = time.perf_counter() - t
        forward(ws, x).block_until_ready()
        return planted

    def oracle() -> dict[str, float]:
        x = load_batch()
        return {"input_s": harness.median_time(load_batch),
                "device_step_s": harness.median_time(lambda: forward(ws, x).block_until_ready())}

    harness.run(harness.Case("input_bound", step, warmup=lambda: step(0), oracle=oracle),
                args, agent)


if __name__ == "__main__":
    main()
