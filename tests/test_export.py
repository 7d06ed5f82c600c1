"""Perfetto export: the bytes read back by the `perfetto` package's own protos, and every
event of odd profiles (clocks at 0, before 1970 or near 2262, instants, overlaps) back with
its exact time, from the test's own event lists. The check against the real trace processor
(Perfetto UI in Chromium) is tests/e2e/test_perfetto_export.py."""

from __future__ import annotations

import collections
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from odd_profiles import odd_profile, write_xspace
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TracePacket, TrackEvent
from support import FIXTURES, run_cli

from xdiag.core.config import Settings
from xdiag.core.errors import InvalidProfile
from xdiag.server.services import Services
from xdiag.serving import perfetto_wire as wire
from xdiag.serving.export import perfetto_packets


def _ingest(tmp_path: Path, xplane: Path, host: str = "h0"):
    from xdiag.pipeline import admit

    svc = Services(Settings(store=str(tmp_path / "store"), ingest_inline=True))
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile(host, xplane)], source="upload")
    rec = svc.ingest.run(rec["id"], inline=True)
    assert rec["status"] == "ready", rec.get("error")
    return svc.views.get(rec)


def replay(trace: Trace) -> tuple[list[tuple[str, str, int, int]], dict[int, str]]:
    """Slices (timeline track, name, start, duration) rebuilt the way trace_processor
    does: per track, an END closes the innermost open slice. Also checks that packets
    come in time order per sequence and that every slice is closed."""
    names: dict[tuple[int, int], str] = {}
    desc = {p.track_descriptor.uuid: p.track_descriptor for p in trace.packet
            if p.HasField("track_descriptor")}

    def timeline_track(uuid: int) -> str:
        # Child tracks (lanes, overlapping slices) belong to their parent's timeline track.
        while desc[uuid].parent_uuid and not desc[desc[uuid].parent_uuid].HasField("process"):
            uuid = desc[uuid].parent_uuid
        return desc[uuid].name

    open_: dict[int, list] = collections.defaultdict(list)
    last_ts: dict[int, int] = {}
    out = []
    for p in trace.packet:
        seq = p.trusted_packet_sequence_id
        for en in p.interned_data.event_names:
            names[seq, en.iid] = en.name
        if not p.HasField("track_event"):
            continue
        assert p.timestamp >= last_ts.get(seq, 0)
        last_ts[seq] = p.timestamp
        te = p.track_event
        assert p.sequence_flags == TracePacket.SEQ_NEEDS_INCREMENTAL_STATE
        if te.type == TrackEvent.TYPE_SLICE_BEGIN:
            open_[te.track_uuid].append((names[seq, te.name_iid], p.timestamp))
        else:
            assert te.type == TrackEvent.TYPE_SLICE_END
            name, ts = open_[te.track_uuid].pop()
            out.append((timeline_track(te.track_uuid), name, ts, p.timestamp - ts))
    assert not any(open_.values())
    return out, {u: d.name for u, d in desc.items()}


def _export(data) -> Trace:
    return Trace.FromString(b"".join(perfetto_packets(data)))


# -- the wire format ---------------------------------------------------------------------


def test_slice_packets_read_back_by_perfettos_protos() -> None:
    rng = np.random.default_rng(7)
    k = 5000
    edge = np.array([0, 1, 127, 128, 2**14, 2**35, 2**56, 2**63 - 1], np.uint64)
    ts = np.concatenate([edge, rng.integers(0, 2**63 - 1, k - len(edge), dtype=np.uint64)])
    uuid = rng.integers(0, 2**64 - 1, k, dtype=np.uint64, endpoint=True)
    uuid[:3] = [0, 127, 2**64 - 1]
    iid = rng.integers(1, 2**32, k, dtype=np.uint64)
    is_end = rng.random(k) < 0.5
    trace = Trace.FromString(wire.slice_events(77, ts, uuid, iid, is_end).tobytes())
    assert len(trace.packet) == k
    for i, p in enumerate(trace.packet):
        assert (p.timestamp, p.track_event.track_uuid, p.trusted_packet_sequence_id) == \
            (int(ts[i]), int(uuid[i]), 77)
        if is_end[i]:
            assert p.track_event.type == TrackEvent.TYPE_SLICE_END
            assert not p.track_event.HasField("name_iid")
        else:
            assert p.track_event.type == TrackEvent.TYPE_SLICE_BEGIN
            assert p.track_event.name_iid == int(iid[i])


def test_descriptors_and_interned_names_read_back() -> None:
    names = ["", "fusion.1", "µs · naïve", "bad \udcff byte"]
    data = (wire.track_descriptor(1, "host-a", pid=7)
            + wire.track_descriptor(2**40, "XLA ops · device 0", parent_uuid=1)
            + wire.interned_names(9, names))
    p = Trace.FromString(data).packet
    assert p[0].track_descriptor.process.pid == 7
    assert p[0].track_descriptor.process.process_name == "host-a"
    assert (p[1].track_descriptor.uuid, p[1].track_descriptor.parent_uuid,
            p[1].track_descriptor.name) == (2**40, 1, "XLA ops · device 0")
    assert p[2].incremental_state_cleared
    assert p[2].sequence_flags == TracePacket.SEQ_INCREMENTAL_STATE_CLEARED
    assert [(e.iid, e.name) for e in p[2].interned_data.event_names] == \
        [(1, ""), (2, "fusion.1"), (3, "µs · naïve"), (4, "bad ? byte")]
    with pytest.raises(ValueError):
        wire.varint(-1)


# -- whole profiles ------------------------------------------------------------------------


@pytest.mark.parametrize("line_ts_ns", [0, 1_790_000_000_000_000_000, 2**63 - 10_000],
                         ids=["epoch", "year-2026", "year-2262"])
def test_odd_profile_every_event_back_exactly(tmp_path: Path, line_ts_ns: int) -> None:
    raw = tmp_path / "odd.xplane.pb"
    oracle = odd_profile(raw, line_ts_ns)
    data = _ingest(tmp_path, raw)
    got, tracks = replay(_export(data))
    t_min = min(start for _, _, start, _ in got)
    o_min = min(start for _, _, start, _ in oracle)
    assert collections.Counter((t, n, s - t_min, d) for t, n, s, d in got) == \
        collections.Counter((t, n, s - o_min, d) for t, n, s, d in oracle)
    # Absolute times where the last end fits trace_processor's int64; else the trace
    # starts at 0.
    assert t_min == (o_min if line_ts_ns < 2**63 - 10**6 else 0)
    # The straddling slice could not nest: it is on a child track.
    assert any(name.startswith("overlapping · depth") for name in tracks.values())
    # Per timeline track, the counts that the tracks API reports.
    per_track = collections.Counter(t for t, *_ in got)
    assert per_track == {t["name"]: t["events"] for t in data.tracks}


def test_a_profile_stored_with_a_clock_before_1970_exports_from_0(tmp_path: Path) -> None:
    """Uploads are now refused negative times, but profiles stored before may have them:
    their trace starts at 0 rather than failing half-way."""
    raw = tmp_path / "odd.xplane.pb"
    oracle = odd_profile(raw, 0)
    data = _ingest(tmp_path, raw)
    data.manifest = {**data.manifest, "t0_ns": -5_000_000_000}
    got, _ = replay(_export(data))
    assert sorted((n, s, d) for _, n, s, d in got) == sorted((n, s, d) for _, n, s, d in oracle)


def test_real_capture_every_event_back_on_its_track(tmp_path: Path) -> None:
    """A real 8-device CPU capture: every slice of the index (whose counts test_ingest
    checks against jax's ProfileData) back with its name and duration on its track."""
    data = _ingest(tmp_path, FIXTURES / "cpu_small.xplane.pb")
    got, _ = replay(_export(data))
    want = collections.Counter()
    for h in data.hosts:
        idx = h.index
        track = np.repeat(idx.seg_track, np.diff(idx.seg_ptr)) + h.track_base
        for t, name, s, e in zip(track.tolist(), idx.ev_name.tolist(), idx.ev_start.tolist(),
                                 idx.ev_end.tolist(), strict=True):
            want[data.tracks[t]["name"], h.names[name], e - s] += 1
    assert collections.Counter((t, n, d) for t, n, _, d in got) == want
    assert len(got) == sum(t["events"] for t in data.tracks) > 1000


def test_an_export_that_cannot_be_written_fails_before_any_byte() -> None:
    """perfetto_packets plans everything when called: the HTTP route can still answer
    with a JSON error instead of a 200 that breaks off."""
    idx = SimpleNamespace(num_events=2, ev_start=np.array([-(2**62), 0]),
                          ev_end=np.array([0, 2**62]))
    data = SimpleNamespace(hosts=[SimpleNamespace(index=idx, host="h0")], tracks=[],
                           manifest={"t0_ns": 0})
    with pytest.raises(InvalidProfile, match="span"):
        perfetto_packets(data)  # not iterated


def test_the_route_answers_a_failed_plan_with_a_json_error(tmp_path: Path,
                                                         monkeypatch) -> None:
    """Over HTTP: an export that cannot be planned is a JSON 4xx, not a 200 that breaks
    off (the planning step is made to fail here; what fails it in reality is the span
    check above)."""
    from xdiag.server import create_app
    from xdiag.serving import export

    raw = tmp_path / "odd.xplane.pb"
    odd_profile(raw)
    data = _ingest(tmp_path, raw)
    client = create_app(services=Services(Settings(store=str(tmp_path / "store")))).test_client()
    url = f"/api/v1/profiles/{data.record['id']}/export?format=perfetto"
    ok = client.get(url)
    assert ok.status_code == 200
    assert len(replay(Trace.FromString(ok.data))[0]) == sum(t["events"] for t in data.tracks)

    def refuse(*_):
        raise InvalidProfile("the profile's events span 3000000 h")

    monkeypatch.setattr(export, "_time_base", refuse)
    resp = client.get(url)
    assert resp.status_code == 400
    assert resp.get_json()["detail"] == "the profile's events span 3000000 h"


def test_multi_host_sequences_intern_their_own_names(tmp_path: Path) -> None:
    from xdiag.pipeline import admit

    oracle = {}
    files = []
    for host, events in (("a", [("x", 0, 5), ("y", 1, 1)]), ("b", [("y", 0, 3), ("z", 4, 1)])):
        path = tmp_path / f"{host}.xplane.pb"
        oracle[host] = write_xspace(path, 1_700_000_000_000_000_000, {"main": events})
        files.append(admit.HostFile(host, path))
    svc = Services(Settings(store=str(tmp_path / "store"), ingest_inline=True))
    rec = svc.admission.store_session(run="r", session="s", files=files,
                               source="upload")
    data = svc.views.get(svc.ingest.run(rec["id"], inline=True))
    trace = _export(data)
    seqs = {p.trusted_packet_sequence_id for p in trace.packet if p.HasField("track_event")}
    assert len(seqs) == 2
    got, _ = replay(trace)
    assert sorted((n, s, d) for _, n, s, d in got) == \
        sorted((n, s, d) for ev in oracle.values() for _, n, s, d in ev)


# -- the command line ----------------------------------------------------------------------


def test_cli_export_writes_the_file_or_nothing(tmp_path: Path, serve) -> None:
    svc = serve(str(tmp_path / "store"))
    raw = tmp_path / "odd.xplane.pb"
    oracle = odd_profile(raw)
    res = run_cli("upload", str(raw), "--server", svc.url, "--run", "odd", "--session", "s1")
    assert res.returncode == 0, res.stderr
    out = tmp_path / "out" / "odd.perfetto-trace"
    out.parent.mkdir()
    res = run_cli("export", "odd~s1", "--format", "perfetto", "-o", str(out), "--server", svc.url)
    assert res.returncode == 0, res.stderr
    got, _ = replay(Trace.FromString(out.read_bytes()))
    assert len(got) == len(oracle)
    res = run_cli("export", "odd~nope", "-o", str(tmp_path / "out" / "x"), "--server", svc.url)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["odd.perfetto-trace"]


def test_a_download_that_breaks_off_leaves_no_file(tmp_path: Path) -> None:
    """A 200 whose body stops half-way (the service died): a clear error, and neither the
    file nor a partial one is left."""
    from xdiag.cli.client import Client, ClientError

    srv = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"x" * 1024 + b"\r\n")
        conn.close()

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    dest = tmp_path / "trace.pftrace"
    with pytest.raises(ClientError, match="broke off after 1,024 bytes"):
        Client(f"http://127.0.0.1:{srv.getsockname()[1]}").download("/export", dest)
    t.join(5)
    srv.close()
    assert list(tmp_path.iterdir()) == []
