"""Physics and bookkeeping invariants (tests/physics.py) over every fixture: a CPU
capture, the H100 trainer capture and a synthetic multi-device profile."""

from __future__ import annotations

import gzip
from pathlib import Path

import physics
import pytest
from support import FIXTURES

from xdiag.core.config import Settings
from xdiag.server.services import Services


def _profile(tmp_path: Path, name: str) -> Path:
    if name == "cpu_small":
        return FIXTURES / "cpu_small.xplane.pb"
    if name == "h100_trainer":
        path = tmp_path / "h100.xplane.pb"
        path.write_bytes(gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes()))
        return path
    from xdiag.xplane.synth import write_synthetic_xspace

    path = tmp_path / "synth.xplane.pb"
    write_synthetic_xspace(path, 60_000, n_devices=4, seed=11)
    return path


@pytest.mark.parametrize("name", ["cpu_small", "h100_trainer", "synthetic"])
def test_invariants_hold_on_every_fixture(name: str, tmp_path: Path) -> None:
    from xdiag.pipeline import admit

    svc = Services(Settings(store=str(tmp_path / "store"), ingest_inline=True))
    rec = svc.admission.store_session(run="p", session="s",
                               files=[admit.HostFile("h0", _profile(tmp_path, name))],
                               source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    data = svc.views.get(rec)
    seen = physics.check(data)
    physics.check_diff_with_itself(data)
    assert seen["devices"] >= 1 and seen["points"] > 0
    print(name, seen)
