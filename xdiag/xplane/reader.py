"""Columnar view of an XSpace profile (`.xplane.pb`).

`read_xspace` parses the bulk of a profile (lines, events, event stats) with the
C extension `_xspace` in one pass into flat numpy columns, and only the small
per-plane metadata (event/stat metadata maps, plane stats) with upb. Everything
downstream (timeline index, op stats, steps) works on these columns with numpy;
nothing here loops over events in Python.

Conventions:
    * Event ``i`` lies on line ``events.line[i]``; lines and events are in file
      order, so each plane's lines, events and stats are contiguous ranges.
    * ``events.start_ps`` is relative to ``t0_ns``, the earliest timestamp of a
      line that has events: absolute picoseconds overflow int64.
    * Stat values share one 8-byte column: ``stats.int_value`` (kinds uint64,
      int64, ref), ``stats.double_value`` (the same memory viewed as float64,
      meaningful where kind is double) and ``stats.str_offset`` (the same memory,
      the offset of a str/bytes value in ``data``).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterable
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

_INT_KINDS = (KIND_UINT64, KIND_INT64)
# Events per step where a per-event temporary is needed (bounds its memory).
_CHUNK = 1 << 20
# The largest line-timestamp span (ns) whose picosecond offsets still fit in
# int64 with room for the event offsets added on top.
_MAX_SPAN_NS = 2**62 // 1000


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
        return _lookup(self.ids, metadata_ids)

    def get(self, metadata_id: int) -> int:
        """Row of one metadata id, or -1."""
        return int(self.positions(np.array([metadata_id], dtype=np.int64))[0])


@dataclass
class Plane:
    """One XPlane: identity, decoded metadata and its ranges in the columns.

    Attributes:
        index: position in `XSpaceColumns.planes`.
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
        return self._ids_by_name.get(name, _EMPTY_I64)


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


class _EventsCommon:
    """What `Events` and `lean.LeanEvents` share."""

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


@dataclass
class Events(_EventsCommon):
    """All events of all lines, one row per event, in file order.

    Attributes:
        line: int32 line index.
        metadata_id: int64 event metadata id (per plane).
        offset_ps: int64 offset from the line's timestamp (0 for aggregated
            events).
        duration_ps: int64.
        aggregated: bool, True where the event carries num_occurrences instead
            of an offset (aggregated profiles; rare in traces).
        stat_start: int64 first row of the event's stats in `stats`.
        stat_count: int32 number of stats of the event.
        start_ps: int64 start relative to `XSpaceColumns.t0_ns`.
        num_occurrences: (property) int64 per event, 0 for ordinary events.
    """

    line: np.ndarray
    metadata_id: np.ndarray
    offset_ps: np.ndarray
    duration_ps: np.ndarray
    aggregated: np.ndarray
    stat_start: np.ndarray
    stat_count: np.ndarray
    start_ps: np.ndarray
    _num_occurrences: np.ndarray | None = field(default=None, repr=False)


@dataclass
class Stats:
    """All event stats, one row per XStat, grouped by event in event order.

    Attributes:
        metadata_id: int64 stat metadata id (per plane).
        kind: uint8 value kind (KIND_* constants; 0 when no value was set).
        int_value: int64 value for uint64 (bit pattern), int64 and ref kinds.
        double_value: float64 view of the same memory, valid where kind is double.
        str_offset: int64 view of the same memory: offset of the str/bytes value
            in `XSpaceColumns.data`.
        str_length: int32 length of the str/bytes value (0 otherwise).
    """

    metadata_id: np.ndarray
    kind: np.ndarray
    int_value: np.ndarray
    double_value: np.ndarray
    str_offset: np.ndarray
    str_length: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


class _ColumnsCommon:
    """What `XSpaceColumns` and `lean.LeanColumns` share: look-ups by plane and event names."""

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
                # Dense ids (the usual 1..n): one gather from a code per id, written in
                # place; ids past the table are clipped to its last slot, "" (code 0).
                lut = np.zeros(top + 2, np.int32)
                lut[ids] = row_codes
                np.take(lut, seg, mode="clip", out=codes[p.event_start:p.event_stop])
                continue
            # Code per metadata row, plus a trailing 0 ("") that position -1
            # (an id the plane does not define) picks.
            local = np.append(row_codes, np.int32(0))
            for a in range(p.event_start, p.event_stop, _CHUNK):
                b = min(a + _CHUNK, p.event_stop)
                codes[a:b] = local[em.positions(md[a:b])]
        return codes, list(index)


@dataclass
class XSpaceColumns(_ColumnsCommon):
    """A profile as columns; see the module docstring for conventions.

    Attributes:
        data: the serialized XSpace (bytes or mmap); str stats point into it.
        t0_ns: absolute ns that `events.start_ps` is relative to.
        planes: one entry per XPlane, in file order.
        lines: all lines.
        events: all events.
        stats: all event stats.
        hostnames, errors, warnings: the XSpace's own fields.
    """

    data: Any
    t0_ns: int
    planes: list[Plane]
    lines: Lines
    events: Events
    stats: Stats
    hostnames: list[str]
    errors: list[str]
    warnings: list[str]

    def event_stat(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Values of the stat `name` for every event.

        The stat is looked up on the event first, then on its event metadata
        (GPU/TPU profiles keep per-kind stats there). Ref values resolve to the
        referenced stat-metadata name, str values are decoded.

        Args:
            name: stat metadata name, e.g. "hlo_op", "device_ordinal", "step_num".

        Returns:
            (values, present): `values` is int64 (uint64 if a uint64 value has
            the top bit set) when all values are integers, float64 when some
            are doubles, else an object array of str/bytes/numbers; absent
            entries are 0, NaN or None. `present` is a bool mask.
        """
        g = self._gather(name)
        n = len(self.events)
        present = np.zeros(n, bool)
        for seg in g.own:
            present[seg.ev] = True
        for ev, _ in g.md:
            present[ev] = True
        dtype = self._numeric_dtype(g)
        if dtype is None:
            return _objects(*self._codes_from(g)), present
        out = np.full(n, np.nan if dtype == np.float64 else 0, dtype=dtype)
        for seg in g.own:
            if dtype == np.float64:
                vals = seg.raw.astype(np.float64)
                for k, conv in ((KIND_DOUBLE, np.float64), (KIND_UINT64, np.uint64)):
                    m = seg.kind == k
                    if m.any():
                        vals[m] = seg.raw[m].view(conv).astype(np.float64)
                out[seg.ev] = vals
            else:
                out[seg.ev] = seg.raw.view(dtype)
        if g.md:
            md = np.array(g.md_values, dtype=dtype)
            for ev, code in g.md:
                out[ev] = md[code]
        return out, present

    def event_stat_later(self, name: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """`event_stat(name)` to call later (LeanColumns defers the work; here it is done
        now, as these columns are never released)."""
        values = self.event_stat(name)
        return lambda: values

    def event_stat_sparse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(events that carry the stat `name`, their values): `event_stat` at those
        events only, for stats few events carry (step numbers)."""
        values, present = self.event_stat(name)
        where = np.flatnonzero(present)
        return where, values[where]

    def event_stat_codes(self, name: str) -> tuple[np.ndarray, list[Any], np.ndarray]:
        """Like `event_stat`, but interned: for string-like stats (hlo_op, ...).

        Returns:
            (codes, table, present): int32 codes aligned with events (-1 where
            absent) into `table` (distinct values: str, bytes or numbers).
        """
        codes, table = self._codes_from(self._gather(name))
        return codes, table, codes >= 0

    def event_stats(self, index: int, *, metadata: bool = True) -> dict[str, Any]:
        """All stats of one event, decoded.

        Args:
            index: the event's row.
            metadata: also include the stats of its event metadata (the
                event's own stats win on a name clash).
        """
        ev = self.events
        p = self.planes[int(self.lines.plane[ev.line[index]])]
        out: dict[str, Any] = {}
        if metadata:
            row = p.event_metadata.get(int(ev.metadata_id[index]))
            if row >= 0:
                out.update(p.event_metadata.stats[row])
        s0 = int(ev.stat_start[index])
        for s in range(s0, s0 + int(ev.stat_count[index])):
            key = p.stat_metadata.get(int(self.stats.metadata_id[s]), "")
            out[key] = self.stat_value(s, p)
        return out

    def stat_value(self, s: int, plane: Plane) -> Any:
        """The decoded value of stat row `s` (which belongs to `plane`)."""
        st = self.stats
        kind = int(st.kind[s])
        if kind == KIND_DOUBLE:
            return float(st.double_value[s])
        if kind == KIND_UINT64:
            return int(st.int_value[s].astype(np.uint64))
        if kind == KIND_INT64:
            return int(st.int_value[s])
        if kind == KIND_REF:
            return plane.stat_metadata.get(int(st.int_value[s]))
        if kind in (KIND_STR, KIND_BYTES):
            off, n = int(st.str_offset[s]), int(st.str_length[s])
            raw = bytes(self.data[off : off + n])
            return raw.decode("utf-8", "replace") if kind == KIND_STR else raw
        return None

    # -- internals ---------------------------------------------------------

    def _gather(self, name: str) -> _Gathered:
        """Finds every value of stat `name`: on events, then on event metadata."""
        g = _Gathered([], [], [])
        st, events = self.stats, self.events
        for p in self.planes:
            if p.event_stop == p.event_start:
                continue
            ids = p.stat_ids(name)
            own = _EMPTY_I64
            if len(ids) and p.stat_stop > p.stat_start:
                found = _xspace.find_stats(
                    st.metadata_id, st.kind, st.int_value, events.stat_start,
                    events.stat_count, p.event_start, p.event_stop, ids,
                )  # fmt: skip
                own = np.frombuffer(found[0], np.int64)
                if len(own):
                    g.own.append(
                        _OwnSegment(
                            plane=p,
                            ev=own,
                            rows=np.frombuffer(found[1], np.int64),
                            kind=np.frombuffer(found[2], np.uint8),
                            raw=np.frombuffer(found[3], np.int64),
                            kind_counts=found[4],
                        )
                    )
            # Fall back to stats held by the event metadata.
            em = p.event_metadata
            code_of_row = _md_codes(em, name, g.md_values)
            if code_of_row is None:
                continue
            pos = em.positions(events.metadata_id[p.event_start : p.event_stop])
            code = code_of_row[pos]  # pos == -1 picks the sentinel
            if len(own):
                code[own - p.event_start] = -1
            idx = np.flatnonzero(code >= 0)
            if len(idx):
                g.md.append((idx + p.event_start, code[idx]))
        return g

    def _numeric_dtype(self, g: _Gathered) -> Any:
        """The dtype that holds every gathered value, or None if not numeric."""
        return _numeric_dtype(
            {k for seg in g.own for k, c in enumerate(seg.kind_counts) if c},
            g.md_values,
            big=lambda: any(bool(np.any(seg.raw[seg.kind == KIND_UINT64] < 0)) for seg in g.own),
            neg=lambda: any(bool(np.any(seg.raw[seg.kind == KIND_INT64] < 0)) for seg in g.own),
        )

    def _codes_from(self, g: _Gathered) -> tuple[np.ndarray, list[Any]]:
        """Interns gathered values: (int32 codes aligned with events, -1 if absent; table)."""
        index: dict[Any, int] = {}
        codes = np.full(len(self.events), -1, np.int32)
        st = self.stats
        for seg in g.own:
            kinds = [k for k, c in enumerate(seg.kind_counts) if c]
            for k in kinds:
                m = slice(None) if len(kinds) == 1 else np.flatnonzero(seg.kind == k)
                rows, ev, raw = seg.rows[m], seg.ev[m], seg.raw[m]
                if k in (KIND_STR, KIND_BYTES):
                    sub, uniq = _xspace.intern_slices(self.data, raw, st.str_length[rows])
                    codes[ev] = _intern(index, _str_values(k, uniq))[np.frombuffer(sub, np.int32)]
                else:
                    codes[ev] = _intern_raw(index, k, raw, seg.plane)
        for ev, code in g.md:
            codes[ev] = _intern(index, g.md_values)[code]
        return codes, _table(index)


@dataclass
class _OwnSegment:
    """One plane's stat rows holding the wanted stat: owning events, kinds, raw values."""

    plane: Plane
    ev: np.ndarray
    rows: np.ndarray
    kind: np.ndarray
    raw: np.ndarray
    kind_counts: tuple[int, ...]


@dataclass
class _Gathered:
    """Every (event, value) of one stat name.

    `own`: event-level stats, per plane. `md`: (events, codes into
    `md_values`) for values taken from the events' metadata.
    """

    own: list[_OwnSegment]
    md: list[tuple[np.ndarray, np.ndarray]]
    md_values: list[Any] = field(default_factory=list)


_EMPTY_I64 = np.zeros(0, np.int64)


def _lookup(sorted_ids: np.ndarray, keys: np.ndarray) -> np.ndarray:
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


def _intern(index: dict[Any, int], values: list[Any]) -> np.ndarray:
    """int32 codes of `values` in `index`, adding those not yet there."""
    # Keyed by (type, value) so that 1, 1.0 and True stay distinct.
    out = [index.setdefault((type(v), v), len(index)) for v in values]
    return np.array(out, np.int32).reshape(-1)


def _table(index: dict[Any, int]) -> list[Any]:
    """The values of `index`, in code order."""
    return [k[1] for k in index]


def _str_values(kind: int, raw: list[bytes]) -> list[Any]:
    """str/bytes stat values from their bytes."""
    return [u.decode("utf-8", "replace") for u in raw] if kind == KIND_STR else raw


def _intern_raw(index: dict[Any, int], kind: int, raw: np.ndarray, plane: Plane) -> Any:
    """Codes in `index` of raw values (int64) of one kind other than str/bytes, of `plane`."""
    if kind == KIND_DOUBLE:
        uniq, inv = np.unique(raw.view(np.float64), return_inverse=True)
        return _intern(index, uniq.tolist())[inv.reshape(-1)]
    if kind in (KIND_UINT64, KIND_INT64, KIND_REF):
        uniq, inv = factorize(raw)
        if kind == KIND_REF:  # refs name a stat metadata of the same plane
            sm = plane.stat_metadata
            vals = [sm.get(i) for i in uniq.tolist()]
        else:
            vals = (uniq.view(np.uint64) if kind == KIND_UINT64 else uniq).tolist()
        return _intern(index, vals)[inv]
    return _intern(index, [None])[0]  # a stat with no value set


def _objects(codes: np.ndarray, table: list[Any]) -> np.ndarray:
    """An object array of the values that `codes` name in `table` (None for -1)."""
    lut = np.empty(len(table) + 1, dtype=object)
    lut[: len(table)] = table
    lut[-1] = None  # code -1: absent
    return lut[codes]


def _numeric_dtype(
    kinds: set[int], md_values: list[Any], big: Callable[[], bool], neg: Callable[[], bool]
) -> Any:
    """The dtype that holds every value of a stat, or None if not numeric.

    kinds: the value kinds of the events' own values; md_values: the values
    event metadata holds; big(), neg(): whether an own uint64 value is past
    2**63, an own int64 value negative (asked only when it matters).
    """
    nums = [v for v in md_values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not kinds <= {KIND_DOUBLE, *_INT_KINDS} or len(nums) != len(md_values):
        return None
    if KIND_DOUBLE in kinds or any(isinstance(v, float) for v in nums):
        return np.float64
    # uint64 values past 2**63 need uint64, which then cannot hold negatives.
    if not (any(v >= 2**63 for v in nums) or big()):
        return np.int64
    return None if any(v < 0 for v in nums) or neg() else np.uint64


def _md_codes(em: EventMetadataTable, name: str, values: list[Any]) -> np.ndarray | None:
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
class _PlaneMeta:
    """A plane's metadata, decoded by upb from its bytes without lines."""

    stats: dict[str, Any]
    stat_metadata: dict[int, str]
    event_metadata: EventMetadataTable
    ids_by_name: dict[str, np.ndarray]


def _decode_plane_meta(index: int, name: str, rest: bytes) -> _PlaneMeta:
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
    return _PlaneMeta(
        stats=_decode_stats(msg.stats, stat_md),
        stat_metadata=stat_md,
        event_metadata=table,
        ids_by_name={n: np.array(sorted(v), dtype=np.int64) for n, v in by_name.items()},
    )


def _plane_metas(planes: list[tuple]) -> list[_PlaneMeta]:
    """The metadata of each plane `_xspace.parse` returns."""
    return [_decode_plane_meta(i, p[1], p[2]) for i, p in enumerate(planes)]


def _parse(data: Any, **options: Any) -> dict[str, Any]:
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


def _open_profile(data: Any) -> tuple[Any, int]:
    """The profile's bytes (`_open`) and their size, checked to be a non-empty buffer."""
    data = _open(data)
    try:
        size = memoryview(data).nbytes
    except TypeError as e:
        raise InvalidProfile(f"profile data must be bytes-like, not {type(data).__name__}") from e
    if size == 0:
        raise InvalidProfile("the profile is empty (0 bytes)")
    return data, size


def _check_planes(r: dict[str, Any], size: int) -> None:
    if not r["planes"]:
        raise InvalidProfile(f"not an XSpace profile: {size} bytes of protobuf with no planes")


def _decode_space(rest: bytes) -> XSpace:
    """The XSpace's own fields (hostnames, errors, warnings) from its bytes other than planes."""
    try:
        return XSpace.FromString(rest)
    except DecodeError as e:
        raise InvalidProfile(f"XSpace header fields are not valid protobuf: {e}") from e


def _lines_of(planes: list[tuple]) -> Lines:
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


def _planes_of(
    planes: list[tuple],
    metas: list[_PlaneMeta],
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


def _time_base(lines: Lines) -> tuple[int, np.ndarray, np.ndarray]:
    """(t0_ns, line timestamps relative to it, which lines have events).

    t0: earliest timestamp among lines that hold events (empty lines may
    carry a zero timestamp that would push absolute times out of range).
    """
    has_events = lines.event_stop > lines.event_start
    ts = lines.timestamp_ns[has_events] if has_events.any() else lines.timestamp_ns
    t0 = int(ts.min()) if len(ts) else 0
    rel = lines.timestamp_ns - t0
    if has_events.any() and int(rel[has_events].max()) > _MAX_SPAN_NS:
        raise InvalidProfile(
            f"line timestamps span {int(rel[has_events].max())} ns: too far apart to be one profile"
        )
    return t0, rel, has_events


def read_xspace(data: Any, *, stats: Iterable[str] | None = None) -> XSpaceColumns:
    """Reads a serialized XSpace into columns.

    Args:
        data: the profile: bytes-like / mmap (any buffer), or a file path
            (memory-mapped, kept open by the result).
        stats: None keeps every event stat in `stats` (what `event_stats`
            shows). A list of stat names keeps only those event-level stats,
            which saves memory and time when only a few are needed (e.g.
            hlo_op, hlo_module, program_id, device_ordinal, step_num);
            event-metadata stats are always available.

    Returns:
        The profile as `XSpaceColumns`.

    Raises:
        InvalidProfile: empty, truncated or malformed bytes, or a protobuf
            message that has no planes.
    """
    data, size = _open_profile(data)
    metas: list[_PlaneMeta] | None = None
    keep = None
    if stats is not None:
        # Stat names are per plane: read the planes' metadata first (lines are
        # skipped, which is cheap), then parse keeping only those stat ids.
        wanted = [stats] if isinstance(stats, str) else list(stats)
        metas = _plane_metas(_parse(data, lines=False)["planes"])
        keep = [
            np.unique(
                np.concatenate([m.ids_by_name.get(n, _EMPTY_I64) for n in wanted] or [_EMPTY_I64])
            )
            for m in metas
        ]
    r = _parse(data, keep=keep)
    _check_planes(r, size)
    if metas is None:
        metas = _plane_metas(r["planes"])
    space = _decode_space(r["space_rest"])

    i32, i64 = np.int32, np.int64
    ev_line = np.frombuffer(r["ev_line"], i32)
    ev_first = np.frombuffer(r["ev_stat_first"], i64)
    ev_count = np.frombuffer(r["ev_stat_count"], i32)
    st_value = np.frombuffer(r["st_value"], i64)
    n_stats = len(st_value)
    lines = _lines_of(r["planes"])
    planes = _planes_of(r["planes"], metas, lines, ev_first, ev_count)
    t0, rel, has_events = _time_base(lines)
    ev_off = np.frombuffer(r["ev_offset_ps"], i64)
    aggregated = (np.frombuffer(r["ev_flags"], np.uint8) & _xspace.EV_FLAG_AGGREGATED) != 0
    num_occurrences = None
    if aggregated.any():  # the parser keeps num_occurrences in the offset column
        num_occurrences = np.where(aggregated, ev_off, 0)
        ev_off = np.where(aggregated, 0, ev_off)
    start_ps = (np.where(has_events, rel, 0) * 1000)[ev_line]
    start_ps += ev_off

    events = Events(
        line=ev_line,
        metadata_id=np.frombuffer(r["ev_metadata_id"], i64),
        offset_ps=ev_off,
        duration_ps=np.frombuffer(r["ev_duration_ps"], i64),
        aggregated=aggregated,
        stat_start=ev_first,
        stat_count=ev_count,
        start_ps=start_ps,
        _num_occurrences=num_occurrences,
    )
    stats = Stats(
        metadata_id=np.frombuffer(r["st_metadata_id"], i64),
        kind=np.frombuffer(r["st_kind"], np.uint8),
        int_value=st_value,
        double_value=st_value.view(np.float64),
        str_offset=st_value,
        str_length=np.frombuffer(r["st_length"], i32),
    )
    assert len(stats.kind) == n_stats
    return XSpaceColumns(
        data=data,
        t0_ns=t0,
        planes=planes,
        lines=lines,
        events=events,
        stats=stats,
        hostnames=list(space.hostnames),
        errors=list(space.errors),
        warnings=list(space.warnings),
    )
