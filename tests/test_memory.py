"""Memory viewer per program and memory profile per allocator (issue 19), against stock xprof.

Oracles (not our code): stock xprof 2.24.2's `memory_viewer` on the same files (peak heap,
unpadded peak, entry parameters, maybe-live-out: MiB doubles that must be our bytes
exactly after x 2^20; the buffers at the peak: the same logical buffers) and its
`memory_profile` (each allocator's peak bytes in use, its time, its capacity); a planted
temporary of a known size and source line in a program written with public JAX APIs only.

Captures: the trainer's CPU capture (tests/fixtures/trainer_cpu_memory.xplane.pb.gz: its
metadata plane, every program with its buffer assignment, and the first 300 events of each
host line), the H100 trainer capture, cpu_small, and the public-API program captured here
with `jax.profiler.trace` in a subprocess (~3 s).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from support import FIXTURES, edit_hlo_protos, without_buffer_assignment

from xdiag.analysis.memory import SMALL_BUFFER_BYTES, program_memory, scope_path
from xdiag.analysis.memory_proto import HloProtoWithBuffers
from xdiag.core.config import Settings
from xdiag.server import create_app
from xdiag.server.services import Services
from xdiag.store import layout
from xdiag.xplane.hlo import HLO_PROTO_STAT, METADATA_PLANE

MIB = 1 << 20
PLANTED_N = 8192  # an f32[8192, 8192] temporary: exactly 256 MiB
PLANTED = """\
import sys
import jax
import jax.numpy as jnp


@jax.jit
def planted(a, b, c):
    with jax.named_scope("planted_scope"):
        big = jnp.sin(a[:, None] * b[None, :])  # the planted temporary
    return big @ c


def main(log_dir):
    a = jnp.linspace(0, 1, {n}, dtype=jnp.float32)
    b, c = a + 1, a - 1
    planted(a, b, c).block_until_ready()
    with jax.profiler.trace(log_dir):
        planted(a, b, c).block_until_ready()


main(sys.argv[1])
"""
PLANTED_LINE = 9  # of `big = ...` in PLANTED
STRIPPED = "jit_broadcast_in_dim(8)"  # cpu_small's program ingested without its buffers
TRUNCATED = "jit__multi_slice(4)"  # ... and one whose buffer assignment is cut short


def _in_session(root: Path, name: str, data: bytes) -> Path:
    """The file in a session folder of its own: xprof writes its side files there."""
    folder = root / name / "plugins" / "profile" / "s"
    folder.mkdir(parents=True)
    path = folder / f"{name}.xplane.pb"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("memory")
    out = {
        "trainer_cpu": _in_session(root, "trainer_cpu", gzip.decompress(
            (FIXTURES / "trainer_cpu_memory.xplane.pb.gz").read_bytes())),
        "h100": _in_session(root, "h100", gzip.decompress(
            (FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes())),
        "cpu_small": _in_session(root, "cpu_small", (FIXTURES / "cpu_small.xplane.pb")
                                 .read_bytes()),
    }
    script = root / "planted_program.py"
    script.write_text(PLANTED.format(n=PLANTED_N))
    log = root / "planted_log"
    subprocess.run([sys.executable, str(script), str(log)], check=True, timeout=300,
                   capture_output=True)
    (xplane,) = log.glob("plugins/profile/*/*.xplane.pb")
    out["public_jax"] = xplane
    out["_planted_script"] = script
    return out


def _hlo_protos(path: Path) -> dict[str, bytes]:
    from xdiag.xplane.lean import read_xspace_lean

    cols = read_xspace_lean(str(path))
    plane = cols.plane(METADATA_PLANE)
    return {name: bytes(st[HLO_PROTO_STAT]) for name, st in
            zip(plane.event_metadata.names, plane.event_metadata.stats, strict=True)
            if isinstance(st.get(HLO_PROTO_STAT), bytes | bytearray)}


def _xprof(path: Path, tool: str, params: dict) -> dict:
    from xprof.convert import raw_to_tool_data as r

    data, _ = r.xspace_to_tool_data([str(path)], tool, params)
    return json.loads(data)


@pytest.fixture(scope="module")
def viewers(captures) -> dict[str, dict[str, tuple[dict, dict]]]:
    """Per capture, per program: (ours, xprof's memory_viewer)."""
    from xprof.convert import raw_to_tool_data as r

    out = {}
    for key in ("trainer_cpu", "h100", "cpu_small", "public_jax"):
        path = captures[key]
        r.xspace_to_tool_names([str(path)])  # writes the *.hlo_proto.pb memory_viewer reads
        out[key] = {name: (program_memory(raw),
                           _xprof(path, "memory_viewer", {"module_name": name,
                                                          "memory_space": "0"}))
                    for name, raw in _hlo_protos(path).items()}
    return out


@pytest.mark.parametrize("capture", ["trainer_cpu", "public_jax", "h100", "cpu_small"])
def test_every_program_equals_xprof_memory_viewer(viewers, capture) -> None:
    programs = viewers[capture]
    assert programs, f"{capture}: no HLO modules"
    for name, (ours, theirs) in programs.items():
        assert ours["available"], (name, ours.get("reason"))
        s = ours["spaces"]["0"]
        got = {k: s[k] for k in ("peak_heap_bytes", "peak_unpadded_heap_bytes",
                                 "entry_parameters_bytes", "maybe_live_out_bytes")}
        want = {ours_key: round(theirs.get(k, 0.0) * MIB) for ours_key, k in (
            ("peak_heap_bytes", "peakHeapMib"),
            ("peak_unpadded_heap_bytes", "peakUnpaddedHeapMib"),
            ("entry_parameters_bytes", "entryComputationParametersMib"),
            ("maybe_live_out_bytes", "maybeLiveOutMib"))}
        assert got == want, name
        assert s["peak_position"] == theirs.get("peakHeapSizePosition", 0), name
        assert s["heap"]["total_points"] == len(theirs.get("heapSizes", [])), name
        # no heap simulation (every buffer lives throughout): said in words, no empty chart
        assert s["heap"]["available"] == bool(s["heap"]["total_points"]) == (
            s["heap"]["reason"] is None), name
        # The buffers at the peak xprof lists (it folds those under 16 KiB into "small").
        theirs_ids = {o.get("logicalBufferId", 0) for o in theirs.get("maxHeap", [])
                      if o.get("logicalBufferId", 0) != -1}
        ours_big = [b for b in s["buffers"] if b["size_bytes"] >= SMALL_BUFFER_BYTES]
        assert {b["id"] for b in ours_big} == theirs_ids, name
        assert [b["size_bytes"] for b in ours_big] == sorted(
            (round(o["logicalBufferSizeMib"] * MIB) for o in theirs.get("maxHeapBySize", [])
             if o.get("logicalBufferId", 0) != -1), reverse=True), name
    print(f"{capture}: {len(programs)} programs equal memory_viewer's")


def test_planted_temporary_is_first_at_the_peak_with_its_size_and_line(viewers,
                                                                      captures) -> None:
    (name,) = [n for n in viewers["public_jax"] if n.startswith("jit_planted(")]
    s = viewers["public_jax"][name][0]["spaces"]["0"]
    top = s["buffers"][0]
    assert top["size_bytes"] == PLANTED_N * PLANTED_N * 4 == 256 * MIB
    assert (top["dtype"], top["dims"], top["category"]) == ("f32", [PLANTED_N, PLANTED_N],
                                                            "temporary")
    assert top["source"]["file"] == str(captures["_planted_script"])
    assert top["source"]["line"] == PLANTED_LINE
    assert top["scope"] == "planted_scope"
    assert s["peak_heap_bytes"] >= top["size_bytes"]
    assert top["live"][0] <= s["peak_position"] <= top["live"][1]


def test_trainer_scopes_and_categories_fill_the_peak(viewers) -> None:
    (name,) = [n for n in viewers["trainer_cpu"] if n.startswith("jit_train_step(")]
    s = viewers["trainer_cpu"][name][0]["spaces"]["0"]
    by_scope = {g["key"]: g["bytes"] for g in s["groups"]["by_scope"]}
    assert {"router", "dispatch", "experts", "combine"} <= set(by_scope), by_scope
    by_cat = {g["key"]: g["bytes"] for g in s["groups"]["by_category"]}
    # Every byte of the peak is in one group (the indefinite ones at their allocation's size).
    assert sum(by_cat.values()) == sum(by_scope.values()) == s["peak_heap_bytes"]
    # The optimizer's state (Adam moments, `state.opt_state...` arguments) is told apart
    # from the parameters (`state.params...`).
    assert by_cat["optimizer_state"] > 0 and by_cat["parameter"] > 0
    assert by_cat["optimizer_state"] + by_cat["parameter"] == s["entry_parameters_bytes"]
    # The heap series: the peak is drawn, at its position.
    heap = s["heap"]
    assert s["peak_point"] == s["peak_position"] + 1
    i = heap["position"].index(s["peak_point"])
    assert heap["heap_bytes"][i] == s["peak_heap_bytes"] == max(heap["heap_bytes"])


def test_scope_path_strips_transforms_and_jit_wrappers() -> None:
    assert scope_path("jit(train_step)/jvp()/shard_map/experts/gmm") == ["experts"]
    assert scope_path("jit(f)/transpose(jvp(moe))/router/dot_general") == ["moe", "router"]
    assert scope_path("jit(train_step)/jvp()/shard_map/dispatch/jit(_take)") == ["dispatch"]
    assert scope_path("dot_general") == []


def test_no_buffer_assignment_or_truncated_says_why(viewers, captures) -> None:
    raw = _hlo_protos(captures["cpu_small"])["jit_train_step(10)"]
    proto = HloProtoWithBuffers.FromString(raw)
    module_only = HloProtoWithBuffers(hlo_module=proto.hlo_module).SerializeToString()
    v = program_memory(module_only)
    assert not v["available"] and v["reason"].startswith("not available because")
    assert "no buffer assignment" in v["reason"]
    v = program_memory(raw[: len(raw) * 2 // 3])
    assert not v["available"] and "truncated" in v["reason"]
    no_buffers = HloProtoWithBuffers.FromString(raw)
    del no_buffers.buffer_assignment.logical_buffers[:]
    v = program_memory(no_buffers.SerializeToString())
    assert not v["available"] and v["reason"].startswith("not available because")


# --- through ingest and the API ------------------------------------------------------


def _edited_cpu_small(src: Path, dst: Path) -> Path:
    """cpu_small with STRIPPED's HLO proto stripped of its buffer assignment (as a runtime
    that does not export it leaves it) and TRUNCATED's cut short inside it (the module,
    first in the proto, intact: the profile still ingests)."""
    return edit_hlo_protos(src, dst, {STRIPPED: without_buffer_assignment,
                                      TRUNCATED: lambda b: b[:-7]})


@pytest.fixture(scope="module")
def service(captures, tmp_path_factory):
    from xdiag.pipeline import admit

    work = tmp_path_factory.mktemp("memory-store")
    svc = Services(Settings(store=str(work / "store"), ingest_inline=True))
    ids = {}
    stripped = _edited_cpu_small(captures["cpu_small"], work / "stripped.xplane.pb")
    for key, path in (("h100", captures["h100"]), ("cpu_small", stripped)):
        rec = svc.admission.store_session(run="mem", session=key,
                                          files=[admit.HostFile("h0", path)], source="upload")
        rec = svc.ingest.run(rec["id"], inline=True)
        assert rec["status"] == "ready", rec.get("error")
        ids[key] = rec["id"]
    app = create_app(Settings(store=str(work / "store")), services=svc)
    return svc, app.test_client(), ids


def _get(client, url: str, status: int = 200) -> dict:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.get_data(as_text=True)[:300])
    return r.get_json()


def test_default_program_is_the_one_that_ran_the_most(service) -> None:
    _, client, ids = service
    pid = ids["cpu_small"]
    overview = _get(client, f"/api/v1/profiles/{pid}/memory")
    ops = _get(client, f"/api/v1/profiles/{pid}/ops")
    most = max(ops["by_program"], key=lambda p: p["self_ns"])
    assert overview["default_program"] == f"{most['module']}({most['program_id']})" \
        == "jit_train_step(10)"
    # ... not the first program of the capture
    assert overview["programs"][0]["id"] == "jit_train_step(10)"
    assert overview["programs"][0]["ran_ns"] == most["self_ns"]
    hlo = {m["id"]: m for m in _get(client, f"/api/v1/profiles/{pid}/hlo")["modules"]}
    assert {p["id"] for p in overview["programs"]} == set(hlo)
    # The picker's ids and fingerprints open the HLO view of the same module.
    for p in overview["programs"]:
        assert p["fingerprint"] == hlo[p["id"]]["fingerprint"]
    # CPU: no allocator events, said in words; headroom against the host's RAM, labelled.
    assert not overview["allocators"]["available"]
    assert overview["allocators"]["reason"].startswith("not available because")
    assert overview["capacity"]["source"] == "host_ram"
    view = _get(client, f"/api/v1/profiles/{pid}/memory/programs/jit_train_step?limit=2")
    assert view["id"] == "jit_train_step(10)" and len(view["buffers"]) == 2
    assert view["headroom_bytes"] == view["capacity"]["bytes"] - view["peak_heap_bytes"]
    graph = _get(client, f"/api/v1/profiles/{pid}/hlo/{view['id']}"
                 f"?op={view['buffers'][0]['instruction']}")
    assert graph["graph"] is not None


def test_h100_allocators_equal_xprof_memory_profile(service, captures) -> None:
    from xdiag.xplane.xplane_pb2 import XSpace

    svc, client, ids = service
    pid = ids["h100"]
    ours = {a["name"]: a for a in
            _get(client, f"/api/v1/profiles/{pid}/memory/allocators")["allocators"]}
    theirs = _xprof(captures["h100"], "memory_profile", {})["memoryProfilePerAllocator"]
    assert set(ours) == set(theirs) == {"GPU_0_bfc", "xla_gpu_host_bfc"}
    space = XSpace()
    space.ParseFromString(captures["h100"].read_bytes())
    (host,) = [p for p in space.planes if p.name == "/host:CPU"]
    names = {k: m.name for k, m in host.stat_metadata.items()}

    def line_of(allocator: str, offset_ps: int, address: int | None = None) -> int:
        """xprof's times are offsets from the line of the event (the host plane has two
        lines of allocator events, 41 us apart): that line's start."""
        (ts,) = {ln.timestamp_ns for ln in host.lines for e in ln.events
                 if host.event_metadata[e.metadata_id].name.startswith("Memory")
                 and e.offset_ps == offset_ps and any(
                     names[st.metadata_id] == "allocator_name"
                     and (st.str_value or names.get(st.ref_value)) == allocator
                     for st in e.stats)
                 and (address is None or any(names[st.metadata_id] == "addr"
                                             and st.uint64_value + st.int64_value == address
                                             for st in e.stats))}
        return ts

    manifest = svc.views.get(svc.profiles.get(pid)).manifest
    for name, a in ours.items():
        summary = theirs[name]["profileSummary"]
        assert a["peak_bytes_in_use"] == int(summary["peakStats"]["peakBytesInUse"])
        assert a["capacity_bytes"] == int(summary["memoryCapacity"])
        assert a["headroom_bytes"] == a["capacity_bytes"] - a["peak_bytes_in_use"]
        off_ps = int(summary["peakStatsTimePs"])
        want_ns = line_of(name, off_ps) + off_ps / 1000 - manifest["t0_ns"]
        assert a["peak_time_ns"] == pytest.approx(want_ns, abs=1e-3)
        assert a["series"]["bytes_in_use"][a["series"]["t_ns"].index(a["peak_time_ns"])] \
            == a["peak_bytes_in_use"]
        # Over time: every event of the allocator, in time order, as xprof's timeline.
        snaps = theirs[name]["sampledTimelineSnapshots"]  # xprof's order (by offset)
        series = a["series"]
        assert not series["downsampled"] and len(snaps) == series["total_points"] == a["events"]
        stats = [x["aggregationStats"] for x in snaps]
        assert series["bytes_in_use"] == [int(x.get("heapAllocatedBytes", 0))
                                          + int(x.get("stackReservedBytes", 0)) for x in stats]
        assert series["bytes_reserved"] == [int(x.get("stackReservedBytes", 0)) for x in stats]
        assert series["bytes_available"] == [int(x.get("freeMemoryBytes", 0)) for x in stats]
        assert series["fragmentation"] == pytest.approx(
            [float(x.get("fragmentation", 0.0)) for x in stats], rel=1e-5)
        assert series["t_ns"] == pytest.approx([
            line_of(name, int(x["timeOffsetPs"]), int(x["activityMetadata"]["address"]))
            + int(x["timeOffsetPs"]) / 1000 - manifest["t0_ns"] for x in snaps], abs=1e-3)
    assert ours["GPU_0_bfc"]["peak_bytes_in_use"] == 15_074_838_272
    assert ours["GPU_0_bfc"]["capacity_bytes"] == 63_763_906_560
    overview = _get(client, f"/api/v1/profiles/{pid}/memory")
    assert overview["capacity"] == {"bytes": 63_763_906_560, "source": "allocator",
                                    "label": "GPU_0_bfc capacity (from its allocator events)"}
    assert overview["default_program"] == "jit_train_step(1364)"
    view = _get(client, f"/api/v1/profiles/{pid}/memory/programs/jit_train_step(1364)")
    assert view["headroom_bytes"] == 63_763_906_560 - view["peak_heap_bytes"]


def test_stripped_or_truncated_module_is_not_available_with_a_reason(service) -> None:
    _, client, ids = service
    pid = ids["cpu_small"]
    overview = _get(client, f"/api/v1/profiles/{pid}/memory")
    p = {p["id"]: p for p in overview["programs"]}[STRIPPED]
    assert not p["available"] and "no buffer assignment" in p["reason"]
    assert p["reason"].startswith("not available because")
    view = _get(client, f"/api/v1/profiles/{pid}/memory/programs/{STRIPPED}")
    assert view == {"available": False, "reason": p["reason"], "id": STRIPPED,
                    "name": "jit_broadcast_in_dim", "program_id": 8,
                    "fingerprint": p["fingerprint"], "host": "h0", "ran_ns": p["ran_ns"]}
    t = {p["id"]: p for p in overview["programs"]}[TRUNCATED]
    assert not t["available"] and t["reason"].startswith("not available because")
    assert "truncated" in t["reason"]
    assert _get(client, f"/api/v1/profiles/{pid}/memory/programs/{TRUNCATED}")["reason"] \
        == t["reason"]
    # the other programs still are
    assert overview["available"] and sum(q["available"] for q in overview["programs"]) == 4


def test_cli_memory_prints_and_emits_json(service, monkeypatch) -> None:
    from click.testing import CliRunner

    from xdiag.cli import main as cli

    _, client, ids = service

    class FlaskClient:
        def __init__(self, server: str) -> None:
            pass

        def get(self, path: str, params: dict | None = None) -> dict:
            r = client.get(path, query_string=params or {})
            assert r.status_code == 200, r.get_data(as_text=True)
            return r.get_json()

    monkeypatch.setattr(cli, "Client", FlaskClient)
    pid = ids["h100"]
    res = CliRunner().invoke(cli.main, ["memory", pid, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["program"]["id"] == "jit_train_step(1364)"
    assert out["allocators"]["available"]
    res = CliRunner().invoke(cli.main, ["memory", pid, "--program", "jit_init"])
    assert res.exit_code == 0, res.output
    assert "jit_init(0) on h0" in res.output and "GPU_0_bfc" in res.output
    assert "headroom" in res.output
    res = CliRunner().invoke(cli.main, ["memory", ids["cpu_small"]])
    assert res.exit_code == 0 and "not available because" in res.output


def test_openapi_documents_the_memory_endpoints(service) -> None:
    _, client, _ = service
    paths = _get(client, "/api/v1/openapi.json")["paths"]
    for p in ("/api/v1/profiles/{pid}/memory", "/api/v1/profiles/{pid}/memory/allocators",
              "/api/v1/profiles/{pid}/memory/programs/{program}"):
        assert "409" in paths[p]["get"]["responses"], p


def test_memory_diff_accounts_for_every_byte_of_the_peak_change(service) -> None:
    _, client, ids = service
    a, b = ids["cpu_small"], ids["h100"]
    d = _get(client, f"/api/v1/diff/memory?a={a}&b={b}&program=jit_train_step&limit=5000")
    va = _get(client, f"/api/v1/profiles/{a}/memory/programs/jit_train_step")
    vb = _get(client, f"/api/v1/profiles/{b}/memory/programs/jit_train_step")
    assert (d["a"], d["b"]) == ("jit_train_step(10)", "jit_train_step(1364)")
    assert d["delta_bytes"] == vb["peak_heap_bytes"] - va["peak_heap_bytes"] > 0
    assert len(d["buffers"]) == d["buffers_changed"]
    assert sum(r["delta_bytes"] for r in d["buffers"]) == d["delta_bytes"]
    assert d["buffers"][0]["change"] == "appeared"
    same = _get(client, f"/api/v1/diff/memory?a={b}&b={b}")
    assert same["delta_bytes"] == 0 and same["buffers"] == []
    assert "no program named" in _get(
        client, f"/api/v1/diff/memory?a={b}&b={a}&program=jit_init")["reason"]


def test_bad_requests_and_older_ingests_are_clear(service) -> None:
    svc, client, ids = service
    pid = ids["cpu_small"]
    assert "no program" in _get(client, f"/api/v1/profiles/{pid}/memory/programs/nope",
                                404)["detail"]
    assert "memory_space 7" in _get(
        client, f"/api/v1/profiles/{pid}/memory/programs/jit_train_step?memory_space=7",
        404)["detail"]
    _get(client, f"/api/v1/profiles/{pid}/memory/programs/jit_train_step?limit=0", 400)
    _get(client, "/api/v1/profiles/no~such/memory", 404)
    # A profile ingested before the memory views existed: said so, never a 500 (the last
    # test of the module: it removes that profile's memory views).
    rec = svc.profiles.get(ids["cpu_small"])
    svc.store.delete(layout.Derived.of(rec).memory("h0"))
    from xdiag.serving import memory as serving_memory

    serving_memory._HOST_VIEWS.clear()  # as opened fresh: read once per opened profile
    old = _get(client, f"/api/v1/profiles/{rec['id']}/memory")
    assert not old["available"] and "re-ingest" in old["reason"]
    assert not old["allocators"]["available"] and "re-ingest" in old["allocators"]["reason"]
    assert "re-ingest" in _get(client, f"/api/v1/profiles/{rec['id']}/memory/programs/x",
                               404)["detail"]


PLANTED = textwrap.dedent(PLANTED)
