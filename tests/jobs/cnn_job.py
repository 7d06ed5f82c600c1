"""A small data-parallel CNN trained with public JAX APIs only, traced with jax.profiler.

The oracle for step times: like a real training loop, each step's time runs from when
the host starts it (batch fetched inside the step annotation) to when the host sees its
loss -- with asynchronous dispatch that is a step later, so a step's time is measured as
now - max(its start, the previous step's completion). `--block` blocks inside the
annotation instead (the synchronous case).

Usage: cnn_job.py LOG_DIR METRICS_JSONL [--steps N] [--trace-first K] [--trace-steps M]
                  [--sleep-ms S] [--block]
Writes one JSON line per step: {"step", "step_s", "flops" (analytic), "xla_flops" (XLA's
cost analysis of the compiled step, all devices)} and a stock jax.profiler
trace of steps K..K+M-1 into LOG_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

B, H, W, C, K1, K2, CLASSES = 16, 24, 24, 3, 32, 64, 10


def init(key: jax.Array) -> dict[str, jax.Array]:
    k1, k2, k3 = jax.random.split(key, 3)
    return {"w1": jax.random.normal(k1, (3, 3, C, K1)) * 0.1,
            "w2": jax.random.normal(k2, (3, 3, K1, K2)) * 0.05,
            "w3": jax.random.normal(k3, ((H // 2) * (W // 2) * K2, CLASSES)) * 0.01}


def conv(x: jax.Array, w: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def loss_fn(p: dict[str, jax.Array], x_BxHxWxC: jax.Array, y_B: jax.Array) -> jax.Array:
    h = jax.nn.relu(conv(x_BxHxWxC, p["w1"]))
    h = jax.nn.relu(conv(h, p["w2"]))
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    logits = h.reshape(h.shape[0], -1) @ p["w3"]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y_B[:, None], axis=1))


@jax.jit
def train_step(p, x, y):
    loss, g = jax.value_and_grad(loss_fn)(p, x, y)
    return jax.tree.map(lambda a, b: a - 0.01 * b, p, g), loss


def step_flops(global_batch: int) -> float:
    """Analytic training FLOPs of one step (3x the forward's matmul/conv FLOPs)."""
    conv1 = 2 * global_batch * H * W * K1 * 3 * 3 * C
    conv2 = 2 * global_batch * H * W * K2 * 3 * 3 * K1
    dense = 2 * global_batch * (H // 2) * (W // 2) * K2 * CLASSES
    return 3.0 * (conv1 + conv2 + dense)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("log_dir")
    ap.add_argument("metrics")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--trace-first", type=int, default=5)
    ap.add_argument("--trace-steps", type=int, default=5)
    ap.add_argument("--sleep-ms", type=float, default=0.0)
    ap.add_argument("--block", action="store_true")
    args = ap.parse_args()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    batch_sharding = NamedSharding(mesh, PartitionSpec("data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    global_batch = B * len(jax.devices())
    params = jax.device_put(init(jax.random.key(0)), replicated)
    rng = np.random.default_rng(0)
    # XLA's own count of the step's FLOPs (per device, so times the devices): the oracle
    # for a profiler's FLOPs, independent of its cost model.
    x0 = jax.device_put(np.zeros((global_batch, H, W, C), np.float32), batch_sharding)
    y0 = jax.device_put(np.zeros(global_batch, np.int32), batch_sharding)
    cost = train_step.lower(params, x0, y0).compile().cost_analysis()
    xla_flops = float(cost["flops"]) * len(jax.devices())
    last, pending, out = 0.0, None, open(args.metrics, "w")

    def report(item: tuple[int, jax.Array, float]) -> None:
        nonlocal last
        s, loss, t_start = item
        float(loss)  # blocks until step s is done
        now = time.perf_counter()
        out.write(json.dumps({"step": s, "step_s": now - max(t_start, last),
                              "flops": step_flops(global_batch), "xla_flops": xla_flops}) + "\n")
        last = now

    last_traced = args.trace_first + args.trace_steps - 1
    for s in range(1, args.steps + 1):
        if s == args.trace_first:
            jax.profiler.start_trace(args.log_dir)
        t_start = time.perf_counter()
        with jax.profiler.StepTraceAnnotation("train", step_num=s):
            x = jax.device_put(rng.standard_normal((global_batch, H, W, C), np.float32),
                               batch_sharding)
            y = jax.device_put(rng.integers(0, CLASSES, global_batch), batch_sharding)
            params, loss = train_step(params, x, y)
            if args.block:
                loss.block_until_ready()
        if pending is not None:
            report(pending)
        pending = (s, loss, t_start)
        if args.sleep_ms or args.block or s == last_traced:
            report(pending)  # the host waits anyway: see the step done now
            pending = None
        if s == last_traced:
            jax.profiler.stop_trace()
        if args.sleep_ms:
            time.sleep(args.sleep_ms / 1000)
    if pending is not None:
        report(pending)
    out.close()


if __name__ == "__main__":
    main()
