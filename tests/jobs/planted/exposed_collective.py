"""Exposed collectives: FSDP on the 8-device CPU mesh -- every weight is sharded along its
first axis and all-gathered right before its matmul, with nothing to overlap it with.

Planted per step: the step's wall time (perf_counter, every step) times the share of the
step the all-gathers take in the job's own A/B -- 1 - (best time of the same step with
replicated weights, no collective) / (best time of the sharded step), the two alternating
here before the traced steps. A share rather than a difference, so that a busy machine,
which slows compute and copies alike, does not count as communication.
Usage: exposed_collective.py SERVER JOB
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"

import time

import harness
import model

ROWS, D, LAYERS = 64, 1024, 4


def main() -> None:
    args = harness.parse_args()
    agent = harness.start_agent(args)
    m = model.mesh()
    x = model.batch(m, ROWS, D)
    sharded, replicated = model.params(m, LAYERS, D, fsdp=True), model.params(m, LAYERS, D)
    fsdp, plain = model.forward_fn(m, fsdp=True), model.forward_fn(m)
    ab: dict[str, float] = {}

    def step(i: int) -> float:
        t = time.perf_counter()
        fsdp(sharded, x).block_until_ready()
        return (time.perf_counter() - t) * ab.get("collective_share", 0.0)

    def warmup() -> None:
        fsdp(sharded, x).block_until_ready()
        plain(replicated, x).block_until_ready()

    def oracle() -> dict[str, float]:
        ab["fsdp_step_s"], ab["replicated_step_s"] = harness.ab_times(
            lambda: fsdp(sharded, x).block_until_ready(),
            lambda: plain(replicated, x).block_until_ready(), 9, stat=min)
        ab["collective_share"] = max(0.0, 1.0 - ab["replicated_step_s"] / ab["fsdp_step_s"])
        ab["gathered_bytes_per_step"] = float(LAYERS * D * D * 4 * len(m.devices.flat))
        return dict(ab)

    harness.run(harness.Case("exposed_collective", step, warmup=warmup, oracle=oracle),
                args, agent)


if __name__ == "__main__":
    main()
