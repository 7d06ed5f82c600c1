"""Host callbacks inside the step: `jax.debug.print` of the loss, and a `jax.pure_callback`
to a slow host-side service (`--sink-ms`: a metrics client that blocks and hands back a
scale, say a loss-scaling factor) whose answer the rest of the step uses -- so the device
waits for the host in the middle of every step. (An unordered `jax.debug.callback` whose
result nothing uses may run beside the rest of the step on CPU, hiding part of its time.)

Planted per step: the time spent inside the host function (perf_counter around its body,
every step), which the device must wait out. The job's A/B against the same step without
the print and the callback (best times, alternating, before the traced steps) is reported
beside it; it is not the oracle because the machine's load can change between the two.
Usage: debug_callback.py SERVER JOB [--sink-ms 25]
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import statistics
import time

import harness
import jax
import jax.numpy as jnp
import model
import numpy as np

ROWS, D, LAYERS = 128, 1024, 4


def main() -> None:
    args = harness.parse_args(lambda ap: ap.add_argument("--sink-ms", type=float, default=25.0))
    agent = harness.start_agent(args)
    m = model.mesh()
    ws, x = model.params(m, LAYERS, D), model.batch(m, ROWS, D)
    spent: list[float] = []

    def sink(loss) -> np.ndarray:  # a slow metrics client that answers with a scale
        t = time.perf_counter()
        time.sleep(args.sink_ms / 1e3)
        spent.append(time.perf_counter() - t)
        return np.float32(1.0)

    def make_step(log: bool):
        @jax.jit
        def step_fn(ws, x):
            h = x
            for k, w in enumerate(ws):
                h = jnp.tanh(h @ w)
                if log and k == len(ws) // 2:
                    loss = jnp.mean(h * h)
                    jax.debug.print("layer {k} loss {loss}", k=k, loss=loss)
                    scale = jax.pure_callback(sink, jax.ShapeDtypeStruct((), jnp.float32),
                                              loss)
                    h = h * scale
            return h

        return step_fn

    logged, quiet = make_step(True), make_step(False)
    ab: dict[str, float] = {}

    def step(i: int) -> float:
        spent.clear()
        logged(ws, x).block_until_ready()
        return sum(spent)

    def warmup() -> None:
        logged(ws, x).block_until_ready()
        quiet(ws, x).block_until_ready()

    def oracle() -> dict[str, float]:
        spent.clear()
        ab["step_s"], ab["quiet_step_s"] = harness.ab_times(
            lambda: logged(ws, x).block_until_ready(),
            lambda: quiet(ws, x).block_until_ready(), stat=min)
        ab["sink_s"] = statistics.median(spent)
        return dict(ab)

    harness.run(harness.Case("debug_callback", step, warmup=warmup, oracle=oracle), args, agent)


if __name__ == "__main__":
    main()
