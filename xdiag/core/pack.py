"""A tiny container for named numpy arrays plus JSON metadata (derived views on disk).

Layout: magic `XDPK`, u32 version, u32 header length, JSON header, zero padding
to 64 bytes, then each array 64-byte aligned. Unpacking is zero-copy
(`np.frombuffer` over the given buffer, e.g. an mmap), so opening a derived view
costs nothing until its pages are touched.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from xdiag.core import jsonio

MAGIC = b"XDPK"
VERSION = 1
ALIGN = 64


def _pad(n: int) -> int:
    return (-n) % ALIGN


def read_head(buf: Any, magic: bytes, version: int, align: int,
              what: str) -> tuple[memoryview, dict[str, Any], int]:
    """The preamble both of our binary formats share (this container and the timeline
    wire, serving/wire.py): 4-byte `magic`, u32 version, u32 header length, the JSON
    header, zeros to a multiple of `align`. Returns the buffer's view, the header and
    where the body starts; ValueError naming `what` if it is not that format."""
    view = memoryview(buf)
    if bytes(view[:4]) != magic:
        raise ValueError(f"not an xdiag {what} (bad magic)")
    got, hlen = struct.unpack("<II", view[4:12])
    if got != version:
        raise ValueError(f"{what} version {got}, expected {version}")
    return view, jsonio.loads(view[12 : 12 + hlen]), 12 + hlen + (-(12 + hlen)) % align


def pack_parts(arrays: dict[str, np.ndarray],
               meta: dict[str, Any] | None = None) -> Iterator[bytes | memoryview]:
    """The container as a sequence of buffers, the arrays' own memory included
    (no copies: writing a large timeline index costs no extra memory)."""
    arrays = {name: np.ascontiguousarray(arr) for name, arr in arrays.items()}
    entries = []
    offset = 0
    for name, arr in arrays.items():
        entries.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape),
                        "offset": offset})
        offset += arr.nbytes + _pad(arr.nbytes)
    header = jsonio.dumps({"arrays": entries, "meta": meta or {}})
    head = MAGIC + struct.pack("<II", VERSION, len(header)) + header
    yield head + b"\0" * _pad(len(head))
    for arr in arrays.values():
        yield memoryview(arr.reshape(-1)).cast("B")
        yield b"\0" * _pad(arr.nbytes)


def pack(arrays: dict[str, np.ndarray], meta: dict[str, Any] | None = None) -> bytes:
    return b"".join(bytes(p) for p in pack_parts(arrays, meta))


def unpack(buf: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Inverse of `pack`; arrays are read-only views into `buf`."""
    view, header, base = read_head(buf, MAGIC, VERSION, ALIGN, "derived-view file")
    arrays = {}
    for e in header["arrays"]:
        dtype = np.dtype(e["dtype"])
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        arr = np.frombuffer(view, dtype=dtype, count=count, offset=base + e["offset"])
        arrays[e["name"]] = arr.reshape(e["shape"])
    return arrays, header["meta"]
