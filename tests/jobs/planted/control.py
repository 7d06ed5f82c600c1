"""The clean control: a jitted MLP step of large matmuls on one CPU device (XLA spreads
each over the host's cores), data already on the device, dispatched asynchronously with the
result of a step awaited one step later (the way a healthy loop fetches its metrics), so
the device always has the next step queued.

Nothing planted: no input wait, no recompilation, no host callback, no collective, no
dominant memory-bound op, no tiny ops; its MFU is what this host's matmul peak allows.
Usage: control.py SERVER JOB (see harness.py for the protocol).
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import harness
import model

ROWS, D, LAYERS = 256, 1024, 4


def main() -> None:
    args = harness.parse_args()
    agent = harness.start_agent(args)
    m = model.mesh()
    ws, x = model.params(m, LAYERS, D), model.batch(m, ROWS, D)
    forward = model.forward_fn(m)

    pending: list = []

    def step(i: int) -> float:
        pending.append(forward(ws, x))
        if len(pending) > 1:
            pending.pop(0).block_until_ready()
        return 0.0

    def oracle() -> dict[str, float]:
        return {"step_s": harness.median_time(lambda: forward(ws, x).block_until_ready()),
                "flops_per_step": 2.0 * ROWS * D * D * LAYERS}

    harness.run(harness.Case("control", step, warmup=lambda: step(0), oracle=oracle),
                args, agent)


if __name__ == "__main__":
    main()
