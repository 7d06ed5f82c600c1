"""The binary timeline (wire v2, docs/api.md): each column as narrow as the window allows,
and every slice what the event's own details say (serving/events.py finds the event by its
id, in numpy; the window is written by emit_slices in C, narrowed, decoded and widened)."""

from __future__ import annotations

import pytest

from xdiag.core.config import Settings
from xdiag.pipeline import admit
from xdiag.server import create_app
from xdiag.server.services import Services
from xdiag.serving import wire

STEP_NS = 600_000_000  # steps of 0.6 s: the profile spans well over 2^32 ns (4.3 s)


@pytest.fixture(scope="module")
def long_profile(tmp_path_factory) -> tuple:
    from xdiag.xplane.synth import write_synthetic_xspace

    tmp = tmp_path_factory.mktemp("wire")
    path = tmp / "h0.xplane.pb"
    write_synthetic_xspace(path, 4000, n_devices=2, seed=5, step_bound_ns=STEP_NS)
    svc = Services(Settings(store=str(tmp / "store"), ingest_inline=True,
                            host_peaks="matmul_gflops=100,memcpy_gbps=20"))
    rec = svc.admission.store_session(run="r", session="s", source="upload",
                                      files=[admit.HostFile("h0", path)])
    pid = svc.ingest.run(rec["id"], inline=True)["id"]
    client = create_app(services=svc).test_client()
    tracks = client.get(f"/api/v1/profiles/{pid}/tracks").json
    return client, pid, tracks


def _window(client, pid: str, start: int, end: int) -> tuple[dict, dict]:
    r = client.get(f"/api/v1/profiles/{pid}/timeline?start_ns={start}&end_ns={end}&width=800",
                   headers={"Accept": wire.MIME})
    assert r.status_code == 200 and r.data[:4] == wire.MAGIC
    return wire.decode(r.data)


def _types(header: dict) -> dict[str, str]:
    return {c["name"]: c["dtype"] for c in header["columns"]}


@pytest.mark.parametrize("span", ["whole", "short"])
def test_every_slice_is_its_event(long_profile, span: str) -> None:
    client, pid, tracks = long_profile
    end = tracks["end_ns"]
    assert end > 2**32
    mid = tracks["steps"][len(tracks["steps"]) // 2]  # three steps, ~2 s: within 2^32 ns
    start, stop = (0, end) if span == "whole" else (mid["start_ns"], mid["start_ns"] + 3 * STEP_NS)
    header, cols = _window(client, pid, start, stop)
    n = header["count"]
    assert n > 20
    # Times are uint32 after origin_ns only when the slices span less than 2^32 ns.
    span_ns = max(cols["start_ns"] + cols["dur_ns"]) - header["origin_ns"]
    want = "uint32" if span_ns < 2**32 else "float64"
    assert span_ns >= 2**32 if span == "whole" else span_ns < 2**32
    assert _types(header) == {"start_ns": want, "dur_ns": want, "id": "uint32",
                              "name": "uint16", "track": "uint16", "depth": "uint8"}
    assert header["origin_ns"] == min(cols["start_ns"])
    for i in range(0, n, max(1, n // 60)):
        ev = client.get(f"/api/v1/profiles/{pid}/events/{int(cols['id'][i])}").json
        got = {"start_ns": cols["start_ns"][i], "dur_ns": cols["dur_ns"][i],
               "name": header["strings"][cols["name"][i]], "track": cols["track"][i],
               "depth": cols["depth"][i]}
        assert got == {k: ev[k] for k in got}, (i, ev)
    # The JSON variant says the same, slice for slice.
    js = client.get(f"/api/v1/profiles/{pid}/timeline?start_ns={start}&end_ns={stop}"
                    "&width=800&format=json").json["slices"]
    assert [(s["id"], s["start_ns"], s["dur_ns"]) for s in js] == list(
        zip(cols["id"].tolist(), cols["start_ns"].tolist(), cols["dur_ns"].tolist(), strict=True))


def test_an_empty_window_is_well_formed(long_profile) -> None:
    client, pid, tracks = long_profile
    header, cols = _window(client, pid, tracks["end_ns"] + 10, tracks["end_ns"] + 20)
    assert header["count"] == 0 and all(len(c) == 0 for c in cols.values())
