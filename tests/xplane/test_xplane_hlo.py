"""HLO modules taken out of the /host:metadata plane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from full_reader import read_xspace

from xdiag.xplane.hlo import hlo_modules, module_name_and_id, unwrap_hlo_proto


def xla_text(module_proto: bytes) -> str:
    """XLA's own printer (through jax), the oracle: what we take out of a profile is a
    module XLA itself reads, and its text names every op the events name."""
    from jax._src.lib import xla_client

    return xla_client.hlo.HloModule.from_serialized_hlo_module_proto(
        bytes(module_proto)).to_string()


def _check_modules_match_events(path: Path) -> list:
    cols = read_xspace(path)
    mods = hlo_modules(cols)
    assert mods, "no HLO modules found"
    by_id = {m.program_id: m for m in mods}
    assert len(by_id) == len(mods)
    pid, _ = cols.event_stat("program_id")
    module, _ = cols.event_stat("hlo_module")
    op, has_op = cols.event_stat("hlo_op")
    assert has_op.any()
    # Every op event names a module we extracted, and an instruction in its text.
    texts = {}
    for p, mname, oname in zip(pid[has_op], module[has_op], op[has_op], strict=True):
        m = by_id[int(p)]
        assert m.name == mname
        if p not in texts:
            texts[p] = xla_text(m.proto)
        assert f"%{oname} = " in texts[p] or f"%{oname}." in texts[p], oname
    return mods


def test_real_capture_modules(real_capture: Path) -> None:
    mods = _check_modules_match_events(real_capture)
    step = [m for m in mods if m.name == "jit_train_step"]
    assert len(step) == 1
    text = xla_text(step[0].proto)
    assert text.startswith("HloModule jit_train_step")
    assert "ENTRY" in text and " dot(" in text
    assert step[0].metadata_name == f"jit_train_step({step[0].program_id})"


def test_golden_capture_modules(cpu_small: Path) -> None:
    mods = _check_modules_match_events(cpu_small)
    assert {(m.name, m.program_id) for m in mods} >= {("jit_train_step", 10)}
    for m in mods:
        assert module_name_and_id(m.proto)[0] == m.name
        assert xla_text(m.proto).startswith(f"HloModule {m.name}")


def test_synthetic_modules(synth_small: Path) -> None:
    mods = _check_modules_match_events(synth_small)
    assert [m.name for m in mods] == ["jit_train_step"]
    assert "while(" in xla_text(mods[0].proto)


def test_the_hlo_proto_wrapper_is_unwrapped(cpu_small: Path) -> None:
    cols = read_xspace(cpu_small)
    meta = cols.plane("/host:metadata")
    wrapped = next(s["Hlo Proto"] for s in meta.event_metadata.stats if "Hlo Proto" in s)
    module = unwrap_hlo_proto(wrapped)
    assert module != wrapped
    assert xla_text(module).startswith(f"HloModule {module_name_and_id(module)[0]}")


def test_garbage_is_not_a_module() -> None:
    with pytest.raises(ValueError):
        unwrap_hlo_proto(np.arange(50, dtype=np.uint8).tobytes())
