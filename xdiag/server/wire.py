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


def encode(header: dict[str, Any], columns: dict[str, np.ndarray]) -> bytes:
    n = int(header["count"])
    layout, offset = [], 0
    for name, dtype in COLUMNS:
        size = n * np.dtype(dtype).itemsize
        layout.append({"name": name, "dtype": dtype, "offset": offset, "length": n})
        offset += size + _pad8(size)
    head = jsonio.dumps({**header, "columns": layout})
    parts = [MAGIC, struct.pack("<II", VERSION, len(head)), head, b"\0" * _pad8(12 + len(head))]
    for name, dtype in COLUMNS:
        data = np.ascontiguousarray(columns[name], dtype=np.dtype(dtype).newbyteorder("<"))
        raw = data.tobytes()
        parts += [raw, b"\0" * _pad8(len(raw))]
    return b"".join(parts)


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
