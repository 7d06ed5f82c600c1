"""The full XSpace reader: every stat of every event, as columns. The tests' oracle for
the service's lean reader (`xdiag/xplane/lean.py`), checked itself against
jax.profiler.ProfileData (XLA's C++ parser) in test_xspace_reader.py.

The service never keeps every stat: ingest reads a few (lean.py) and the details panel
one event's (events.py). This reader shares the C parser and the plane-metadata code
with them (`xdiag/xplane/columns.py`); where that sharing could hide a bug, the tests
compare with protobuf's own decoder or ProfileData instead.

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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xdiag.xplane import _xspace
from xdiag.xplane.arrays import fits_int32
from xdiag.xplane.columns import (
    EMPTY_I64,
    KIND_BYTES,
    KIND_DOUBLE,
    KIND_INT64,
    KIND_NONE,
    KIND_REF,
    KIND_STR,
    KIND_UINT64,
    ColumnsCommon,
    EventsCommon,
    Lines,
    Plane,
    PlaneMeta,
    check_planes,
    decode_space,
    intern_raw,
    intern_values,
    interned_table,
    lines_of,
    metadata_codes,
    numeric_dtype,
    objects_of,
    open_profile,
    parse,
    plane_metas,
    planes_of,
    str_values,
    time_base,
)

__all__ = ["KIND_BYTES", "KIND_DOUBLE", "KIND_INT64", "KIND_NONE", "KIND_REF", "KIND_STR",
           "KIND_UINT64", "Events", "Lines", "Plane", "Stats", "XSpaceColumns", "read_xspace"]


@dataclass
class Events(EventsCommon):
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


@dataclass
class XSpaceColumns(ColumnsCommon):
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
            return objects_of(*self._codes_from(g)), present
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

    def event_stat_later(self, name: str, *, narrow: bool = False
                         ) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """`event_stat(name)` to call later (LeanColumns defers the work; here it is done
        now, as these columns are never released). `narrow`: integers as int32 when all
        fit."""
        values, present = self.event_stat(name)
        if narrow and fits_int32(values):
            values = values.astype(np.int32)
        return lambda: (values, present)

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
            own = EMPTY_I64
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
            code_of_row = metadata_codes(em, name, g.md_values)
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
        return numeric_dtype(
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
                    codes[ev] = intern_values(index, str_values(k, uniq))[np.frombuffer(sub, np.int32)]
                else:
                    codes[ev] = intern_raw(index, k, raw, seg.plane)
        for ev, code in g.md:
            codes[ev] = intern_values(index, g.md_values)[code]
        return codes, interned_table(index)


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
    data, size = open_profile(data)
    metas: list[PlaneMeta] | None = None
    keep = None
    if stats is not None:
        # Stat names are per plane: read the planes' metadata first (lines are
        # skipped, which is cheap), then parse keeping only those stat ids.
        wanted = [stats] if isinstance(stats, str) else list(stats)
        metas = plane_metas(parse(data, lines=False)["planes"])
        keep = [
            np.unique(
                np.concatenate([m.ids_by_name.get(n, EMPTY_I64) for n in wanted] or [EMPTY_I64])
            )
            for m in metas
        ]
    r = parse(data, keep=keep)
    check_planes(r, size)
    if metas is None:
        metas = plane_metas(r["planes"])
    space = decode_space(r["space_rest"])

    i32, i64 = np.int32, np.int64
    ev_line = np.frombuffer(r["ev_line"], i32)
    ev_first = np.frombuffer(r["ev_stat_first"], i64)
    ev_count = np.frombuffer(r["ev_stat_count"], i32)
    st_value = np.frombuffer(r["st_value"], i64)
    n_stats = len(st_value)
    lines = lines_of(r["planes"])
    planes = planes_of(r["planes"], metas, lines, ev_first, ev_count)
    t0, rel, has_events = time_base(lines)
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
