"""optimizer.py: the joined schedule, clipping and masked AdamW."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from trainer import config, optimizer

RTOL = 1e-6


@pytest.fixture
def cfg():
    return dataclasses.replace(config.make("demo"), learning_rate=1e-2, warmup_steps=4,
                               constant_steps=6, anneal_steps=10, final_lr_fraction=0.1)


def test_schedule_warmup_constant_anneal(cfg):
    lr = optimizer.schedule(cfg)
    values = np.array([float(lr(s)) for s in range(25)])
    np.testing.assert_allclose(values[:5], [0.0, 2.5e-3, 5e-3, 7.5e-3, 1e-2], rtol=RTOL)
    np.testing.assert_allclose(values[4:11], 1e-2, rtol=RTOL)  # constant through step 10
    assert np.all(np.diff(values[10:21]) < 0), "anneal must decrease"
    np.testing.assert_allclose(values[20:], 1e-3, rtol=RTOL)  # held at the final fraction


def test_boundaries_are_configurable(cfg):
    lr = optimizer.schedule(dataclasses.replace(cfg, warmup_steps=1, constant_steps=2))
    assert float(lr(1)) == pytest.approx(1e-2) and float(lr(3)) == pytest.approx(1e-2)
    assert float(lr(4)) < 1e-2


def test_gradients_are_clipped_before_adam(cfg):
    tx = optimizer.make(dataclasses.replace(cfg, grad_clip_norm=1.0))
    params = {"w": jnp.ones((3, 3))}
    huge = {"w": jnp.full((3, 3), 1e6)}
    _, state = tx.update(huge, tx.init(params), params)
    mu = optax.tree_utils.tree_get(state, "mu")
    # Adam's first moment after one step is (1 - b1) * the gradient it saw: clipped to norm 1.
    np.testing.assert_allclose(optax.global_norm(mu), 1.0 - cfg.adam_b1, rtol=1e-5)


def test_weight_decay_skips_vectors(cfg):
    tx = optimizer.make(dataclasses.replace(cfg, weight_decay=0.5))
    params = {"matrix": jnp.ones((2, 2)), "scale": jnp.ones((2,))}
    state = tx.init(params)
    zeros = {"matrix": jnp.zeros((2, 2)), "scale": jnp.zeros((2,))}
    for _ in range(2):
        updates, state = tx.update(zeros, state, params)
    assert float(jnp.abs(updates["scale"]).max()) == 0.0
    assert float(updates["matrix"].max()) < 0.0, "decay pulls matrices toward zero"
