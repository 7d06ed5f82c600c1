"""One benchmark measurement per process, so peak RSS and cold starts are honest.

    python -m bench.worker TASK ARGS...  -> prints one JSON line

Tasks: xprof_cold, xprof_warm, xdiag_ingest, xdiag_views. Times are wall seconds.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPEAT = 20  # warm look-ups timed per tool; the median is reported


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _windows(span_ns: int, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """Random new viewports, log-uniform in length (from 1/2000 of the span to all of it)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        length = int(10 ** rng.uniform(np.log10(max(span_ns / 2000, 1000)), np.log10(span_ns)))
        start = int(rng.uniform(0, max(span_ns - length, 1)))
        out.append((start, start + length))
    return out


def _xprof_copy(path: str) -> tuple[str, Path]:
    """xprof writes cache files next to the xplane: work on a private copy."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-xprof-"))
    dst = tmp / "plugins" / "profile" / "s" / Path(path).name
    dst.parent.mkdir(parents=True)
    shutil.copy(path, dst)
    return str(dst), tmp


def _trace_viewer(paths: list[str], start_ms: float | None = None,
                  end_ms: float | None = None) -> bytes:
    from xprof.convert import raw_to_tool_data

    opts = {"resolution": "8000"}
    if start_ms is not None:
        opts.update(start_time_ms=f"{start_ms:.6f}", end_time_ms=f"{end_ms:.6f}")
    data, _ = raw_to_tool_data.xspace_to_tool_data(paths, "trace_viewer@",
                                                   {"trace_viewer_options": opts})
    if data is None:
        raise RuntimeError("xprof returned no trace_viewer@ data")
    return data if isinstance(data, bytes) else data.encode()


def _table_rows(body: bytes) -> int:
    """Rows of a gviz DataTable JSON (xprof's hlo_stats / roofline_model), 0 if empty."""
    try:
        doc = json.loads(body)
    except ValueError:
        return 0
    tables = doc if isinstance(doc, list) else [doc]
    return sum(len(t.get("rows") or []) for t in tables if isinstance(t, dict))


def xprof_cold(path: str) -> dict:
    """First trace_viewer@ request on a fresh file: what a user waits for in stock xprof."""
    copy, tmp = _xprof_copy(path)
    t = time.perf_counter()
    data = _trace_viewer([copy])
    seconds = time.perf_counter() - t
    shutil.rmtree(tmp, ignore_errors=True)
    head = data[: data.find(b'"traceEvents"')]
    returned = int(head.split(b'"returnedEventsSize":')[1].split(b",")[0]) \
        if b'"returnedEventsSize":' in head else data.count(b'"ph":"X"')
    return {"seconds": seconds, "rss_mb": _rss_mb(), "bytes": len(data), "events": returned}


def xprof_warm(path: str, n: str) -> dict:
    """New-window trace_viewer@ requests after the first, and warm hlo_stats / roofline_model."""
    from xprof.convert import raw_to_tool_data

    copy, tmp = _xprof_copy(path)
    first = _trace_viewer([copy])
    meta = json.loads(first[: first.find(b'"traceEvents"')].rstrip(b", ") + b"}") \
        if b'"traceEvents"' in first else {}
    span = meta.get("fullTimespan") or [0, 0]
    span_ms = (float(span[0]), float(span[1])) if len(span) == 2 else (0.0, 0.0)
    times = []
    for a, b in _windows(int((span_ms[1] - span_ms[0]) * 1e6), int(n)):
        t = time.perf_counter()
        _trace_viewer([copy], span_ms[0] + a / 1e6, span_ms[0] + b / 1e6)
        times.append(time.perf_counter() - t)
    tools = {}
    for tool in ("hlo_stats", "roofline_model"):
        t = time.perf_counter()
        data, _ = raw_to_tool_data.xspace_to_tool_data([copy], tool, {})  # builds and caches
        cold = time.perf_counter() - t
        warm = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            data, _ = raw_to_tool_data.xspace_to_tool_data([copy], tool, {})
            warm.append(time.perf_counter() - t)
        body = data if isinstance(data, bytes) else (data or "").encode()
        tools[tool] = {"seconds": float(np.median(warm)), "cold_seconds": cold,
                       "bytes": len(body), "rows": _table_rows(body)}
    shutil.rmtree(tmp, ignore_errors=True)
    return {"window_p50": float(np.median(times)), "window_p90": float(np.percentile(times, 90)),
            "span_ms": span_ms, **tools, "rss_mb": _rss_mb()}


def _as_received(path: str, store: str) -> Path:
    """The file as the service holds an upload or a capture once it has arrived: its own
    temporary file (freshly written: its pages not yet on disk), on the store's filesystem.
    Like xprof's logdir file, it is on disk before the clock starts; storing it is then
    the service's own step (a hard link plus fsync into a local store)."""
    dst = Path(tempfile.mkdtemp(prefix="received-", dir=Path(store).parent)) / "h0.xplane.pb"
    shutil.copyfile(path, dst)
    return dst


def xdiag_ingest(path: str, store: str) -> dict:
    """Validate + ingest one host file into a fresh local store, timing what a viewer sees:
    the first viewport as soon as the timeline opens (ingest writes it before the op and
    step tables and HLO costs), and the first viewport after the whole ingest. The viewer
    is the web UI's sequence over HTTP: the profile (a long poll until its timeline opens),
    its tracks, the whole-profile viewport."""
    import threading

    from xdiag.core.config import Settings
    from xdiag.pipeline import admit
    from xdiag.server import create_app
    from xdiag.server.services import Services
    from xdiag.serving import wire

    svc = Services(Settings.from_env(store=store, ingest_inline=True))  # XDIAG_HOST_PEAKS
    client = create_app(services=svc).test_client()
    received = _as_received(path, store)
    t = time.perf_counter()
    rec = svc.admission.store_session(run="bench", session="s",
                               files=[admit.HostFile("h0", received, owned=True)],
                               source="upload")
    t_intake = time.perf_counter() - t
    done: dict = {}

    def ingest() -> None:
        done["rec"] = svc.ingest.run(rec["id"], inline=True)
        done["seconds"] = time.perf_counter() - t

    def first_view() -> tuple[dict, bytes]:
        tracks = client.get(f"/api/v1/profiles/{rec['id']}/tracks").json
        r = client.get(f"/api/v1/profiles/{rec['id']}/timeline?start_ns=0"
                       f"&end_ns={tracks['end_ns']}&width=1500")
        assert r.status_code == 200, r.data
        return tracks, r.data

    worker = threading.Thread(target=ingest)
    worker.start()
    prof = client.get(f"/api/v1/profiles/{rec['id']}?wait=timeline&timeout=25").json
    assert prof["status"] == "ready" or prof["timeline_ready"], prof
    tracks, body = first_view()
    t_first = time.perf_counter() - t
    worker.join()
    rec = done["rec"]
    t_ingest = done["seconds"]
    t = time.perf_counter()
    full_tracks, full_body = first_view()
    assert full_body == body  # the early view is the final one
    shutil.rmtree(received.parent)  # the service's temporary name (the store keeps its own)
    t_full = t_ingest + time.perf_counter() - t
    data = svc.views.get(rec)
    host = data.hosts[0]
    header, _ = wire.decode(body)
    return {"intake_s": t_intake, "ingest_s": t_ingest, "first_view_s": t_first,
            "full_first_view_s": t_full,
            "events": rec["events"], "timeline_events": host.index.num_events,
            "aggregated": data.manifest["hosts"][0]["aggregated_events"],
            "first_view_slices": header["count"], "first_view_bytes": len(body),
            "early_complete": tracks["complete"],
            "rss_mb": _rss_mb(), "id": rec["id"], "end_ns": full_tracks["end_ns"]}


def xdiag_ingest_alone(path: str, store: str) -> dict:
    """Upload + ingest with nothing else in the process: its wall and CPU time
    (throughput) and peak memory. xdiag_ingest also serves the first viewport while ingest runs, which
    takes CPU from it and maps the viewport's pages of the index. Then the same file
    again as a second capture of the job: HLO costs come from the store's cache then."""
    from xdiag.core.config import Settings
    from xdiag.pipeline import admit
    from xdiag.server.services import Services

    svc = Services(Settings.from_env(store=store, ingest_inline=True))  # XDIAG_HOST_PEAKS
    out = {}
    for session, label in (("s", "seconds"), ("s2", "repeat_seconds")):
        received = _as_received(path, store)
        # Wall time, and CPU time of all the process's threads (the parse and index
        # passes run on several: per core is events per CPU second).
        t, cpu = time.perf_counter(), time.process_time()
        rec = svc.admission.store_session(run="bench", session=session,
                                   files=[admit.HostFile("h0", received, owned=True)],
                                   source="upload")
        rec = svc.ingest.run(rec["id"], inline=True)
        out[label] = time.perf_counter() - t
        out[label.replace("seconds", "cpu_seconds")] = time.process_time() - cpu
        shutil.rmtree(received.parent)
        assert rec["status"] == "ready", rec.get("error")
        if session == "s":
            out["rss_mb"] = _rss_mb()  # the first ingest's peak (the second adds nothing)
    return out


def xdiag_views(store: str, pid: str, n: str) -> dict:
    """New-window viewports through the HTTP layer (Flask, binary encoding), ops, roofline."""
    from xdiag.core.config import Settings
    from xdiag.server import create_app
    from xdiag.server.context import services

    app = create_app(Settings.from_env(store=store))
    client = app.test_client()
    t = time.perf_counter()
    tracks = client.get(f"/api/v1/profiles/{pid}/tracks").json
    open_s = time.perf_counter() - t
    times = []
    for a, b in _windows(int(tracks["end_ns"]), int(n)):
        t = time.perf_counter()
        r = client.get(f"/api/v1/profiles/{pid}/timeline?start_ns={a}&end_ns={b}&width=1500")
        times.append(time.perf_counter() - t)
        assert r.status_code == 200
    out = {}
    with app.app_context():
        svc = services()
    for name in ("ops", "roofline"):
        client.get(f"/api/v1/profiles/{pid}/{name}")
        http, call = [], []
        for _ in range(REPEAT):
            t = time.perf_counter()
            r = client.get(f"/api/v1/profiles/{pid}/{name}")
            http.append(time.perf_counter() - t)
        # Like xprof's xspace_to_tool_data, in a loop of its own as xprof's warm calls are:
        # the library call, no HTTP (record look-up, freshness check against the stored
        # manifest, the view's bytes).
        for _ in range(REPEAT):
            t = time.perf_counter()
            body = svc.views.get(svc.profiles.get(pid)).analysis_json(name)
            call.append(time.perf_counter() - t)
        assert body == r.data
        out[name] = {"seconds": float(np.median(call)), "http_seconds": float(np.median(http)),
                     "bytes": len(r.data), "rows": len(r.json["ops"])}
    return {"open_s": open_s, "window_p50": float(np.median(times)),
            "window_p90": float(np.percentile(times, 90)), **out, "rss_mb": _rss_mb()}


if __name__ == "__main__":
    task, *args = sys.argv[1:]
    print(json.dumps(globals()[task](*args)))
