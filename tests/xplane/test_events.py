"""EventReader (one event's stats from the raw bytes) against protobuf's own decoder."""

from __future__ import annotations

import gzip
import math
import struct

import pytest
from support import FIXTURES
from test_xspace_reader import _handmade

from xdiag.core.errors import InvalidProfile
from xdiag.xplane import events
from xdiag.xplane.events import EventReader
from xdiag.xplane.xplane_pb2 import XSpace

CPU_SMALL = FIXTURES / "cpu_small.xplane.pb"


def _same(a: dict, b: dict) -> bool:
    """Equal dicts, in the same key order, NaN equal to NaN."""
    nan = lambda v: isinstance(v, float) and math.isnan(v)  # noqa: E731
    return list(a) == list(b) and all(a[k] == b[k] or (nan(a[k]) and nan(b[k])) for k in a)


def _protobuf_stats(data: bytes) -> list[tuple[dict, dict]]:
    """Every event's stats in file order, (with its metadata's, its own only), as
    protobuf's own decoder (upb) reads the file: none of our parsing code is involved.
    The event's own stats win over its metadata's; a ref names a stat metadata."""
    out = []
    for plane in XSpace.FromString(data).planes:
        names = {k: v.name for k, v in plane.stat_metadata.items()}

        def decoded(stats, names: dict = names) -> dict:
            got = {}
            for st in stats:
                which = st.WhichOneof("value")
                value = None if which is None else names.get(st.ref_value) \
                    if which == "ref_value" else getattr(st, which)
                got[names.get(st.metadata_id, "")] = value
            return got

        for line in plane.lines:
            for ev in line.events:
                own = decoded(ev.stats)
                meta = decoded(plane.event_metadata[ev.metadata_id].stats) \
                    if ev.metadata_id in plane.event_metadata else {}
                out.append(({**meta, **own}, own))
    return out


def _check_every_event(data: bytes) -> int:
    reader, want = EventReader(data), _protobuf_stats(data)
    for i, (with_meta, own) in enumerate(want):
        assert _same(reader.event_stats(i), with_meta), i
        assert _same(reader.event_stats(i, metadata=False), own), i
    with pytest.raises(IndexError):
        reader.event_stats(len(want))
    return len(want)


@pytest.mark.parametrize("chunk", [1, 200, events.CHUNK_BYTES])
def test_every_event_of_real_captures(monkeypatch, chunk: int) -> None:
    """Every event of the CPU capture and of the H100 capture, whatever the chunking."""
    monkeypatch.setattr(events, "CHUNK_BYTES", chunk)
    assert _check_every_event(CPU_SMALL.read_bytes()) > 1000
    gpu = gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes())
    assert _check_every_event(gpu) > 10000


def _vint(v: int) -> bytes:
    v &= 2**64 - 1
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7F | 0x80])
        v >>= 7
    return out + bytes([v])


def _vi(field: int, v: int) -> bytes:
    return _vint(field << 3) + _vint(v)


def _ld(field: int, payload: bytes) -> bytes:
    return _vint(field << 3 | 2) + _vint(len(payload)) + payload


def _odd_stats() -> bytes:
    """Stats protobuf's own API cannot write: a str stat that is not UTF-8, a stat that
    repeats its value field (the last one wins), one with no value; also a NaN, a ref,
    negative ids and an event whose metadata the plane does not define. Wire bytes by
    hand; what they say is stated in the test, not read by another decoder."""
    names = {3: b"raw", 4: b"twice", 2: b"empty", 5: b"nan", 6: b"ref", 7: b"neg"}
    stat_md = b"".join(_ld(5, _vi(1, k) + _ld(2, _vi(1, k) + _ld(2, n))) for k, n in names.items())
    event_md = _ld(4, _vi(1, 1) + _ld(2, _vi(1, 1) + _ld(2, b"op") + _ld(5, _vi(1, 3) +
                                                                         _ld(5, b"meta"))))
    stats = [_vi(1, 3) + _ld(5, b"ok \xff\xfe"),
             _vi(1, 4) + _vi(4, -7) + _vi(3, 9),
             _vi(1, 2),
             _vi(1, 5) + _vint(2 << 3 | 1) + struct.pack("<d", math.nan),
             _vi(1, 6) + _vi(7, 3),
             _vi(1, 7) + _vi(4, -(2**40))]
    ev1 = _vi(1, 1) + _vi(2, 100) + _vi(3, 5) + b"".join(_ld(4, st) for st in stats)
    ev2 = _vi(1, 99) + _vi(2, 200) + _vi(3, 5) + _ld(4, _vi(1, 3) + _ld(5, b"own"))
    line = _vi(1, 1) + _ld(2, b"t") + _vi(3, 1_000) + _ld(4, ev1) + _ld(4, ev2)
    plane = _vi(1, 1) + _ld(2, b"/host:CPU") + _ld(3, line) + event_md + stat_md
    return _ld(1, plane)


def test_every_stat_kind_and_odd_stats() -> None:
    assert _check_every_event(_handmade()) == 5
    reader = EventReader(_odd_stats())
    first = reader.event_stats(0)
    assert list(first) == ["raw", "twice", "empty", "nan", "ref", "neg"]  # metadata's first
    assert first == {**first, "raw": "ok \ufffd\ufffd", "twice": 9, "empty": None,
                     "ref": "raw", "neg": -(2**40)} and math.isnan(first["nan"])
    own = reader.event_stats(0, metadata=False)
    assert list(own) == list(first) and own["raw"] == "ok \ufffd\ufffd"  # own wins
    assert reader.event_stats(1) == {"raw": "own"}  # metadata 99: not defined by the plane
    with pytest.raises(IndexError):
        reader.event_stats(2)


def test_out_of_range_and_malformed() -> None:
    reader = EventReader(CPU_SMALL.read_bytes())
    n = len(_protobuf_stats(CPU_SMALL.read_bytes()))
    reader.event_stats(n - 1)
    for bad in (n, -1, 10**9):
        with pytest.raises(IndexError):
            reader.event_stats(bad)
    with pytest.raises(InvalidProfile):
        EventReader(CPU_SMALL.read_bytes()[:5000])
    with pytest.raises(InvalidProfile):
        EventReader(b"")
