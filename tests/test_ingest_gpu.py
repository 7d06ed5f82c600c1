"""Ingest of a real GPU capture (tests/fixtures/h100_trainer.xplane.pb.gz).

The fixture is `bench/gpu_check.sh`'s trace of two steps of the trainer's
`gpu_small` preset on one H100 (JAX 0.11.2, XLA command buffers on, our Pallas
grouped matmul). Oracles: jax.profiler.ProfileData's view of the same file.
"""

from __future__ import annotations

import collections
import gzip
import itertools
from pathlib import Path

import numpy as np
import pytest
from support import FIXTURES

from xdiag.core.config import Settings
from xdiag.server.services import Services
from xdiag.serving.events import details as event_details

GPU = FIXTURES / "h100_trainer.xplane.pb.gz"


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gpu") / "h100.xplane.pb"
    path.write_bytes(gzip.decompress(GPU.read_bytes()))
    return path


@pytest.fixture(scope="module")
def oracle(raw: Path):
    from jax.profiler import ProfileData

    planes = {}
    for plane in ProfileData.from_file(str(raw)).planes:
        planes[plane.name] = (dict(plane.stats),
                              {line.name: [(ev.name, ev.start_ns, ev.duration_ns, dict(ev.stats))
                                           for ev in line.events] for line in plane.lines})
    return planes


@pytest.fixture(scope="module")
def data(raw: Path, tmp_path_factory):
    from xdiag.pipeline import admit

    svc = Services(Settings(store=str(tmp_path_factory.mktemp("store")), ingest_inline=True))
    rec = svc.admission.store_session(run="h100", session="s",
                               files=[admit.HostFile("h0", raw)], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    return svc.views.get(rec)


def _kernels(oracle):
    _, lines = oracle["/device:GPU:0"]
    return [ev for evs in lines.values() for ev in evs if "hlo_op" in ev[3]]


def test_gpu_streams_are_op_tracks_with_every_kernel(data, oracle) -> None:
    _, lines = oracle["/device:GPU:0"]
    tracks = {t["name"]: t for t in data.tracks if t["group"] == "device"}
    for name, events in lines.items():
        t = tracks[f"GPU 0 · {name}"]
        assert t["events"] == len(events)
        assert t["kind"] == ("xla_ops" if any("hlo_op" in ev[3] for ev in events)
                             else "device_line")


def test_every_kernel_is_counted_once_in_the_op_table(data, oracle) -> None:
    kernels = _kernels(oracle)
    ops = data.analysis("ops")["ops"]
    assert sum(o["occurrences"] for o in ops) == len(kernels)
    total = sum(ev[2] for ev in kernels)
    assert abs(sum(o["total_ns"] for o in ops) - total) <= len(kernels)
    # Kernels are leaves, but a stream's kernels overlap (by ~300 ns): self time shares
    # the overlap, so the self times add up to each stream's busy time (the union of its
    # kernels), never more, and each op's self time is at most its total.
    _, lines = oracle["/device:GPU:0"]
    busy = 0
    for evs in lines.values():
        spans = sorted((ev[1], ev[1] + ev[2]) for ev in evs if "hlo_op" in ev[3])
        end = None
        for a, b in spans:
            if end is None or a >= end:
                busy += b - a
                end = b
            elif b > end:
                busy += b - end
                end = b
    assert abs(sum(o["self_ns"] for o in ops) - busy) <= len(kernels)
    assert sum(o["self_ns"] for o in ops) < total  # the overlap is counted once
    for o in ops:
        assert 0 <= o["self_ns"] <= o["total_ns"]


@pytest.fixture(scope="module")
def train_step(raw: Path):
    """The HLO of jit_train_step and our cost model's per-instruction FLOPs of it."""
    from xdiag.analysis.hlo.cost import module_cost
    from xdiag.analysis.hlo.module import parse_module
    from xdiag.xplane.hlo import hlo_modules
    from xdiag.xplane.lean import read_xspace_lean

    ref = next(m for m in hlo_modules(read_xspace_lean(raw.read_bytes(), stats=()))
               if m.name == "jit_train_step")
    module = parse_module(ref.proto)
    return module, module_cost(module)


def test_kernels_in_command_buffers_are_tied_to_their_instruction(data, oracle,
                                                                   train_step) -> None:
    """With command buffers on, kernels carry `hlo_op = command_buffer_N`; each is counted
    under the instruction of the entry schedule it ran, cuBLAS GEMMs included, so the op
    table's FLOPs are exactly the cost model's for the three steps that ran (coverage
    100%), with every GEMM instruction once per step."""
    module, cost = train_step
    ops = [o for o in data.analysis("ops")["ops"] if o["module"] == "jit_train_step"]
    by_op = {o["op"]: o for o in ops}
    steps = [s for s in data.analysis("steps")["steps"] if s["complete"]]
    assert len(steps) == 3
    assert not [o for o in by_op if o.startswith("command_buffer")]
    # No library kernel left under its own name: each is its custom call's.
    assert not [o for o in by_op if o.startswith(("nvjet", "Memset", "memcpy", "void cub"))]
    total = sum(o["flops"] or 0 for o in ops)
    assert total == pytest.approx(3 * cost.total.flops, rel=1e-9)
    entry = {i.name for i in module.entry.instructions}
    gemms = [i.name for i in module.entry.instructions
             if i.opcode == "custom-call" and i.custom_call_target.startswith("__cublas")]
    assert len(gemms) > 20
    for name in gemms:
        o = by_op[name]
        assert o["category"] == "dot" and o["flops"] is not None, name
        assert o["flops"] == pytest.approx(3 * cost.ops[name].flops), name
        assert o["bytes"] == pytest.approx(3 * cost.ops[name].bytes_accessed), name
        # Physics: a GEMM's FLOPs over its kernels' time never beat the H100's peak.
        assert o["flops"] / (o["total_ns"] * 1e-9) < 989e12, name
    # Every entry instruction with FLOPs ran once per step, under its own name.
    for name, c in cost.ops.items():
        if name in entry and c.flops > 0:
            assert by_op[name]["flops"] == pytest.approx(3 * c.flops), name


def test_identical_fusions_sharing_one_kernel_are_told_apart(data, oracle, train_step) -> None:
    """XLA emits one kernel for identical fusions (`loop_add_fusion_17` is run by several
    `loop_add_fusion.N`): the schedule tells them apart, each once per step."""
    module, _ = train_step
    ops = {o["op"]: o for o in data.analysis("ops")["ops"]}
    kernels = collections.Counter(ev[0] for ev in _kernels(oracle))
    shared = kernels["loop_add_fusion_17"]
    assert shared > 3  # more runs than steps: several instructions
    fams = [o for name, o in ops.items() if name.startswith("loop_add_fusion")
            and o["occurrences"] == 3]
    assert len(fams) >= shared // 3
    gemm = [o for name, o in ops.items() if name.startswith("gemm_fusion_dot.")]
    assert gemm and all(o["flops"] > 0 and o["fused_category"] == "dot" for o in gemm)
    # The instructions named by no kernel (they reuse another's) all ran.
    entry_fusions = [i.name for i in module.entry.instructions if i.opcode == "fusion"]
    assert all(name in ops for name in entry_fusions)


def test_an_unknown_kernel_in_a_command_buffer_is_listed_with_its_time(raw: Path, data,
                                                                       tmp_path: Path) -> None:
    """A kernel that fits no instruction keeps its own name as its op, uncosted, with its
    time; the kernels around it are still tied to theirs."""
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace.FromString(raw.read_bytes())
    gpu = next(p for p in space.planes if p.name == "/device:GPU:0")
    line = max(gpu.lines, key=lambda ln: len(ln.events))
    new_id = max(gpu.event_metadata) + 1
    gpu.event_metadata[new_id].id = new_id
    gpu.event_metadata[new_id].name = "mystery_kernel"
    ev = next(e for e in line.events
              if gpu.event_metadata[e.metadata_id].name == "loop_sine_fusion")
    ev.metadata_id = new_id
    edited = _ingest_bytes(space.SerializeToString(), tmp_path)
    ops = {o["op"]: o for o in edited.analysis("ops")["ops"]}
    assert ops["mystery_kernel"]["occurrences"] == 1
    assert ops["mystery_kernel"]["total_ns"] == pytest.approx(ev.duration_ps / 1000, abs=1)
    assert ops["mystery_kernel"]["flops"] is None
    assert ops["mystery_kernel"]["fused_category"] == "unattributed"
    assert not [o for o in data.analysis("ops")["ops"] if o["fused_category"] == "unattributed"]
    assert ops["loop_sine_fusion"]["occurrences"] == 2  # the other two steps
    assert ops["custom-call.41"]["occurrences"] == 6  # its memset and GEMM, three steps


def test_peaks_come_from_the_device_and_the_table(data, oracle) -> None:
    stats, _ = oracle["/device:GPU:0"]
    peaks = data.analysis("roofline")["peaks"]
    assert peaks["device_kind"] == stats["gpu_device_name"] == "NVIDIA H100 80GB HBM3"
    assert peaks["bytes_per_s"] == pytest.approx(float(stats["memory_bandwidth"]))
    assert peaks["flops_per_s"] == pytest.approx(989e12)
    assert "device capabilities" in peaks["source"]


def test_steps_are_the_device_windows_of_their_launches(data, oracle) -> None:
    """A kernel belongs to the step whose host annotation holds its launch (correlation_id);
    a step runs from when its annotation began and the GPU was free of earlier kernels to
    its last kernel's end -- computed here from ProfileData's events."""
    _, host = oracle["/host:CPU"]
    launches = {ev[3]["correlation_id"]: ev[1] for evs in host.values() for ev in evs
                if "correlation_id" in ev[3]}
    annotations = sorted((ev[1], ev[1] + ev[2], ev[3]["step_num"])
                         for evs in host.values() for ev in evs if ev[0] == "train")
    kernels = sorted((start, start + dur, st.get("correlation_id"))
                     for _, start, dur, st in _kernels(oracle))
    first, last = {}, {}
    for start, end, corr in kernels:
        t = launches.get(corr)
        step = next((s for a, b, s in annotations if t is not None and a <= t <= b), None)
        if step is not None:
            first[step] = min(first.get(step, start), start)
            last[step] = max(last.get(step, end), end)
    t0 = min(ev[1] for _, lines in oracle.values() for evs in lines.values() for ev in evs)
    steps = data.analysis("steps")["steps"]
    assert [s["step"] for s in steps] == sorted(first) == [8, 9, 10]
    for s in steps:
        a, b = next((a, b) for a, b, n in annotations if n == s["step"])
        prior = max((end for start, end, _ in kernels if start < first[s["step"]]), default=a)
        want_start = max(a, min(prior, first[s["step"]]))
        want_end = max(b, last[s["step"]])
        assert s["start_ns"] == pytest.approx(want_start - t0, abs=2)
        assert s["dur_ns"] == pytest.approx(want_end - want_start, abs=2)
        assert s["host_dur_ns"] == pytest.approx(b - a, abs=2)
    for s, nxt in itertools.pairwise(steps):
        # Pipelined steps (nearly) tile the GPU's time: between them only the ~35 µs the
        # GPU waited for the host to begin the next one.
        gap = nxt["start_ns"] - (s["start_ns"] + s["dur_ns"])
        assert 0 <= gap < 0.01 * s["dur_ns"]
    for s in steps:
        parts = s["compute_ns"] + s["collective_ns"] + s["idle_ns"] + s["host_ns"]
        assert parts == pytest.approx(s["dur_ns"], rel=1e-9)
        assert s["compute_ns"] > 0.9 * s["dur_ns"]  # the trainer keeps the GPU busy
        assert 0.05 < s["mfu"] < 0.5  # the trainer's own analytic MFU was ~0.20


def test_roofline_places_gemm_fusions(data) -> None:
    roof = data.analysis("roofline")
    pts = [p for p in roof["ops"] if p["op"].startswith("gemm_fusion_dot.")]
    assert pts
    for p in pts:
        assert p["flops_per_s"] <= roof["peaks"]["flops_per_s"] * 1.05
        assert p["oi"] == pytest.approx(p["flops"] / p["bytes"])
    assert np.isfinite(roof["ridge_oi"]) and roof["ridge_oi"] > 100
    # cuBLAS GEMMs run inside command buffers: tied to their custom calls, they are points.
    by_op = {p["op"]: p for p in roof["ops"]}
    ops = [o for o in data.analysis("ops")["ops"]
           if o["op"].startswith("custom-call") and o["category"] == "dot"]
    assert len(ops) > 20
    for o in ops:
        p = by_op[o["op"]]
        assert p["flops"] == pytest.approx(o["flops"]) and p["bytes"] == pytest.approx(o["bytes"])
        assert p["flops_per_s"] <= roof["peaks"]["flops_per_s"] * 1.05


def test_only_modules_that_ran_are_costed_at_ingest(data) -> None:
    """The process compiled jit_init too, but only jit_train_step ran in the capture."""
    from xdiag.serving.hlo import module_view

    mods = {m["name"]: m for m in data.manifest["modules"]}
    assert mods["jit_train_step"]["instructions"] > 1000 and mods["jit_train_step"]["flops"] > 0
    assert mods["jit_init"]["instructions"] is None and mods["jit_init"]["flops"] is None
    view = module_view(data, "jit_init", op=None, hops=1, expand=False)  # still viewable
    assert "ENTRY" in view["text"]


def test_pallas_kernels_are_custom_calls(data, oracle, train_step) -> None:
    """Our Pallas grouped matmul (kernels gmm, gmm__1, tgmm, ...) runs as Triton custom
    calls (`pallas_call.N`); their FLOPs are unknown (the HLO states none), not zero."""
    module, _ = train_step
    ops = data.analysis("ops")["ops"]
    calls = {i.name for i in module.entry.instructions
             if i.custom_call_target.endswith("triton") and "pallas_call" in i.name}
    pallas = [o for o in ops if o["op"] in calls]
    kernels = [ev for ev in _kernels(oracle) if ev[0].split("__")[0] in ("gmm", "tgmm")]
    assert pallas and sum(o["occurrences"] for o in pallas) == len(kernels)
    assert {o["op"] for o in pallas} == calls
    assert {(o["category"], o["fused_category"]) for o in pallas} == {("custom_call", "triton")}
    assert all(o["flops"] is None for o in pallas)


def test_perfetto_export_keeps_every_kernel_with_its_duration(data, oracle) -> None:
    """Overlapping kernels go to per-lane Perfetto tracks: rebuilding slices from the
    begin/end stream (as trace_processor does, per track) gives back every kernel exactly."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

    from xdiag.serving.export import perfetto_packets

    trace = Trace.FromString(b"".join(perfetto_packets(data)))
    names = {i.iid: i.name for p in trace.packet for i in p.interned_data.event_names}
    parent = {p.track_descriptor.uuid: p.track_descriptor.parent_uuid for p in trace.packet
              if p.HasField("track_descriptor")}
    title = {p.track_descriptor.uuid: p.track_descriptor.name for p in trace.packet
             if p.HasField("track_descriptor")}
    open_: dict[int, list] = collections.defaultdict(list)
    last_ts: dict[int, int] = {}
    got = collections.Counter()
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        te, u = p.track_event, p.track_event.track_uuid
        assert p.timestamp >= last_ts.get(u, 0)  # per track, time never goes back
        last_ts[u] = p.timestamp
        if te.type == TrackEvent.TYPE_SLICE_BEGIN:
            open_[u].append((names[te.name_iid], p.timestamp))
        else:
            name, ts = open_[u].pop()
            if title.get(parent.get(u), "").startswith("GPU 0 · Stream #14"):
                got[(name, p.timestamp - ts)] += 1
    want = collections.Counter((ev[0], int(ev[2])) for ev in _kernels(oracle))
    assert got == want


def _ingest_bytes(data: bytes, tmp_path: Path):
    from xdiag.pipeline import admit

    path = tmp_path / "h100-edited.xplane.pb"
    path.write_bytes(data)
    svc = Services(Settings(store=str(tmp_path / "store"), ingest_inline=True))
    rec = svc.admission.store_session(run="edited", session="s",
                               files=[admit.HostFile("h0", path)], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    return svc.views.get(rec)


def test_a_gpus_streams_are_one_device_in_the_steps(raw: Path, data, tmp_path: Path) -> None:
    """Kernels split over two streams of one GPU: the same steps, one device per step."""
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace.FromString(raw.read_bytes())
    gpu = next(p for p in space.planes if p.name == "/device:GPU:0")
    line = max(gpu.lines, key=lambda ln: len(ln.events))
    other = gpu.lines.add(id=99, name="Stream #99(Compute)", timestamp_ns=line.timestamp_ns)
    kept = [e for i, e in enumerate(line.events) if i % 2 == 0]
    moved = [e for i, e in enumerate(line.events) if i % 2 == 1]
    del line.events[:]
    line.events.extend(kept)
    other.events.extend(moved)
    split = _ingest_bytes(space.SerializeToString(), tmp_path)
    want = {s["step"]: s for s in data.analysis("steps")["steps"]}
    got = split.analysis("steps")["steps"]
    assert [s["step"] for s in got] == sorted(want)
    for s in got:
        w = want[s["step"]]
        assert s["devices"] == w["devices"] == 1
        assert s["dur_ns"] == w["dur_ns"]
        assert s["compute_ns"] == pytest.approx(w["compute_ns"], rel=1e-9)
        assert s["flops"] == pytest.approx(w["flops"])


def test_two_gpus_running_the_program_are_attributed_each(raw: Path, data,
                                                         tmp_path: Path) -> None:
    """A second GPU running the same kernels at the same instants (launch ids too): each
    GPU's graphs are placed on the schedule on their own, so every op has twice the
    occurrences and FLOPs, half on each device."""
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace.FromString(raw.read_bytes())
    gpu = next(p for p in space.planes if p.name == "/device:GPU:0")
    twin = space.planes.add()
    twin.CopyFrom(gpu)
    twin.id, twin.name = max(p.id for p in space.planes) + 1, "/device:GPU:1"
    two = _ingest_bytes(space.SerializeToString(), tmp_path)
    one = {(o["module"], o["op"]): o for o in data.analysis("ops")["ops"]}
    got = {(o["module"], o["op"]): o for o in two.analysis("ops")["ops"]}
    assert got.keys() == one.keys()
    for key, o in got.items():
        assert o["occurrences"] == 2 * one[key]["occurrences"], key
        assert (o["flops"] or 0) == pytest.approx(2 * (one[key]["flops"] or 0)), key
        assert set(o["per_device"]) == {"0", "1"} or len(o["per_device"]) == 2, key


def test_a_step_whose_kernels_were_not_captured_is_dropped(raw: Path, data,
                                                           tmp_path: Path) -> None:
    """An annotation dispatched just before the trace stopped has no kernels: no step."""
    from xdiag.xplane.xplane_pb2 import XSpace

    space = XSpace.FromString(raw.read_bytes())
    cpu = next(p for p in space.planes if p.name == "/host:CPU")
    train = next((ln, e) for ln in cpu.lines for e in ln.events
                 if cpu.event_metadata[e.metadata_id].name == "train")
    line, ev = train
    last_end = max(e.offset_ps + e.duration_ps for e in line.events)
    extra = line.events.add(metadata_id=ev.metadata_id, offset_ps=last_end + 1000,
                            duration_ps=1_000_000)
    step_stat = next(st for st in ev.stats if cpu.stat_metadata[st.metadata_id].name == "step_num")
    extra.stats.add(metadata_id=step_stat.metadata_id, int64_value=99)
    edited = _ingest_bytes(space.SerializeToString(), tmp_path)
    steps = [s["step"] for s in edited.analysis("steps")["steps"]]
    assert steps == [s["step"] for s in data.analysis("steps")["steps"]] and 99 not in steps


def test_kernel_details_name_their_op_and_unknown_costs_are_null(data) -> None:
    """Event details of a fusion kernel carry its FLOPs; ops of unknown FLOPs (Pallas
    calls) have None, and so does their rate, rather than a fake 0 FLOP/s. (A library
    kernel's details do not name its custom call yet: no FLOPs rather than wrong ones.)"""
    import numpy as np

    ops = {o["op"]: o for o in data.analysis("ops")["ops"]}
    assert ops and all((o["flops"] is None) == (o["flops_per_s"] is None) for o in ops.values())
    unknown = [o for o in ops.values() if o["fused_category"] == "triton"]
    assert unknown and all(o["flops"] is None and o["bound_by"] is None for o in unknown)
    h = data.hosts[0]
    names = np.array(h.names, dtype=object)[h.index.ev_name]
    fusion = int(np.flatnonzero(names == "loop_add_fusion_67")[0])
    library = int(np.flatnonzero([str(n).startswith("nvjet") for n in names])[0])
    got = event_details(data, h.eid_base + int(h.index.ev_src[fusion]))
    assert got["category"] == ops["loop_add_fusion.67"]["category"]
    assert got["flops"] == pytest.approx(ops["loop_add_fusion.67"]["flops"] /
                                         ops["loop_add_fusion.67"]["occurrences"])
    lib = event_details(data, h.eid_base + int(h.index.ev_src[library]))
    assert lib["flops"] is None


@pytest.fixture(scope="module")
def xprof_hlo_stats(raw: Path, tmp_path_factory) -> list[dict]:
    """Stock xprof's hlo_stats on the same file (in a folder of its own: its converters
    write cache files beside the input)."""
    import json

    from xprof.convert import raw_to_tool_data

    path = tmp_path_factory.mktemp("xprof") / "h100.xplane.pb"
    path.write_bytes(raw.read_bytes())
    out = raw_to_tool_data.xspace_to_tool_data([str(path)], "hlo_stats", {})
    table = json.loads(out[0] if isinstance(out, tuple) else out)
    cols = [c["id"] for c in table["cols"]]
    return [dict(zip(cols, [c.get("v") for c in row["c"]], strict=True)) for row in table["rows"]]


def test_op_times_and_costs_match_stock_xprof(data, xprof_hlo_stats) -> None:
    """Where both have an op (xprof cannot see kernels inside command buffers): the same
    occurrences, the same inclusive time, the same bytes (xprof's bandwidth x time), and a
    self time no larger than xprof's (xprof counts two overlapping kernels' overlap twice).

    FLOPs: xprof's GPU figures for elementwise fusions are XLA:GPU's performance-model
    weights (3 per f32 add), not operation counts; ours count 1 per element, as XLA's
    generic cost analysis does (checked against it in tests/test_step_oracles.py). So
    here: FLOPs where xprof has FLOPs, and never more than xprof's."""
    ops = {o["op"]: o for o in data.analysis("ops")["ops"]}
    assert len(xprof_hlo_stats) >= 20
    for x in xprof_hlo_stats:
        name = x["hlo_op_name"]
        o = ops[name]
        assert o["occurrences"] == x["occurrences"], name
        assert o["total_ns"] == pytest.approx(x["total_time"] * 1e3, abs=1 + o["occurrences"])
        assert o["self_ns"] <= x["total_self_time"] * 1e3 + o["occurrences"], name
        xprof_bytes = x["measured_memory_bw"] * 2**30 * x["total_time"] * 1e-6
        if xprof_bytes > 0:
            assert o["bytes"] == pytest.approx(xprof_bytes, rel=0.01), name
        xprof_flops = x["model_flop_rate"] * 1e9 * x["total_time"] * 1e-6
        assert ((o["flops"] or 0) > 0) == (xprof_flops > 0.5), name
        assert (o["flops"] or 0) <= xprof_flops * 1.01 + 1, name
