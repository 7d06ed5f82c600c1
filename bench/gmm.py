"""Benchmark: our Pallas grouped matmul vs jax.lax.ragged_dot vs a dense matmul of equal FLOPs.

    python bench/gmm.py                 # realistic MoE size on GPU, scaled down on CPU
    python bench/gmm.py --tokens 4096 --experts 8 --top-k 2 --backward
    python bench/gmm.py --sweep --backward   # try several GPU tilings, report the best
    python bench/gmm.py --backward --json out.json   # the numbers, machine-readable

The MoE size (GPU default): 16k tokens x top-8 = 131k rows, model dim 4096,
expert dim 1408, 64 experts, bf16 -- the first expert matmul of a 64x8 layer.
The dense baseline is one (rows x model) @ (model x expert) matmul: exactly the
same FLOPs with no grouping. The target is kernel >= 70% of dense throughput.
With --backward the two gradients are timed apart, each against its dense
counterpart of the same FLOPs: dx = dout @ W^T (our transposed gmm kernel) and
dW = X^T @ dout per group (our tgmm kernel), then forward + backward together.

On CPU the kernel runs in the Pallas interpreter, so the sizes are scaled down
and the numbers describe the interpreter, not the kernel: the script says so.
This is a benchmark, not a test; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from trainer import gmm

# (tm, tk, tn, num_warps, num_stages[, persistent programs]) tried by --sweep; 132 and
# 264: one or two programs per H100 SM, each taking work items in turn.
SWEEP = ((128, 64, 128, 8, 3), (128, 64, 128, 4, 4), (64, 64, 128, 4, 4), (128, 64, 256, 8, 3),
         (128, 64, 256, 8, 4), (256, 64, 128, 8, 3), (128, 32, 256, 8, 4),
         (128, 64, 128, 8, 3, 132), (128, 64, 256, 8, 3, 132), (128, 64, 128, 8, 3, 264))
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
    default = gmm.Tiling()
    p.add_argument("--tile", type=int, nargs=3, default=(default.tm, default.tk, default.tn),
                   metavar=("TM", "TK", "TN"))
    p.add_argument("--num-warps", type=int, default=default.num_warps)
    p.add_argument("--num-stages", type=int, default=default.num_stages)
    p.add_argument("--persistent", type=int, default=default.persistent,
                   help="programs of the persistent schedule (0: one per output tile)")
    p.add_argument("--sweep", action="store_true",
                   help="time the forward kernel over several tilings first; use the fastest")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--iters", type=int, default=20 if on_gpu else 5)
    p.add_argument("--balanced", action="store_true", help="equal rows per expert")
    p.add_argument("--backward", action="store_true",
                   help="also time dx, dW and forward + backward")
    p.add_argument("--json", metavar="PATH", help="write every timing here as JSON")
    args = p.parse_args(argv)
    results: dict = {"device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
                     "interpret": not on_gpu, "sections": {}}

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
    tiling = gmm.Tiling(*args.tile, args.num_warps, args.num_stages, args.persistent)
    flops = 2 * rows * args.model * args.expert_dim

    grouped = (x_MxK, w_GxKxN, sizes_G)
    dense_args = (x_MxK, w_KxN)
    # The reference: one dense dot per group on static slices (XLA's ragged_dot on
    # GPU expands to a dense [rows, groups, K] mask at this size and runs out of memory).
    bounds = np.concatenate([[0], np.cumsum(np.asarray(sizes_G))])

    def per_group(x, w, _sizes):
        parts = [jnp.dot(x[a:b], w[g], preferred_element_type=jnp.float32).astype(x.dtype)
                 for g, (a, b) in enumerate(itertools.pairwise(bounds))]
        tail = jnp.zeros((x.shape[0] - bounds[-1], w.shape[2]), x.dtype)
        return jnp.concatenate([*parts, tail])

    ref = jax.jit(per_group)(*grouped).astype(jnp.float32)

    def rel_err(out):
        out = out.astype(jnp.float32)
        return float(jnp.linalg.norm(out - ref) / jnp.linalg.norm(ref))

    dout_MxN = jax.random.normal(jax.random.key(1), (rows, args.expert_dim), dtype)

    def grad_of(f, n_args):
        # A random cotangent: with sum() as the loss XLA folds a dense matmul's
        # gradient into row sums; value_and_grad keeps the forward product live.
        loss = lambda *a: jnp.sum(f(*a).astype(jnp.float32) * dout_MxN)  # noqa: E731
        return jax.jit(jax.value_and_grad(loss, argnums=tuple(range(n_args))))

    if args.sweep:
        # Forward only (the target); the reports below time dx and dW of the chosen one.
        print("\nkernel by tiling (tm tk tn warps stages [persistent]): forward ms, TFLOP/s, "
              "rel. error")
        best = None
        for cand in SWEEP if on_gpu else (SWEEP[0], SWEEP[7]):
            t = gmm.Tiling(*cand)
            fn = jax.jit(lambda x, w, s, t=t: gmm.gmm_pallas(x, w, s, t, None))
            try:
                err = rel_err(fn(*grouped))
                sec = time_fn(fn, *grouped, iters=args.iters)
                line = f"  {cand}: {1e3 * sec:8.3f} ms {flops / sec / 1e12:8.1f} TFLOP/s  {err:.2e}"
            except Exception as e:  # a tiling the compiler rejects (e.g. out of shared memory)
                print(f"  {cand}: failed: {type(e).__name__}: {str(e).splitlines()[0][:100]}")
                continue
            print(line, flush=True)
            if err < 2e-2 and (best is None or sec < best[0]):
                best = (sec, t)
        if best is not None:
            tiling = best[1]
        print(f"using {tiling}")
    pallas = lambda x, w, s: gmm.gmm_pallas(x, w, s, tiling, None)  # noqa: E731
    dense = lambda x, w: jnp.dot(x, w, preferred_element_type=dtype)  # noqa: E731
    forward = {
        "dense matmul": (jax.jit(dense), dense_args),
        "ragged_dot": (jax.jit(gmm.gmm_ragged_dot), grouped),
        "per-group dots": (jax.jit(per_group), grouped),
        "pallas gmm": (jax.jit(pallas), grouped),
    }
    print(f"{device.device_kind}: rows {rows} (= {args.tokens} tokens x top-{args.top_k}), "
          f"model {args.model}, expert dim {args.expert_dim}, {args.experts} experts, "
          f"{args.dtype}, group sizes {int(sizes_G.min())}..{int(sizes_G.max())}, {tiling}")
    print(f"|pallas - ref| / |ref| = {rel_err(forward['pallas gmm'][0](*grouped)):.3g}"
          " (ref: one dense dot per group)")

    def report(title, fns, work):
        print(f"\n{title}")
        seconds: dict[str, float] = {}
        for name, (fn, fn_args) in fns.items():
            try:
                seconds[name] = time_fn(fn, *fn_args, iters=args.iters)
            except Exception as e:  # e.g. ragged_dot out of device memory
                print(f"  {name:13s} failed: {type(e).__name__}: {str(e).splitlines()[0][:90]}")
        for name, s in seconds.items():
            print(f"  {name:14s} {1e3 * s:9.3f} ms  {work / s / 1e12:8.3f} TFLOP/s  "
                  f"{100 * seconds['dense matmul'] / s:6.1f}% of dense")
        ratio = (seconds["dense matmul"] / seconds["pallas gmm"]
                 if "dense matmul" in seconds and "pallas gmm" in seconds else None)
        met = ratio is not None and ratio >= 0.7
        print(f"  target kernel >= 70% of dense: {'met' if met else 'NOT met'}"
              + ("" if on_gpu else " (interpreter; not meaningful)"))
        results["sections"][title] = {
            "flops": work, "pallas_pct_of_dense": None if ratio is None else 100 * ratio,
            "impls": {name: {"ms": 1e3 * s, "tflops": work / s / 1e12} for name, s in
                      seconds.items()}}
        if args.json:  # after each section: a run cut short keeps what it measured
            Path(args.json).write_text(json.dumps(results, indent=1))

    report("forward", forward, flops)
    if args.backward:
        # Each gradient alone, against a dense product of the same FLOPs: dx = dout @ W^T
        # (M x N x K), dW = X^T @ dout (K x M x N); for the grouped versions, the gradient
        # of <f(x, w), dout> with respect to that argument only.
        def only(f, argnum, n_args):
            loss = lambda *a: jnp.sum(f(*a).astype(jnp.float32) * dout_MxN)  # noqa: E731
            return jax.jit(jax.grad(loss, argnums=argnum))

        dense_dx = jax.jit(lambda d, w: jnp.dot(d, w.T, preferred_element_type=dtype))
        dense_dw = jax.jit(lambda x, d: jnp.dot(x.T, d, preferred_element_type=dtype))
        report("backward dx (same FLOPs as the forward)", {
            "dense matmul": (dense_dx, (dout_MxN, w_KxN)),
            "ragged_dot": (only(gmm.gmm_ragged_dot, 0, 3), grouped),
            "per-group dots": (only(per_group, 0, 3), grouped),
            "pallas gmm": (only(pallas, 0, 3), grouped),
        }, flops)
        report("backward dW (same FLOPs as the forward)", {
            "dense matmul": (dense_dw, (x_MxK, dout_MxN)),
            "ragged_dot": (only(gmm.gmm_ragged_dot, 1, 3), grouped),
            "per-group dots": (only(per_group, 1, 3), grouped),
            "pallas gmm": (only(pallas, 1, 3), grouped),
        }, flops)
        report("forward + backward (3x the forward FLOPs)", {
            "dense matmul": (grad_of(dense, 2), dense_args),
            "ragged_dot": (grad_of(gmm.gmm_ragged_dot, 2), grouped),
            "per-group dots": (grad_of(per_group, 2), grouped),
            "pallas gmm": (grad_of(pallas, 2), grouped),
        }, 3 * flops)
    if args.json:
        results.update(rows=rows, model=args.model, expert_dim=args.expert_dim,
                       experts=args.experts, dtype=args.dtype, tiling=str(tiling),
                       group_sizes=[int(sizes_G.min()), int(sizes_G.max())])
        Path(args.json).write_text(json.dumps(results, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
