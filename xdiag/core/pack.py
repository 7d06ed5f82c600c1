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
    view = memoryview(buf)
    if bytes(view[:4]) != MAGIC:
        raise ValueError("not an xdiag derived-view file (bad magic)")
    version, hlen = struct.unpack("<II", view[4:12])
    if version != VERSION:
        raise ValueError(f"derived-view container version {version}, expected {VERSION}")
    header = jsonio.loads(view[12 : 12 + hlen])
    base = 12 + hlen + _pad(12 + hlen)
    arrays = {}
    for e in header["arrays"]:
        dtype = np.dtype(e["dtype"])
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        arr = np.frombuffer(view, dtype=dtype, count=count, offset=base + e["offset"])
        arrays[e["name"]] = arr.reshape(e["shape"])
    return arrays, header["meta"]
