"""Event search (`ProfileData.search`) against jax.profiler.ProfileData, the C++ reference
parser: the same matches by name, and no XLA:CPU "end: <op>" completion markers."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import FIXTURES

from xdiag.core.config import Settings
from xdiag.server.services import Services
from xdiag.serving.search import search as search_events

SMALL = FIXTURES / "cpu_small.xplane.pb"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    from xdiag.pipeline import admit

    svc = Services(Settings(store=str(tmp_path_factory.mktemp("search") / "store"),
                            ingest_inline=True))
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h0", Path(SMALL))], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    return svc.views.get(rec)


@pytest.fixture(scope="module")
def names() -> list[str]:
    from jax.profiler import ProfileData

    pd = ProfileData.from_file(str(SMALL))
    return [ev.name for plane in pd.planes for line in plane.lines for ev in line.events]


@pytest.fixture(scope="module")
def scopes() -> dict[str, str]:
    """Each HLO instruction's framework name stack (metadata op_name), read with protobuf's
    own parser from the modules the profiler embedded in the metadata plane."""
    from xdiag.analysis.hlo.proto import hlo_pb2
    from xdiag.xplane import xplane_pb2

    space = xplane_pb2.XSpace.FromString(Path(SMALL).read_bytes())
    out: dict[str, str] = {}
    for plane in space.planes:
        if plane.name != "/host:metadata":
            continue
        stat_names = {k: v.name for k, v in plane.stat_metadata.items()}
        for md in plane.event_metadata.values():
            for st in md.stats:
                if stat_names.get(st.metadata_id) == "Hlo Proto":
                    proto = hlo_pb2.HloProto.FromString(st.bytes_value)
                    for comp in proto.hlo_module.computations:
                        for ins in comp.instructions:
                            if ins.metadata.op_name:
                                out.setdefault(ins.name, ins.metadata.op_name)
    assert out
    return out


def _expect(q: str, names: list[str], scopes: dict[str, str]) -> int:
    q = q.lower()
    return sum((q in n.lower() or q in scopes.get(n, "").lower()) and not n.startswith("end:")
               for n in names)


def test_end_markers_exist_in_the_capture_but_are_never_listed(data, names, scopes) -> None:
    ends = [n for n in names if n.startswith("end:")]
    assert len(ends) > 100  # XLA:CPU writes one per completed op on a runtime thread
    for q in ("end:", "end: ynn", "ynn_fusion", "fusion", "e"):
        page = search_events(data, q, None, 1000)
        expect = _expect(q, names, scopes)
        assert page["total"] == expect, q
        assert not any(m["name"].startswith("end:") for m in page["matches"]), q
        assert len(page["matches"]) == min(expect, 1000)


def test_ops_are_found_by_their_named_scope(data, names, scopes) -> None:
    """A word of the JAX name stack (a named scope, a jitted function) finds the ops under
    it, whose HLO names do not contain it; each such match carries its scope."""
    ran = {n for n in names if n in scopes}
    word = next(w for n in sorted(ran) for w in scopes[n].replace("(", "/").split("/")
                if len(w) > 4 and w.isidentifier() and not any(w in r for r in ran))
    page = search_events(data, word, None, 1000)
    assert page["total"] == _expect(word, names, scopes) > 0
    for m in page["matches"]:
        assert word in m["scope"] and m["scope"] == scopes[m["name"]]


def test_an_op_is_found_once_per_execution(data, names) -> None:
    # `ynn_fusion.2` ran once per device per step; its end markers would double the count.
    page = search_events(data, "ynn_fusion.2", None, 1000)
    assert page["total"] == names.count("ynn_fusion.2") > 0
    assert {m["name"] for m in page["matches"]} == {"ynn_fusion.2"}
