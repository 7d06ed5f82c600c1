"""read_xspace_lean (ingest's read path) gives exactly what read_xspace gives."""

from __future__ import annotations

import mmap
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from full_reader import XSpaceColumns, read_xspace
from test_xspace_malformed import _len, run_fuzz
from test_xspace_reader import _handmade

from xdiag.analysis.event_stats import ANALYSED_STATS
from xdiag.core.errors import InvalidProfile
from xdiag.xplane import _xspace
from xdiag.xplane.lean import LeanColumns, read_xspace_lean
from xdiag.xplane.xplane_pb2 import XSpace

# Besides what ingest reads: ref strings, absent names, names of other kinds.
EXTRA = ("_src", "run_id", "tf_op", "nope")


def _reprs(values: list[Any]) -> list[tuple[type, str]]:
    """Comparable exactly: NaN equals NaN, -0.0 differs from 0.0, 1 from 1.0."""
    return [(type(v), repr(v)) for v in values]


def _same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.dtype == b.dtype, f"{what}: {a.dtype} != {b.dtype}"
    assert a.shape == b.shape, what
    if a.dtype == object:
        assert _reprs(a.tolist()) == _reprs(b.tolist()), what
    else:
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), what


def assert_lean_matches(full: XSpaceColumns, lean: LeanColumns, names: Any) -> None:
    """Everything ingest reads from the columns is identical."""
    assert lean.t0_ns == full.t0_ns
    assert [p.name for p in lean.planes] == [p.name for p in full.planes]
    for p, q in zip(full.planes, lean.planes, strict=True):
        assert (p.id, p.stats, p.stat_metadata) == (q.id, q.stats, q.stat_metadata)
        assert (p.line_start, p.line_stop, p.event_start, p.event_stop) == (
            q.line_start, q.line_stop, q.event_start, q.event_stop)  # fmt: skip
        assert p.event_metadata.names == q.event_metadata.names
        assert p.event_metadata.stats == q.event_metadata.stats
    for col in ("plane", "id", "display_id", "timestamp_ns", "duration_ps", "event_start",
                "event_stop"):  # fmt: skip
        _same(getattr(full.lines, col), getattr(lean.lines, col), f"lines.{col}")
    assert (full.lines.names, full.lines.display_names) == (lean.lines.names,
                                                            lean.lines.display_names)
    assert (full.hostnames, full.errors, full.warnings) == (lean.hostnames, lean.errors,
                                                            lean.warnings)
    fe, le = full.events, lean.events
    assert len(fe) == len(le)
    for col in ("line", "duration_ps", "aggregated", "start_ps", "num_occurrences"):
        _same(getattr(fe, col), getattr(le, col), f"events.{col}")
    assert np.array_equal(fe.metadata_id, le.metadata_id)
    _same(full.event_plane(), lean.event_plane(), "event_plane")
    c1, t1 = full.event_names()
    c2, t2 = lean.event_names()
    _same(c1, c2, "event_names")
    assert t1 == t2
    for name in names:
        a, b = full.event_stat_codes(name), lean.event_stat_codes(name)
        _same(a[0], b[0], f"{name} codes")
        assert _reprs(a[1]) == _reprs(b[1]), name
        _same(a[2], b[2], f"{name} present")
        a, b = full.event_stat(name), lean.event_stat(name)
        _same(a[0], b[0], f"{name} values")
        _same(a[1], b[1], f"{name} present")


def _check(data: Any, names: Any = (*ANALYSED_STATS, *EXTRA)) -> LeanColumns:
    lean = read_xspace_lean(data, stats=names)
    full = read_xspace(data)
    assert_lean_matches(full, lean, names)
    # event_stat_later (resolved when called, unless event metadata holds the stat):
    # the same values, called after the columns are released, and once more.
    cols = read_xspace_lean(data, stats=names)
    later = {name: cols.event_stat_later(name) for name in names}
    cols.stats = cols.events = None
    for name in [*names, *names]:
        a, b = full.event_stat(name), later[name]()
        _same(a[0], b[0], f"{name} values later")
        _same(a[1], b[1], f"{name} present later")
    # Asking for fewer stats changes nothing for those asked.
    some = read_xspace_lean(data, stats=["step_num", "hlo_op"])
    assert_lean_matches(read_xspace(data), some, ["step_num", "hlo_op"])
    return lean


def test_golden_capture(cpu_small: Path) -> None:
    lean = _check(cpu_small)
    assert len(lean.events) == 1810 and lean.events.metadata_id.dtype == np.int32
    ordinal, has = lean.event_stat("device_ordinal")
    assert np.bincount(ordinal[has]).tolist() == [45, 40, 45, 45, 45, 40, 45, 45]


def test_live_capture(real_capture: Path) -> None:
    assert len(_check(real_capture).events) > 500


def test_synthetic(synth_small: Path) -> None:
    assert len(_check(synth_small).events) == 20_000


def test_handmade_edge_cases() -> None:
    """Every stat kind, metadata-level stats, refs, aggregation, unknown metadata."""
    data = _handmade()
    lean = _check(data, ["tag", "flops", "hello", "blob", "ratio", "big", "neg", "nope"])
    assert lean.event_stat("tag")[0].tolist() == ["own", "hello", "own", None, "hello"]
    assert lean.event_stat("big")[0].dtype == np.uint64
    # Stats not asked for still come from event metadata.
    assert read_xspace_lean(data).event_stat("flops")[0].tolist() == [99, 99, 0, 0, 0]


def _tricky(wide: bool = True) -> bytes:
    """Kinds mixed within a stat, big ids, several ids per name, repeats, NaN and -0.0."""
    space = XSpace(hostnames=["h"])
    for pi in range(3):
        p = space.planes.add(id=pi, name=f"/host:CPU{pi}" if pi != 1 else "/device:GPU:0")
        ids = {"v": 3 + pi, "w": 2**40 + pi, "s": 7, "r": 9, "x": 10}
        for name, i in ids.items():
            p.stat_metadata[i].id, p.stat_metadata[i].name = i, name
        p.stat_metadata[11].name = "v"  # a second id for "v"
        p.stat_metadata[12].name = "ref target"
        big_md = 2**33 + 5 if pi == 2 and wide else 1  # metadata ids past int32 in one plane
        p.event_metadata[big_md].name = f"op{pi}"
        p.event_metadata[2].name = "other"
        p.event_metadata[2].stats.add(metadata_id=ids["v"], int64_value=-7)
        line = p.lines.add(id=1, name="l", timestamp_ns=1000 + pi)
        values = [dict(int64_value=5), dict(uint64_value=5), dict(double_value=5.0),
                  dict(double_value=float("nan")), dict(double_value=-0.0), dict(str_value="5"),
                  dict(bytes_value=b"5"), dict(ref_value=12), dict(), dict(uint64_value=2**63),
                  dict(int64_value=-1)]  # fmt: skip
        for k, val in enumerate(values * 3):
            e = line.events.add(metadata_id=big_md if k % 2 else 2, offset_ps=k * 10,
                                duration_ps=k)
            e.stats.add(metadata_id=11 if k % 3 == 0 else ids["v"], **val)
            e.stats.add(metadata_id=ids["w"], uint64_value=k % 4)
            e.stats.add(metadata_id=ids["s"], str_value=f"s{k % 5}")
            e.stats.add(metadata_id=ids["s"], str_value=f"t{k % 2}")  # repeated: the last wins
            if k % 4 == 0:
                e.stats.add(metadata_id=ids["r"], ref_value=ids["s"])
            # Repeats of other kinds: event_stat keeps the last value,
            # event_stat_codes the last of the highest kind.
            if k % 5 == 1:
                e.stats.add(metadata_id=ids["x"], double_value=k + 0.5)
            e.stats.add(metadata_id=ids["x"], int64_value=k)
            if k % 5 == 0:
                e.stats.add(metadata_id=ids["x"], double_value=k + 0.25)
            if k % 7 == 0:
                e.stats.add(metadata_id=ids["v"], uint64_value=k)
        line.events.add(metadata_id=2, num_occurrences=3)
    return space.SerializeToString()


def test_tricky_values() -> None:
    data = _tricky()
    lean = _check(data, ["v", "w", "s", "r", "x", "ref target"])
    assert lean.events.metadata_id.dtype == np.int64  # an id needed int64
    x, _ = lean.event_stat("x")
    codes, table, _ = lean.event_stat_codes("x")
    assert x.dtype == np.float64 and x[0] == 0.25 and x[1] == 1 and x[2] == 2
    assert table[codes[0]] == 0 and table[codes[1]] == 1
    for names in (["v"], ["w"], ["x"], ["s", "r"]):  # each stat alone, in any order
        assert_lean_matches(read_xspace(data), read_xspace_lean(data, stats=names), names)


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview", "mmap", "copy", "path"])
def test_inputs_and_pages(cpu_small: Path, kind: str) -> None:
    """Any buffer or a path; a read-only mmap stays readable after its pages are dropped."""
    raw = cpu_small.read_bytes()
    with open(cpu_small, "rb") as f:
        data = {
            "bytes": lambda: raw,
            "bytearray": lambda: bytearray(raw),
            "memoryview": lambda: memoryview(raw),
            "mmap": lambda: mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ),
            "copy": lambda: mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY),
            "path": lambda: cpu_small,
        }[kind]()
        if kind == "copy":  # private writes must survive: such a map is never dropped
            data[0:1] = b"\x0a"
        lean = read_xspace_lean(data, stats=ANALYSED_STATS)
        assert_lean_matches(read_xspace(raw), lean, ANALYSED_STATS)
        if kind in ("mmap", "copy"):
            assert data[:] == raw
            data.close()  # nothing of the result holds a view of it


def test_result_does_not_point_into_the_input(cpu_small: Path) -> None:
    buf = bytearray(cpu_small.read_bytes())
    lean = read_xspace_lean(buf, stats=EXTRA)
    buf.extend(b"x")  # would raise BufferError if a view were still exported
    buf[:] = bytes(len(buf))
    assert_lean_matches(read_xspace(cpu_small), lean, EXTRA)


def test_analysis_does_not_touch_its_input_and_releases_it_on_time(cpu_small: Path) -> None:
    """Analysis never modifies the columns it is given; it says when the per-event ones
    are no longer read (ingest frees them then), and frees nothing itself."""
    from xdiag.analysis.host import analyse_host

    full = read_xspace(cpu_small, stats=ANALYSED_STATS)
    lean = read_xspace_lean(cpu_small, stats=ANALYSED_STATS)
    a = analyse_host(full, full.t0_ns)
    assert full.events is not None and full.stats is not None
    released = []

    def release() -> None:  # what ingest does: the columns are freed before the tables
        released.append((lean.events is not None, lean.stats is not None))
        lean.stats = lean.events = None

    b = analyse_host(lean, full.t0_ns, release=release)
    assert released == [(True, True)]
    assert (a.names, a.tracks, a.ops, a.window_ns) == (b.names, b.tracks, b.ops, b.window_ns)
    assert a.steps.keys() == b.steps.keys()
    for k in a.steps:
        assert np.array_equal(a.steps[k], b.steps[k], equal_nan=True), k
    for k, v in a.index.arrays().items():
        assert np.array_equal(v, b.index.arrays()[k]), k
    with pytest.raises(RuntimeError, match="released"):
        lean.event_stat("hlo_op")


# -- the parse on several threads -------------------------------------------


@pytest.fixture
def on_threads(monkeypatch: pytest.MonkeyPatch) -> Any:
    """on_threads(n, chunk_bytes): read_xspace_lean's parse then splits any input over n
    threads in chunks of about chunk_bytes of events; returns the parses' `workers`."""
    serial, used = _xspace.parse_lean, []

    def parse(*a: Any, **k: Any) -> dict:
        r = serial(*a, **k)
        used.append(r["workers"])
        return r

    def use(threads: int, chunk_bytes: int) -> list[int]:
        monkeypatch.setattr(_xspace, "parse_lean", lambda *a, **k: parse(
            *a, **{**k, "threads": threads, "parallel_from": 0, "chunk_bytes": chunk_bytes}))
        return used

    return use


@pytest.mark.parametrize(("threads", "chunk_bytes"), [(2, 1), (3, 97), (4, 4096), (16, 1)])
def test_threads_read_the_same(on_threads: Any, cpu_small: Path, synth_small: Path,
                               threads: int, chunk_bytes: int) -> None:
    """Chunks end anywhere between events, lines and planes; interned values first seen
    by a later thread, repeated stats (exceptions) and string values all come out as
    read_xspace has them."""
    used = on_threads(threads, chunk_bytes)
    _check(cpu_small)
    _check(synth_small)
    _check(_tricky(wide=False), ["v", "w", "s", "r", "x", "ref target"])
    assert min(used) > 1  # each parse really ran on threads
    _check(_handmade(), ["tag", "flops", "hello", "blob", "ratio", "big", "neg", "nope"])


def test_threads_hand_wide_ids_to_the_serial_parse(on_threads: Any) -> None:
    used = on_threads(3, 1)
    lean = _check(_tricky(), ["v", "w", "s", "r", "x", "ref target"])
    assert lean.events.metadata_id.dtype == np.int64
    assert set(used) == {1}


# -- malformed input ---------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"\x0a", b"\x0a\x05\x08", b"\x08\x01", b"\x28" + b"\xff" * 11, b"\x2f", b"\x00", b"\x2c",
     b"\x2b" * 100, b"\x2b\x08\x01", b"\x29\x01\x02", b"", b"\x12\x00"],
)  # fmt: skip
def test_malformed_raises_like_read_xspace(data: bytes) -> None:
    with pytest.raises(InvalidProfile) as full:
        read_xspace(data)
    with pytest.raises(InvalidProfile) as lean:
        read_xspace_lean(data, stats=ANALYSED_STATS)
    assert str(lean.value) == str(full.value)


@pytest.mark.parametrize("threads", [1, 3])
def test_malformed_events_raise_the_same_error(on_threads: Any, threads: int) -> None:
    """Errors inside lines (which only the second pass reads) name the same offset."""
    on_threads(threads, 1)
    stat = b"\x08\x01" + b"\x2a\x09abc"  # metadata id 1 (wanted), str_value past its end
    for event in (b"\x08\x05\x1a\x00", b"\x22" + _len(b"\x11\x00"), b"\x22" + _len(stat),
                  b"\x22" + _len(b"\x08\x01\x18" + b"\xff" * 11)):  # fmt: skip
        md = b"\x2a" + _len(b"\x08\x01\x12" + _len(b"\x08\x01\x12\x06hlo_op"))
        plane = md + b"\x1a" + _len(b"\x22" + _len(event))
        data = b"\x0a" + _len(plane)
        with pytest.raises(ValueError) as full:
            _xspace.parse(data)
        with pytest.raises(ValueError) as lean:
            _xspace.parse_lean(data, [np.array([1, 0], np.int64)], 1)
        assert str(lean.value) == str(full.value)
        with pytest.raises(InvalidProfile):
            read_xspace_lean(data, stats=["hlo_op"])


@pytest.mark.parametrize("seed", range(10))
def test_random_bytes_are_rejected(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
    with pytest.raises(InvalidProfile):
        read_xspace_lean(data, stats=ANALYSED_STATS)


def test_helpers_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="at most 64"):
        _xspace.parse_lean(b"", [], 65)
    with pytest.raises(ValueError, match="pairs"):
        _xspace.parse_lean(b"", [np.array([1, 0, 2], np.int64)], 1)
    with pytest.raises(ValueError, match="pairs"):
        _xspace.parse_lean(b"", [np.array([1, 1], np.int64)], 1)  # wanted index 1 of 1
    codes = np.array([0, -5, 2, 1], np.int32)
    _xspace.remap_codes(codes, np.array([7, 8, 9], np.int32))
    assert codes.tolist() == [7, -1, 9, 8]
    with pytest.raises(ValueError, match="within the lut"):
        _xspace.remap_codes(np.array([3], np.int32), np.array([7], np.int32))
    with pytest.raises(BufferError):
        _xspace.remap_codes(b"\x00\x00\x00\x00", np.array([7], np.int32))  # read-only
    vals = np.array([1, 2, 3], np.int64)
    _xspace.add_by_line(vals, np.array([0, 1, 0], np.int32), np.array([10, 20], np.int64))
    assert vals.tolist() == [11, 22, 13]
    with pytest.raises(ValueError, match="out of range"):
        _xspace.add_by_line(vals, np.array([0, 2, 0], np.int32), np.array([10, 20], np.int64))
    with pytest.raises(ValueError, match="sizes"):
        _xspace.add_by_line(vals, np.array([0, 1], np.int32), np.array([10, 20], np.int64))


FUZZ = textwrap.dedent(
    """
    import sys
    from xdiag.core.errors import InvalidProfile
    from xdiag.xplane.lean import read_xspace_lean
    from full_reader import read_xspace
    sys.path.insert(0, sys.argv[4])
    from test_xspace_lean import assert_lean_matches
    from test_xspace_malformed import mutations

    NAMES = ("hlo_op", "hlo_module", "program_id", "device_ordinal", "step_num", "_src")
    ok = bad = 0

    def attempt(buf):
        global ok, bad
        try:
            full = read_xspace(buf)
        except InvalidProfile:
            full = None
        try:
            lean = read_xspace_lean(buf, stats=NAMES)
        except InvalidProfile:
            assert full is None, "lean rejects what read_xspace reads"
            bad += 1
            return
        assert full is not None, "lean reads what read_xspace rejects"
        assert_lean_matches(full, lean, NAMES)
        ok += 1

    data = open(sys.argv[1], "rb").read()
    for buf in mutations(data, int(sys.argv[2]), int(sys.argv[3]), step=61):
        attempt(buf)
    print(ok, bad)
    """
)


@pytest.mark.parametrize("threads", [1, 3])
def test_fuzz_agrees_with_read_xspace_and_never_crashes(cpu_small: Path, tmp_path: Path,
                                                        threads: int) -> None:
    """Truncations and bit flips: lean and full readers accept and reject the same
    inputs and agree on what they accept, also when the parse is split over threads."""
    split = textwrap.dedent(f"""
        from xdiag.xplane import _xspace
        serial = _xspace.parse_lean
        _xspace.parse_lean = lambda *a, **k: serial(
            *a, **{{**k, "threads": {threads}, "parallel_from": 0, "chunk_bytes": 64}})
    """)
    ok, bad = run_fuzz(split + FUZZ, tmp_path, cpu_small, 11 + threads, 600)
    assert bad > 50 and ok > 50
