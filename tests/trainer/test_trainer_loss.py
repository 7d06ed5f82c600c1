"""loss.py: cross entropy and the Switch load-balancing loss."""

import jax
import jax.numpy as jnp
import numpy as np

from trainer import loss

RTOL = 1e-6


def test_cross_entropy_matches_numpy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((2, 5, 7)).astype(np.float32)
    targets = rng.integers(0, 7, (2, 5))
    shifted = logits - logits.max(-1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected = -np.take_along_axis(logp, targets[..., None], -1).mean()
    np.testing.assert_allclose(loss.cross_entropy(jnp.asarray(logits), jnp.asarray(targets)),
                               expected, rtol=RTOL)


def test_cross_entropy_uniform_is_log_vocab_and_weights_mask():
    v = 11
    logits = jnp.zeros((3, 4, v))
    targets = jnp.ones((3, 4), jnp.int32)
    np.testing.assert_allclose(loss.cross_entropy(logits, targets), np.log(v), rtol=RTOL)
    confident = jnp.zeros((1, 2, v)).at[0, 0, 1].set(50.0)
    weights = jnp.array([[1.0, 0.0]])
    masked = loss.cross_entropy(confident, jnp.array([[1, 5]]), weights)
    assert float(masked) < 1e-6, "the weighted-out token must not count"


def test_load_balancing_loss_is_one_when_uniform_and_e_when_collapsed():
    t, e, k = 64, 8, 2
    uniform_probs = jnp.full((t, e), 1.0 / e)
    balanced_idx = (jnp.arange(t * k) % e).reshape(t, k)
    np.testing.assert_allclose(loss.load_balancing_loss(uniform_probs, balanced_idx), 1.0,
                               rtol=RTOL)
    collapsed_probs = jnp.zeros((t, e)).at[:, 0].set(1.0)
    collapsed_idx = jnp.zeros((t, 1), jnp.int32)
    np.testing.assert_allclose(loss.load_balancing_loss(collapsed_probs, collapsed_idx), e,
                               rtol=RTOL)


def test_load_balancing_gradient_pushes_probability_off_the_busiest_expert():
    t, e = 32, 4
    logits = jax.random.normal(jax.random.key(0), (t, e))
    idx = jnp.zeros((t, 1), jnp.int32)  # everything routed to expert 0
    grad = jax.grad(lambda z: loss.load_balancing_loss(jax.nn.softmax(z), idx))(logits)
    assert float(grad[:, 0].mean()) > 0 > float(grad[:, 1:].mean())
