"""What ingest needs of a host file beyond well-formed XSpace bytes, checked on upload and
capture so that a file that is accepted is a file ingest can analyse.

- Times: no event starts before the file's time origin (a negative time: line
  timestamp plus offset below 0) or lasts a negative time, and the events lie within
  the span the timeline index addresses (`analysis.timeline.MAX_TBITS`, ~19.5 h) —
  across all the hosts of a session too, since they share one time origin.
- The stats ingest analyses (`analysis.event_stats.ANALYSED_STATS`) hold what the profiler
  writes there: integers (within int64) for program ids, device ordinals, step
  numbers and correlation ids; strings for op and module names.
- The HLO modules in `/host:metadata` can be read.

Every message names what is wrong and where (plane, line, stat or module).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from xdiag.core.errors import InvalidProfile

INT_STATS = ("program_id", "device_ordinal", "step_num", "correlation_id")
STR_STATS = ("hlo_op", "hlo_module")
_BLOCK = 1 << 16
# Starts and durations beyond this (ps) span more than any supported profile anyway;
# checking them first keeps start + duration from overflowing int64.
_PS_LIMIT = 2**62


def max_span_ns() -> int:
    """The longest time from a profile's first event start to its last end."""
    from xdiag.analysis.timeline import MAX_TBITS

    return 2**MAX_TBITS - 4  # the index stores end + 1; rounding to ns adds one more


def _hours(ns: int) -> str:
    return f"{ns / 3.6e12:,.1f} h"


def _where(cols: Any, event: int) -> str:
    """"line 'x' of plane '/host:CPU'" for an event index."""
    try:
        line = int(cols.events.line[event])
        plane = cols.planes[int(cols.lines.plane[line])].name
        return f"line {cols.lines.names[line]!r} of plane {plane!r}"
    except (AttributeError, IndexError, TypeError):
        return f"event #{event}"


def check_times(cols: Any, label: str) -> tuple[int, int]:
    """The window [first start, last end] of the timed events (absolute ns), after
    checking them; raises InvalidProfile saying which event is out of range."""
    ev = cols.events
    timed = None
    if ev.aggregated.any():  # rare: only the events with a time
        timed = np.flatnonzero(~ev.aggregated)
        if not len(timed):
            return cols.t0_ns, cols.t0_ns
        start, dur = ev.start_ps[timed], ev.duration_ps[timed]
    else:
        start, dur = ev.start_ps, ev.duration_ps
    # A block at a time: no n-sized temporary to fault in, each block read from cache.
    block = np.empty(min(len(start), _BLOCK), np.int64)
    first, last, longest = 2**63 - 1, -(2**63), 0
    for a in range(0, len(start), _BLOCK):
        s, d = start[a:a + _BLOCK], dur[a:a + _BLOCK]
        if int(d.min()) < 0:
            i = a + int(np.argmax(d < 0))
            at = int(timed[i]) if timed is not None else i
            raise InvalidProfile(f"{label}: an event on {_where(cols, at)} has a negative "
                                 f"duration ({int(dur[i])} ps); the file is damaged")
        first = min(first, int(s.min()))
        longest = max(longest, int(d.max()))
        top = int(s.max())
        if top > _PS_LIMIT or longest > _PS_LIMIT:
            break  # the span check below refuses it
        part = block[:len(s)]
        np.add(s, d, out=part)
        last = max(last, int(part.max()))
    if cols.t0_ns * 1000 + first < 0:
        i = int(np.argmin(start))
        at = int(timed[i]) if timed is not None else i
        raise InvalidProfile(
            f"{label}: an event on {_where(cols, at)} starts at "
            f"{(cols.t0_ns * 1000 + first) // 1000} ns, before the trace's time origin "
            "(negative times: line timestamp plus offset below 0); the file is damaged")
    span_ps = max(last, top) - first if top <= _PS_LIMIT and longest <= _PS_LIMIT else 2**63
    if -(-span_ps // 1000) > max_span_ns():
        raise InvalidProfile(
            f"{label}: its events span {_hours(-(-span_ps // 1000))}; at most "
            f"{_hours(max_span_ns())} of trace can be analysed (timestamps out of range?)")
    return cols.t0_ns + first // 1000, cols.t0_ns + -(-last // 1000)


def _describe(value: Any) -> str:
    if value is None:
        return "no value"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    if isinstance(value, float | np.floating):
        return f"the number {float(value)!r}"
    return f"the value {value!r}"


def _entry_values(cols: Any, st: Any) -> list[Any]:
    """The distinct values of one lean stat, from its parsed entries (no per-event pass):
    what `event_stat_codes` would list, before the metadata-held ones."""
    from xdiag.xplane.columns import KIND_BYTES, KIND_DOUBLE, KIND_REF, KIND_STR, KIND_UINT64

    out: list[Any] = []
    for i, (kind, raw, plane) in enumerate(zip(st.kind.tolist(), st.value.tolist(),
                                               st.plane.tolist(), strict=True)):
        if kind in (KIND_STR, KIND_BYTES):
            v = st.strs[int(st.value[i])]
            out.append(v.decode("utf-8", "replace") if kind == KIND_STR else bytes(v))
        elif kind == KIND_DOUBLE:
            out.append(float(np.int64(raw).view(np.float64)))
        elif kind == KIND_UINT64:
            out.append(raw & (2**64 - 1))
        elif kind == KIND_REF:
            out.append(cols.planes[plane].stat_metadata.get(raw & (2**64 - 1)))
        elif kind == 0:
            out.append(None)  # a stat with no value set
        else:
            out.append(raw)
    return out


def _stat_values(cols: Any, name: str) -> list[Any]:
    stats = getattr(cols, "stats", None)
    if not isinstance(stats, dict):  # not lean columns: the reader's own answer
        try:
            return list(cols.event_stat_codes(name)[1])
        except KeyError:
            return []
    values = _entry_values(cols, stats[name]) if name in stats else []
    for plane in cols.planes:  # held by the metadata of a plane's events (GPU kernels)
        if plane.event_stop > plane.event_start:
            values += [s[name] for s in plane.event_metadata.stats if name in s]
    return values


def check_stats(cols: Any, label: str) -> None:
    """The analysed stats hold the types ingest reads (see the module docstring)."""
    for name in INT_STATS + STR_STATS:
        for v in _stat_values(cols, name):
            if name in STR_STATS:
                ok = isinstance(v, str)
            else:
                ok = isinstance(v, int | np.integer) and not isinstance(v, bool) and \
                    -(2**63) <= int(v) < 2**63
            if not ok:
                kind = "a string" if name in STR_STATS else "an integer"
                raise InvalidProfile(
                    f"{label}: stat {name!r} holds {_describe(v)} where the profiler writes "
                    f"{kind}; the file is damaged or was not written by the XLA profiler")


def check_hlo(cols: Any, label: str) -> None:
    from xdiag.xplane.hlo import hlo_modules

    try:
        hlo_modules(cols)
    except InvalidProfile as exc:
        raise InvalidProfile(f"{label}: {exc.detail}") from None


def check_host(cols: Any, label: str) -> tuple[int, int]:
    """Every check of one parsed host file; returns its window (absolute ns)."""
    window = check_times(cols, label)
    check_stats(cols, label)
    check_hlo(cols, label)
    return window


def check_session(windows: dict[str, tuple[int, int] | None]) -> None:
    """The hosts of one session share a time origin: together they must fit the span."""
    spans = {h: w for h, w in windows.items() if w}
    if len(spans) < 2:
        return
    first = min(spans, key=lambda h: spans[h][0])
    last = max(spans, key=lambda h: spans[h][1])
    span = spans[last][1] - spans[first][0]
    if span > max_span_ns():
        raise InvalidProfile(
            f"the hosts' traces are {_hours(span)} apart ({first} starts first, {last} ends "
            f"last); at most {_hours(max_span_ns())} can be analysed as one session — upload "
            "them as separate profiles")
