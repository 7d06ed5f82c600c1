"""Train state, its shardings, and the pure jitted `train_step(state, batch)`.

`build(cfg, mesh)` returns a `Setup` holding the jitted `init()` and
`train_step(state, batch) -> (state, metrics)`, both with explicit in/out
shardings from sharding.TABLE; the step donates the old state.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from trainer import loss as loss_lib
from trainer import optimizer, sharding
from trainer.model import Transformer


@struct.dataclass
class TrainState:
    """Everything a step updates: the update count, parameters and optimizer state."""

    step: jax.Array
    params: nnx.State
    opt_state: optax.OptState


def _split_model(cfg, mesh: Mesh | None):
    model = Transformer(cfg, rngs=nnx.Rngs(cfg.seed), mesh=mesh)
    return nnx.split(model, nnx.Param)


def abstract_params(cfg, mesh: Mesh | None = None) -> tuple[nnx.GraphDef, nnx.State]:
    """Build the model with no allocation: (graphdef, params of ShapeDtypeStructs)."""
    model = nnx.eval_shape(lambda: Transformer(cfg, rngs=nnx.Rngs(cfg.seed), mesh=mesh))
    return nnx.split(model, nnx.Param)


def state_shardings(abstract_state, mesh: Mesh):
    """Same-structure tree of NamedShardings: params and optimizer moments by kind."""
    def one(x):
        if isinstance(x, nnx.Variable):
            return x.replace(value=NamedSharding(mesh, sharding.spec(x.kind)))
        return NamedSharding(mesh, P())

    return jax.tree.map(one, abstract_state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def loss_and_metrics(params, graphdef, batch, cfg):
    """Total loss (CE + weighted LB) and its parts, for one batch."""
    model = nnx.merge(graphdef, params)
    logits_BxLxV, lb_loss = model(batch["inputs"])
    ce = loss_lib.cross_entropy(logits_BxLxV, batch["targets"])
    total = ce + cfg.lb_loss_weight * lb_loss
    return total, {"ce": ce, "lb_loss": lb_loss}


def train_step(state: TrainState, batch: dict, *, graphdef, tx, cfg):
    """One optimizer step. Pure: (state, batch) -> (new state, scalar metrics)."""
    grad_fn = jax.value_and_grad(loss_and_metrics, has_aux=True)
    (loss, parts), grads = grad_fn(state.params, graphdef, batch, cfg)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = {"loss": loss, **parts, "grad_norm": optax.global_norm(grads),
               "lr": optimizer.schedule(cfg)(state.step)}
    return TrainState(state.step + 1, params, opt_state), metrics


@dataclasses.dataclass
class Setup:
    """A compiled training setup for one (config, mesh)."""

    cfg: object
    mesh: Mesh
    graphdef: nnx.GraphDef
    abstract_state: TrainState
    shardings: TrainState
    batch_shardings: dict
    init: Callable[[], TrainState]
    train_step: Callable[[TrainState, dict], tuple[TrainState, dict]]

    def put_batch(self, batch) -> dict:
        """Host numpy batch -> global arrays sharded over the batch axes."""
        return jax.device_put({k: jnp.asarray(v) for k, v in batch.items()},
                              self.batch_shardings)


# Fields that change how a run is driven but not what init/train_step compute.
RUN_ONLY_FIELDS = ("job", "steps", "sleep_ms", "block_steps", "log_every", "metrics_file",
                   "xdiag_server", "profiler_port", "checkpoint_dir", "checkpoint_every",
                   "keep_checkpoints")


def build(cfg, mesh: Mesh) -> Setup:
    """Trace shapes once, derive every sharding from the table, jit init and step.

    Setups are cached per (config less RUN_ONLY_FIELDS, mesh), so a resumed or
    repeated run in one process reuses the compiled step.

    Args:
      cfg: the Config.
      mesh: a mesh over sharding.AXES.

    Returns:
      A Setup; `setup.init()` allocates a sharded TrainState directly on devices.
    """
    blank = {f: getattr(type(cfg)(), f) for f in RUN_ONLY_FIELDS}
    return _build(dataclasses.replace(cfg, **blank), mesh)


@functools.lru_cache(maxsize=4)
def _build(cfg, mesh: Mesh) -> Setup:
    tx = optimizer.make(cfg)

    def init() -> TrainState:
        _, params = _split_model(cfg, mesh)
        return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params))

    graphdef, _ = abstract_params(cfg, mesh)
    abstract_state = jax.eval_shape(init)
    shardings = state_shardings(abstract_state, mesh)
    batch_shardings = {k: NamedSharding(mesh, sharding.spec("act_tokens"))
                       for k in ("inputs", "targets")}
    replicated = NamedSharding(mesh, P())
    step = jax.jit(functools.partial(train_step, graphdef=graphdef, tx=tx, cfg=cfg),
                   in_shardings=(shardings, batch_shardings),
                   out_shardings=(shardings, replicated), donate_argnums=(0,))
    return Setup(cfg, mesh, graphdef, abstract_state, shardings, batch_shardings,
                 jax.jit(init, out_shardings=shardings), step)
