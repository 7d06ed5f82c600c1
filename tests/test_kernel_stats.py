"""GPU kernel statistics (analysis/kernel_stats.py, GET .../kernels) on the real H100
capture, against stock xprof's `kernel_stats` of the same file: the same kernels and
launch shapes, launches, total/min/max time, registers, shared memory and occupancy."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from support import FIXTURES

from xdiag.analysis.kernel_stats import parse_details, tensor_core
from xdiag.core.config import Settings
from xdiag.server import create_app
from xdiag.server.services import Services
from xdiag.store import layout


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("kernels")
    h100 = root / "xprof" / "h100.xplane.pb"  # a folder of its own: xprof writes beside it
    h100.parent.mkdir()
    h100.write_bytes(gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes()))
    return {"h100": h100, "cpu": FIXTURES / "cpu_small.xplane.pb", "root": root}


@pytest.fixture(scope="module")
def xprof_rows(files) -> list[dict]:
    from xprof.convert import raw_to_tool_data

    out = raw_to_tool_data.xspace_to_tool_data([str(files["h100"])], "kernel_stats", {})
    table = json.loads(out[0] if isinstance(out, tuple) else out)
    cols = [c["id"] for c in table["cols"]]
    return [dict(zip(cols, [c.get("v") for c in row["c"]], strict=True))
            for row in table["rows"]]


@pytest.fixture(scope="module")
def service(files):
    from xdiag.pipeline import admit

    store = str(files["root"] / "store")
    svc = Services(Settings(store=store, ingest_inline=True))
    ids = {}
    for key in ("h100", "cpu"):
        rec = svc.admission.store_session(run="kern", session=key,
                                          files=[admit.HostFile("h0", files[key])],
                                          source="upload")
        rec = svc.ingest.run(rec["id"], inline=True)
        assert rec["status"] == "ready", rec.get("error")
        ids[key] = rec["id"]
    app = create_app(Settings(store=store), services=svc)
    return svc, app.test_client(), ids


def _get(client, url: str, status: int = 200) -> dict:
    resp = client.get(url)
    assert resp.status_code == status, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def _key(name, grid, block, regs, shmem):
    return (name, tuple(grid), tuple(block), regs, shmem)


def test_kernels_match_stock_xprof(service, xprof_rows) -> None:
    _, client, ids = service
    got = _get(client, f"/api/v1/profiles/{ids['h100']}/kernels?limit=100000")
    assert got["available"] and got["partial"] is None
    rows = got["kernels"]
    assert len(xprof_rows) > 150 and len(rows) == len(xprof_rows) == got["total"]
    ours = {_key(r["name"], r["grid"], r["block"], r["registers_per_thread"],
                 r["static_shared_bytes"] + r["dynamic_shared_bytes"]): r for r in rows}
    assert len(ours) == len(rows)
    for x in xprof_rows:
        key = _key(x["kernel_name"], [int(v) for v in x["grid_dim"].split(",")],
                   [int(v) for v in x["block_dim"].split(",")], x["registers_per_thread"],
                   x["shmem_bytes"])
        r = ours[key]
        n = r["launches"]
        assert n == x["occurrences"], key
        # Our times are whole ns from the profile's start (each end rounded): 1 ns a launch.
        assert r["total_ns"] == pytest.approx(x["total_duration_us"] * 1e3, abs=n), key
        assert r["min_ns"] == pytest.approx(x["min_duration_us"] * 1e3, abs=1), key
        assert r["max_ns"] == pytest.approx(x["max_duration_us"] * 1e3, abs=1), key
        assert r["avg_ns"] == pytest.approx(r["total_ns"] / n)
        assert r["occupancy_pct"] == pytest.approx(x["occupancy_pct"]), key
    summary = got["summary"]
    assert summary["launches"] == sum(x["occurrences"] for x in xprof_rows)
    assert summary["total_ns"] == pytest.approx(
        sum(x["total_duration_us"] for x in xprof_rows) * 1e3, abs=summary["launches"])
    assert summary["kernels"] == len({x["kernel_name"] for x in xprof_rows})
    # Longest total first, as xprof ranks them.
    assert [r["total_ns"] for r in rows] == sorted((r["total_ns"] for r in rows), reverse=True)


def test_kernels_name_the_op_that_launched_them(service) -> None:
    """Kernels inside command buffers name their instruction, not the command buffer:
    cuBLAS's nvjet GEMMs their custom call (tensor cores by name), our Pallas kernels
    their pallas_call, and elementwise fusions use no tensor cores."""
    svc, client, ids = service
    rows = _get(client, f"/api/v1/profiles/{ids['h100']}/kernels?limit=100000")["kernels"]
    ops = {o["op"]: o for o in svc.views.get(svc.profiles.get(ids["h100"]))
           .analysis("ops")["ops"]}
    assert not [r for r in rows if (r["op"] or "").startswith("command_buffer")]
    nvjet = [r for r in rows if r["name"].startswith("nvjet")]
    assert nvjet and all(r["tensor_core"] is True and ops[r["op"]]["category"] == "dot"
                         for r in nvjet)
    gmm = [r for r in rows if r["name"].split("__")[0] == "gmm"]
    assert gmm and all(r["op"].startswith("pallas_call") and r["tensor_core"] is None
                       for r in gmm)
    loops = [r for r in rows if r["name"].startswith("loop_")]
    assert loops and all(r["tensor_core"] is False for r in loops)
    assert all(r["module"] == "jit_train_step" for r in nvjet + gmm)


def test_filter_sort_limit_and_bad_input(service) -> None:
    _, client, ids = service
    url = f"/api/v1/profiles/{ids['h100']}/kernels"
    got = _get(client, f"{url}?q=nvjet&sort=launches&limit=3")
    assert got["total"] > 3 and len(got["kernels"]) == 3
    assert all("nvjet" in r["name"] for r in got["kernels"])
    launches = [r["launches"] for r in got["kernels"]]
    assert launches == sorted(launches, reverse=True)
    by_name = _get(client, f"{url}?sort=name&limit=100000")["kernels"]
    assert [r["name"] for r in by_name] == sorted(r["name"] for r in by_name)
    assert "sort must be one of" in _get(client, f"{url}?sort=rank", 400)["detail"]
    _get(client, f"{url}?limit=0", 400)
    _get(client, "/api/v1/profiles/no~such/kernels", 404)


def test_a_cpu_profile_has_no_kernels(service) -> None:
    _, client, ids = service
    got = _get(client, f"/api/v1/profiles/{ids['cpu']}/kernels")
    assert not got["available"] and "no GPU" in got["reason"] and got["kernels"] == []


def test_details_and_tensor_cores() -> None:
    d = parse_details("regs:104 static_shared:0 dynamic_shared:155648 grid:16,16,11 "
                      "block:256,1,1 occ_pct:12.5")
    assert d == {"registers_per_thread": 104, "static_shared_bytes": 0,
                 "dynamic_shared_bytes": 155648, "grid": [16, 16, 11], "block": [256, 1, 1],
                 "occupancy_pct": 12.5}
    assert parse_details("") == {} and parse_details("grid:7")["grid"] == [7, 1, 1]
    assert tensor_core("volta_h884gemm_64x64", set()) is True
    assert tensor_core("sm80_xmma_gemm_bf16", {"dot"}) is True
    assert tensor_core("loop_add_fusion", {"fusion"}) is False
    assert tensor_core("gemm_fusion_dot_3", {"fusion", "dot"}) is None


def test_an_older_ingest_says_so(service) -> None:
    """A GPU profile ingested before the kernel statistics existed: said so, not a 500
    (last in the module: it removes the profile's kernel statistics)."""
    svc, _, ids = service
    rec = svc.profiles.get(ids["h100"])
    svc.store.delete(layout.Derived.of(rec).kernels("h0"))
    fresh = Services(svc.settings)  # nothing of the profile opened yet
    client = create_app(svc.settings, services=fresh).test_client()
    old = _get(client, f"/api/v1/profiles/{ids['h100']}/kernels")
    assert not old["available"] and "re-ingest" in old["reason"] and old["kernels"] == []
