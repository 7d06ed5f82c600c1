"""The binary timeline wire format (version 1), see docs/api.md. Mirrored in webui/src/api."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from xdiag.core import jsonio

MAGIC = b"XDTL"
VERSION = 1
COLUMNS = (("start_ns", "float64"), ("dur_ns", "float64"), ("id", "uint32"),
           ("name", "uint32"), ("track", "uint32"), ("depth", "uint16"))


def _pad8(n: int) -> int:
    return (-n) % 8


def _round8(n: int) -> int:
    return n + _pad8(n)


def _layout(n: int) -> tuple[list[dict[str, Any]], int]:
    """Each column's place in the column region of `n` slices, and the region's size."""
    layout, offset = [], 0
    for name, dtype in COLUMNS:
        size = n * np.dtype(dtype).itemsize
        layout.append({"name": name, "dtype": dtype, "offset": offset, "length": n})
        offset += size + _pad8(size)
    return layout, offset


class Body:
    """A binary timeline response, built in place: `columns(n)` hands out the six columns
    of `n` slices as views of one buffer (the query writes straight into them), and
    `encode(header)` is the response, made with one copy (WSGI servers take only bytes)."""

    def __init__(self) -> None:
        self.n = 0
        self.buf = np.zeros(0, np.uint8)

    def columns(self, n: int) -> dict[str, np.ndarray]:
        layout, size = _layout(n)
        self.n, self.buf = n, np.empty(size, np.uint8)
        for c in layout:  # the padding after each column: zeros, as encode() writes
            self.buf[c["offset"] + n * np.dtype(c["dtype"]).itemsize:
                     c["offset"] + _round8(n * np.dtype(c["dtype"]).itemsize)] = 0
        # x86 and ARM are little-endian, as the wire: the views are the wire's bytes.
        return {c["name"]: self.buf[c["offset"]:c["offset"] + n * np.dtype(c["dtype"]).itemsize]
                .view(np.dtype(c["dtype"]).newbyteorder("<")) for c in layout}

    def encode(self, header: dict[str, Any]) -> bytes:
        if int(header["count"]) != self.n:
            raise ValueError("the header's count is not the number of slices written")
        head = jsonio.dumps({**header, "columns": _layout(self.n)[0]})
        return b"".join([MAGIC, struct.pack("<II", VERSION, len(head)), head,
                         b"\0" * _pad8(12 + len(head)), memoryview(self.buf)])


def encode(header: dict[str, Any], columns: dict[str, np.ndarray]) -> bytes:
    body = Body()
    for name, view in body.columns(int(header["count"])).items():
        view[:] = columns[name]
    return body.encode(header)


def decode(buf: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of `encode` (used by tests and the Perfetto export)."""
    if buf[:4] != MAGIC:
        raise ValueError("not an xdiag timeline response")
    version, hlen = struct.unpack("<II", buf[4:12])
    if version != VERSION:
        raise ValueError(f"timeline wire version {version}, expected {VERSION}")
    header = jsonio.loads(buf[12 : 12 + hlen])
    base = 12 + hlen + _pad8(12 + hlen)
    cols = {c["name"]: np.frombuffer(buf, dtype=np.dtype(c["dtype"]).newbyteorder("<"),
                                     count=c["length"], offset=base + c["offset"])
            for c in header["columns"]}
    return header, cols
