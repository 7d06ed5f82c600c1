"""metrics.py: analytic FLOPs, parameter counts (incl. the 64x8 preset), peaks, MFU."""

import dataclasses

import pytest

from trainer import config, metrics, step


def test_flops_match_a_hand_count():
    cfg = dataclasses.replace(
        config.make("tiny"), global_batch=2, seq_len=4, d_model=8, num_heads=2, num_kv_heads=1,
        head_dim=4, mlp_dim=16, moe_mlp_dim=6, num_experts=4, num_experts_per_tok=2,
        num_shared_experts=1, vocab_size=10, num_layers=2, num_dense_layers=1)
    tokens = 8
    attn = 2 * tokens * 8 * (2 + 2) * 4 + 2 * tokens * 2 * 4 * 8 + 4 * 2 * 16 * 2 * 4 / 2
    dense = 2 * tokens * 8 * 16 * 3
    moe = 2 * tokens * 8 * 4 + 2 * tokens * 8 * 6 * 3 * 2 + 2 * tokens * 8 * 6 * 3 \
        + 2 * tokens * 8
    unembed = 2 * tokens * 8 * 10
    expected = 3 * (2 * attn + dense + moe + unembed)
    assert metrics.train_flops_per_step(cfg) == pytest.approx(expected)


def test_moe_flops_scale_with_active_not_total_experts():
    cfg = config.make("demo")
    more_experts = dataclasses.replace(cfg, num_experts=4 * cfg.num_experts)
    more_active = dataclasses.replace(cfg, num_experts_per_tok=cfg.num_experts_per_tok + 1)
    base = metrics.train_flops_per_step(cfg)
    router_only = 3 * 2 * cfg.global_batch * cfg.seq_len * cfg.d_model * 3 * cfg.num_experts
    assert metrics.train_flops_per_step(more_experts) - base == pytest.approx(
        router_only * cfg.num_moe_layers)
    assert metrics.train_flops_per_step(more_active) > base


@pytest.mark.parametrize("preset", ["tiny", "demo", "moe_64x8"])
def test_param_counts_from_the_model_match_the_formula(preset):
    cfg = config.make(preset)
    _, params = step.abstract_params(cfg)  # eval_shape: nothing is allocated
    total = metrics.count_params(params)
    analytic = metrics.analytic_param_counts(cfg)
    assert total == analytic.total
    assert metrics.active_from_total(cfg, total) == analytic.active


def test_moe_64x8_preset_has_the_expected_size():
    cfg = config.make("moe_64x8")
    assert (cfg.num_experts, cfg.num_experts_per_tok) == (64, 8)
    counts = metrics.analytic_param_counts(cfg)
    assert 30e9 < counts.total < 45e9
    assert 5e9 < counts.active < 9e9
    assert counts.active < counts.total / 4


def test_peak_table_and_mfu():
    assert metrics.table_peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert metrics.table_peak_flops("NVIDIA H200") == 989e12
    assert metrics.table_peak_flops("NVIDIA A100-SXM4-40GB") == 312e12
    assert metrics.table_peak_flops("TPU v4") == 275e12
    assert metrics.table_peak_flops("TPU v5 lite") == 197e12
    assert metrics.table_peak_flops("TPU v5p") == 459e12
    assert metrics.table_peak_flops("TPU v6 lite") == 918e12
    assert metrics.table_peak_flops("cpu") is None
    assert metrics.cpu_peak_flops({"matmul_gflops": 80.0}, 8) == pytest.approx(10e9)
    assert metrics.cpu_peak_flops(None, 8) is None
    cfg = config.make("demo")
    flops = metrics.train_flops_per_step(cfg)
    m = metrics.step_summary(cfg, {"loss": 1.0, "ce": 1.0, "lb_loss": 1.0}, 0.5, 8,
                             peak_flops=flops / 8)
    assert m["mfu"] == pytest.approx(2.0)  # per-device work / 0.5 s over a peak of 1 step/s
    assert m["tokens_per_s"] == pytest.approx(cfg.global_batch * cfg.seq_len / 0.5)
    line = metrics.format_line(3, m)
    for part in ("step     3", "loss 1.0000", "lb 1.0000", "tok/s", "ms", "TFLOPs/dev", "MFU"):
        assert part in line
    assert "MFU n/a" in metrics.format_line(3, {**m, "mfu": None})
