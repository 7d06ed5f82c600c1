"""Protobuf varints, written: one value, or a whole column at once with numpy.

The column form is how our writers stay fast (the Perfetto export, the generator of
synthetic profiles): every value's byte count first, then one pass per varint byte over
the values whose varint is not finished yet, so the long tail (6-7 byte offsets among
1-2 byte values) costs little.
"""

from __future__ import annotations

import numpy as np

U64 = np.uint64


def varint(v: int) -> bytes:
    """The varint of a non-negative int below 2**64."""
    if not 0 <= v < 1 << 64:
        raise ValueError(f"varint out of range: {v}")
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint_len(v: np.ndarray) -> np.ndarray:
    """Varint byte count (int64) of each uint64 value."""
    n = np.ones(v.shape, np.int64)
    for k in range(1, 10):
        over = v >= U64(1 << (7 * k))
        if not over.any():
            break
        n += over
    return n


def put_varint(buf: np.ndarray, pos: np.ndarray, v: np.ndarray, nb: np.ndarray) -> None:
    """Writes the varints of `v` (uint64, byte counts `nb` from `varint_len`) into the
    uint8 `buf` at byte positions `pos`."""
    for k in range(10):
        if not len(v):
            return
        more = nb > k + 1
        byte = (v & U64(0x7F)).astype(np.uint8)
        byte |= more.view(np.uint8) << 7
        buf[pos + k] = byte
        if not more.all():
            v, pos, nb = v[more], pos[more], nb[more]
        v = v >> U64(7)
