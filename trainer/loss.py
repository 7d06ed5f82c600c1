"""Losses: next-token cross entropy and the Switch-style load-balancing loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cross_entropy(logits_BxLxV: jax.Array, targets_BxL: jax.Array,
                  weights_BxL: jax.Array | None = None) -> jax.Array:
    """Mean token cross entropy, computed in float32.

    Args:
      logits_BxLxV: unnormalised next-token scores.
      targets_BxL: int token ids.
      weights_BxL: optional per-token weights (e.g. 0 for padding).

    Returns:
      The weighted mean negative log-likelihood (a scalar).
    """
    logp_BxLxV = jax.nn.log_softmax(logits_BxLxV.astype(jnp.float32), axis=-1)
    nll_BxL = -jnp.take_along_axis(logp_BxLxV, targets_BxL[..., None], axis=-1)[..., 0]
    if weights_BxL is None:
        return nll_BxL.mean()
    weights_BxL = weights_BxL.astype(jnp.float32)
    return (nll_BxL * weights_BxL).sum() / jnp.maximum(weights_BxL.sum(), 1.0)


def load_balancing_loss(router_probs_TxE: jax.Array, expert_idx_TxK: jax.Array) -> jax.Array:
    """Switch Transformer auxiliary loss, generalised to top-k routing.

    loss = E * sum_e f_e * p_e, where f_e is the fraction of the T*K token
    assignments sent to expert e and p_e the mean router probability of e.
    It is 1 for perfectly uniform routing and grows to E when every token
    goes (with certainty) to one expert. Gradients flow through p_e only.

    Args:
      router_probs_TxE: softmax over all experts, per token.
      expert_idx_TxK: the chosen experts per token.

    Returns:
      The scalar loss (float32), before any weighting.
    """
    num_experts = router_probs_TxE.shape[-1]
    chosen_TxKxE = jax.nn.one_hot(expert_idx_TxK, num_experts, dtype=jnp.float32)
    fraction_E = chosen_TxKxE.mean(axis=(0, 1))
    prob_E = router_probs_TxE.astype(jnp.float32).mean(axis=0)
    return num_experts * jnp.sum(jax.lax.stop_gradient(fraction_E) * prob_E)
