"""Decoder-only transformer (Flax NNX): RMSNorm, RoPE attention (GQA), dense or MoE FFN.

Layers [0, num_dense_layers) use a dense SwiGLU FFN, the rest the MoE of
moe.py. `Transformer.__call__` returns the logits and the mean load-balancing
loss over the MoE layers. Parameters are float32; compute runs in `cfg.dtype`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from trainer import sharding
from trainer.moe import Mlp, MoE


class RMSNorm(nnx.Module):
    """Root-mean-square norm with a learned scale."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        self.scale_D = sharding.param(None, (d_model,), "norm", value=1.0)
        self.eps = eps

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        x32 = x_BxLxD.astype(jnp.float32)
        x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return (x32 * self.scale_D[...]).astype(x_BxLxD.dtype)


def rope(x_BxLxHxK: jax.Array, theta: float) -> jax.Array:
    """Rotary position embedding over the last dim (split-halves convention)."""
    length, dim = x_BxLxHxK.shape[1], x_BxLxHxK.shape[-1]
    freq_K2 = theta ** (-jnp.arange(0, dim, 2, dtype=jnp.float32) / dim)
    angle_LxK2 = jnp.arange(length, dtype=jnp.float32)[:, None] * freq_K2[None, :]
    sin, cos = jnp.sin(angle_LxK2)[None, :, None, :], jnp.cos(angle_LxK2)[None, :, None, :]
    x1, x2 = jnp.split(x_BxLxHxK.astype(jnp.float32), 2, axis=-1)
    out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return out.astype(x_BxLxHxK.dtype)


class Attention(nnx.Module):
    """Causal multi-head attention with grouped KV heads."""

    def __init__(self, cfg, *, rngs: nnx.Rngs, mesh: Mesh | None, dtype):
        d, h, hkv, k = cfg.d_model, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.wq_DxHxK = sharding.param(rngs.params(), (d, h, k), "attn_q")
        self.wk_DxGxK = sharding.param(rngs.params(), (d, hkv, k), "attn_kv")
        self.wv_DxGxK = sharding.param(rngs.params(), (d, hkv, k), "attn_kv")
        self.wo_HxKxD = sharding.param(rngs.params(), (h, k, d), "attn_out", (h * k) ** -0.5)
        self.theta, self.mesh, self.dtype = cfg.rope_theta, mesh, dtype

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        cast = lambda w: w[...].astype(self.dtype)  # noqa: E731
        q_BxLxHxK = rope(jnp.einsum("bld,dhk->blhk", x_BxLxD, cast(self.wq_DxHxK)), self.theta)
        k_BxLxGxK = rope(jnp.einsum("bld,dgk->blgk", x_BxLxD, cast(self.wk_DxGxK)), self.theta)
        v_BxLxGxK = jnp.einsum("bld,dgk->blgk", x_BxLxD, cast(self.wv_DxGxK))
        q_BxLxHxK = sharding.constrain(q_BxLxHxK, "act_heads", self.mesh)
        b, length, h, dk = q_BxLxHxK.shape
        g = k_BxLxGxK.shape[2]
        q_BxLxGxRxK = q_BxLxHxK.reshape(b, length, g, h // g, dk)
        s_BxGxRxLxL = jnp.einsum("blgrk,bmgk->bgrlm", q_BxLxGxRxK, k_BxLxGxK,
                                 preferred_element_type=jnp.float32) * dk**-0.5
        causal_LxL = jnp.tril(jnp.ones((length, length), bool))
        s_BxGxRxLxL = jnp.where(causal_LxL, s_BxGxRxLxL, jnp.finfo(jnp.float32).min)
        p = jax.nn.softmax(s_BxGxRxLxL, axis=-1).astype(self.dtype)
        o_BxLxHxK = jnp.einsum("bgrlm,bmgk->blgrk", p, v_BxLxGxK).reshape(b, length, h, dk)
        o_BxLxHxK = sharding.constrain(o_BxLxHxK, "act_heads", self.mesh)
        return jnp.einsum("blhk,hkd->bld", o_BxLxHxK, cast(self.wo_HxKxD))


class Block(nnx.Module):
    """Pre-norm residual block: attention then a dense or MoE FFN."""

    def __init__(self, cfg, moe: bool, *, rngs: nnx.Rngs, mesh: Mesh | None, dtype):
        self.attn_norm = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg, rngs=rngs, mesh=mesh, dtype=dtype)
        self.ffn_norm = RMSNorm(cfg.d_model)
        self.ffn = (MoE(cfg, rngs=rngs, mesh=mesh, dtype=dtype) if moe
                    else Mlp(cfg.d_model, cfg.mlp_dim, rngs=rngs, mesh=mesh, dtype=dtype))
        self.is_moe, self.mesh = moe, mesh

    def __call__(self, x_BxLxD: jax.Array) -> tuple[jax.Array, jax.Array]:
        x_BxLxD = x_BxLxD + self.attn(self.attn_norm(x_BxLxD))
        x_BxLxD = sharding.constrain(x_BxLxD, "act_embed", self.mesh)
        if self.is_moe:
            y_BxLxD, lb_loss = self.ffn(self.ffn_norm(x_BxLxD))
        else:
            y_BxLxD, lb_loss = self.ffn(self.ffn_norm(x_BxLxD)), jnp.zeros((), jnp.float32)
        return sharding.constrain(x_BxLxD + y_BxLxD, "act_embed", self.mesh), lb_loss


class Transformer(nnx.Module):
    """The decoder: embed -> blocks -> norm -> unembed."""

    def __init__(self, cfg, *, rngs: nnx.Rngs, mesh: Mesh | None = None):
        dtype = jnp.dtype(cfg.dtype)
        self.embed_VxD = sharding.param(rngs.params(), (cfg.vocab_size, cfg.d_model), "embed",
                                        1.0)
        self.blocks = nnx.List([
            Block(cfg, moe=cfg.num_experts > 0 and i >= cfg.num_dense_layers, rngs=rngs,
                  mesh=mesh, dtype=dtype)
            for i in range(cfg.num_layers)])
        self.final_norm = RMSNorm(cfg.d_model)
        self.unembed_DxV = sharding.param(rngs.params(), (cfg.d_model, cfg.vocab_size),
                                          "unembed")
        self.mesh, self.dtype = mesh, dtype

    def __call__(self, tokens_BxL: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Returns (logits_BxLxV float32, mean load-balancing loss over MoE layers)."""
        tokens_BxL = sharding.constrain(tokens_BxL, "act_tokens", self.mesh)
        table_VxD = sharding.constrain(self.embed_VxD[...], "embed_lookup", self.mesh)
        x_BxLxD = jnp.take(table_VxD.astype(self.dtype), tokens_BxL, axis=0)
        x_BxLxD = sharding.constrain(x_BxLxD, "act_embed", self.mesh)
        lb_losses = []
        for block in self.blocks:
            x_BxLxD, lb_loss = block(x_BxLxD)
            if block.is_moe:
                lb_losses.append(lb_loss)
        x_BxLxD = self.final_norm(x_BxLxD)
        logits_BxLxV = (x_BxLxD @ self.unembed_DxV[...].astype(self.dtype)).astype(jnp.float32)
        logits_BxLxV = sharding.constrain(logits_BxLxV, "act_vocab", self.mesh)
        lb = jnp.mean(jnp.stack(lb_losses)) if lb_losses else jnp.zeros((), jnp.float32)
        return logits_BxLxV, lb
