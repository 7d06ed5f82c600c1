"""Optax: warmup -> constant -> cosine anneal, and AdamW behind global-norm clipping."""

from __future__ import annotations

import jax
import optax


def schedule(cfg) -> optax.Schedule:
    """Learning rate per step, joined from three pieces with `optax.join_schedules`.

    [0, warmup): linear 0 -> peak; [warmup, warmup + constant): peak;
    then a cosine from peak to peak * final_lr_fraction over anneal_steps, held after.

    Args:
      cfg: a Config (learning_rate, warmup_steps, constant_steps, anneal_steps,
        final_lr_fraction).

    Returns:
      An optax schedule (step -> learning rate).
    """
    peak = cfg.learning_rate
    warmup = optax.linear_schedule(0.0, peak, max(cfg.warmup_steps, 1))
    constant = optax.constant_schedule(peak)
    anneal = optax.cosine_decay_schedule(peak, max(cfg.anneal_steps, 1),
                                         alpha=cfg.final_lr_fraction)
    boundaries = [cfg.warmup_steps, cfg.warmup_steps + cfg.constant_steps]
    return optax.join_schedules([warmup, constant, anneal], boundaries)


def decay_mask(params):
    """Weight decay on matrices only (not norm scales)."""
    return jax.tree.map(lambda p: p.ndim >= 2, params)


def make(cfg) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW on the schedule.

    Args:
      cfg: a Config (grad_clip_norm, adam_*, weight_decay and the schedule fields).

    Returns:
      The optax GradientTransformation.
    """
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip_norm),
        optax.adamw(schedule(cfg), b1=cfg.adam_b1, b2=cfg.adam_b2, eps=cfg.adam_eps,
                    weight_decay=cfg.weight_decay, mask=decay_mask),
    )
