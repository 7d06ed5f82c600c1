"""FFN blocks: the dense SwiGLU MLP and the dropless top-k mixture of experts.

MoE data flow for T tokens, E experts, K active, A = T*K assignments:

  router:   logits_TxE -> top-k -> weights_TxK, expert_idx_TxK (+ LB loss)
  dispatch: sort the A assignments by expert -> x_AxD, group_sizes_E
  experts:  SwiGLU through three grouped matmuls (gmm.py)
  combine:  unsort, weight by the router, sum over K -> y_TxD

Expert parallelism: inside `shard_map`, each device all-gathers the tokens of
its expert group, runs only its E / ep local experts (assignments to other
shards sort into a trailing bucket that the grouped matmul leaves at zero),
then `psum_scatter` returns each device the sum over shards for its own
tokens. With a 1-device mesh the same code runs with trivial collectives.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from trainer import gmm as gmm_lib
from trainer import loss as loss_lib
from trainer import sharding


class Mlp(nnx.Module):
    """SwiGLU feed-forward: down(silu(x @ gate) * (x @ up))."""

    def __init__(self, d_model: int, hidden: int, *, rngs: nnx.Rngs,
                 mesh: Mesh | None = None, dtype=jnp.float32):
        self.w_gate_DxF = sharding.param(rngs.params(), (d_model, hidden), "mlp_in")
        self.w_up_DxF = sharding.param(rngs.params(), (d_model, hidden), "mlp_in")
        self.w_down_FxD = sharding.param(rngs.params(), (hidden, d_model), "mlp_out")
        self.mesh, self.dtype = mesh, dtype

    def __call__(self, x_BxLxD: jax.Array) -> jax.Array:
        cast = lambda w: w[...].astype(self.dtype)  # noqa: E731
        x_BxLxD = sharding.constrain(x_BxLxD, "act_embed", self.mesh)
        h_BxLxF = jax.nn.silu(x_BxLxD @ cast(self.w_gate_DxF)) * (x_BxLxD @ cast(self.w_up_DxF))
        h_BxLxF = sharding.constrain(h_BxLxF, "act_mlp", self.mesh)
        return h_BxLxF @ cast(self.w_down_FxD)


def route(x_TxD: jax.Array, router_DxE: jax.Array, k: int, renormalize: bool = True):
    """Top-k routing.

    Args:
      x_TxD: tokens.
      router_DxE: router weights.
      k: experts per token.
      renormalize: weights = softmax over the k chosen logits (equal to the full
        softmax renormalised over the chosen experts); else the full-softmax
        probabilities of the chosen experts, unnormalised.

    Returns:
      (weights_TxK float32, expert_idx_TxK int32, router_probs_TxE float32).
    """
    with jax.named_scope("router"):
        logits_TxE = x_TxD.astype(jnp.float32) @ router_DxE.astype(jnp.float32)
        probs_TxE = jax.nn.softmax(logits_TxE, axis=-1)
        top_logits_TxK, expert_idx_TxK = jax.lax.top_k(logits_TxE, k)
        if renormalize:
            weights_TxK = jax.nn.softmax(top_logits_TxK, axis=-1)
        else:
            weights_TxK = jnp.take_along_axis(probs_TxE, expert_idx_TxK, axis=-1)
    return weights_TxK, expert_idx_TxK.astype(jnp.int32), probs_TxE


def sort_by_expert(expert_idx_TxK: jax.Array, first_expert, num_local: int):
    """Order the T*K assignments by local expert; others go last.

    Args:
      expert_idx_TxK: global expert ids.
      first_expert: global id of local expert 0 (may be traced).
      num_local: number of local experts.

    Returns:
      (order_A: assignment index for each sorted position,
       group_sizes_E: assignments per local expert, int32).
    """
    local_A = expert_idx_TxK.reshape(-1) - first_expert
    local_A = jnp.where((local_A >= 0) & (local_A < num_local), local_A, num_local)
    order_A = jnp.argsort(local_A, stable=True)
    group_sizes_E = jnp.bincount(local_A, length=num_local + 1)[:num_local]
    return order_A, group_sizes_E.astype(jnp.int32)


def experts_local(x_TxD, weights_TxK, expert_idx_TxK, w_gate_ExDxF, w_up_ExDxF, w_down_ExFxD,
                  first_expert, gmm_fn):
    """Dispatch, run the local experts with grouped matmuls, combine.

    Returns:
      y_TxD: the weighted sum over each token's local experts (zeros elsewhere).
    """
    num_tokens, k = expert_idx_TxK.shape
    with jax.named_scope("dispatch"):
        order_A, group_sizes_E = sort_by_expert(expert_idx_TxK, first_expert,
                                                w_gate_ExDxF.shape[0])
        x_AxD = jnp.take(x_TxD, order_A // k, axis=0)
    with jax.named_scope("experts"):
        h_AxF = (jax.nn.silu(gmm_fn(x_AxD, w_gate_ExDxF, group_sizes_E))
                 * gmm_fn(x_AxD, w_up_ExDxF, group_sizes_E))
        y_AxD = gmm_fn(h_AxF, w_down_ExFxD, group_sizes_E)
    with jax.named_scope("combine"):
        rank_A = jnp.zeros_like(order_A).at[order_A].set(jnp.arange(order_A.shape[0]))
        y_TxKxD = jnp.take(y_AxD, rank_A, axis=0).reshape(num_tokens, k, -1)
        return jnp.einsum("tkd,tk->td", y_TxKxD, weights_TxK.astype(y_TxKxD.dtype))


class MoE(nnx.Module):
    """Dropless top-k MoE FFN with optional sigmoid-gated shared experts."""

    def __init__(self, cfg, *, rngs: nnx.Rngs, mesh: Mesh | None = None,
                 dtype=jnp.float32):
        d, f, e = cfg.d_model, cfg.moe_mlp_dim, cfg.num_experts
        self.router_DxE = sharding.param(rngs.params(), (d, e), "router")
        self.w_gate_ExDxF = sharding.param(rngs.params(), (e, d, f), "expert_in", d**-0.5)
        self.w_up_ExDxF = sharding.param(rngs.params(), (e, d, f), "expert_in", d**-0.5)
        self.w_down_ExFxD = sharding.param(rngs.params(), (e, f, d), "expert_out", f**-0.5)
        if cfg.num_shared_experts:
            self.shared = Mlp(d, cfg.num_shared_experts * f, rngs=rngs, mesh=mesh, dtype=dtype)
            self.shared_gate_Dx1 = sharding.param(rngs.params(), (d, 1), "shared_gate")
        else:
            self.shared = None
        self.k, self.renormalize = cfg.num_experts_per_tok, cfg.router_renormalize
        self.gmm_impl = cfg.gmm_impl
        self.tiling = gmm_lib.Tiling(cfg.gmm_tile_m, cfg.gmm_tile_k, cfg.gmm_tile_n,
                                     cfg.gmm_num_warps, cfg.gmm_num_stages)
        self.mesh, self.dtype = mesh, dtype

    def __call__(self, x_BxLxD: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Returns (y_BxLxD, load-balancing loss)."""
        b, length, d = x_BxLxD.shape
        x_BxLxD = sharding.constrain(x_BxLxD, "act_embed", self.mesh)
        weights_TxK, expert_idx_TxK, probs_TxE = route(
            x_BxLxD.reshape(b * length, d), self.router_DxE[...], self.k, self.renormalize)
        lb_loss = loss_lib.load_balancing_loss(probs_TxE, expert_idx_TxK)
        weights_BxLxK = sharding.constrain(weights_TxK.reshape(b, length, -1), "act_topk",
                                           self.mesh)
        idx_BxLxK = sharding.constrain(expert_idx_TxK.reshape(b, length, -1), "act_topk",
                                       self.mesh)
        experts = [w[...].astype(self.dtype)
                   for w in (self.w_gate_ExDxF, self.w_up_ExDxF, self.w_down_ExFxD)]
        if self.mesh is None:
            y_TxD = experts_local(x_BxLxD.reshape(-1, d), weights_TxK, expert_idx_TxK,
                                  *experts, 0, self._gmm)
            y_BxLxD = y_TxD.reshape(b, length, d)
        else:
            y_BxLxD = self._expert_parallel(x_BxLxD, weights_BxLxK, idx_BxLxK, *experts)
        if self.shared is not None:
            gate_BxLx1 = jax.nn.sigmoid(x_BxLxD @ self.shared_gate_Dx1[...].astype(self.dtype))
            y_BxLxD = y_BxLxD + gate_BxLx1 * self.shared(x_BxLxD)
        return y_BxLxD, lb_loss

    def _gmm(self, lhs_MxK, rhs_GxKxN, group_sizes_G):
        return gmm_lib.gmm(lhs_MxK, rhs_GxKxN, group_sizes_G, self.gmm_impl, self.tiling)

    def _expert_parallel(self, x_BxLxD, weights_BxLxK, idx_BxLxK, w_gate, w_up, w_down):
        gmm_fn = self._gmm

        def per_device(x_BxLxD, weights_BxLxK, idx_BxLxK, w_gate, w_up, w_down):
            b, length, d = x_BxLxD.shape
            gather = functools.partial(jax.lax.all_gather, axis_name="expert", axis=0,
                                       tiled=True)
            x_TxD = gather(x_BxLxD.reshape(b * length, d))
            weights_TxK = gather(weights_BxLxK.reshape(b * length, -1))
            idx_TxK = gather(idx_BxLxK.reshape(b * length, -1))
            first = jax.lax.axis_index("expert") * w_gate.shape[0]
            y_TxD = experts_local(x_TxD, weights_TxK, idx_TxK, w_gate, w_up, w_down, first,
                                  gmm_fn)
            y_TxD = jax.lax.psum_scatter(y_TxD, "expert", scatter_dimension=0, tiled=True)
            y_TxD = jax.lax.psum(y_TxD, "tensor")  # expert hidden dim split over tensor
            return y_TxD.reshape(b, length, d)

        act, topk = sharding.spec("act_embed"), sharding.spec("act_topk")
        w_in = sharding.inside_shard_map("expert_in")
        w_out = sharding.inside_shard_map("expert_out")
        # check_vma=False: the Pallas kernel has no varying-axes rule (jax 0.10.2).
        fn = jax.shard_map(per_device, mesh=self.mesh, out_specs=act, check_vma=False,
                           in_specs=(act, topk, topk, w_in, w_in, w_out))
        return fn(x_BxLxD, weights_BxLxK, idx_BxLxK, w_gate, w_up, w_down)


def dense_reference(x_TxD, weights_TxK, expert_idx_TxK, w_gate_ExDxF, w_up_ExDxF, w_down_ExFxD):
    """Every expert on every token, masked by routing: the slow oracle for tests."""
    h_ExTxF = (jax.nn.silu(jnp.einsum("td,edf->etf", x_TxD, w_gate_ExDxF))
               * jnp.einsum("td,edf->etf", x_TxD, w_up_ExDxF))
    y_ExTxD = jnp.einsum("etf,efd->etd", h_ExTxF, w_down_ExFxD)
    gate_TxE = jnp.einsum("tk,tke->te", weights_TxK,
                          jax.nn.one_hot(expert_idx_TxK, w_gate_ExDxF.shape[0]))
    return jnp.einsum("etd,te->td", y_ExTxD, gate_TxE)

