"""Host callbacks inside the step: `jax.debug.print` of the loss and a `jax.debug.callback`
to a slow host-side logger (`--sink-ms`, e.g. a metrics client that blocks), both inside the
jitted step, so the device waits for the host in the middle of every step.

Planted per step: the logger's own wall time (perf_counter inside the callback).
Usage: debug_callback.py SERVER JOB [--sink-ms 25]
"""

import os

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"

import time

import harness
import jax
import jax.numpy as jnp
import model

ROWS, D, LAYERS = 128, 1024, 4


def main() -> None:
    args = harness.parse_args(lambda ap: ap.add_argument("--sink-ms", type=float, default=25.0))
    agent = harness.start_agent(args)
    m = model.mesh()
    ws, x = model.params(m, LAYERS, D), model.batch(m, ROWS, D)
    spent: list[float] = []

    def sink(loss) -> None:  # a slow metrics client
        t = time.perf_counter()
        time.sleep(args.sink_ms / 1e3)
        spent.append(time.perf_counter() - t)

    @jax.jit
    def step_fn(ws, x):
        h = x
        for k, w in enumerate(ws):
            h = jnp.tanh(h @ w)
            if k == len(ws) // 2:
                loss = jnp.mean(h * h)
                jax.debug.print("layer {k} loss {loss}", k=k, loss=loss)
                jax.debug.callback(sink, loss)
        return h

    def step(i: int) -> float:
        spent.clear()
        step_fn(ws, x).block_until_ready()
        return sum(spent)

    def oracle() -> dict[str, float]:
        return {"sink_s": harness.median_time(lambda: sink(0.0)),
                "step_s": harness.median_time(lambda: step(0))}

    harness.run(harness.Case("debug_callback", step, warmup=lambda: step(0), oracle=oracle),
                args, agent)


if __name__ == "__main__":
    main()
