"""Event search (`ProfileData.search`) against jax.profiler.ProfileData, the C++ reference
parser: the same matches by name, and no XLA:CPU "end: <op>" completion markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import FIXTURES

from xdiag.config import Settings
from xdiag.services import Services

SMALL = FIXTURES / "cpu_small.xplane.pb"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    from xdiag import intake

    svc = Services(Settings(store=str(tmp_path_factory.mktemp("search") / "store"),
                            ingest_inline=True))
    rec = intake.store_session(svc.store, svc.profiles, run="r", session="s",
                               files=[intake.HostFile("h0", Path(SMALL))], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    return svc.views.get(rec)


@pytest.fixture(scope="module")
def names() -> list[str]:
    from jax.profiler import ProfileData

    pd = ProfileData.from_file(str(SMALL))
    return [ev.name for plane in pd.planes for line in plane.lines for ev in line.events]


def test_end_markers_exist_in_the_capture_but_are_never_listed(data, names) -> None:
    ends = [n for n in names if n.startswith("end:")]
    assert len(ends) > 100  # XLA:CPU writes one per completed op on a runtime thread
    for q in ("end:", "end: ynn", "ynn_fusion", "fusion", "e"):
        page = data.search(q, None, 1000)
        expect = sum(q.lower() in n.lower() and not n.startswith("end:") for n in names)
        assert page["total"] == expect, q
        assert not any(m["name"].startswith("end:") for m in page["matches"]), q
        assert len(page["matches"]) == min(expect, 1000)


def test_an_op_is_found_once_per_execution(data, names) -> None:
    # `ynn_fusion.2` ran once per device per step; its end markers would double the count.
    page = data.search("ynn_fusion.2", None, 1000)
    assert page["total"] == names.count("ynn_fusion.2") > 0
    assert {m["name"] for m in page["matches"]} == {"ynn_fusion.2"}
