"""Orbax checkpoints: async save every N steps, keep the last K, exact resume.

A checkpoint at step s holds the TrainState after s updates ("state") and the
data iterator position after s batches ("data", JSON), so a resumed run sees
exactly the batches and parameters an uninterrupted run would.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Thin wrapper over `ocp.CheckpointManager` for (TrainState, data state)."""

    def __init__(self, directory: str, every: int, keep: int, async_save: bool = True):
        """Open (or create) a checkpoint directory.

        Args:
          directory: where step folders go (made absolute).
          every: save when step % every == 0.
          keep: how many recent checkpoints to keep.
          async_save: write in a background thread after the device-to-host copy.
        """
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=max(every, 1), max_to_keep=keep,
            enable_async_checkpointing=async_save, create=True)
        self.manager = ocp.CheckpointManager(os.path.abspath(directory), options=options,
                                             item_names=("state", "data"))

    def maybe_save(self, step: int, state, data_state: dict, force: bool = False) -> bool:
        """Save if `step` is on the interval (or `force`); returns whether a save started."""
        if force and step in self.manager.all_steps():
            return False
        return self.manager.save(step, force=force, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def restore(self, step: int, abstract_state, shardings) -> tuple[object, dict]:
        """Restore (state, data_state) at `step` onto the given shardings.

        Args:
          step: a saved step.
          abstract_state: tree of ShapeDtypeStructs (e.g. from jax.eval_shape).
          shardings: same-structure tree of NamedShardings.

        Returns:
          (the TrainState with arrays placed as `shardings` says, the data position).
        """
        target = jax.tree.map(
            lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
            abstract_state, shardings)
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), data=ocp.args.JsonRestore()))
        return restored["state"], dict(restored["data"])

    def wait(self) -> None:
        """Block until pending async saves are on disk."""
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
