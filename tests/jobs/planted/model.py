"""The small MLP the planted jobs share: forward through `layers` tanh(x @ w) layers.

Batch-sharded over a 1-D mesh of the process's devices ("d"), weights replicated -- the
clean data-parallel step -- or, with `fsdp=True`, weights sharded along their first axis
and all-gathered inside the step right before their matmul (nothing else to overlap with).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def mesh(devices: list | None = None) -> Mesh:
    return Mesh(np.array(devices or jax.devices()), ("d",))


def params(m: Mesh, layers: int, d: int, *, fsdp: bool = False) -> list[jax.Array]:
    spec = P("d", None) if fsdp else P()
    ws = [jnp.asarray(np.random.default_rng(k).standard_normal((d, d), np.float32) / np.sqrt(d))
          for k in range(layers)]
    return [jax.device_put(w, NamedSharding(m, spec)) for w in ws]


def batch(m: Mesh, rows: int, d: int, seed: int = 0) -> jax.Array:
    x = np.random.default_rng(seed).standard_normal((rows, d), np.float32)
    return jax.device_put(x, NamedSharding(m, P("d", None)))


def forward_fn(m: Mesh, *, fsdp: bool = False):
    """jit(forward)(ws, x_BxD) -> y_BxD, batch-sharded like x (no reduction over the batch:
    the clean step has no collective at all)."""

    def layer_stack(ws, x_BxD):
        for w in ws:
            if fsdp:  # this device holds d/n rows of w: gather the whole weight first
                w = jax.lax.all_gather(w, "d", axis=0, tiled=True)
            x_BxD = jnp.tanh(x_BxD @ w)
        return x_BxD

    if fsdp:
        body = jax.shard_map(layer_stack, mesh=m, in_specs=(P("d", None), P("d", None)),
                             out_specs=P("d", None))
    else:
        body = layer_stack

    @partial(jax.jit, out_shardings=NamedSharding(m, P("d", None)))
    def forward(ws, x_BxD):
        return body(ws, x_BxD)

    return forward
