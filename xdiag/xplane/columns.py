"""What the XSpace readers share: the planes, lines and event metadata of a profile as
columns, the C parser's entry points, and the interning of stat values.

`lean.py` (ingest's reader) and `events.py` (one event's stats) build on this; so does
the full reader the tests keep as their oracle (`tests/xplane/full_reader.py`).

Conventions:
    * Event ``i`` lies on line ``events.line[i]``; lines and events are in file
      order, so each plane's lines and events are contiguous ranges.
    * ``events.start_ps`` is relative to ``t0_ns``, the earliest timestamp of a
      line that has events: absolute picoseconds overflow int64.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from xdiag.core.errors import InvalidProfile
from xdiag.xplane import _xspace
from xdiag.xplane.arrays import factorize
from xdiag.xplane.xplane_pb2 import XPlane, XSpace

# Stat value kinds (the `stats.kind` column).
KIND_NONE = 0
KIND_DOUBLE = 1
KIND_UINT64 = 2
KIND_INT64 = 3
KIND_STR = 4
KIND_BYTES = 5
KIND_REF = 6

INT_KINDS = (KIND_UINT64, KIND_INT64)
# Events per step where a per-event temporary is needed (bounds its memory).
CHUNK = 1 << 20
TAKE_CHUNK = 1 << 15  # indices per `np.take`: its intp scratch (256 KB) is reused, not faulted
# The largest line-timestamp span (ns) whose picosecond offsets still fit in
# int64 with room for the event offsets added on top.
MAX_SPAN_NS = 2**62 // 1000


@dataclass
class EventMetadataTable:
    """One plane's event metadata, sorted by id.

    Attributes:
        ids: int64 metadata ids, ascending.
        names: name per id (same order).
        display_names: display name per id ("" when unset).
        stats: decoded stats per id, {stat name: value}.
        child_ids: child metadata ids per id.
    """

    ids: np.ndarray
    names: list[str]
    display_names: list[str]
    stats: list[dict[str, Any]]
    child_ids: list[list[int]]

    def positions(self, metadata_ids: np.ndarray) -> np.ndarray:
        """Maps metadata ids to row positions in this table (-1 where unknown)."""
        return lookup_ids(self.ids, metadata_ids)

    def get(self, metadata_id: int) -> int:
        """Row of one metadata id, or -1."""
        return int(self.positions(np.array([metadata_id], dtype=np.int64))[0])


@dataclass
class Plane:
    """One XPlane: identity, decoded metadata and its ranges in the columns.

    Attributes:
        index: position in the columns' `planes`.
        id: the plane's id field.
        name: e.g. "/host:CPU", "/device:GPU:0", "/host:metadata".
        stats: plane stats decoded, {stat name: value}.
        stat_metadata: stat metadata id -> name.
        event_metadata: the plane's event metadata table.
        line_start, line_stop: its rows in `XSpaceColumns.lines`.
        event_start, event_stop: its rows in `XSpaceColumns.events`.
        stat_start, stat_stop: its rows in `XSpaceColumns.stats`.
    """

    index: int
    id: int
    name: str
    stats: dict[str, Any]
    stat_metadata: dict[int, str]
    event_metadata: EventMetadataTable
    line_start: int
    line_stop: int
    event_start: int
    event_stop: int
    stat_start: int
    stat_stop: int
    # Stat-metadata ids per name, for vectorised look-ups by stat name.
    _ids_by_name: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def stat_ids(self, name: str) -> np.ndarray:
        """Stat metadata ids named `name` in this plane (usually zero or one)."""
        return self._ids_by_name.get(name, EMPTY_I64)


@dataclass
class Lines:
    """All lines of all planes, one row per line.

    Attributes:
        plane: int32 plane index.
        id, display_id: the line's id fields.
        timestamp_ns: absolute base time of the line's events.
        duration_ps: the line's duration field (often 0).
        event_start, event_stop: the line's rows in `events`.
        names, display_names: strings per line.
    """

    plane: np.ndarray
    id: np.ndarray
    display_id: np.ndarray
    timestamp_ns: np.ndarray
    duration_ps: np.ndarray
    event_start: np.ndarray
    event_stop: np.ndarray
    names: list[str]
    display_names: list[str]

    def __len__(self) -> int:
        return len(self.names)


class EventsCommon:
    """What every reader's events share."""

    line: np.ndarray
    _num_occurrences: np.ndarray | None

    def __len__(self) -> int:
        return len(self.line)

    @property
    def num_occurrences(self) -> np.ndarray:
        """int64 num_occurrences per event (0 for ordinary events)."""
        if self._num_occurrences is None:
            return np.zeros(len(self.line), np.int64)
        return self._num_occurrences


class ColumnsCommon:
    """What every reader's columns share: look-ups by plane and event names."""

    planes: list[Plane]
    lines: Lines
    events: Any

    def plane(self, name: str) -> Plane | None:
        """The first plane called `name`, or None."""
        return next((p for p in self.planes if p.name == name), None)

    def event_plane(self) -> np.ndarray:
        """int32 plane index per event."""
        return self.lines.plane[self.events.line]

    def event_names(self) -> tuple[np.ndarray, list[str]]:
        """Interned event names.

        Returns:
            (codes, table): int32 codes aligned with events into `table`; events
            whose metadata id is unknown to their plane get the name "".
        """
        index: dict[str, int] = {"": 0}
        md = self.events.metadata_id
        codes = np.zeros(len(md), np.int32)
        for p in self.planes:
            if p.event_stop == p.event_start:
                continue
            em = p.event_metadata
            row_codes = np.array([index.setdefault(n, len(index)) for n in em.names], np.int32)
            ids = em.ids
            top = int(ids[-1]) if len(ids) else -1
            seg = md[p.event_start:p.event_stop]
            if len(ids) and ids[0] >= 0 and top < 4 * len(ids) + 4096 and seg.min() >= 0:
                # Dense ids (the usual 1..n): a gather from a code per id, written in
                # place; ids past the table are clipped to its last slot, "" (code 0).
                # In small chunks: `take` makes its indices intp first (8 bytes an
                # event), and that scratch, whole or in large chunks, is fresh memory
                # each time (24 MB at 3M events: most of this call's time).
                lut = np.zeros(top + 2, np.int32)
                lut[ids] = row_codes
                out = codes[p.event_start:p.event_stop]
                for a in range(0, len(seg), TAKE_CHUNK):
                    np.take(lut, seg[a:a + TAKE_CHUNK], mode="clip",
                            out=out[a:a + TAKE_CHUNK])
                continue
            # Code per metadata row, plus a trailing 0 ("") that position -1
            # (an id the plane does not define) picks.
            local = np.append(row_codes, np.int32(0))
            for a in range(p.event_start, p.event_stop, CHUNK):
                b = min(a + CHUNK, p.event_stop)
                codes[a:b] = local[em.positions(md[a:b])]
        return codes, list(index)


EMPTY_I64 = np.zeros(0, np.int64)


def lookup_ids(sorted_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Positions of `keys` in the ascending `sorted_ids` (-1 where absent)."""
    if len(sorted_ids) == 0:
        return np.full(len(keys), -1, np.int64)
    top = int(sorted_ids[-1])
    if int(sorted_ids[0]) >= 0 and top < 4 * len(sorted_ids) + 4096 and len(keys) > top:
        # Dense ids (the usual 1..n): a direct table beats a binary search per key.
        # Slot top + 1, reached by clipping and by -1, means "absent".
        table = np.full(top + 2, -1, np.int64)
        table[sorted_ids] = np.arange(len(sorted_ids))
        return table[np.clip(keys, -1, top + 1)]
    pos = np.searchsorted(sorted_ids, keys)
    pos[pos == len(sorted_ids)] = 0
    return np.where(sorted_ids[pos] == keys, pos, -1)


# What event_stat and event_stat_codes of both column kinds share: interning
# values in one order, the value dtype, and the values event metadata holds.


def intern_values(index: dict[Any, int], values: list[Any]) -> np.ndarray:
    """int32 codes of `values` in `index`, adding those not yet there."""
    # Keyed by (type, value) so that 1, 1.0 and True stay distinct.
    out = [index.setdefault((type(v), v), len(index)) for v in values]
    return np.array(out, np.int32).reshape(-1)


def interned_table(index: dict[Any, int]) -> list[Any]:
    """The values of `index`, in code order."""
    return [k[1] for k in index]


def str_values(kind: int, raw: list[bytes]) -> list[Any]:
    """str/bytes stat values from their bytes."""
    return [u.decode("utf-8", "replace") for u in raw] if kind == KIND_STR else raw


def intern_raw(index: dict[Any, int], kind: int, raw: np.ndarray, plane: Plane) -> Any:
    """Codes in `index` of raw values (int64) of one kind other than str/bytes, of `plane`."""
    if kind == KIND_DOUBLE:
        uniq, inv = np.unique(raw.view(np.float64), return_inverse=True)
        return intern_values(index, uniq.tolist())[inv.reshape(-1)]
    if kind in (KIND_UINT64, KIND_INT64, KIND_REF):
        uniq, inv = factorize(raw)
        if kind == KIND_REF:  # refs name a stat metadata of the same plane
            sm = plane.stat_metadata
            vals = [sm.get(i) for i in uniq.tolist()]
        else:
            vals = (uniq.view(np.uint64) if kind == KIND_UINT64 else uniq).tolist()
        return intern_values(index, vals)[inv]
    return intern_values(index, [None])[0]  # a stat with no value set


def objects_of(codes: np.ndarray, table: list[Any]) -> np.ndarray:
    """An object array of the values that `codes` name in `table` (None for -1)."""
    lut = np.empty(len(table) + 1, dtype=object)
    lut[: len(table)] = table
    lut[-1] = None  # code -1: absent
    return lut[codes]


def numeric_dtype(
    kinds: set[int], md_values: list[Any], big: Callable[[], bool], neg: Callable[[], bool]
) -> Any:
    """The dtype that holds every value of a stat, or None if not numeric.

    kinds: the value kinds of the events' own values; md_values: the values
    event metadata holds; big(), neg(): whether an own uint64 value is past
    2**63, an own int64 value negative (asked only when it matters).
    """
    nums = [v for v in md_values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not kinds <= {KIND_DOUBLE, *INT_KINDS} or len(nums) != len(md_values):
        return None
    if KIND_DOUBLE in kinds or any(isinstance(v, float) for v in nums):
        return np.float64
    # uint64 values past 2**63 need uint64, which then cannot hold negatives.
    if not (any(v >= 2**63 for v in nums) or big()):
        return np.int64
    return None if any(v < 0 for v in nums) or neg() else np.uint64


def metadata_codes(em: EventMetadataTable, name: str, values: list[Any]) -> np.ndarray | None:
    """Per row of `em`, the index in `values` of its value of stat `name`, or -1.

    The values are appended to `values`; one more row, -1, stands for ids
    unknown to the plane (position -1). None where no row has the stat.
    """
    with_stat = [i for i, s in enumerate(em.stats) if name in s]
    if not with_stat:
        return None
    code_of_row = np.full(len(em.ids) + 1, -1, np.int64)
    for i in with_stat:
        code_of_row[i] = len(values)
        values.append(em.stats[i][name])
    return code_of_row


def _stat_py_value(st: Any, stat_metadata: dict[int, str]) -> Any:
    """Decodes one upb XStat (plane or event-metadata level)."""
    which = st.WhichOneof("value")
    if which is None:
        return None
    if which == "ref_value":
        return stat_metadata.get(st.ref_value)
    return getattr(st, which)


def _decode_stats(stats: Any, stat_metadata: dict[int, str]) -> dict[str, Any]:
    return {stat_metadata.get(s.metadata_id, ""): _stat_py_value(s, stat_metadata) for s in stats}


@dataclass
class PlaneMeta:
    """A plane's metadata, decoded by upb from its bytes without lines."""

    stats: dict[str, Any]
    stat_metadata: dict[int, str]
    event_metadata: EventMetadataTable
    ids_by_name: dict[str, np.ndarray]


def _decode_plane_meta(index: int, name: str, rest: bytes) -> PlaneMeta:
    try:
        msg = XPlane.FromString(rest)
    except DecodeError as e:
        raise InvalidProfile(
            f"plane {index} ({name!r}): metadata is not valid protobuf: {e}"
        ) from e
    stat_md = {k: v.name for k, v in msg.stat_metadata.items()}
    by_name: dict[str, list[int]] = {}
    for k, n in stat_md.items():
        by_name.setdefault(n, []).append(k)
    em_ids = sorted(msg.event_metadata)
    ems = [msg.event_metadata[k] for k in em_ids]
    table = EventMetadataTable(
        ids=np.array(em_ids, dtype=np.int64),
        names=[m.name for m in ems],
        display_names=[m.display_name for m in ems],
        stats=[_decode_stats(m.stats, stat_md) for m in ems],
        child_ids=[list(m.child_id) for m in ems],
    )
    return PlaneMeta(
        stats=_decode_stats(msg.stats, stat_md),
        stat_metadata=stat_md,
        event_metadata=table,
        ids_by_name={n: np.array(sorted(v), dtype=np.int64) for n, v in by_name.items()},
    )


def plane_metas(planes: list[tuple]) -> list[PlaneMeta]:
    """The metadata of each plane `_xspace.parse` returns."""
    return [_decode_plane_meta(i, p[1], p[2]) for i, p in enumerate(planes)]


def parse(data: Any, **options: Any) -> dict[str, Any]:
    try:
        return _xspace.parse(data, **options)
    except ValueError as e:
        raise InvalidProfile(f"not a valid XSpace profile: {e}") from e


def _open(data: Any) -> Any:
    """Turns a path into an mmap (or bytes if empty); passes buffers through."""
    if isinstance(data, str | os.PathLike):
        with open(data, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return data


def open_profile(data: Any) -> tuple[Any, int]:
    """The profile's bytes (`_open`) and their size, checked to be a non-empty buffer."""
    data = _open(data)
    try:
        size = memoryview(data).nbytes
    except TypeError as e:
        raise InvalidProfile(f"profile data must be bytes-like, not {type(data).__name__}") from e
    if size == 0:
        raise InvalidProfile("the profile is empty (0 bytes)")
    return data, size


def check_planes(r: dict[str, Any], size: int) -> None:
    if not r["planes"]:
        raise InvalidProfile(f"not an XSpace profile: {size} bytes of protobuf with no planes")


def decode_space(rest: bytes) -> XSpace:
    """The XSpace's own fields (hostnames, errors, warnings) from its bytes other than planes."""
    try:
        return XSpace.FromString(rest)
    except DecodeError as e:
        raise InvalidProfile(f"XSpace header fields are not valid protobuf: {e}") from e


def lines_of(planes: list[tuple]) -> Lines:
    """The lines of the planes `_xspace.parse` returns."""
    i32, i64 = np.int32, np.int64
    raw_lines = [ln for p in planes for ln in p[3]]
    return Lines(
        plane=np.array([pi for pi, p in enumerate(planes) for _ in p[3]], dtype=i32),
        id=np.array([ln[0] for ln in raw_lines], dtype=i64),
        display_id=np.array([ln[1] for ln in raw_lines], dtype=i64),
        timestamp_ns=np.array([ln[4] for ln in raw_lines], dtype=i64),
        duration_ps=np.array([ln[5] for ln in raw_lines], dtype=i64),
        event_start=np.array([ln[6] for ln in raw_lines], dtype=i64),
        event_stop=np.array([ln[7] for ln in raw_lines], dtype=i64),
        names=[ln[2] for ln in raw_lines],
        display_names=[ln[3] for ln in raw_lines],
    )


def planes_of(
    planes: list[tuple],
    metas: list[PlaneMeta],
    lines: Lines,
    ev_first: np.ndarray | None = None,
    ev_count: np.ndarray | None = None,
) -> list[Plane]:
    """`Plane`s of the planes `_xspace.parse` returns; stat ranges from the
    events' (`ev_first`, `ev_count`), or empty without them."""
    out = []
    for pi, (p, meta) in enumerate(zip(planes, metas, strict=True)):
        l0, l1 = p[4], p[4] + len(p[3])
        e0 = int(lines.event_start[l0]) if l1 > l0 else 0
        e1 = int(lines.event_stop[l1 - 1]) if l1 > l0 else 0
        s0 = s1 = 0
        if ev_first is not None and e1 > e0:
            s0 = int(ev_first[e0])
            s1 = int(ev_first[e1 - 1] + ev_count[e1 - 1])
        if e1 == e0:
            e0 = e1 = s0 = s1 = 0
        out.append(
            Plane(
                index=pi,
                id=p[0],
                name=p[1],
                stats=meta.stats,
                stat_metadata=meta.stat_metadata,
                event_metadata=meta.event_metadata,
                line_start=l0,
                line_stop=l1,
                event_start=e0,
                event_stop=e1,
                stat_start=s0,
                stat_stop=s1,
                _ids_by_name=meta.ids_by_name,
            )
        )
    return out


def time_base(lines: Lines) -> tuple[int, np.ndarray, np.ndarray]:
    """(t0_ns, line timestamps relative to it, which lines have events).

    t0: earliest timestamp among lines that hold events (empty lines may
    carry a zero timestamp that would push absolute times out of range).
    """
    has_events = lines.event_stop > lines.event_start
    ts = lines.timestamp_ns[has_events] if has_events.any() else lines.timestamp_ns
    t0 = int(ts.min()) if len(ts) else 0
    rel = lines.timestamp_ns - t0
    if has_events.any() and int(rel[has_events].max()) > MAX_SPAN_NS:
        raise InvalidProfile(
            f"line timestamps span {int(rel[has_events].max())} ns: too far apart to be one profile"
        )
    return t0, rel, has_events
