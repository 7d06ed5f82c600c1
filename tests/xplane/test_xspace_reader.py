"""read_xspace against jax.profiler.ProfileData (the C++ parser) and on hand-made edge cases."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest
from full_reader import KIND_REF, XSpaceColumns, read_xspace
from jax.profiler import ProfileData

from xdiag.xplane.xplane_pb2 import XSpace


def _reference(path: Path) -> list[tuple[str, list[tuple[str, list[tuple]]]]]:
    """[(plane name, [(line name, [(name, start_ns, duration_ns, stats)])])] from ProfileData."""
    out = []
    for plane in ProfileData.from_file(str(path)).planes:
        lines = []
        for line in plane.lines:
            events = []
            for e in line.events:
                try:
                    stats = dict(e.stats)
                except UnicodeDecodeError:  # ProfileData cannot decode bytes stats
                    stats = None
                events.append((e.name, int(e.start_ns), int(e.duration_ns), stats))
            lines.append((line.name, events))
        out.append((plane.name, lines))
    return out


def _assert_matches_reference(cols: XSpaceColumns, path: Path) -> int:
    """Checks every plane, line and event against ProfileData; returns the event count."""
    ref = _reference(path)
    assert [p.name for p in cols.planes] == [name for name, _ in ref]
    codes, table = cols.event_names()
    ev = cols.events
    # ProfileData truncates to whole nanoseconds.
    start_ns = cols.t0_ns + ev.start_ps // 1000
    dur_ns = ev.duration_ps // 1000
    total = 0
    for plane, (_, ref_lines) in zip(cols.planes, ref, strict=True):
        assert plane.line_stop - plane.line_start == len(ref_lines)
        for li, (ref_name, ref_events) in zip(
            range(plane.line_start, plane.line_stop), ref_lines, strict=True
        ):
            assert cols.lines.names[li] == ref_name
            e0, e1 = int(cols.lines.event_start[li]), int(cols.lines.event_stop[li])
            assert e1 - e0 == len(ref_events), f"line {ref_name}: event count"
            assert [table[c] for c in codes[e0:e1]] == [r[0] for r in ref_events]
            assert start_ns[e0:e1].tolist() == [r[1] for r in ref_events]
            assert dur_ns[e0:e1].tolist() == [r[2] for r in ref_events]
            for i, r in zip(range(e0, e1), ref_events, strict=True):
                if r[3] is not None:
                    assert cols.event_stats(i, metadata=False) == r[3], f"event {i} stats"
            total += e1 - e0
    assert total == len(ev)
    return total


def _check_event_stat(cols: XSpaceColumns, name: str) -> None:
    """The vectorised event_stat agrees with per-event decoding."""
    values, present = cols.event_stat(name)
    codes, table, present2 = cols.event_stat_codes(name)
    assert np.array_equal(present, present2)
    for i in range(len(cols.events)):
        stats = cols.event_stats(i)
        assert present[i] == (name in stats)
        if present[i]:
            assert values[i] == stats[name]
            assert table[codes[i]] == stats[name]


def test_real_capture_matches_profile_data(real_capture: Path) -> None:
    cols = read_xspace(real_capture)
    n = _assert_matches_reference(cols, real_capture)
    assert n > 500
    cpu = cols.plane("/host:CPU")
    assert cpu is not None
    ordinal, has = cols.event_stat("device_ordinal")
    assert set(ordinal[has].tolist()) == set(range(8))
    ops, has_op = cols.event_stat("hlo_op")
    assert has_op.sum() > 0 and all(isinstance(v, str) and v for v in ops[has_op])
    steps, has_step = cols.event_stat("step_num")
    assert has_step.sum() >= 2 and np.all(np.diff(steps[has_step]) > 0)
    for name in ("hlo_op", "hlo_module", "program_id", "device_ordinal", "step_num"):
        _check_event_stat(cols, name)


def test_golden_capture_matches_profile_data(cpu_small: Path) -> None:
    cols = read_xspace(cpu_small)
    assert _assert_matches_reference(cols, cpu_small) == 1810
    assert [p.name for p in cols.planes] == ["/host:metadata", "/host:CPU", "Task Environment"]
    assert cols.hostnames == ["vm"]
    assert cols.planes[0].stats["process_id"] > 0
    env = cols.plane("Task Environment")
    assert env.stats["profile_stop_time"] > env.stats["profile_start_time"]
    ordinal, has = cols.event_stat("device_ordinal")
    assert np.bincount(ordinal[has]).tolist() == [45, 40, 45, 45, 45, 40, 45, 45]
    for name in ("hlo_op", "hlo_module", "program_id", "run_id", "_src"):
        _check_event_stat(cols, name)


def test_synthetic_matches_profile_data(synth_small: Path) -> None:
    cols = read_xspace(synth_small)
    assert _assert_matches_reference(cols, synth_small) == 20_000
    _check_event_stat(cols, "hlo_op")
    _check_event_stat(cols, "device_ordinal")


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "mmap", "path", "str"])
def test_accepts_buffers_and_paths(cpu_small: Path, kind: str) -> None:
    raw = cpu_small.read_bytes()
    if kind == "mmap":
        with open(cpu_small, "rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    else:
        data = {
            "bytes": raw,
            "bytearray": bytearray(raw),
            "memoryview": memoryview(raw),
            "path": cpu_small,
            "str": str(cpu_small),
        }[kind]
    cols = read_xspace(data)
    assert len(cols.events) == 1810
    src, has = cols.event_stat("_src")  # ref strings
    assert has.any() and all(isinstance(s, str) and "/" in s for s in src[has])


def _handmade() -> bytes:
    """Two planes exercising every stat kind, metadata stats, aggregation and refs."""
    space = XSpace(hostnames=["h1"], errors=["e1"])
    gpu = space.planes.add(id=7, name="/device:GPU:0")
    for i, name in enumerate(["flops", "tag", "hello", "blob", "ratio", "big", "neg"], 1):
        gpu.stat_metadata[i].id = i
        gpu.stat_metadata[i].name = name
    k1 = gpu.event_metadata[10]
    k1.id, k1.name, k1.display_name = 10, "kernel1", "K1"
    k1.stats.add(metadata_id=1, int64_value=99)
    k1.stats.add(metadata_id=2, ref_value=3)
    k2 = gpu.event_metadata[11]
    k2.id, k2.name = 11, "kernel2"
    gpu.stats.add(metadata_id=5, double_value=0.5)
    line = gpu.lines.add(
        id=1, name="stream#1", display_name="Stream 1", timestamp_ns=1_700_000_000_000_000_000
    )
    e = line.events.add(metadata_id=10, offset_ps=1_500, duration_ps=2_500)
    e.stats.add(metadata_id=2, str_value="own")
    line.events.add(metadata_id=10, num_occurrences=4, duration_ps=10)
    e = line.events.add(metadata_id=11, offset_ps=5_000, duration_ps=1)
    e.stats.add(metadata_id=4, bytes_value=b"\x00\xff")
    e.stats.add(metadata_id=5, double_value=2.5)
    e.stats.add(metadata_id=6, uint64_value=2**64 - 1)
    e.stats.add(metadata_id=7, int64_value=-3)
    e.stats.add(metadata_id=2, str_value="own")  # same string again: interned once
    e = line.events.add(metadata_id=99, offset_ps=6_000)  # unknown metadata id
    e.stats.add(metadata_id=1, uint64_value=5)
    cpu = space.planes.add(id=8, name="/host:CPU")
    cpu.stat_metadata[1].id, cpu.stat_metadata[1].name = 1, "tag"
    cpu.stat_metadata[2].id, cpu.stat_metadata[2].name = 2, "hello"  # same name, other plane
    cpu.event_metadata[1].id, cpu.event_metadata[1].name = 1, "kernel1"
    cl = cpu.lines.add(id=2, name="thread", timestamp_ns=1_700_000_000_000_000_100)
    cl.events.add(metadata_id=1, offset_ps=0, duration_ps=7).stats.add(metadata_id=1, ref_value=2)
    cpu.lines.add(id=3, name="empty", timestamp_ns=0)  # no events: must not move t0
    return space.SerializeToString()


def test_handmade_edge_cases() -> None:
    data = _handmade()
    cols = read_xspace(data)
    assert cols.hostnames == ["h1"] and cols.errors == ["e1"]
    assert cols.t0_ns == 1_700_000_000_000_000_000
    assert cols.events.start_ps.tolist() == [1_500, 0, 5_000, 6_000, 100_000]
    assert cols.events.aggregated.tolist() == [False, True, False, False, False]
    assert cols.events.num_occurrences.tolist() == [0, 4, 0, 0, 0]
    assert cols.events.offset_ps.tolist() == [1_500, 0, 5_000, 6_000, 0]
    codes, table = cols.event_names()
    assert [table[c] for c in codes] == ["kernel1", "kernel1", "kernel2", "", "kernel1"]
    gpu = cols.planes[0]
    assert gpu.stats == {"ratio": 0.5}
    assert gpu.event_metadata.display_names[gpu.event_metadata.get(10)] == "K1"
    assert gpu.event_metadata.get(12345) == -1

    # Own stats win over metadata stats; metadata stats fill the rest.
    tag, has = cols.event_stat("tag")
    assert tag.tolist() == ["own", "hello", "own", None, "hello"]
    assert has.tolist() == [True, True, True, False, True]
    flops, has = cols.event_stat("flops")
    assert flops.dtype == np.int64 and flops.tolist() == [99, 99, 0, 5, 0]
    assert has.tolist() == [True, True, False, True, False]
    big, has = cols.event_stat("big")
    assert big.dtype == np.uint64 and int(big[2]) == 2**64 - 1 and has.sum() == 1
    neg, _ = cols.event_stat("neg")
    assert neg.dtype == np.int64 and neg[2] == -3
    ratio, has = cols.event_stat("ratio")
    assert ratio.dtype == np.float64 and ratio[2] == 2.5 and np.isnan(ratio[0])
    blob, has = cols.event_stat("blob")
    assert blob[2] == b"\x00\xff" and has.sum() == 1
    missing, has = cols.event_stat("nope")
    assert not has.any() and missing.dtype == np.int64
    assert cols.event_stats(2) == {
        "blob": b"\x00\xff",
        "ratio": 2.5,
        "big": 2**64 - 1,
        "neg": -3,
        "tag": "own",
    }
    assert cols.event_stats(0) == {"flops": 99, "tag": "own"}
    assert cols.event_stats(0, metadata=False) == {"tag": "own"}
    assert int(cols.stats.kind[cols.events.stat_start[4]]) == KIND_REF

    codes, table, present = cols.event_stat_codes("tag")
    assert codes[0] == codes[2] and table[codes[0]] == "own" and codes[3] == -1
    assert present.tolist() == [True, True, True, False, True]

    # ProfileData agrees on the event-level view.
    ref = ProfileData.from_serialized_xspace(data)
    assert [len(list(line.events)) for p in ref.planes for line in p.lines] == [4, 1, 0]


def test_unknown_fields_are_skipped() -> None:
    """Fields we do not know, of every wire type, at every level, change nothing."""
    data = _handmade()
    base = read_xspace(data)
    space = XSpace.FromString(data)
    junk = b"\xf8\x07\x05" + b"\xf9\x07" + b"\x01" * 8 + b"\xfa\x07\x02ab" + b"\xfd\x07abcd"
    junk += b"\xfb\x07" + b"\x08\x01" + b"\xfc\x07"  # a group (wire types 3/4) holding a varint
    for p in space.planes:
        p.stats.add().MergeFromString(b"\x08\x05" + junk)
        for line in p.lines:
            for e in line.events:
                e.MergeFromString(junk)
                for st in e.stats:
                    st.MergeFromString(junk)
            line.MergeFromString(junk)
        p.MergeFromString(junk)
    space.MergeFromString(junk)
    cols = read_xspace(space.SerializeToString())
    for col in ("metadata_id", "offset_ps", "duration_ps", "start_ps", "stat_count"):
        assert np.array_equal(getattr(cols.events, col), getattr(base.events, col)), col
    assert cols.event_stat("tag")[0].tolist() == base.event_stat("tag")[0].tolist()
    assert cols.lines.names == base.lines.names


def test_large_absolute_timestamps_do_not_overflow() -> None:
    space = XSpace()
    p = space.planes.add(name="/host:CPU")
    p.event_metadata[1].name = "x"
    for i, ts in enumerate([1_800_000_000_000_000_000, 1_800_000_000_000_000_000 + 10**9]):
        p.lines.add(id=i, name=f"t{i}", timestamp_ns=ts).events.add(
            metadata_id=1, offset_ps=10**12, duration_ps=1
        )
    cols = read_xspace(space.SerializeToString())
    assert cols.t0_ns == 1_800_000_000_000_000_000
    assert cols.events.start_ps.tolist() == [10**12, 10**9 * 1000 + 10**12]


def test_stats_filter_keeps_only_named_stats(cpu_small: Path) -> None:
    full = read_xspace(cpu_small)
    some = read_xspace(cpu_small, stats=["hlo_op", "device_ordinal", "absent"])
    assert 0 < len(some.stats) < len(full.stats)
    for name in ("hlo_op", "device_ordinal"):
        a, has_a = full.event_stat(name)
        b, has_b = some.event_stat(name)
        assert np.array_equal(has_a, has_b) and list(a[has_a]) == list(b[has_b])
    assert not some.event_stat("_src")[1].any()
    assert np.array_equal(full.events.start_ps, some.events.start_ps)
    none = read_xspace(cpu_small, stats=[])
    assert len(none.stats) == 0 and not none.events.stat_count.any()
    # Event-metadata stats stay available with any filter.
    data = _handmade()
    assert read_xspace(data, stats=[]).event_stat("flops")[0].tolist() == [99, 99, 0, 0, 0]


def test_analysis_skips_aggregated_events_and_maps_ids_back() -> None:
    """An aggregated event (num_occurrences, no time) is counted but not on the timeline,
    and the timeline's event ids still point at the reader's rows."""
    from xdiag.analysis.event_stats import ANALYSED_STATS
    from xdiag.analysis.host import analyse_host
    from xdiag.xplane.lean import read_xspace_lean

    data = _handmade()
    full = read_xspace(data)
    h = analyse_host(read_xspace_lean(data, stats=ANALYSED_STATS), full.t0_ns)
    assert h.num_events == 5 and h.aggregated_events == 1 and h.index.num_events == 4
    src = np.sort(h.index.ev_src)
    assert src.tolist() == [0, 2, 3, 4]  # row 1 is the aggregated one
    order = np.argsort(h.index.ev_src)
    assert h.index.ev_start[order].tolist() == [1, 5, 6, 100]  # ps floored to ns
    assert h.index.ev_end[order].tolist() == [4, 6, 6, 101]  # ends rounded up
