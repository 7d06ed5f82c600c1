"""Lean columns of an XSpace: only what ingest's analyses read, at ~45 bytes per event.

A full reader (the tests' oracle, `tests/xplane/full_reader.py`) keeps one row per
event stat (21 bytes each) plus each event's stat range and offset, and its str stats
point into the input, so the whole file stays mapped. Ingest reads a few stats (`analysis.event_stats.ANALYSED_STATS`) and no
event details. `read_xspace_lean` therefore has the C extension (`parse_lean`)
write, per wanted stat, one int32 column aligned with the events: the code of
the event's value among that stat's distinct values, interned while parsing
(str/bytes values are copied out). The result holds nothing that points into
the input; for a read-only file mapping (or a path) the parse even drops the
mapping's pages behind itself, so a profile's file pages never pile up in RSS.

`LeanColumns` answers the calls analysis makes on the full reader's `XSpaceColumns`
(planes, lines, events.start_ps/duration_ps/aggregated/line/metadata_id, t0_ns,
event_names, event_stat, event_stat_codes) with exactly the same results (the tests
compare them), including the fallback to stats held by event metadata (GPU/TPU). It
has no per-event stat rows: no `event_stats`, `stat_value`, `offset_ps`,
`stat_start`/`stat_count`; one event's details come from `events.py`.

Per event: line (int32), metadata id (int32 while ids fit), start and duration
(int64), flags (uint8) and 4 bytes per wanted stat.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xdiag.core import threads as cpu
from xdiag.core.errors import InvalidProfile
from xdiag.xplane import _xspace
from xdiag.xplane.arrays import fits_int32
from xdiag.xplane.columns import (
    CHUNK,
    EMPTY_I64,
    KIND_BYTES,
    KIND_INT64,
    KIND_STR,
    KIND_UINT64,
    ColumnsCommon,
    EventsCommon,
    Lines,
    Plane,
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


@dataclass
class LeanEvents(EventsCommon):
    """All events of all lines, in file order (the columns of `Events` ingest uses).

    Attributes:
        line: int32 line index.
        metadata_id: event metadata id per plane: int32, or int64 when an id
            does not fit int32.
        duration_ps: int64.
        aggregated: bool, True where the event carries num_occurrences.
        start_ps: int64 start relative to `LeanColumns.t0_ns` (for aggregated
            events, the line's start).
    """

    line: np.ndarray
    metadata_id: np.ndarray
    duration_ps: np.ndarray
    aggregated: np.ndarray
    start_ps: np.ndarray
    _num_occurrences: np.ndarray | None = field(default=None, repr=False)


@dataclass
class _Resolved:
    """One stat, interned like `XSpaceColumns.event_stat_codes` does.

    codes: int32 per event into `table`, -1 where absent (read-only).
    dtype: what `event_stat` returns for it (None: an object array).
    """

    codes: np.ndarray
    table: list[Any]
    dtype: Any
    # Events that repeat the stat: the code of their last value (what event_stat takes).
    last_ev: np.ndarray = field(default_factory=lambda: EMPTY_I64)
    last_code: np.ndarray = field(default_factory=lambda: EMPTY_I64)


@dataclass
class LeanStat:
    """One wanted stat as parsed: entry codes per event and the interned entries.

    codes: int32 per event, the entry holding the event's value, -1 if none
        (remapped in place into final codes when the stat is resolved).
    plane, kind, value: per entry (in code order): its plane, value kind and
        raw value (for str/bytes: an index into `strs`).
    last_ev, last_code: events that repeat the stat with values of several
        kinds, and the entry of their last value (`codes` holds the last of
        the highest kind, as `event_stat_codes` wants; `event_stat` wants this).
    """

    codes: np.ndarray
    plane: np.ndarray
    kind: np.ndarray
    value: np.ndarray
    strs: list[bytes]
    last_ev: np.ndarray
    last_code: np.ndarray
    resolved: _Resolved | None = None


@dataclass
class LeanColumns(ColumnsCommon):
    """A profile as lean columns; see the module docstring.

    Attributes:
        data: the input as given (nothing here points into it).
        t0_ns: absolute ns that `events.start_ps` is relative to.
        planes, lines: as in `XSpaceColumns` (planes' stat ranges are empty).
        events: `LeanEvents`.
        stats: the wanted stats by name (set to None to free them: analysis
            does so once it has gathered what it needs).
        hostnames, errors, warnings: the XSpace's own fields.
    """

    data: Any
    t0_ns: int
    planes: list[Plane]
    lines: Lines
    events: LeanEvents | None
    stats: dict[str, LeanStat] | None
    hostnames: list[str]
    errors: list[str]
    warnings: list[str]

    def event_stat(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Values of the stat `name` for every event, as `XSpaceColumns.event_stat`."""
        return _stat_values(self._resolve(name))

    def event_stat_later(self, name: str, *, narrow: bool = False
                         ) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
        """`event_stat(name)`, computed when called: what it needs is taken now, so the
        call works after the columns are released (ingest builds the timeline first).
        A stat that no event metadata holds needs only its own entries: it is resolved
        when called, after the timeline (program and run ids: ~15 ms of the 3M-event
        synthetic profile's work before its index). `narrow`: integer values come as
        int32 when they all fit (an id per event: half the memory of int64)."""
        if self.stats is None or self.events is None:
            raise RuntimeError("the lean columns were released")
        st = self.stats.get(name)
        if st is not None and st.resolved is None and not self._metadata_holds(name):
            n, planes = len(self.events), self.planes

            def later(st: LeanStat = st) -> tuple[np.ndarray, np.ndarray]:
                r = st.resolved or _resolve_stat(st, n, planes, lambda codes: ([], []))
                return _stat_values(r, narrow)
            return later
        r = self._resolve(name)
        return lambda: _stat_values(r, narrow)

    def event_stat_sparse(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(events that carry the stat `name`, their values) as
        `XSpaceColumns.event_stat_sparse`, without a value for every event."""
        r = self._resolve(name)
        where = np.flatnonzero(r.codes >= 0)
        if r.dtype is None:
            return where, objects_of(r.codes[where], r.table)
        lut = np.array(r.table, dtype=r.dtype) if len(r.table) else np.zeros(0, r.dtype)
        out = lut[r.codes[where]]
        if len(r.last_ev):  # events that repeat the stat: the last value, as event_stat
            out[np.searchsorted(where, r.last_ev)] = lut[r.last_code]
        return where, out

    def event_stat_codes(self, name: str) -> tuple[np.ndarray, list[Any], np.ndarray]:
        """Interned values of stat `name`, as `XSpaceColumns.event_stat_codes`.

        The codes array is shared between calls and read-only.
        """
        r = self._resolve(name)
        return r.codes, list(r.table), r.codes >= 0

    # -- internals ---------------------------------------------------------

    def _resolve(self, name: str) -> _Resolved:
        """Final codes, table and dtype of a stat: the order `XSpaceColumns` gives.

        There, values are interned plane by plane, within a plane kind by kind
        (ascending), str/bytes in order of first appearance, numbers sorted;
        then the values held by event metadata. The parser's entries are
        already distinct per (plane, kind, value) in order of first appearance,
        so the same order comes from the entries alone; the per-event codes are
        then remapped in place.
        """
        if self.stats is None or self.events is None:
            raise RuntimeError("the lean columns were released")
        st = self.stats.get(name)
        if st is not None and st.resolved is not None:
            return st.resolved
        return _resolve_stat(st, len(self.events), self.planes,
                             lambda codes: self._metadata_fallback(name, codes))

    def _metadata_holds(self, name: str) -> bool:
        """Whether the event metadata of a plane with events holds stat `name`."""
        return any(name in row for p in self.planes if p.event_stop != p.event_start
                   for row in p.event_metadata.stats)

    def _metadata_fallback(
        self, name: str, codes: np.ndarray
    ) -> tuple[list[Any], list[tuple[np.ndarray, np.ndarray]]]:
        """Values of `name` held by event metadata, for events without their own.

        Returns (values, [(events, indices into values)]), as `XSpaceColumns._gather`.
        """
        values: list[Any] = []
        segments: list[tuple[np.ndarray, np.ndarray]] = []
        md = self.events.metadata_id
        for p in self.planes:
            if p.event_stop == p.event_start:
                continue
            em = p.event_metadata
            code_of_row = metadata_codes(em, name, values)
            if code_of_row is None:
                continue
            parts = []
            for a in range(p.event_start, p.event_stop, CHUNK):
                b = min(a + CHUNK, p.event_stop)
                code = code_of_row[em.positions(md[a:b])]  # pos == -1 picks the sentinel
                code[codes[a:b] >= 0] = -1  # the event's own value wins
                idx = np.flatnonzero(code >= 0)
                if len(idx):
                    parts.append((idx + a, code[idx]))
            if parts:
                segments.append((np.concatenate([x[0] for x in parts]),
                                 np.concatenate([x[1] for x in parts])))
        return values, segments


def _resolve_stat(st: LeanStat | None, n: int, planes: list[Plane],
                  fallback: Callable[[np.ndarray], tuple[list[Any], list[Any]]]) -> _Resolved:
    """`LeanColumns._resolve` of one stat of `n` events: `fallback(codes)` gives the
    values event metadata holds, as `_metadata_fallback`. Remaps `st.codes` in place,
    once: the result is kept in `st.resolved`."""
    index: dict[Any, int] = {}
    kinds: set[int] = set()
    big = neg = False  # a uint64 value past 2**63; a negative int64 value
    last_ev = last_code = EMPTY_I64
    if st is None:
        codes = np.full(n, -1, np.int32)
    else:
        codes = st.codes
        lut = np.full(len(st.kind), -1, np.int32)
        # Entries in code order, grouped by plane (stable: first appearance kept).
        order = np.argsort(st.plane, kind="stable")
        bounds = np.flatnonzero(np.diff(st.plane[order])) + 1
        for grp in np.split(order, bounds) if len(order) else []:
            plane = planes[int(st.plane[grp[0]])]
            gk = st.kind[grp]
            for k in np.unique(gk).tolist():
                e = grp[gk == k]
                raw = st.value[e]
                kinds.add(k)
                if k in (KIND_STR, KIND_BYTES):
                    lut[e] = intern_values(index, str_values(k, [st.strs[i] for i in raw.tolist()]))
                else:
                    lut[e] = intern_raw(index, k, raw, plane)
                    big |= k == KIND_UINT64 and bool(np.any(raw < 0))
                    neg |= k == KIND_INT64 and bool(np.any(raw < 0))
        if not np.array_equal(lut, np.arange(len(lut))):  # else the codes are final
            _xspace.remap_codes(codes, lut)
        last_ev, last_code = st.last_ev, lut[st.last_code].astype(np.int64)
    md_values, md_segments = fallback(codes)
    if md_segments:
        md_codes = intern_values(index, md_values)
        for ev, code in md_segments:
            codes[ev] = md_codes[code]
    dtype = numeric_dtype(kinds, md_values, big=lambda: big, neg=lambda: neg)
    codes.flags.writeable = False
    r = _Resolved(codes=codes, table=interned_table(index), dtype=dtype, last_ev=last_ev,
                  last_code=last_code)
    if st is not None:
        st.resolved = r
    return r


def _stat_values(r: _Resolved, narrow: bool = False) -> tuple[np.ndarray, np.ndarray]:
    present = r.codes >= 0
    if r.dtype is None:
        return objects_of(r.codes, r.table), present
    table = np.array(r.table, dtype=r.dtype)
    dtype = r.dtype
    if narrow and fits_int32(table):
        dtype = np.int32
    lut = np.empty(len(r.table) + 1, dtype=dtype)
    lut[: len(r.table)] = table
    lut[-1] = np.nan if r.dtype == np.float64 else 0
    out = lut[r.codes]
    out[r.last_ev] = lut[r.last_code]
    return out, present


def _droppable(data: Any) -> bool:
    """True for a read-only mmap: its pages can be dropped and read back from the file."""
    if not isinstance(data, mmap.mmap):
        return False
    try:
        return memoryview(data).readonly
    except (TypeError, ValueError):
        return False


def read_xspace_lean(data: Any, *, stats: Iterable[str] = (),
                     drop_pages: bool = True, threads: int | None = None) -> LeanColumns:
    """Reads a serialized XSpace into lean columns (see the module docstring).

    Args:
        data: the profile: bytes-like / mmap (any buffer), or a file path.
        stats: the event stat names to keep (e.g. `analysis.event_stats.ANALYSED_STATS`);
            at most 64. Stats held by event metadata are always available.
        drop_pages: when `data` is a read-only mmap (or a path), drop its pages
            from this process while and after parsing (madvise MADV_DONTNEED:
            the mapping stays valid, pages are read back from the file if
            touched again). The result never reads `data`.
        threads: threads to decode events on (default: `xdiag.core.threads.count()`);
            the result is the same on any number.

    Returns:
        The profile as `LeanColumns`.

    Raises:
        InvalidProfile: as `read_xspace`: empty, truncated or malformed bytes,
            or a protobuf message that has no planes.
    """
    from_path = isinstance(data, str | os.PathLike)
    data, size = open_profile(data)
    wanted = list(dict.fromkeys([stats] if isinstance(stats, str) else stats))
    # Stat names are per plane: read the planes' metadata first (lines are
    # skipped, which is cheap), then parse wanting those stats' ids.
    head = parse(data, lines=False)
    metas = plane_metas(head["planes"])
    # A stat no plane names cannot occur: no column for it (e.g. correlation_id on CPU);
    # it reads as absent from every event, as it is.
    wanted = [n for n in wanted if any(n in m.ids_by_name for m in metas)]
    keep = []
    for m in metas:
        pairs = [(int(i), w) for w, n in enumerate(wanted) for i in m.ids_by_name.get(n, EMPTY_I64)]
        keep.append(np.array(pairs, dtype=np.int64).reshape(-1))
    drop = drop_pages and (from_path or _droppable(data))
    try:
        r = _xspace.parse_lean(data, keep, len(wanted), drop=drop,
                               threads=cpu.count() if threads is None else threads)
    except ValueError as e:
        raise InvalidProfile(f"not a valid XSpace profile: {e}") from e
    check_planes(r, size)
    space = decode_space(head["space_rest"])

    i32, i64 = np.int32, np.int64
    lines = lines_of(r["planes"])
    planes = planes_of(r["planes"], metas, lines)
    # t0 and start_ps exactly as read_xspace computes them.
    t0, rel, has_events = time_base(lines)
    ev_line = np.frombuffer(r["ev_line"], i32)
    start_ps = np.frombuffer(r["ev_offset_ps"], i64)  # offsets, made starts in place below
    # The parser only ever sets bit 0 of the flags: view them as bool.
    aggregated = np.frombuffer(r["ev_flags"], np.uint8).view(np.bool_)
    num_occurrences = None
    if aggregated.any():  # the parser keeps num_occurrences in the offset column
        num_occurrences = np.where(aggregated, start_ps, 0)
        start_ps[aggregated] = 0
    _xspace.add_by_line(r["ev_offset_ps"], r["ev_line"],
                        (np.where(has_events, rel, 0) * 1000).astype(i64))
    events = LeanEvents(
        line=ev_line,
        metadata_id=np.frombuffer(r["ev_metadata_id"], i64 if r["ev_metadata_id_wide"] else i32),
        duration_ps=np.frombuffer(r["ev_duration_ps"], i64),
        aggregated=aggregated,
        start_ps=start_ps,
        _num_occurrences=num_occurrences,
    )
    ent_want = np.frombuffer(r["ent_want"], np.uint8)
    ent_plane = np.frombuffer(r["ent_plane"], i32)
    ent_kind = np.frombuffer(r["ent_kind"], np.uint8)
    ent_value = np.frombuffer(r["ent_value"], i64)
    strs = r["ent_str"]
    exc = np.frombuffer(r["exceptions"], i64).reshape(-1, 3)
    lean_stats: dict[str, LeanStat] = {}
    for w, name in enumerate(wanted):
        e = np.flatnonzero(ent_want == w)
        kind = ent_kind[e]
        value = ent_value[e].copy()
        s_idx = np.flatnonzero((kind == KIND_STR) | (kind == KIND_BYTES))
        own_strs = [strs[i] for i in value[s_idx].tolist()]
        value[s_idx] = np.arange(len(s_idx))
        x = exc[exc[:, 0] == w]
        lean_stats[name] = LeanStat(codes=np.frombuffer(r["codes"][w], i32), plane=ent_plane[e],
                                    kind=kind, value=value, strs=own_strs, last_ev=x[:, 1],
                                    last_code=x[:, 2])
    return LeanColumns(data=data, t0_ns=t0, planes=planes, lines=lines, events=events,
                       stats=lean_stats, hostnames=list(space.hostnames),
                       errors=list(space.errors), warnings=list(space.warnings))
