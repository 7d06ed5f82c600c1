"""step.py: state shardings from the table, a pure donated train_step, abstract builds."""

import jax
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from trainer import config, data, sharding, step

ONE_DEVICE = dict(mesh_data=1, mesh_fsdp=1, mesh_expert=1)


@pytest.fixture(scope="module")
def setup():
    cfg = config.make("tiny", **ONE_DEVICE)
    return step.build(cfg, sharding.make_mesh(cfg.mesh_shape, jax.devices()[:1]))


def _variables(tree):
    return jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, nnx.Variable))


def test_state_shardings_follow_the_table_for_params_and_moments(setup):
    params = _variables(setup.shardings.params)
    assert params and all(v.value.spec == sharding.spec(v.kind) for v in params)
    moments = [v for v in _variables(setup.shardings.opt_state) if isinstance(v, nnx.Variable)]
    assert len(moments) == 2 * len(params), "Adam mu and nu mirror every parameter"
    assert all(v.value.spec == sharding.spec(v.kind) for v in moments)
    assert setup.shardings.step.spec == P()


def test_train_step_is_pure_and_donates_the_old_state(setup):
    batch = setup.put_batch(next(data.make(setup.cfg)))
    state = setup.init()
    before = jax.tree.map(lambda x: np.array(x, copy=True), state)  # no zero-copy views
    new_state, metrics = setup.train_step(state, batch)
    assert int(new_state.step) == 1
    assert {"loss", "ce", "lb_loss", "grad_norm", "lr"} <= set(metrics)
    assert np.isfinite(float(metrics["loss"]))
    leaf = jax.tree.leaves(state.params)[0]
    assert leaf.is_deleted(), "the old state's buffers are donated to the new one"
    # Same inputs, same outputs: rebuild the old state from the host copy and step again.
    again = jax.device_put(before, setup.shardings)
    _, metrics2 = setup.train_step(again, batch)
    assert float(metrics2["loss"]) == float(metrics["loss"])


def test_abstract_params_allocate_nothing():
    _, params = step.abstract_params(config.make("moe_64x8"))
    leaves = jax.tree.leaves(params)
    assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
    assert max(np.prod(x.shape) for x in leaves) == 64 * 4096 * 1408
