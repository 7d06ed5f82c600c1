"""One event's stats straight from the raw file, for the viewer's event details.

Parsing the whole file for one event's stats took 2.4 s of CPU and ~1 GB of memory
on a 10M-event profile (the stats columns of every event, kept per opened profile).
Here, opening costs the planes' metadata (lines skipped) and one pass over the events'
tags and lengths (`_xspace.event_chunks`, the parallel parse's planning pass): about
one chunk start per 64 KiB of events. A look-up walks one chunk to the event and
decodes its few bytes. Values and precedence are those of
`XSpaceColumns.event_stats` (tested on every event of the fixtures).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from xdiag.core.errors import InvalidProfile
from xdiag.xplane import _xspace
from xdiag.xplane.columns import open_profile, parse, plane_metas

CHUNK_BYTES = 64 << 10  # a look-up walks at most this many bytes of events


class EventReader:
    """Stats of single events of one raw host file, by the event's index in file order
    (the index `XSpaceColumns` gives it; the timeline's `ev_src`)."""

    def __init__(self, data: Any) -> None:
        self.data, _ = open_profile(data)
        self.metas = plane_metas(parse(self.data, lines=False)["planes"])
        try:
            rows = _xspace.event_chunks(self.data, CHUNK_BYTES)
        except ValueError as e:
            raise InvalidProfile(f"not a valid XSpace profile: {e}") from e
        table = np.frombuffer(rows, np.int64).reshape(-1, 4)
        self._first, self._start, self._end, self._plane = (table[:, i].copy() for i in range(4))

    def event_stats(self, index: int, *, metadata: bool = True) -> dict[str, Any]:
        """All stats of event `index`, decoded; with `metadata`, those of its event
        metadata first (the event's own win on a name clash)."""
        c = int(np.searchsorted(self._first, index, side="right")) - 1
        if index < 0 or c < 0:
            raise IndexError(f"no event {index}")
        try:
            a, b = _xspace.event_span(self.data, int(self._start[c]), int(self._end[c]),
                                      index - int(self._first[c]))
        except ValueError:
            raise IndexError(f"no event {index}") from None
        meta = self.metas[int(self._plane[c])]
        md, stats = _decode_event(memoryview(self.data)[a:b])
        out: dict[str, Any] = {}
        if metadata:
            row = meta.event_metadata.get(md)
            if row >= 0:
                out.update(meta.event_metadata.stats[row])
        for sid, kind, value in stats:
            if kind == _REF:
                value = meta.stat_metadata.get(value)
            out[meta.stat_metadata.get(sid, "")] = value
        return out


# XStat value fields -> how they decode (the C reader's kinds, same precedence: the
# last value field of a stat wins).
_DOUBLE, _UINT64, _INT64, _STR, _BYTES, _REF = 2, 3, 4, 5, 6, 7


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise InvalidProfile("malformed event: truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _fields(buf: memoryview, pos: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of a message in [pos, end): the
    integer of a varint, the (start, stop) of a length-delimited or fixed field."""
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value
            continue
        if wire == 2:
            n, pos = _varint(buf, pos, end)
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
        else:
            raise InvalidProfile(f"malformed event: wire type {wire}")
        if pos + n > end:
            raise InvalidProfile("malformed event: a field runs past its message")
        yield field, wire, (pos, pos + n)
        pos += n


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _decode_stat(buf: memoryview, pos: int, end: int) -> tuple[int, int, Any]:
    sid, kind, value = 0, 0, None
    for field, wire, v in _fields(buf, pos, end):
        if field == 1 and wire == 0:
            sid = _signed(v)
        elif field in (_UINT64, _INT64, _REF) and wire == 0:
            kind, value = field, _signed(v) if field == _INT64 else v
        elif field == _DOUBLE and wire == 1:
            kind, value = field, struct.unpack_from("<d", buf, v[0])[0]
        elif field in (_STR, _BYTES) and wire == 2:
            raw = bytes(buf[v[0]:v[1]])
            kind, value = field, raw.decode("utf-8", "replace") if field == _STR else raw
    return sid, kind, value


def _decode_event(buf: memoryview) -> tuple[int, list[tuple[int, int, Any]]]:
    """An XEvent's metadata id and its stats as (stat metadata id, kind, value)."""
    md, stats = 0, []
    for field, wire, v in _fields(buf, 0, len(buf)):
        if field == 1 and wire == 0:
            md = _signed(v)
        elif field == 4 and wire == 2:
            stats.append(_decode_stat(buf, *v))
    return md, stats
