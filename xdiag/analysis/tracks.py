"""Which timeline track each event of one host belongs to. Pure: the host's columns in,
an int32 track per event and the tracks out (the per-event routing is one C pass,
`_intervals.route_events`).

- Device planes (`/device:GPU:0`, `/device:TPU:0`, ...): one track per line. A line
  named "XLA Ops" (or "TensorFlow Ops", "Ops") is an op track; so is a GPU stream
  whose events carry `hlo_op` (each kernel names the instruction that launched it): a
  kernel track, whose slices overlap and take lanes instead of nesting.
- On CPU, XLA ops are recorded on whatever host thread ran them, with a
  `device_ordinal` stat: they move to one op track per device ordinal, so a CPU profile
  of 8 forced devices reads like a GPU one.
- Every other line (host threads, python, ...) is a thread track.

Only tracks that keep events are returned, in display order: devices by ordinal (a CPU
device's op track first), then threads in file order.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from xdiag.analysis._intervals import moved_ops, route_events
from xdiag.xplane.arrays import index_type

_DEVICE_PLANE = re.compile(r"^/device:([A-Za-z_]+):(\d+)")


@dataclasses.dataclass
class Track:
    name: str
    group: str  # "device" | "thread"
    device: int | None
    kind: str  # "xla_ops" (op events: op stats come from these), "device_line", "thread"
    sort_key: tuple[Any, ...]
    kernels: bool = False  # an op track of GPU kernels: event names are kernel names

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "group": self.group, "device": self.device, "kind": self.kind,
                "lanes": self.kernels}


def device_id(plane_name: str) -> tuple[str, int] | None:
    m = _DEVICE_PLANE.match(plane_name)
    return (m.group(1), int(m.group(2))) if m else None


def _is_op_line(line_name: str) -> bool:
    return line_name.lower() in ("xla ops", "tensorflow ops", "ops")


def assign_tracks(cols: Any, device_ordinal: tuple[np.ndarray, list[Any], np.ndarray],
                  has_op: np.ndarray) -> tuple[np.ndarray, list[Track]]:
    """Returns (track of every event as int32, tracks in display order).

    Args:
      cols: the host's columns (`xplane.lean.LeanColumns`).
      device_ordinal: (codes, values, present) of the `device_ordinal` stat per event, as
        `event_stat_codes` gives them: per-event work stays on int32 codes, and the few
        distinct values are looked at once.
      has_op: bool per event: it carries an `hlo_op` stat.
    """
    lines, events = cols.lines, cols.events
    n_lines = len(lines)
    # A line's events are one contiguous run [event_start, event_stop): per-line facts come
    # from reductions over those runs, and the per-event track from one C pass.
    ev_a = np.ascontiguousarray(lines.event_start, dtype=np.int64)
    sizes = np.asarray(lines.event_stop, dtype=np.int64) - ev_a
    nonempty = np.flatnonzero(sizes > 0)

    def per_line_any(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n_lines, bool)
        if len(nonempty):
            out[nonempty] = np.logical_or.reduceat(mask, ev_a[nonempty])
        return out

    op_lines = per_line_any(has_op) if len(events) else np.zeros(n_lines, bool)
    # Start with one candidate track per line: (plane, line id) identifies a timeline.
    keys: dict[tuple[Any, ...], Track] = {}
    key_index: dict[tuple[Any, ...], int] = {}
    line_track = np.zeros(n_lines, dtype=np.int64)
    line_has_op = np.zeros(n_lines, dtype=bool)  # by candidate track
    on_host = np.zeros(n_lines, dtype=bool)
    for li in range(n_lines):
        plane = cols.planes[int(lines.plane[li])]
        name = lines.display_names[li] or lines.names[li] or f"line {int(lines.id[li])}"
        dev = device_id(plane.name)
        if dev is not None:
            key: tuple[Any, ...] = ("dev", dev[0], dev[1], int(lines.id[li]))
            track = Track(f"{dev[0]} {dev[1]} · {name}", "device", dev[1],
                          "xla_ops" if _is_op_line(name) else "device_line",
                          (0, dev[1], li))
        else:
            key = ("line", int(lines.plane[li]), int(lines.id[li]))
            track = Track(name, "thread", None, "thread", (1, int(lines.plane[li]), li))
            on_host[li] = True
        keys.setdefault(key, track)
        line_track[li] = key_index.setdefault(key, len(key_index))
        line_has_op[line_track[li]] |= bool(op_lines[li])
    for key, i in key_index.items():  # GPU streams whose kernels carry hlo_op are op tracks
        t = keys[key]
        if (t.group == "device" and t.kind == "device_line" and line_has_op[i]
                and key[1] == "GPU"):
            t.kind, t.kernels = "xla_ops", True

    # CPU: XLA op events carry device_ordinal; they are regrouped by device. One C pass
    # counts what moves per line and which ordinal codes occur; another routes events.
    ord_codes, ord_table, _ = device_ordinal
    ev_z = ev_a + sizes
    has_op_u8 = np.ascontiguousarray(has_op).view(np.uint8)
    codes32 = np.ascontiguousarray(ord_codes, np.int32)
    on_host_u8 = on_host.astype(np.uint8)
    seen = np.zeros(len(ord_table), np.uint8)
    moved = np.frombuffer(moved_ops(ev_a, ev_z, on_host_u8, has_op_u8, codes32, seen),
                          np.int64)
    uniq = code_dev = None
    if moved.any():
        values = np.asarray(ord_table).astype(np.int64, copy=False)
        uniq = np.unique(values[seen.view(bool)])
        code_dev = np.searchsorted(uniq, values)  # code -> index of its ordinal in uniq
        for o in uniq.tolist():
            keys[("cpu-dev", o)] = Track(f"XLA ops · device {o}", "device", int(o), "xla_ops",
                                         (0, int(o), -1))
            key_index.setdefault(("cpu-dev", o), len(key_index))

    # Tracks with events (a line whose events all moved to devices has none), in display
    # order; then every event's final track, written once.
    tracks = list(keys.values())
    used = np.zeros(len(tracks), bool)
    used[line_track[sizes > moved]] = True
    if uniq is not None:
        used[[key_index[("cpu-dev", o)] for o in uniq.tolist()]] = True
    order = sorted((i for i in range(len(tracks)) if used[i]), key=lambda i: tracks[i].sort_key)
    remap = np.full(len(tracks), -1, dtype=np.int32)
    remap[order] = np.arange(len(order))
    code_track = np.zeros(0, np.int32)
    if uniq is not None:
        dev_track = remap[[key_index[("cpu-dev", o)] for o in uniq.tolist()]]
        # code -> its device's track (codes that never move map anywhere: unused).
        code_track = dev_track[np.minimum(code_dev, len(uniq) - 1)].astype(np.int32)
    # int16 unless a host has 32k tracks: it is held until the timeline index is sorted.
    track_of = np.zeros(len(events), index_type(len(tracks), smallest=np.int16))
    route_events(ev_a, ev_z, on_host_u8, remap[line_track].astype(np.int32), has_op_u8,
                 codes32, code_track, track_of)
    return track_of, [tracks[i] for i in order]
