"""The device mesh and THE table: layer kind -> PartitionSpec.

Every parameter is created with a `kind` (see model.py / moe.py) and every
activation constraint names one; both are looked up here, so this file alone
says how the model is laid out. Mesh axes:

* data: pure data parallelism (params replicated);
* fsdp: batch sharded and params sharded (all-gathered per layer by XLA);
* expert: batch sharded outside MoE blocks; experts sharded inside them;
* tensor: heads / hidden / vocab sharded (Megatron-style).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXES = ("data", "fsdp", "expert", "tensor")
BATCH = ("data", "fsdp", "expert")  # the batch dimension is split over these

TABLE: dict[str, P] = {
    # Parameters.
    "embed": P("tensor", "fsdp"),  # V x D
    "unembed": P("fsdp", "tensor"),  # D x V
    "norm": P(None),  # D
    "attn_q": P("fsdp", "tensor", None),  # D x H x Dh
    "attn_kv": P("fsdp", "tensor", None),  # D x Hkv x Dh
    "attn_out": P("tensor", None, "fsdp"),  # H x Dh x D
    "mlp_in": P("fsdp", "tensor"),  # D x F
    "mlp_out": P("tensor", "fsdp"),  # F x D
    "router": P("fsdp", None),  # D x E
    "shared_gate": P("fsdp", None),  # D x 1
    "expert_in": P("expert", "fsdp", "tensor"),  # E x D x F
    "expert_out": P("expert", "tensor", "fsdp"),  # E x F x D
    # Activations.
    "act_tokens": P(BATCH, None),  # B x L
    "act_embed": P(BATCH, None, None),  # B x L x D
    "act_heads": P(BATCH, None, "tensor", None),  # B x L x H x Dh
    "act_mlp": P(BATCH, None, "tensor"),  # B x L x F
    "act_vocab": P(BATCH, None, "tensor"),  # B x L x V
    "act_topk": P(BATCH, None, None),  # B x L x K
    "embed_lookup": P("tensor", None),  # V x D table, fsdp-gathered for the token gather
}


def spec(kind: str) -> P:
    """The PartitionSpec of a layer kind; KeyError names the known kinds."""
    try:
        return TABLE[kind]
    except KeyError:
        raise KeyError(f"no sharding rule for kind {kind!r}; known: {sorted(TABLE)}") from None


def inside_shard_map(kind: str) -> P:
    """The spec of a parameter as the expert shard_map sees it: fsdp gathered."""
    return P(*(None if axis == "fsdp" else axis for axis in spec(kind)))


def make_mesh(shape: Mapping[str, int], devices=None) -> Mesh:
    """A Mesh over AXES; one size may be -1 (fill with the remaining devices).

    Args:
      shape: axis name -> size for every axis in AXES.
      devices: devices to use (default: all).

    Returns:
      A Mesh with Auto axis types, so `with_sharding_constraint` drives GSPMD.
    """
    devices = list(devices if devices is not None else jax.devices())
    sizes = [int(shape[a]) for a in AXES]
    fixed = math.prod(s for s in sizes if s != -1)
    wanted = dict(zip(AXES, sizes, strict=True))
    hint = "set --mesh-data/--mesh-fsdp/--mesh-expert/--mesh-tensor (one may be -1)"
    if -1 in sizes:
        if len(devices) % fixed:
            raise ValueError(f"mesh {wanted} needs a multiple of {fixed} devices, "
                             f"found {len(devices)}; {hint}")
        sizes = [len(devices) // fixed if s == -1 else s for s in sizes]
    elif fixed != len(devices):
        raise ValueError(f"mesh {wanted} needs {fixed} devices, found {len(devices)}; {hint}")
    return jax.make_mesh(tuple(sizes), AXES, axis_types=(AxisType.Auto,) * len(AXES),
                         devices=devices)


def constrain(x: jax.Array, kind: str, mesh: Mesh | None) -> jax.Array:
    """Annotate an activation with its table spec (no-op without a mesh)."""
    if mesh is None:
        return x
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec(kind)))


def param_specs(params: nnx.State) -> nnx.State:
    """Map each nnx.Param (carrying a `kind`) to its PartitionSpec."""
    def one(v):
        s = spec(v.kind)
        if len(s) > v.value.ndim:
            raise ValueError(f"kind {v.kind!r} spec {s} has more axes than shape {v.value.shape}")
        return s

    return jax.tree.map(one, params, is_leaf=lambda x: isinstance(x, nnx.Variable))


def named(mesh: Mesh, specs):
    """PartitionSpec tree -> NamedSharding tree on `mesh`."""
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs,
                        is_leaf=lambda x: isinstance(x, P))


def param(key: jax.Array, shape: tuple[int, ...], kind: str, std: float | None = None,
          value: float | None = None) -> nnx.Param:
    """A float32 parameter tagged with its layer kind (checked against TABLE).

    Args:
      key: PRNG key for random init.
      shape: parameter shape.
      kind: a parameter kind of TABLE.
      std: normal init with this standard deviation (default 1/sqrt(shape[0])).
      value: constant init instead of random (e.g. 1.0 for norm scales).

    Returns:
      An nnx.Param whose `kind` metadata drives `param_specs`.
    """
    if len(spec(kind)) > len(shape):
        raise ValueError(f"kind {kind!r} spec {spec(kind)} does not fit shape {shape}")
    if value is not None:
        return nnx.Param(jax.numpy.full(shape, value, jax.numpy.float32), kind=kind)
    std = shape[0] ** -0.5 if std is None else std
    return nnx.Param(std * jax.random.normal(key, shape, jax.numpy.float32), kind=kind)
