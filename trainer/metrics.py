"""Analytic FLOPs, parameter counts, peak table, MFU and the per-step log line.

FLOPs follow MaxText's `calculate_tflops_training_per_device`: weight matmuls
(QKV, attention output, dense FFN, router, the k routed experts, shared
experts, unembedding) cost 2 * tokens * fan_in * fan_out forward, attention
scores and values 4 * B * L^2 * H * Dh / 2 forward (causal), and training is
3x forward. XLA's cost_analysis is not used: it counts ragged_dot as if every
token met every expert and undercounts interpreted Pallas kernels.
"""

from __future__ import annotations

import dataclasses
import math

import jax

# Dense bf16 peak FLOP/s per chip; first match (lowercase substring) wins.
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    ("h100", 989e12), ("h200", 989e12), ("a100", 312e12),
    ("tpu v4", 275e12), ("tpu v5 lite", 197e12), ("tpu v5e", 197e12),
    ("tpu v5p", 459e12), ("tpu v5", 459e12), ("tpu v6 lite", 918e12), ("tpu v6e", 918e12),
)


def table_peak_flops(device_kind: str) -> float | None:
    """Peak FLOP/s of one device from the table, or None (e.g. CPU)."""
    kind = device_kind.lower()
    for key, peak in PEAK_FLOPS:
        if key in kind:
            return peak
    return None


def cpu_peak_flops(host_peaks: dict | None, local_devices: int) -> float | None:
    """Per-device CPU peak: the host's measured matmul rate shared by its devices."""
    if not host_peaks or not host_peaks.get("matmul_gflops"):
        return None
    return host_peaks["matmul_gflops"] * 1e9 / max(local_devices, 1)


def train_flops_per_step(cfg) -> float:
    """Training FLOPs of one global batch (forward + backward = 3x forward)."""
    tokens = cfg.global_batch * cfg.seq_len
    d, h, g, dh = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    attn_weights = 2 * tokens * d * (h + 2 * g) * dh + 2 * tokens * h * dh * d
    attn_scores = 4 * cfg.global_batch * cfg.seq_len**2 * h * dh / 2
    dense_ffn = 2 * tokens * d * cfg.mlp_dim * 3
    moe_ffn = (2 * tokens * d * cfg.num_experts  # router
               + 2 * tokens * d * cfg.moe_mlp_dim * 3 * cfg.num_experts_per_tok
               + 2 * tokens * d * cfg.moe_mlp_dim * 3 * cfg.num_shared_experts
               + (2 * tokens * d if cfg.num_shared_experts else 0))  # shared gate
    n_moe = cfg.num_moe_layers
    n_dense = cfg.num_layers - n_moe
    unembed = 2 * tokens * d * cfg.vocab_size
    forward = (attn_weights * cfg.num_layers + dense_ffn * n_dense + moe_ffn * n_moe + unembed
               + attn_scores * cfg.num_layers)
    return 3.0 * forward


@dataclasses.dataclass(frozen=True)
class ParamCounts:
    total: int
    active: int  # per token: only k of the E routed experts count


def analytic_param_counts(cfg) -> ParamCounts:
    """Parameter counts from the config alone (cross-checked against the model in tests)."""
    d, f = cfg.d_model, cfg.moe_mlp_dim
    attn = d * (cfg.num_heads + 2 * cfg.num_kv_heads) * cfg.head_dim \
        + cfg.num_heads * cfg.head_dim * d
    norms = 2 * d
    dense = 3 * d * cfg.mlp_dim
    expert = 3 * d * f
    shared = (3 * d * f * cfg.num_shared_experts + d) if cfg.num_shared_experts else 0
    moe_fixed = d * cfg.num_experts + shared
    n_moe = cfg.num_moe_layers
    n_dense = cfg.num_layers - n_moe
    base = (attn + norms) * cfg.num_layers + dense * n_dense + moe_fixed * n_moe \
        + 2 * cfg.vocab_size * d + d
    return ParamCounts(total=base + expert * cfg.num_experts * n_moe,
                       active=base + expert * cfg.num_experts_per_tok * n_moe)


def count_params(params) -> int:
    """Number of scalars in a (possibly abstract) parameter tree."""
    return sum(math.prod(x.shape) for x in jax.tree.leaves(params))


def active_from_total(cfg, total: int) -> int:
    """Active parameters: the total less the E - k routed experts a token skips."""
    per_expert = 3 * cfg.d_model * cfg.moe_mlp_dim
    return total - cfg.num_moe_layers * (cfg.num_experts - cfg.num_experts_per_tok) * per_expert


def step_summary(cfg, raw: dict, step_s: float, num_devices: int,
                 peak_flops: float | None) -> dict:
    """Per-step numbers for the log from fetched device metrics and the step time."""
    flops_dev = train_flops_per_step(cfg) / num_devices
    achieved = flops_dev / step_s if step_s > 0 else 0.0
    return {
        **{k: float(v) for k, v in raw.items()},
        "step_s": step_s,
        "tokens_per_s": cfg.global_batch * cfg.seq_len / step_s if step_s > 0 else 0.0,
        "tflops_per_device": flops_dev / 1e12,
        "tflops_per_s_per_device": achieved / 1e12,
        "mfu": achieved / peak_flops if peak_flops else None,
    }


def format_line(step: int, m: dict) -> str:
    """One human-readable log line."""
    mfu = f"{100 * m['mfu']:.2f}%" if m.get("mfu") is not None else "n/a"
    return (f"step {step:5d} | loss {m['loss']:.4f} | ce {m['ce']:.4f} | lb {m['lb_loss']:.4f}"
            f" | {m['tokens_per_s']:,.0f} tok/s | {1e3 * m['step_s']:.1f} ms"
            f" | {m['tflops_per_device']:.3g} TFLOPs/dev"
            f" ({m['tflops_per_s_per_device']:.3g} TFLOP/s/dev) | MFU {mfu}")
