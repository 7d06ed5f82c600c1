"""sharding.py: the one table, the mesh, and 8-device training == 1-device training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from trainer import config, loop, sharding, step

REPO = Path(__file__).resolve().parents[2]
# Same seed, same data: the 8-device run differs from the 1-device run only in
# the order of float32 reductions (psum, reduce-scatter), amplified a little by
# Adam over a few steps. Observed relative differences are ~1e-6.
LOSS_RTOL = 1e-4
STEPS = 4


def _kinds(params):
    leaves = jax.tree.leaves(params, is_leaf=lambda x: isinstance(x, nnx.Variable))
    return {(v.kind, v.value.shape) for v in leaves}


@pytest.mark.parametrize("preset", ["tiny", "demo", "moe_64x8"])
def test_every_parameter_kind_has_a_fitting_rule(preset):
    cfg = config.make(preset)
    _, params = step.abstract_params(cfg)
    sizes = {"data": 2, "fsdp": 2, "expert": 2, "tensor": 1}
    if preset == "moe_64x8":
        sizes = {"data": 1, "fsdp": 8, "expert": 8, "tensor": 4}
    for kind, shape in _kinds(params):
        spec = sharding.spec(kind)
        assert len(spec) <= len(shape), (kind, shape)
        for dim, axes in zip(shape, spec, strict=False):
            axes = (axes,) if isinstance(axes, str) else (axes or ())
            split = int(np.prod([sizes[a] for a in axes]))
            assert dim % split == 0, f"{kind} dim {dim} does not split over {axes}"


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match="expert_in"):
        sharding.spec("moe_in")


def test_make_mesh_fills_one_axis_and_rejects_bad_shapes():
    one = jax.devices()[:1]
    mesh = sharding.make_mesh({"data": -1, "fsdp": 1, "expert": 1, "tensor": 1}, one)
    assert dict(mesh.shape) == {"data": 1, "fsdp": 1, "expert": 1, "tensor": 1}
    with pytest.raises(ValueError, match="needs 4 devices"):
        sharding.make_mesh({"data": 1, "fsdp": 2, "expert": 2, "tensor": 1}, one)
    with pytest.raises(ValueError, match="multiple of 2"):
        sharding.make_mesh({"data": -1, "fsdp": 2, "expert": 1, "tensor": 1}, one)


def test_param_specs_follow_the_table():
    _, params = step.abstract_params(config.make("tiny"))
    specs = sharding.param_specs(params)
    block = specs["blocks"][1]["ffn"]
    assert block["w_gate_ExDxF"] == sharding.TABLE["expert_in"]
    assert specs["embed_VxD"] == sharding.TABLE["embed"]
    assert sharding.inside_shard_map("expert_in") == jax.sharding.PartitionSpec(
        "expert", None, "tensor")


def test_eight_device_mesh_trains_like_one_device(tmp_path):
    """The CLI on 8 simulated devices (subprocess) vs an in-process 1-device run."""
    metrics = tmp_path / "eight.jsonl"
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainer.train", "--preset", "tiny", "--steps", str(STEPS),
         "--metrics-file", str(metrics), "--mesh-data", "2", "--mesh-fsdp", "2",
         "--mesh-expert", "2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # meanwhile, the same run on one device in this process
        one = loop.run(config.make("tiny", steps=STEPS, mesh_data=1, mesh_fsdp=1,
                                   mesh_expert=1), devices=jax.devices()[:1])
        out, _ = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "{'data': 2, 'fsdp': 2, 'expert': 2, 'tensor': 1} on 8 x" in out
    assert f"step {STEPS:5d} | loss" in out
    eight = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [m["step"] for m in eight] == [m["step"] for m in one] == list(range(1, STEPS + 1))
    for key in ("loss", "ce", "lb_loss", "grad_norm"):
        np.testing.assert_allclose([m[key] for m in eight], [m[key] for m in one],
                                   rtol=LOSS_RTOL, err_msg=key)
    losses = [m["loss"] for m in one]
    assert len(set(losses)) == STEPS, "the parameters must actually change between steps"
