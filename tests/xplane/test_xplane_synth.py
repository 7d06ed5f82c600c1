"""The synthetic XSpace generator: exact sizes, valid nesting, readable by stock tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from full_reader import read_xspace
from jax.profiler import ProfileData

from xdiag.xplane.synth import write_synthetic_xspace


def _nesting_ok(start: np.ndarray, end: np.ndarray) -> bool:
    """Events of one line (in file order) form a proper nesting: each starts
    within the innermost open event or after it ends."""
    stack: list[int] = []
    for s, e in zip(start.tolist(), end.tolist(), strict=True):
        while stack and stack[-1] <= s:
            stack.pop()
        if stack and e > stack[-1]:
            return False
        stack.append(e)
    return True


def test_exact_event_count_and_structure(tmp_path: Path) -> None:
    for n, devices in ((1, 1), (97, 2), (5_003, 3)):
        path = tmp_path / f"s{n}.xplane.pb"
        summary = write_synthetic_xspace(path, n, n_devices=devices, seed=3)
        assert summary.n_events == n and summary.bytes == path.stat().st_size
        cols = read_xspace(path)
        assert len(cols.events) == n
        ref = ProfileData.from_file(str(path))
        assert sum(len(list(line.events)) for p in ref.planes for line in p.lines) == n


def test_lines_steps_and_nesting(synth_small: Path) -> None:
    cols = read_xspace(synth_small)
    assert cols.lines.names[0] == "python"
    assert len(cols.lines) == 5  # python + 4 devices
    ev = cols.events
    end = ev.start_ps + ev.duration_ps
    for li in range(len(cols.lines)):
        e0, e1 = int(cols.lines.event_start[li]), int(cols.lines.event_stop[li])
        assert np.all(np.diff(ev.start_ps[e0:e1]) >= 0)
        assert _nesting_ok(ev.start_ps[e0:e1], end[e0:e1]), cols.lines.names[li]
    steps, has = cols.event_stat("step_num")
    assert np.array_equal(steps[has], np.arange(has.sum()))
    ordinal, has = cols.event_stat("device_ordinal")
    line_of = ev.line[has]
    assert np.array_equal(ordinal[has], line_of - 1)  # one device per line
    ops, has_op = cols.event_stat("hlo_op")
    codes, names = cols.event_names()
    # An op event is named after its HLO instruction.
    assert all(names[c] == o for c, o in zip(codes[has_op], ops[has_op], strict=True))
    # while ops contain their condition and body ops.
    while_rows = np.flatnonzero(ops == "while.5") if "while.5" in set(ops[has_op]) else []
    for r in list(while_rows)[:5]:
        inside = (ev.line == ev.line[r]) & (ev.start_ps > ev.start_ps[r]) & (end <= end[r])
        assert inside.sum() >= 4


def test_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.xplane.pb", tmp_path / "b.xplane.pb"
    write_synthetic_xspace(a, 3_000, seed=5)
    write_synthetic_xspace(b, 3_000, seed=5)
    assert a.read_bytes() == b.read_bytes()


def test_stock_xprof_reads_it(tmp_path: Path) -> None:
    from xprof.convert import raw_to_tool_data

    path = tmp_path / "host.xplane.pb"  # xprof writes cache files next to it
    write_synthetic_xspace(path, 4_000, n_devices=2, seed=2)
    tools = raw_to_tool_data.xspace_to_tool_names([str(path)])
    assert "trace_viewer@" in tools
    data, _ = raw_to_tool_data.xspace_to_tool_data(
        [str(path)],
        "trace_viewer@",
        {"trace_viewer_options": {"resolution": "8000", "start_time_ms": "0", "end_time_ms": "10"}},
    )
    trace = json.loads(data)
    assert any(e.get("ph") == "X" for e in trace["traceEvents"])
    full, _ = raw_to_tool_data.xspace_to_tool_data([str(path)], "trace_viewer", {})
    events = [e for e in json.loads(full)["traceEvents"] if e.get("ph") == "X"]
    assert len(events) == 4_000


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "cli.xplane.pb"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "xdiag.xplane.synth",
            str(out),
            "--events",
            "1234",
            "--devices",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1234 events" in proc.stdout
    assert len(read_xspace(out).events) == 1234
