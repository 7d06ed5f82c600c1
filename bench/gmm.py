"""Benchmark: our Pallas grouped matmul vs jax.lax.ragged_dot vs a dense matmul of equal FLOPs.

    python bench/gmm.py                 # realistic MoE size on GPU, scaled down on CPU
    python bench/gmm.py --tokens 4096 --experts 8 --top-k 2 --backward

The MoE size (GPU default): 16k tokens x top-8 = 131k rows, model dim 4096,
expert dim 1408, 64 experts, bf16 -- the first expert matmul of a 64x8 layer.
The dense baseline is one (rows x model) @ (model x expert) matmul: exactly the
same FLOPs with no grouping. The target is kernel >= 70% of dense throughput.

On CPU the kernel runs in the Pallas interpreter, so the sizes are scaled down
and the numbers describe the interpreter, not the kernel: the script says so.
This is a benchmark, not a test; it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp
import numpy as np

from trainer import gmm

GPU_SIZE = dict(tokens=16_384, model=4096, expert_dim=1408, experts=64, top_k=8)
CPU_SIZE = dict(tokens=512, model=256, expert_dim=128, experts=8, top_k=2)


def group_sizes(rows: int, experts: int, seed: int, balanced: bool) -> np.ndarray:
    """Rows per expert: exactly even, or a multinomial draw like a real router's."""
    if balanced:
        sizes = np.full(experts, rows // experts)
        sizes[: rows % experts] += 1
        return sizes.astype(np.int32)
    probs = np.random.default_rng(seed).dirichlet(np.full(experts, 4.0))
    return np.random.default_rng(seed + 1).multinomial(rows, probs).astype(np.int32)


def time_fn(fn, *args, iters: int) -> float:
    """Median seconds per call after one warm-up (compile) call."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(iters):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    on_gpu = jax.default_backend() == "gpu"
    size = GPU_SIZE if on_gpu else CPU_SIZE
    for name, default in size.items():
        p.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    p.add_argument("--tile", type=int, nargs=3, default=(128, 128, 128), metavar=("TM", "TK", "TN"))
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--iters", type=int, default=20 if on_gpu else 5)
    p.add_argument("--balanced", action="store_true", help="equal rows per expert")
    p.add_argument("--backward", action="store_true", help="also time forward + backward")
    args = p.parse_args(argv)

    device = jax.devices()[0]
    if not on_gpu:
        print(f"NOTE: no GPU ({device.device_kind}): scaled-down size, Pallas in interpret mode;"
              " timings describe the interpreter, not the kernel.")
    rows = args.tokens * args.top_k
    dtype = jnp.dtype(args.dtype)
    key_x, key_w = jax.random.split(jax.random.key(0))
    x_MxK = jax.random.normal(key_x, (rows, args.model), dtype)
    w_GxKxN = (jax.random.normal(key_w, (args.experts, args.model, args.expert_dim), dtype)
               * args.model**-0.5).astype(dtype)
    w_KxN = w_GxKxN[0]
    sizes_G = jnp.asarray(group_sizes(rows, args.experts, 0, args.balanced))
    tiling = gmm.Tiling(*args.tile)
    flops = 2 * rows * args.model * args.expert_dim

    grouped = (x_MxK, w_GxKxN, sizes_G)
    dense_args = (x_MxK, w_KxN)
    pallas = lambda x, w, s: gmm.gmm_pallas(x, w, s, tiling, None)  # noqa: E731
    dense = lambda x, w: jnp.dot(x, w, preferred_element_type=dtype)  # noqa: E731
    forward = {
        "dense matmul": (jax.jit(dense), dense_args),
        "ragged_dot": (jax.jit(gmm.gmm_ragged_dot), grouped),
        "pallas gmm": (jax.jit(pallas), grouped),
    }
    print(f"{device.device_kind}: rows {rows} (= {args.tokens} tokens x top-{args.top_k}), "
          f"model {args.model}, expert dim {args.expert_dim}, {args.experts} experts, "
          f"{args.dtype}, group sizes {int(sizes_G.min())}..{int(sizes_G.max())}, tile {args.tile}")
    ref = forward["ragged_dot"][0](*grouped).astype(jnp.float32)
    err = float(jnp.max(jnp.abs(forward["pallas gmm"][0](*grouped).astype(jnp.float32) - ref)))
    print(f"max |pallas - ragged_dot| = {err:.3g}")

    def report(title, fns, work):
        print(f"\n{title}")
        seconds = {name: time_fn(fn, *fn_args, iters=args.iters)
                   for name, (fn, fn_args) in fns.items()}
        for name, s in seconds.items():
            print(f"  {name:13s} {1e3 * s:9.3f} ms  {work / s / 1e12:8.3f} TFLOP/s  "
                  f"{100 * seconds['dense matmul'] / s:6.1f}% of dense")
        met = seconds["dense matmul"] / seconds["pallas gmm"] >= 0.7
        print(f"  target kernel >= 70% of dense: {'met' if met else 'NOT met'}"
              + ("" if on_gpu else " (interpreter; not meaningful)"))

    report("forward", forward, flops)
    if args.backward:
        def grad_of(f, n_args):
            loss = lambda *a: jnp.sum(f(*a).astype(jnp.float32))  # noqa: E731
            return jax.jit(jax.grad(loss, argnums=tuple(range(n_args))))

        report("forward + backward (3x the forward FLOPs)", {
            "dense matmul": (grad_of(dense, 2), dense_args),
            "ragged_dot": (grad_of(gmm.gmm_ragged_dot, 2), grouped),
            "pallas gmm": (grad_of(pallas, 2), grouped),
        }, 3 * flops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
