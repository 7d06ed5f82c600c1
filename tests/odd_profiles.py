"""Small XSpace files with what real captures rarely hold but uploads may: a clock far in
the future, instants, duplicates, slices that overlap without nesting. Each writer
returns the events as the test's own oracle: (line, name, start ns since the epoch,
duration ns)."""

from __future__ import annotations

from pathlib import Path

from xdiag.xplane.xplane_pb2 import XSpace

US = 1_000_000  # ps per µs

# (name, offset µs, duration µs) on the odd line: times chosen to land on every tie.
ODD_EVENTS = [
    ("outer", 0, 10),
    ("inner", 1, 2),  # nested in outer
    ("straddle", 2.5, 9),  # starts inside inner, outlives it and outer: nests nowhere
    ("late", 10, 1),  # inside straddle, starts where outer ends
    ("instant", 5, 0), ("instant", 5, 0),  # duplicate instants inside outer
    ("instant_at_end", 10, 0), ("instant_at_start", 0, 0), ("instant_at_inner_end", 3, 0),
    ("twin", 20, 10), ("twin", 20, 10),  # identical slices
    ("left", 40, 10), ("right", 50, 10),  # touching siblings
]
PLAIN_EVENTS = [("step", 0, 100), ("op", 10, 20), ("op", 30, 20), ("leaf", 35, 5)]


def write_xspace(path: Path, line_ts_ns: int, lines: dict[str, list]) -> list[tuple]:
    """One `/host:CPU` plane with a line per entry of `lines` (all starting at
    `line_ts_ns`); returns the oracle events."""
    xs = XSpace()
    plane = xs.planes.add(id=1, name="/host:CPU")
    ids: dict[str, int] = {}
    oracle = []
    for li, (line_name, events) in enumerate(lines.items()):
        line = plane.lines.add(id=li + 1, name=line_name, timestamp_ns=line_ts_ns)
        for name, off_us, dur_us in events:
            if name not in ids:
                ids[name] = len(ids) + 1
                plane.event_metadata[ids[name]].id = ids[name]
                plane.event_metadata[ids[name]].name = name
            off, dur = round(off_us * US), round(dur_us * US)
            line.events.add(metadata_id=ids[name], offset_ps=off, duration_ps=dur)
            oracle.append((line_name, name, line_ts_ns + off // 1000, dur // 1000))
    path.write_bytes(xs.SerializeToString())
    return oracle


def odd_profile(path: Path, line_ts_ns: int = 1_790_000_000_000_000_000) -> list[tuple]:
    """The odd events and a plain nested line (by default on a clock in 2026)."""
    return write_xspace(path, line_ts_ns, {"odd": ODD_EVENTS, "plain": PLAIN_EVENTS})
