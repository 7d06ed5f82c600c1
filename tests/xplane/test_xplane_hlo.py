"""HLO modules taken out of the /host:metadata plane."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xdiag.xplane.hlo import hlo_modules, hlo_text, module_name_and_id, unwrap_hlo_proto
from xdiag.xplane.reader import read_xspace


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
            texts[p] = m.text()
        assert f"%{oname} = " in texts[p] or f"%{oname}." in texts[p], oname
    return mods


def test_real_capture_modules(real_capture: Path) -> None:
    mods = _check_modules_match_events(real_capture)
    step = [m for m in mods if m.name == "jit_train_step"]
    assert len(step) == 1
    text = step[0].text()
    assert text.startswith("HloModule jit_train_step")
    assert "ENTRY" in text and " dot(" in text
    assert step[0].metadata_name == f"jit_train_step({step[0].program_id})"


def test_golden_capture_modules(cpu_small: Path) -> None:
    mods = _check_modules_match_events(cpu_small)
    assert {(m.name, m.program_id) for m in mods} >= {("jit_train_step", 10)}
    for m in mods:
        assert module_name_and_id(m.proto)[0] == m.name
        assert hlo_text(m.proto).startswith(f"HloModule {m.name}")


def test_synthetic_modules(synth_small: Path) -> None:
    mods = _check_modules_match_events(synth_small)
    assert [m.name for m in mods] == ["jit_train_step"]
    assert "while(" in mods[0].text()


def test_hlo_text_accepts_the_hlo_proto_wrapper(cpu_small: Path) -> None:
    cols = read_xspace(cpu_small)
    meta = cols.plane("/host:metadata")
    wrapped = next(s["Hlo Proto"] for s in meta.event_metadata.stats if "Hlo Proto" in s)
    assert unwrap_hlo_proto(wrapped) != wrapped
    assert hlo_text(wrapped) == hlo_text(unwrap_hlo_proto(wrapped))


def test_hlo_text_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        hlo_text(np.arange(50, dtype=np.uint8).tobytes())
