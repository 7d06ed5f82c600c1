"""Which timeline track each event of one host belongs to. Pure; numpy in, numpy out.

- Device planes (`/device:GPU:0`, `/device:TPU:0`, ...): one track per line. A
  line is an op track when it is named "XLA Ops" (TPU) or its events carry
  `hlo_op` (GPU streams: each kernel names the HLO op that launched it).
- On CPU, XLA ops are recorded on whatever host thread ran them, with a
  `device_ordinal` stat: they are regrouped into one track per device ordinal,
  so a CPU profile of 8 forced devices reads like a GPU one.
- Every other line (host threads, python, ...) is a thread track.

Tracks come in display order: devices by ordinal, then threads in file order.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

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
      cols: the host's XSpaceColumns.
      device_ordinal: (codes, values, present) of the `device_ordinal` stat per event, as
        `event_stat_codes` gives them: per-event work stays on int32 codes, and the few
        distinct values are looked at once.
      has_op: bool per event: it carries an `hlo_op` stat.
    """
    lines, events = cols.lines, cols.events
    n_lines = len(lines)
    # A line's events are one contiguous run [event_start, event_stop): per-line facts come
    # from reductions over those runs, and the per-event track from one np.repeat.
    ev_a = np.asarray(lines.event_start, dtype=np.int64)
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

    # CPU: XLA op events carry device_ordinal; they are regrouped by device.
    ord_codes, ord_table, has_ordinal = device_ordinal
    host_op = has_ordinal & has_op if len(events) else has_op
    if len(events) and not on_host.all():
        host_op &= np.repeat(on_host, sizes)
    moved = np.zeros(n_lines, np.int64)
    uniq = keyed = code_dev = None
    if np.any(host_op):
        if len(nonempty) <= 1024:  # a count per line beats reduceat's cast to int
            moved[nonempty] = [np.count_nonzero(host_op[ev_a[i]:ev_a[i] + sizes[i]])
                               for i in nonempty]
        else:
            moved[nonempty] = np.add.reduceat(host_op.view(np.uint8), ev_a[nonempty],
                                              dtype=np.int64)
        # The codes of the moved events (the rest point past the table), and which occur.
        k = len(ord_table)
        keyed = np.where(host_op, ord_codes, np.int32(k))
        seen = np.bincount(keyed, minlength=k + 1)[:k] > 0
        values = np.asarray(ord_table).astype(np.int64, copy=False)
        uniq = np.unique(values[seen])
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
    track_of = np.repeat(remap[line_track], sizes) if len(events) else np.zeros(0, np.int32)
    if uniq is not None:
        dev_track = remap[[key_index[("cpu-dev", o)] for o in uniq.tolist()]]
        # code -> its device's track; the past-the-table code of the others is never used.
        lut = np.append(dev_track[np.minimum(code_dev, len(uniq) - 1)], -1).astype(np.int32)
        np.copyto(track_of, lut[keyed], where=host_op)
    return track_of, [tracks[i] for i in order]
