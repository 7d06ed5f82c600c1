"""Ingest lets go of what it no longer reads (issue 18: the service's peak memory).

No timing or memory-size thresholds: what is checked is that nothing keeps a reference
to the per-event columns once the analysis is past them (weak references, so a column
kept alive by any path, a cycle included, fails the test):
- the parse admission hands to the ingest (`pipeline/handoff.py`): its per-event
  columns are gone before the timeline index is built, the whole parse by the end;
- the index build's inputs (times, tracks, lines) are gone once the slices are sorted;
- the op table's per-event stats are gone before the step table (ingest's peak);
- the step table's own per-op columns are gone before its last union.
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest
from support import FIXTURES

from xdiag.analysis import device_steps, op_table, step_table, timeline
from xdiag.core import heap
from xdiag.core.config import Settings
from xdiag.pipeline import admit
from xdiag.server.services import Services

SMALL = FIXTURES / "cpu_small.xplane.pb"


def _base(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _refs(arrays) -> list[weakref.ref]:
    return [weakref.ref(_base(a)) for a in arrays if isinstance(a, np.ndarray) and a.size]


def _alive(refs: list[weakref.ref]) -> int:
    return sum(r() is not None for r in refs)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory):
    """One upload of the fixture through admission, the hand-off and the ingest, with
    what each stage still holds of the earlier stages' columns noted."""
    mp = pytest.MonkeyPatch()
    svc = Services(Settings(store=str(tmp_path_factory.mktemp("mem") / "store"),
                            ingest_inline=True,  # peaks given: no host probe
                            host_peaks="matmul_gflops=100,memcpy_gbps=20"))
    seen: dict = {}
    put = svc.handoff.put

    def handoff_put(key: str, size: int, cols) -> None:
        ev = cols.events
        seen["cols"] = weakref.ref(cols)
        seen["events"] = _refs([ev.start_ps, ev.duration_ps, ev.line, ev.metadata_id])
        put(key, size, cols)

    def wrap(mod, name, check):
        orig = getattr(mod, name)

        def wrapped(*args, **kw):
            check(*args, **kw)
            return orig(*args, **kw)
        mp.setattr(mod, name, wrapped)

    def at_index(moved, *args, **kw) -> None:
        seen.setdefault("events_at_index", _alive(seen["events"]))
        seen["moved"] = _refs([moved[k] for k in ("track", "start_ns", "end_ns", "lines")])

    def at_lod(*args) -> None:
        seen.setdefault("moved_at_lod", _alive(seen["moved"]))

    def at_op_table(es, *args) -> None:
        seen["op_stats"] = _refs([es.names[0], es.hlo_op[0], es.hlo_op[2],
                                  es.hlo_module[0], es.hlo_module[2]])

    def at_step_table(*args) -> None:
        seen["op_stats_at_steps"] = _alive(seen["op_stats"])

    def at_steps_union(*args) -> None:
        units = args[5]
        seen["units_cleared"] = all(set(u) <= {"device", "program_flops"} for u in units)

    try:
        mp.setattr(svc.handoff, "put", handoff_put)
        wrap(timeline, "build_moved", at_index)
        wrap(timeline, "build_lod", at_lod)
        wrap(op_table, "build", at_op_table)
        wrap(step_table, "build", at_step_table)
        orig_union = device_steps.intervals.union

        def union(s, e):
            if "units" in seen:
                at_steps_union(*seen["units"])
            return orig_union(s, e)
        orig_table = device_steps.table

        def table(*args):
            seen["units"] = args
            try:
                return orig_table(*args)
            finally:
                seen.pop("units", None)
        mp.setattr(device_steps, "table", table)
        rec = svc.admission.store_session(run="r", session="s",
                                          files=[admit.HostFile("h0", SMALL)],
                                          source="upload")
        # The last union of the table (all devices' busy time) is where the step
        # table's per-op columns must be gone: note the state at every union.
        mp.setattr(device_steps.intervals, "union", union)
        rec = svc.ingest.run(rec["id"], inline=True)
    finally:
        mp.undo()
    assert rec["status"] == "ready", rec.get("error")
    return svc, rec, seen


def test_the_handed_off_parse_is_freed(traced) -> None:
    svc, _, seen = traced
    assert seen["events"], "admission handed no parse to the ingest"
    # Before the index (the per-event columns of the parse: ~140 MB at 3M events) ...
    assert seen["events_at_index"] == 0
    # ... and after the ingest nothing holds the parse, nor the hand-off slot.
    assert seen["cols"]() is None
    assert svc.handoff.take("any", None) is None


def test_the_index_inputs_are_freed_once_sorted(traced) -> None:
    """Times, tracks and lines of the events are moved into the index build, which lets
    go of them once the slices are sorted, before the level-of-detail blocks."""
    _, _, seen = traced
    assert len(seen["moved"]) == 4
    assert seen["moved_at_lod"] == 0


def test_op_table_stats_are_freed_before_the_step_table(traced) -> None:
    _, _, seen = traced
    assert seen["op_stats"]
    assert seen["op_stats_at_steps"] == 0


def test_step_table_reads_its_per_op_columns_once(traced) -> None:
    _, _, seen = traced
    # Each device's columns were dropped as the table read them (the last union, over
    # every device's busy time, runs without them).
    assert seen["units_cleared"] is True


def test_heap_release_on_glibc() -> None:
    import platform

    assert heap.release() is (platform.libc_ver()[0] == "glibc")


def test_heap_arenas_limited_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert heap.limit_arenas() is (platform.libc_ver()[0] == "glibc")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the environment's choice is kept
    assert heap.limit_arenas() is False
