"""model.py: shapes, finiteness, causality, dense-first layers, RoPE."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from trainer import config, loss, model

RTOL = 1e-5


@pytest.fixture(scope="module")
def tiny():
    cfg = dataclasses.replace(config.make("tiny"), num_layers=3, num_dense_layers=1,
                              gmm_impl="ragged_dot")
    m = nnx.jit(lambda: model.Transformer(cfg, rngs=nnx.Rngs(0)))()
    return cfg, m, _jit_forward(m)


def _jit_forward(m):
    graphdef, params = nnx.split(m, nnx.Param)
    fn = jax.jit(lambda p, t: nnx.merge(graphdef, p)(t))
    return lambda tokens: fn(params, tokens)


def _tokens(cfg, seed=0):
    return jax.random.randint(jax.random.key(seed), (2, cfg.seq_len), 0, cfg.vocab_size)


def test_forward_shapes_and_finite(tiny):
    cfg, _, forward = tiny
    tokens = _tokens(cfg)
    logits, lb = forward(tokens)
    assert logits.shape == (2, cfg.seq_len, cfg.vocab_size)
    assert logits.dtype == jnp.float32 and np.isfinite(np.asarray(logits)).all()
    assert 1.0 - 1e-6 <= float(lb) <= cfg.num_experts
    # Untrained logits are near uniform: per-token loss close to log(V).
    nll = loss.cross_entropy(logits, jnp.roll(tokens, -1, axis=1))
    assert abs(float(nll) - np.log(cfg.vocab_size)) < 2.0


def test_causal_future_tokens_do_not_change_the_past(tiny):
    cfg, _, forward = tiny
    tokens = _tokens(cfg, seed=1)
    cut = cfg.seq_len // 2
    changed = tokens.at[:, cut:].set((tokens[:, cut:] + 1) % cfg.vocab_size)
    a, _ = forward(tokens)
    b, _ = forward(changed)
    np.testing.assert_allclose(a[:, :cut], b[:, :cut], rtol=RTOL, atol=RTOL)
    assert float(jnp.abs(a[:, cut:] - b[:, cut:]).max()) > 1e-3


def test_first_layers_dense_rest_moe(tiny):
    cfg, m, _ = tiny
    assert [b.is_moe for b in m.blocks] == [False, True, True]
    assert not hasattr(m.blocks[0].ffn, "router_DxE")
    assert m.blocks[1].ffn.router_DxE[...].shape == (cfg.d_model, cfg.num_experts)


def test_rope_preserves_norm_and_is_relative():
    x = jax.random.normal(jax.random.key(2), (1, 6, 1, 8))
    y = model.rope(x, 10_000.0)
    np.testing.assert_allclose(jnp.linalg.norm(y, axis=-1), jnp.linalg.norm(x, axis=-1),
                               rtol=RTOL)
    q = jnp.broadcast_to(x[:, :1], x.shape)
    rq = model.rope(q, 10_000.0)
    dots = jnp.einsum("blhk,blhk->bl", rq[:, 1:], rq[:, :-1])
    np.testing.assert_allclose(dots, jnp.full_like(dots, dots[0, 0]), rtol=1e-4)
