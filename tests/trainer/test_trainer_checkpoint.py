"""checkpoint.py + loop.run: an interrupted, resumed run equals an uninterrupted one."""

import jax
import numpy as np
import pytest

from trainer import checkpoint, config, loop

ONE_DEVICE = dict(mesh_data=1, mesh_fsdp=1, mesh_expert=1)
STEPS = 7


def _interrupt_after(step):
    def on_step(s, _):
        if s == step:
            raise KeyboardInterrupt  # what SIGTERM / Ctrl-C turn into
    return on_step


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    ckdir = str(tmp_path_factory.mktemp("ck"))
    devices = jax.devices()[:1]
    full = loop.run(config.make("tiny", steps=STEPS, **ONE_DEVICE), devices=devices)
    saving = config.make("tiny", steps=STEPS, checkpoint_dir=ckdir, checkpoint_every=2,
                         keep_checkpoints=2, **ONE_DEVICE)
    # Metrics are fetched one step late: when step 3 is logged, step 4 is already
    # dispatched, so the interrupted run checkpoints step 4 on its way out.
    interrupted = loop.run(saving, devices=devices, on_step=_interrupt_after(3))
    resumed = loop.run(saving, resume=True, devices=devices)
    return full, interrupted, resumed, ckdir


def test_interrupted_then_resumed_run_repeats_the_loss_sequence(runs):
    full, interrupted, resumed, _ = runs
    assert [m["step"] for m in interrupted] == [1, 2, 3]
    assert [m["step"] for m in resumed] == [5, 6, 7], "resume starts after the saved step 4"
    # Identical, not merely close: same compiled step, same data position, same bits.
    losses = {m["step"]: m["loss"] for m in full}
    np.testing.assert_array_equal([m["loss"] for m in interrupted + resumed],
                                  [losses[s] for s in (1, 2, 3, 5, 6, 7)])
    assert len(set(losses.values())) == STEPS, "training must move the loss"


def test_keeps_only_the_last_k_and_the_data_position(runs):
    *_, ckdir = runs
    ck = checkpoint.Checkpointer(ckdir, every=2, keep=2)
    try:
        assert ck.all_steps() == [6, 7], "saved 2, 4, 6 and the final 7; last two kept"
        setup = _setup()
        state, data_state = ck.restore(7, setup.abstract_state, setup.shardings)
        assert int(state.step) == 7
        assert data_state["step"] == 7
        assert sum(data_state["consumed"]) == 7 * config.make("tiny").global_batch
    finally:
        ck.close()


def _setup():
    from trainer import sharding, step

    cfg = config.make("tiny", **ONE_DEVICE)
    return step.build(cfg, sharding.make_mesh(cfg.mesh_shape, jax.devices()[:1]))


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    cfg = config.make("tiny", steps=1, checkpoint_dir=str(tmp_path / "none"), **ONE_DEVICE)
    history = loop.run(cfg, resume=True, devices=jax.devices()[:1])
    assert [m["step"] for m in history] == [1]
