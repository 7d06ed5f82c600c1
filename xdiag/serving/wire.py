"""The binary timeline wire format (version 2), see docs/api.md. Mirrored in webui/src/api.

A column is as narrow as the response's values allow: the header names each column's
type, and the decoders widen them to one model (absolute float64 starts and durations,
uint32 ids, names and tracks, uint16 depths). Times are ns after the header's
`origin_ns` (the earliest start in the response), so they fit uint32 whenever the
response's slices span less than 2^32 ns (4.3 s); float64 otherwise.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from xdiag.core import jsonio
from xdiag.core.pack import read_head

MAGIC = b"XDTL"
MIME = "application/x-xdiag-timeline"
VERSION = 2
# Each column's types, narrowest first. `start_ns` holds start - origin_ns.
COLUMNS = {"start_ns": ("uint32", "float64"), "dur_ns": ("uint32", "float64"),
           "id": ("uint32",), "name": ("uint16", "uint32"), "track": ("uint16", "uint32"),
           "depth": ("uint8", "uint16")}
# What `decode` (and the web UI's decoder) widen every column to.
WIDE = {"start_ns": "float64", "dur_ns": "float64", "id": "uint32", "name": "uint32",
        "track": "uint32", "depth": "uint16"}


def narrowest(column: str, largest: int) -> str:
    """The narrowest type of `column` that holds every value in 0..largest."""
    for dtype in COLUMNS[column]:
        kind = np.dtype(dtype)
        if kind.kind == "f" or largest <= np.iinfo(kind).max:
            return dtype
    raise ValueError(f"{column}: {largest} fits none of {COLUMNS[column]}")


def _pad8(n: int) -> int:
    return (-n) % 8


def _layout(n: int, dtypes: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """Each column's place in the column region of `n` slices, and the region's size."""
    layout, offset = [], 0
    for name in COLUMNS:
        size = n * np.dtype(dtypes[name]).itemsize
        layout.append({"name": name, "dtype": dtypes[name], "offset": offset, "length": n})
        offset += size + _pad8(size)
    return layout, offset


class Body:
    """A binary timeline response, built in place: `columns(n, dtypes)` hands out the six
    columns of `n` slices as views of one buffer (the query writes straight into them), and
    `encode(header)` is the response, made with one copy (WSGI servers, cheroot and
    gunicorn alike, take only bytes)."""

    def __init__(self) -> None:
        self.n = 0
        self.dtypes = dict(WIDE)
        self.buf = np.zeros(0, np.uint8)

    def columns(self, n: int, dtypes: dict[str, str]) -> dict[str, np.ndarray]:
        for name, dtype in dtypes.items():
            if dtype not in COLUMNS[name]:
                raise ValueError(f"{name} cannot be {dtype}")
        layout, size = _layout(n, dtypes)
        self.n, self.dtypes, self.buf = n, dict(dtypes), np.empty(size, np.uint8)
        views = {}
        for c in layout:
            used = n * np.dtype(c["dtype"]).itemsize
            self.buf[c["offset"] + used:c["offset"] + used + _pad8(used)] = 0  # zeros: the same bytes every time
            # x86 and ARM are little-endian, as the wire: the views are the wire's bytes.
            views[c["name"]] = self.buf[c["offset"]:c["offset"] + used].view(
                np.dtype(c["dtype"]).newbyteorder("<"))
        return views

    def encode(self, header: dict[str, Any]) -> bytes:
        """The response: preamble and header, then the columns."""
        if int(header["count"]) != self.n:
            raise ValueError("the header's count is not the number of slices written")
        head = jsonio.dumps({**header, "version": VERSION,
                             "columns": _layout(self.n, self.dtypes)[0]})
        return b"".join([MAGIC, struct.pack("<II", VERSION, len(head)), head,
                         b"\0" * _pad8(12 + len(head)), memoryview(self.buf)])


def widen(header: dict[str, Any], cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns in the decoders' one model: absolute float64 starts, wide types."""
    out = {name: col.astype(WIDE[name]) for name, col in cols.items()}
    out["start_ns"] += header["origin_ns"]
    return out


def decode(buf: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A response's header and its columns, widened (for tests and the bench)."""
    _view, header, base = read_head(buf, MAGIC, VERSION, 8, "timeline response")
    cols = {c["name"]: np.frombuffer(buf, dtype=np.dtype(c["dtype"]).newbyteorder("<"),
                                     count=c["length"], offset=base + c["offset"])
            for c in header["columns"]}
    return header, widen(header, cols)
