"""moe.py: routing, dispatch/combine and the MoE block against a dense oracle."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trainer import config, moe

RTOL = 1e-5  # float32, different summation order than the oracle
T, D, F, E, K = 24, 16, 8, 4, 2


def _close(a, b, rtol=RTOL):
    b = np.asarray(b)
    np.testing.assert_allclose(np.asarray(a), b, rtol=rtol,
                               atol=rtol * max(float(np.abs(b).max(initial=0.0)), 1.0))


def _experts(seed=0):
    keys = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(keys[0], (T, D))
    w_gate = jax.random.normal(keys[1], (E, D, F)) * D**-0.5
    w_up = jax.random.normal(keys[2], (E, D, F)) * D**-0.5
    w_down = jax.random.normal(keys[3], (E, F, D)) * F**-0.5
    return x, w_gate, w_up, w_down


def test_route_picks_top_k_and_normalises():
    x, *_ = _experts()
    router = jax.random.normal(jax.random.key(9), (D, E))
    route = jax.jit(moe.route, static_argnums=(2, 3))
    weights, idx, probs = route(x, router, K, True)
    logits = np.asarray(x @ router)
    np.testing.assert_array_equal(np.sort(np.asarray(idx), -1),
                                  np.sort(np.argsort(-logits, -1)[:, :K], -1))
    _close(weights.sum(-1), np.ones(T))
    _close(probs.sum(-1), np.ones(T))
    raw, idx2, _ = route(x, router, K, False)
    np.testing.assert_array_equal(idx, idx2)
    _close(raw, np.take_along_axis(np.asarray(probs), np.asarray(idx), -1))
    _close(weights, raw / raw.sum(-1, keepdims=True))  # softmax of chosen == renormalised
    assert float(raw.sum(-1).max()) < 1.0


def test_sort_by_expert_groups_local_assignments_first():
    idx = jax.random.randint(jax.random.key(1), (T, K), 0, E)
    order, sizes = moe.sort_by_expert(idx, first_expert=2, num_local=2)
    flat = np.asarray(idx).reshape(-1)
    np.testing.assert_array_equal(sizes, [np.sum(flat == 2), np.sum(flat == 3)])
    assert sorted(np.asarray(order).tolist()) == list(range(T * K))
    sorted_ids = flat[np.asarray(order)]
    n_local = int(sizes.sum())
    assert np.all(np.diff(sorted_ids[:n_local]) >= 0)
    assert np.all(sorted_ids[n_local:] < 2), "assignments of other shards go last"


@pytest.mark.parametrize("impl", ["pallas", "ragged_dot"])
def test_experts_match_dense_oracle_values_and_grads(impl):
    x, w_gate, w_up, w_down = _experts()
    router = jax.random.normal(jax.random.key(3), (D, E))
    weights, idx, _ = moe.route(x, router, K)
    gmm_fn = lambda a, b, s: moe.gmm_lib.gmm(a, b, s, impl=impl,  # noqa: E731
                                             tiling=moe.gmm_lib.Tiling(16, 16, 16))

    def ours(x, weights, *w):
        return moe.experts_local(x, weights, idx, *w, 0, gmm_fn)

    def oracle(x, weights, *w):
        return moe.dense_reference(x, weights, idx, *w)

    args = (x, weights, w_gate, w_up, w_down)
    _close(jax.jit(ours)(*args), oracle(*args))
    cot = jax.random.normal(jax.random.key(4), (T, D))
    g_ours = jax.jit(jax.grad(lambda *a: jnp.sum(ours(*a) * cot), argnums=range(5)))(*args)
    g_ref = jax.jit(jax.grad(lambda *a: jnp.sum(oracle(*a) * cot), argnums=range(5)))(*args)
    for a, b in zip(g_ours, g_ref, strict=True):
        _close(a, b)


def test_expert_shards_sum_to_the_whole():
    """What expert parallelism relies on: each shard's local experts add up."""
    x, w_gate, w_up, w_down = _experts(seed=5)
    weights, idx, _ = moe.route(x, jax.random.normal(jax.random.key(6), (D, E)), K)
    gmm_fn = moe.gmm_lib.gmm_ragged_dot
    whole = moe.experts_local(x, weights, idx, w_gate, w_up, w_down, 0, gmm_fn)
    halves = [moe.experts_local(x, weights, idx, w_gate[s:s + 2], w_up[s:s + 2],
                                w_down[s:s + 2], s, gmm_fn) for s in (0, 2)]
    _close(halves[0] + halves[1], whole)
    assert float(jnp.abs(halves[0]).max()) > 0 and float(jnp.abs(halves[1]).max()) > 0


@pytest.mark.parametrize("shared", [0, 1])
def test_moe_block_equals_router_oracle_and_gated_shared_expert(shared):
    cfg = dataclasses.replace(config.make("tiny"), num_shared_experts=shared,
                              gmm_impl="ragged_dot")
    block = moe.MoE(cfg, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(7), (2, 8, cfg.d_model))
    y, lb = block(x)
    assert y.shape == x.shape and np.isfinite(np.asarray(y)).all()
    assert 1.0 - 1e-6 <= float(lb) <= cfg.num_experts
    xt = x.reshape(-1, cfg.d_model)
    weights, idx, _ = moe.route(xt, block.router_DxE[...], cfg.num_experts_per_tok)
    expected = moe.dense_reference(xt, weights, idx, block.w_gate_ExDxF[...],
                                   block.w_up_ExDxF[...], block.w_down_ExFxD[...])
    expected = expected.reshape(x.shape)
    if shared:
        gate = jax.nn.sigmoid(x @ block.shared_gate_Dx1[...])
        expected = expected + gate * block.shared(x)
    else:
        assert block.shared is None
    _close(y, expected)
