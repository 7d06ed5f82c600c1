"""Malformed input: precise errors, and never a crash."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from full_reader import read_xspace

from xdiag.core.errors import InvalidProfile
from xdiag.xplane import _xspace
from xdiag.xplane.xplane_pb2 import XSpace, XStatMetadata


def _len(payload: bytes) -> bytes:
    """Varint length prefix + payload."""
    n, out = len(payload), bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out) + payload


def _space_with_event(event: bytes) -> tuple[bytes, int]:
    """A one-plane, one-line, one-event XSpace; returns it and the event's byte offset."""
    line = b"\x22" + _len(event)
    plane = b"\x1a" + _len(line)
    space = b"\x0a" + _len(plane)
    return space, len(space) - len(event)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x0a", "truncated varint at byte offset 1"),
        (b"\x0a\x05\x08", "length 5 at byte offset 1 runs past the end of its message (ends at 3)"),
        (b"\x08\x01", "XSpace field 1 has wire type 0 at byte offset 0"),
        (b"\x28" + b"\xff" * 11, "varint longer than 10 bytes at byte offset 1"),
        (b"\x2f", "invalid wire type at byte offset 0"),
        (b"\x00", "invalid field tag at byte offset 0"),
        (b"\x2c", "unexpected end-group tag at byte offset 0"),
        (b"\x2b" * 100, "groups nested too deeply"),
        (b"\x2b\x08\x01", "unterminated group at byte offset 0"),
        (b"\x29\x01\x02", "truncated fixed64 field at byte offset 1"),
    ],
)
def test_parse_errors_name_problem_and_offset(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        _xspace.parse(data)
    with pytest.raises(InvalidProfile, match="not a valid XSpace profile"):
        read_xspace(data)


def test_wrong_wire_type_inside_event_is_located() -> None:
    data, at = _space_with_event(b"\x08\x05\x1a\x00")  # duration_ps (3) as bytes
    with pytest.raises(
        ValueError, match=f"XEvent field 3 has wire type 2 at byte offset {at + 2}$"
    ):
        _xspace.parse(data)
    data, at = _space_with_event(b"\x22" + _len(b"\x11\x00"))  # double_value truncated
    with pytest.raises(ValueError, match=f"truncated double at byte offset {at + 3}$"):
        _xspace.parse(data)
    data, at = _space_with_event(b"\x22" + _len(b"\x2a\x09abc"))  # str_value past the stat's end
    with pytest.raises(ValueError, match=f"length 9 at byte offset {at + 3} runs past the end"):
        _xspace.parse(data)


def test_empty_and_foreign_inputs_are_rejected(cpu_small: Path) -> None:
    with pytest.raises(InvalidProfile, match="empty"):
        read_xspace(b"")
    with pytest.raises(InvalidProfile, match="no planes"):
        read_xspace(XSpace(hostnames=["h"]).SerializeToString())
    with pytest.raises(InvalidProfile):
        read_xspace(XStatMetadata(id=5, name="x").SerializeToString())
    with pytest.raises(InvalidProfile):
        read_xspace(b'{"traceEvents": []}')
    with pytest.raises(InvalidProfile):
        read_xspace(gzip.compress(cpu_small.read_bytes()))
    with pytest.raises(InvalidProfile, match="bytes-like"):
        read_xspace(12345)


def test_empty_file_path(tmp_path: Path) -> None:
    path = tmp_path / "empty.xplane.pb"
    path.write_bytes(b"")
    with pytest.raises(InvalidProfile, match="empty"):
        read_xspace(path)


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_are_rejected(seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
    with pytest.raises(InvalidProfile):
        read_xspace(data)


def test_truncations_raise_invalid_profile(cpu_small: Path) -> None:
    data = cpu_small.read_bytes()
    # Every cut inside the first plane (or inside a later one) is malformed;
    # cuts exactly between planes leave a valid, shorter XSpace.
    planes = _xspace.parse(data)["planes"]
    valid_cuts = {0}
    pos = 0
    for p in XSpace.FromString(data).planes:
        pos += len(b"\x0a" + _len(p.SerializeToString()))
        valid_cuts.add(pos)
    assert len(planes) == 3
    for cut in range(1, len(data), 97):
        if cut in valid_cuts:
            continue
        with pytest.raises(InvalidProfile):
            read_xspace(data[:cut])


FUZZ = textwrap.dedent(
    """
    import sys
    from xdiag.core.errors import InvalidProfile
    from xdiag.xplane.hlo import hlo_modules
    from full_reader import read_xspace
    sys.path.insert(0, sys.argv[4])
    from test_xspace_malformed import mutations

    ok = bad = 0

    def attempt(buf):
        global ok, bad
        try:
            cols = read_xspace(buf)
            cols.event_names()
            for name in ("hlo_op", "device_ordinal", "_src", "step_num"):
                cols.event_stat(name)
                cols.event_stat_codes(name)
            for i in range(0, len(cols.events), 97):
                cols.event_stats(i)
            hlo_modules(cols)
            ok += 1
        except InvalidProfile:
            bad += 1

    data = open(sys.argv[1], "rb").read()
    for buf in mutations(data, int(sys.argv[2]), int(sys.argv[3]), step=29):
        attempt(buf)
    print(ok, bad)
    """
)


def mutations(data: bytes, seed: int, flips: int, step: int) -> Iterator[bytes]:
    """Fuzz inputs from `data`: its cuts every `step` bytes, then `flips` copies
    of it with 1 to 3 random bits flipped."""
    rng = np.random.default_rng(seed)
    for cut in range(0, len(data), step):
        yield data[:cut]
    for _ in range(flips):
        buf = bytearray(data)
        for pos in rng.integers(0, len(buf), size=int(rng.integers(1, 4))):
            buf[pos] ^= 1 << int(rng.integers(0, 8))
        yield bytes(buf)


def run_fuzz(script: str, tmp_path: Path, data: Path, seed: int, flips: int) -> tuple[int, int]:
    """Runs a fuzz script in a child process (so that a crash fails the test
    instead of killing the session) with the arguments: the data's path, the
    seed and number of bit flips for `mutations`, and the folder of the tests
    (to import from). Returns the two counts it prints."""
    path = tmp_path / "fuzz.py"
    path.write_text(script)
    here = str(Path(__file__).parent)
    args = [str(data), str(seed), str(flips), here]
    proc = subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        timeout=300,
        # the full reader (the oracle) lives beside the tests
        env={**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, (here, os.environ.get("PYTHONPATH"))))},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ok, bad = map(int, proc.stdout.split())
    return ok, bad


def test_fuzz_never_crashes(cpu_small: Path, tmp_path: Path) -> None:
    """Truncations and bit flips only ever raise InvalidProfile."""
    ok, bad = run_fuzz(FUZZ, tmp_path, cpu_small, 7, 2000)
    assert bad > 100 and ok + bad > 2000


def test_helper_functions_check_their_inputs() -> None:
    with pytest.raises(ValueError, match="out of range"):
        _xspace.intern_slices(b"abc", np.array([2], np.int64), np.array([5], np.int32))
    with pytest.raises(ValueError, match="out of range"):
        _xspace.intern_slices(b"abc", np.array([-1], np.int64), np.array([1], np.int32))
    with pytest.raises(ValueError, match="equal count"):
        _xspace.intern_slices(b"abc", np.array([0, 1], np.int64), np.array([1], np.int32))
    codes, uniq = _xspace.intern_slices(
        b"abcab", np.array([0, 3, 1], np.int64), np.array([2, 2, 0], np.int32)
    )
    assert np.frombuffer(codes, np.int32).tolist() == [0, 0, 1] and uniq == [b"ab", b""]
    md = np.array([1, 2, 1], np.int64)
    kind = np.array([3, 3, 3], np.uint8)
    first = np.array([0, 5], np.int64)  # second event's stats past the end
    count = np.array([2, 1], np.int32)
    with pytest.raises(ValueError, match="out of bounds"):
        _xspace.find_stats(md, kind, md, first, count, 0, 2, np.array([1], np.int64))
    with pytest.raises(ValueError, match="bad column sizes"):
        _xspace.find_stats(md, kind, md, first, count, 0, 3, np.array([1], np.int64))
    ev, rows, kinds, vals, counts = _xspace.find_stats(
        md, kind, md, np.array([0, 2], np.int64), count, 0, 2, np.array([1], np.int64)
    )
    assert np.frombuffer(ev, np.int64).tolist() == [0, 1]
    assert np.frombuffer(rows, np.int64).tolist() == [0, 2]
    assert np.frombuffer(kinds, np.uint8).tolist() == [3, 3]
    assert np.frombuffer(vals, np.int64).tolist() == [1, 1]
    assert counts[3] == 2
