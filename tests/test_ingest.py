"""Ingest against independent oracles: jax.profiler.ProfileData, direct sums, Perfetto's protos."""

from __future__ import annotations

import collections
import gc
import json
import shutil
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from support import FIXTURES, hold_tables, run_cli

from xdiag.core.config import Settings
from xdiag.pipeline.costs import CostMemo
from xdiag.server.services import Services
from xdiag.serving.search import search as search_events
from xdiag.store import layout
from xdiag.store.layout import VERSION

SMALL = FIXTURES / "cpu_small.xplane.pb"


def _services(store_url: str) -> Services:
    return Services(Settings(store=store_url, ingest_inline=True))


def _upload(svc: Services, path: Path, run: str = "r", session: str = "s") -> dict:
    from xdiag.pipeline import admit

    rec = svc.admission.store_session(run=run, session=session,
                               files=[admit.HostFile("h0", path)], source="upload")
    return svc.ingest.run(rec["id"], inline=True)


@pytest.fixture(scope="module")
def oracle():
    """Every event of the fixture as ProfileData (the C++ reference parser) sees it."""
    from jax.profiler import ProfileData

    pd = ProfileData.from_file(str(SMALL))
    rows = []
    for plane in pd.planes:
        for line in plane.lines:
            for ev in line.events:
                st = dict(ev.stats)
                rows.append((plane.name, line.name, ev.name, ev.duration_ns, st))
    return rows


@pytest.fixture
def ingested(tmp_path: Path):
    svc = _services(str(tmp_path / "store"))
    rec = _upload(svc, SMALL)
    assert rec["status"] == "ready", rec.get("error")
    return svc, rec, svc.views.get(rec)


def test_per_track_counts_equal_profiledata(ingested, oracle) -> None:
    _, rec, data = ingested
    assert sum(t["events"] for t in data.tracks) == len(oracle) == rec["events"]
    by_device = collections.Counter(int(st["device_ordinal"]) for _, _, _, _, st in oracle
                                    if "device_ordinal" in st and "hlo_op" in st)
    by_line = collections.Counter(line for _, line, _, _, st in oracle
                                  if not ("device_ordinal" in st and "hlo_op" in st))
    for t in data.tracks:
        if t["group"] == "device":
            assert t["events"] == by_device[t["device"]], t
        else:
            assert t["events"] == by_line[t["name"]], t
    assert len([t for t in data.tracks if t["group"] == "device"]) == len(by_device)


def test_op_totals_equal_direct_sums(ingested, oracle) -> None:
    _, _, data = ingested
    direct: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for _, _, _, dur, st in oracle:
        if "hlo_op" in st and "device_ordinal" in st:
            direct[(str(st.get("hlo_module", "")), str(st["hlo_op"]))].append(dur)
    ops = {(o["module"], o["op"]): o for o in data.analysis("ops")["ops"]}
    assert set(ops) == set(direct)
    for key, durs in direct.items():
        assert ops[key]["occurrences"] == len(durs)
        # We keep integer ns (end rounded up): at most 1 ns per event of difference.
        assert abs(ops[key]["total_ns"] - sum(durs)) <= len(durs) + 1, key


def test_steps_match_annotations(ingested, oracle) -> None:
    _, _, data = ingested
    steps = {int(st["step_num"]) for _, _, _, _, st in oracle if "step_num" in st}
    got = data.analysis("steps")
    assert [s["step"] for s in got["steps"]] == sorted(steps)
    for s in got["steps"]:
        parts = s["compute_ns"] + s["collective_ns"] + s["idle_ns"] + s["host_ns"]
        assert parts == pytest.approx(s["dur_ns"], rel=1e-9)  # disjoint, complete
        assert min(s["compute_ns"], s["collective_ns"], s["idle_ns"], s["host_ns"]) >= 0


def test_roofline_has_points_for_dot_ops(ingested) -> None:
    _, _, data = ingested
    roof = data.analysis("roofline")
    dots = [p for p in roof["ops"] if "dot" in (p["category"], p["fused_category"])]
    assert dots, roof["ops"]
    for p in dots:
        assert p["flops"] > 0 and p["bytes"] > 0 and p["oi"] == pytest.approx(p["flops"] / p["bytes"])
        assert p["flops_per_s"] == pytest.approx(p["flops"] / (p["time_ns"] * 1e-9))
    assert roof["peaks"]["flops_per_s"] > 0 and roof["ridge_oi"] > 0


def test_every_event_reachable_by_zooming(ingested) -> None:
    _, rec, data = ingested
    seen = set()
    span = data.end_ns
    step = max(span // 64, 1)
    for a in range(0, span + 1, step):
        _header, cols = data.timeline(a, a + step, 4000)
        seen.update(cols["id"].tolist())
    assert len(seen) == rec["events"]  # all slices, each under some viewport


def test_perfetto_export_has_every_event(ingested) -> None:
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TrackEvent

    from xdiag.serving.export import perfetto_packets

    _, rec, data = ingested
    trace = Trace.FromString(b"".join(perfetto_packets(data)))
    names = {i.iid: i.name for p in trace.packet for i in p.interned_data.event_names}
    uuid_to_track = {p.track_descriptor.uuid: p.track_descriptor.name for p in trace.packet
                     if p.HasField("track_descriptor")}
    begins: collections.Counter = collections.Counter()
    depth: collections.Counter = collections.Counter()
    for p in trace.packet:
        if not p.HasField("track_event"):
            continue
        te = p.track_event
        if te.type == TrackEvent.TYPE_SLICE_BEGIN:
            assert te.name_iid in names
            begins[uuid_to_track[te.track_uuid]] += 1
            depth[te.track_uuid] += 1
        elif te.type == TrackEvent.TYPE_SLICE_END:
            depth[te.track_uuid] -= 1
            assert depth[te.track_uuid] >= 0
    assert sum(begins.values()) == rec["events"]
    assert all(v == 0 for v in depth.values())
    for t in data.tracks:
        assert begins[t["name"]] == t["events"]


def test_corrupt_host_file_fails_the_profile_with_reason(tmp_path: Path) -> None:
    svc = _services(str(tmp_path / "store"))
    from xdiag.pipeline import admit

    rec = svc.admission.store_session(run="r", session="bad",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    key = layout.raw_key("r", "bad", "h0")
    svc.store.write(key, SMALL.read_bytes()[: SMALL.stat().st_size // 3])  # damaged in the store
    out = svc.ingest.run(rec["id"], inline=True)
    assert out["status"] == "failed" and "h0" in out["error"]
    assert [k for k in svc.store.list("r/") if "/.xdiag/" in k] == []
    listed = svc.profiles.list()
    assert listed[0]["status"] == "failed"


def test_ingest_is_idempotent(tmp_path: Path) -> None:
    svc = _services(str(tmp_path / "store"))
    rec = _upload(svc, SMALL)
    prefix = layout.derived_prefix("r", "s", VERSION)
    def snapshot() -> dict[str, object]:
        out: dict[str, object] = {}
        for k in svc.store.list(prefix):
            if k.endswith(".json"):  # timings differ between runs; everything else must not
                doc = svc.store.read_json(k)
                doc.pop("seconds", None)
                out[k] = doc
            else:
                out[k] = svc.store.read(k)
        return out

    first = snapshot()
    svc.ingest.run(rec["id"], inline=True)
    assert snapshot() == first


def test_outdated_views_are_rebuilt_in_the_background(tmp_path: Path) -> None:
    """Views of an older version are never rebuilt inside a request: the request gets a
    409 that says so (with Retry-After) while the runner rebuilds them in the background,
    and the next request after that is answered from the new views."""
    import threading

    from xdiag.server import create_app

    svc = _services(str(tmp_path / "store"))
    rec = _upload(svc, SMALL)
    ops = svc.views.get(rec).analysis_json("ops")
    svc.store.delete_prefix(layout.derived_prefix("r", "s", VERSION))
    svc.profiles.update(rec["id"], ingest={"version": VERSION - 1})
    started, release = threading.Event(), threading.Event()
    run = svc.ingest.run

    def held_run(pid: str, **kwargs):  # the background re-ingest waits until released
        started.set()
        assert release.wait(60)
        return run(pid, **kwargs)

    svc.ingest.run = held_run  # type: ignore[method-assign]
    client = create_app(services=svc).test_client()
    try:
        resp = client.get(f"/api/v1/profiles/{rec['id']}/ops")
        assert resp.status_code == 409, resp.data
        assert "being rebuilt in the background" in resp.json["detail"]
        assert resp.headers["Retry-After"]
        assert started.wait(30)  # queued (at start-up, and by the request: once)
        assert client.get(f"/api/v1/profiles/{rec['id']}/tracks").status_code == 409
    finally:
        release.set()
    deadline = time.monotonic() + 60
    while svc.profiles.get(rec["id"])["ingest"]["version"] != VERSION:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    resp = client.get(f"/api/v1/profiles/{rec['id']}/ops")
    assert resp.status_code == 200 and resp.data == ops


def test_standalone_ingest_equals_service_ingest(tmp_path: Path, monkeypatch) -> None:
    # Both processes must use the same peaks (otherwise each measures its own host).
    monkeypatch.setenv("XDIAG_HOST_PEAKS", "matmul_gflops=100,memcpy_gbps=20")
    svc = Services(Settings.from_env(store=str(tmp_path / "a"), ingest_inline=True))
    _upload(svc, SMALL)
    # The same raw session written straight into a second store, then `xdiag ingest`.
    raw = tmp_path / "b" / "r" / "plugins" / "profile" / "s"
    raw.mkdir(parents=True)
    shutil.copy(SMALL, raw / "h0.xplane.pb")
    res = run_cli("ingest", "r/plugins/profile/s", "--store", str(tmp_path / "b"), "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["id"] == "r~s"
    pa, pb = tmp_path / "a" / layout.derived_prefix("r", "s", VERSION), \
        tmp_path / "b" / layout.derived_prefix("r", "s", VERSION)
    files = sorted(p.relative_to(pa) for p in pa.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(pb) for p in pb.rglob("*") if p.is_file())
    for f in files:
        if f.name == "manifest.json":
            ma, mb = json.loads((pa / f).read_text()), json.loads((pb / f).read_text())
            ma.pop("seconds"), mb.pop("seconds")
            assert ma == mb
        elif f.suffix == ".json" and f.parent.name == "hosts":
            ha, hb = json.loads((pa / f).read_text()), json.loads((pb / f).read_text())
            ha.pop("seconds", None), hb.pop("seconds", None)
            assert ha == hb
        else:
            assert (pa / f).read_bytes() == (pb / f).read_bytes(), f


def test_per_host_ingest_then_finalize(tmp_path: Path) -> None:
    raw = tmp_path / "st" / "r" / "plugins" / "profile" / "s"
    raw.mkdir(parents=True)
    shutil.copy(SMALL, raw / "h0.xplane.pb")
    shutil.copy(SMALL, raw / "h1.xplane.pb")
    store = str(tmp_path / "st")
    for h in ("h0", "h1"):
        res = run_cli("ingest", "r~s", "--store", store, "--host", h)
        assert res.returncode == 0, res.stderr
    res = run_cli("ingest", "r~s", "--store", store, "--finalize", "--json")
    assert res.returncode == 0, res.stderr
    svc = _services(store)
    rec = svc.profiles.get("r~s")
    assert rec["status"] == "ready"
    data = svc.views.get(rec)
    assert sum(t["events"] for t in data.tracks) == 2 * rec["hosts"][0]["events"]
    assert np.all(np.diff([h["eid_base"] for h in data.manifest["hosts"]]) > 0)


def test_multi_host_ingest_reports_progress(tmp_path: Path) -> None:
    from xdiag.pipeline import admit

    svc = _services(str(tmp_path / "store"))
    rec = svc.admission.store_session(run="r", session="two",
                               files=[admit.HostFile("h0", SMALL), admit.HostFile("h1", SMALL)],
                               source="upload")
    out = svc.ingest.run(rec["id"], inline=True)
    assert out["status"] == "ready"
    assert out["ingest_progress"] == {"hosts_done": 2, "hosts": 2,
                                      "events_done": 2 * rec["hosts"][0]["events"]}


def test_module_costs_are_computed_once_per_store(tmp_path: Path, monkeypatch) -> None:
    from xdiag.analysis import hlo_costs

    calls = []
    real = hlo_costs.module_costs
    monkeypatch.setattr(hlo_costs, "module_costs", lambda proto: calls.append(1) or real(proto))
    svc = _services(str(tmp_path / "store"))
    first = _upload(svc, SMALL, session="a")
    n_modules = len(calls)
    assert n_modules > 0
    second = _upload(svc, SMALL, session="b")  # the same job again: same modules
    assert len(calls) == n_modules
    ops = lambda rec: svc.views.get(rec).analysis("ops")["ops"]  # noqa: E731
    assert ops(first) == ops(second)
    # Another process (an empty memo) reads them from the store.
    monkeypatch.setattr(svc.ingest, "costs", CostMemo())
    third = _upload(svc, SMALL, session="c")
    assert len(calls) == n_modules and ops(third) == ops(first)
    # Another store has its own.
    _upload(_services(str(tmp_path / "other")), SMALL, session="a")
    assert len(calls) == 2 * n_modules


def test_search_pages_are_the_time_ordered_matches(tmp_path: Path) -> None:
    """Search pages against a brute force: every match of the name substring over all
    hosts, sorted by start (ties: host, then index order), paged after `after_ns`. Two
    hosts with the same file make every match a tie across hosts."""
    import random

    from xdiag.pipeline import admit

    svc = _services(str(tmp_path / "store"))
    rec = svc.admission.store_session(run="r", session="two",
                               files=[admit.HostFile("h0", SMALL), admit.HostFile("h1", SMALL)],
                               source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    data = svc.views.get(rec)

    def brute(q: str) -> list[tuple[int, int]]:  # (start_ns, id) of every match, in order
        out = []
        for h in data.hosts:
            idx = h.index
            # An op also matches by its JAX scope (checked against protobuf in test_search).
            scopes = h.scopes()
            for p in range(idx.num_events):
                name = h.names[int(idx.ev_name[p])]
                scope = scopes.get(int(idx.ev_name[p]), "")
                if (q.lower() in name.lower() or q.lower() in scope.lower()) \
                        and not name.startswith("end:"):
                    out.append((int(idx.ev_start[p]), int(h.eid_base + idx.ev_src[p])))
        return sorted(out, key=lambda m: m[0])  # stable: host, then index order

    rng = random.Random(1)
    names = sorted({n for h in data.hosts for n in h.names if n})
    for q in ["fusion", "DOT", "e", "no such op"] + [n[:3] for n in rng.sample(names, 5)]:
        every = brute(q)
        after, seen = None, 0
        for _ in range(8):
            limit = rng.choice([1, 5, 64])
            page = search_events(data, q, after, limit)
            rest = [m for m in every if after is None or m[0] > after]
            assert page["total"] == len(every)
            assert [(m["start_ns"], m["id"]) for m in page["matches"]] == rest[:limit], (q, after)
            assert (page["next_after_ns"] is None) == (len(rest) <= limit)
            seen += len(page["matches"])
            if page["next_after_ns"] is None:
                break
            after = page["next_after_ns"] if rng.random() < 0.7 else \
                page["matches"][0]["start_ns"] + rng.randint(0, 10**6)
        assert seen or not every


def test_timeline_is_served_while_the_tables_are_built(store_url: str, monkeypatch) -> None:
    """Ingest writes the timeline first: while the op and step tables are still being
    built, the timeline endpoints answer with every event and the tables answer 409; once
    ready, the same viewport comes back byte for byte."""
    import threading

    from xdiag.pipeline import admit
    from xdiag.server import create_app

    reached, release = hold_tables(monkeypatch)
    svc = _services(store_url)
    client = create_app(services=svc).test_client()
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    pid = rec["id"]
    worker = threading.Thread(target=svc.ingest.run, args=(pid,), kwargs={"inline": True})
    worker.start()
    try:
        assert reached.wait(120)
        for _ in range(200):  # the index is written by a thread: wait for it
            prof = client.get(f"/api/v1/profiles/{pid}").json
            if prof["timeline_ready"]:
                break
            threading.Event().wait(0.05)
        assert prof["status"] == "ingesting" and prof["timeline_ready"]
        tracks = client.get(f"/api/v1/profiles/{pid}/tracks").json
        assert tracks["complete"] is False and tracks["steps"] == []
        assert sum(t["events"] for t in tracks["tracks"]) == rec["events"]
        view = f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={tracks['end_ns']}&width=800"
        early = client.get(view)
        assert early.status_code == 200
        hits = client.get(f"/api/v1/profiles/{pid}/search?q=fusion").json
        assert hits["total"] > 0
        detail = client.get(f"/api/v1/profiles/{pid}/events/{hits['matches'][0]['id']}").json
        assert detail["name"] == hits["matches"][0]["name"] and detail["flops"] is None
        for name in ("ops", "steps", "roofline", "hlo"):
            r = client.get(f"/api/v1/profiles/{pid}/{name}")
            assert r.status_code == 409, (name, r.status_code)
    finally:
        release.set()
        worker.join(120)
    assert svc.profiles.get(pid)["status"] == "ready"
    final = client.get(f"/api/v1/profiles/{pid}/tracks").json
    assert final["complete"] is True and final["steps"]
    assert final["tracks"] == tracks["tracks"] and final["end_ns"] == tracks["end_ns"]
    assert client.get(view).data == early.data
    assert client.get(f"/api/v1/profiles/{pid}/ops").status_code == 200
    assert "timeline_ready" not in client.get(f"/api/v1/profiles/{pid}").json


def test_timeline_is_served_from_memory_while_its_file_is_written(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """In the ingesting process, the viewer opens a host's index as soon as it is built,
    before its file is in the store (the container's `live.early`); once written, the store
    answers, and the viewports are the same bytes."""
    import threading

    from xdiag.pipeline import admit
    from xdiag.server import create_app
    from xdiag.store.local import LocalStore

    writing, release = threading.Event(), threading.Event()
    write_parts = LocalStore.write_parts

    def held(self, key, parts, **kwargs):  # the index file's write waits here
        if key.endswith(".tl"):
            writing.set()
            assert release.wait(120)
        return write_parts(self, key, parts, **kwargs)

    monkeypatch.setattr(LocalStore, "write_parts", held)
    svc = _services(str(tmp_path / "store"))
    client = create_app(services=svc).test_client()
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    pid = rec["id"]
    tl_key = layout.Derived.of(rec).index("h0")
    worker = threading.Thread(target=svc.ingest.run, args=(pid,), kwargs={"inline": True})
    worker.start()
    try:
        assert writing.wait(120)
        assert not svc.store.exists(tl_key) and not svc.store.exists(tl_key + ".json")
        prof = client.get(f"/api/v1/profiles/{pid}?wait=timeline&timeout=0").json
        assert prof["status"] == "ingesting" and prof["timeline_ready"] is True
        tracks = client.get(f"/api/v1/profiles/{pid}/tracks").json
        assert tracks["complete"] is False
        assert sum(t["events"] for t in tracks["tracks"]) == rec["events"]
        views = [f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={tracks['end_ns']}"
                 "&width=800",
                 f"/api/v1/profiles/{pid}/timeline?start_ns={tracks['end_ns'] // 3}"
                 f"&end_ns={tracks['end_ns'] // 2}&width=300&format=json"]
        early = [client.get(v) for v in views]
        assert all(r.status_code == 200 for r in early)
        hits = client.get(f"/api/v1/profiles/{pid}/search?q=fusion").json
        assert hits["total"] > 0
        assert svc.live.early.get(tl_key) is not None
        held = weakref.ref(svc.live.early.get(tl_key)[0]["ev_start"])
    finally:
        release.set()
        worker.join(120)
    assert svc.profiles.get(pid)["status"] == "ready"
    assert svc.live.early.get(tl_key) is None  # the store answers now
    # ... and the viewer let go of the index it opened from memory, with nothing asked of
    # it since: the next ingest does not find it still resident.
    gc.collect()
    assert held() is None
    final = client.get(f"/api/v1/profiles/{pid}/tracks").json
    assert final["tracks"] == tracks["tracks"] and final["end_ns"] == tracks["end_ns"]
    assert [client.get(v).data for v in views] == [r.data for r in early]
    # The same matches; once the tables are built they also carry the ops' JAX scopes.
    after = client.get(f"/api/v1/profiles/{pid}/search?q=fusion").json
    strip = lambda r: {**r, "matches": [{k: v for k, v in m.items() if k != "scope"}  # noqa: E731
                                        for m in r["matches"]]}
    assert strip(after) == strip(hits) and any("scope" in m for m in after["matches"])


def test_profile_get_waits_for_the_timeline_then_for_ready(tmp_path: Path, monkeypatch) -> None:
    """`wait=timeline` / `wait=ready` hold the answer for an ingesting profile until its
    timeline is written / its ingest has ended (the web UI's long poll), not longer."""
    import threading

    from xdiag.pipeline import admit
    from xdiag.server import create_app
    from xdiag.store.live import Changes

    reached, release = hold_tables(monkeypatch)
    waiting: dict[int, threading.Event] = collections.defaultdict(threading.Event)

    class Watched(Changes):
        def wait(self, seen: int, timeout: float) -> None:
            waiting[threading.get_ident()].set()
            super().wait(seen, timeout)

    svc = _services(str(tmp_path / "store"))
    svc.live.changes = Watched()
    app = create_app(services=svc)
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    pid = rec["id"]
    client = app.test_client()
    now = client.get(f"/api/v1/profiles/{pid}?wait=ready&timeout=0").json
    assert now["status"] == "ingesting" and now["timeline_ready"] is False
    for bad in ("wait=soon", "wait=ready&timeout=99", "wait=ready&timeout=x"):
        r = client.get(f"/api/v1/profiles/{pid}?{bad}")
        assert r.status_code == 400, bad

    answers: dict[str, dict] = {}
    asked: dict[str, int] = {}

    def ask(until: str) -> None:
        asked[until] = threading.get_ident()
        answers[until] = app.test_client().get(
            f"/api/v1/profiles/{pid}?wait={until}&timeout=25").json

    askers = {u: threading.Thread(target=ask, args=(u,)) for u in ("timeline", "ready")}
    for t in askers.values():
        t.start()
    for u in askers:  # both requests are waiting before the ingest starts
        while u not in asked:
            threading.Event().wait(0.01)
        assert waiting[asked[u]].wait(30)
    worker = threading.Thread(target=svc.ingest.run, args=(pid,), kwargs={"inline": True})
    worker.start()
    try:
        askers["timeline"].join(60)
        assert answers["timeline"]["status"] == "ingesting"
        assert answers["timeline"]["timeline_ready"] is True
        assert reached.wait(60) and "ready" not in answers  # still held by the tables
    finally:
        release.set()
        worker.join(120)
        askers["ready"].join(60)
    assert answers["ready"]["status"] == "ready" and "timeline_ready" not in answers["ready"]
    done = client.get(f"/api/v1/profiles/{pid}?wait=timeline").json  # nothing to wait for
    assert done["status"] == "ready"


def test_single_host_upload_is_parsed_once(tmp_path: Path, monkeypatch) -> None:
    """Validation's parse is handed to the ingest in the same process (pipeline/handoff.py):
    the ingest does not parse the file again, and writes exactly the views a fresh parse
    gives."""
    from xdiag.pipeline import admit
    from xdiag.xplane import lean

    fresh = _services(str(tmp_path / "fresh"))
    rec = fresh.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h0", SMALL)], source="upload")
    key = layout.raw_key("r", "s", "h0")
    assert fresh.handoff.take(key + "x", SMALL.stat().st_size) is None  # not ours
    assert fresh.handoff.take(key, SMALL.stat().st_size) is not None
    assert fresh.handoff.take(key, SMALL.stat().st_size) is None  # taken once
    assert fresh.ingest.run(rec["id"], inline=True)["status"] == "ready"

    svc = _services(str(tmp_path / "once"))
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h0", SMALL)], source="upload")

    def no_second_parse(*args, **kwargs):
        raise AssertionError("ingest parsed the upload again")

    monkeypatch.setattr(lean, "read_xspace_lean", no_second_parse)
    assert svc.ingest.run(rec["id"], inline=True)["status"] == "ready"
    pa = tmp_path / "fresh" / layout.derived_prefix("r", "s", VERSION)
    pb = tmp_path / "once" / layout.derived_prefix("r", "s", VERSION)
    for f in sorted(p.relative_to(pa) for p in pa.rglob("*") if p.is_file()):
        if f.suffix == ".json" and f.name != "ops.json":
            continue  # timings inside
        assert (pa / f).read_bytes() == (pb / f).read_bytes(), f


def test_resume_starts_an_interrupted_ingest_over(tmp_path: Path, monkeypatch) -> None:
    """A profile left `ingesting` (the service died mid-ingest) loses its partial views
    before it is queued again: nothing early is served from files a crash may have cut."""
    svc = _services(str(tmp_path / "store"))
    rec = _upload(svc, SMALL)
    done = _upload(svc, SMALL, session="s2")
    svc.profiles.update(rec["id"], status="ingesting")
    prefix = tmp_path / "store" / layout.derived_prefix("r", "s", VERSION)
    assert (prefix / "hosts" / "h0.tl.json").exists()
    queued: list[str] = []
    monkeypatch.setattr(svc.ingest, "submit", queued.append)
    assert svc.ingest.resume_pending() == 1
    assert queued == [rec["id"]]
    assert not any(p.is_file() for p in prefix.rglob("*"))
    # The ready profile beside it keeps its views.
    assert (tmp_path / "store" / layout.derived_prefix("r", "s2", VERSION) /
            "manifest.json").exists()
    assert svc.profiles.get(done["id"])["status"] == "ready"
    svc.ingest.run(rec["id"], inline=True)
    again = svc.profiles.get(rec["id"])
    assert again["status"] == "ready"
    assert sum(t["events"] for t in svc.views.get(again).tracks) == again["events"]
