"""HLO modules carried inside a profile.

The profiler stores each compiled XLA program in the `/host:metadata` plane:
one event metadata per program, named ``<module name>(<program id>)``, whose
stat "Hlo Proto" holds a serialized ``xla.HloProto`` (the ``HloModuleProto``
is its field 1; field 3 is the buffer assignment). We unwrap the module proto
with a tiny wire-format scanner, so no XLA protobuf classes are needed. (Printing
them as HLO text is the serving side's: `serving/hlo.py`.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from xdiag.core.errors import InvalidProfile

METADATA_PLANE = "/host:metadata"
HLO_PROTO_STAT = "Hlo Proto"

# Field numbers in xla/service/hlo.proto that we read.
_HLO_PROTO_MODULE = 1  # HloProto.hlo_module
_MODULE_NAME = 1  # HloModuleProto.name
_MODULE_ID = 5  # HloModuleProto.id

_NAME_WITH_ID = re.compile(r"^(.*)\((\d+)\)$")


@dataclass(frozen=True)
class HloModuleRef:
    """One HLO module found in a profile.

    Attributes:
        name: the module name, e.g. "jit_train_step".
        program_id: the XLA program id (what events' `program_id` stats hold).
        metadata_name: the metadata entry's name, e.g. "jit_train_step(8)".
        proto: the serialized HloModuleProto.
        hlo_proto: the serialized xla.HloProto it came in (the module and, where the
            runtime kept it, its buffer assignment).
    """

    name: str
    program_id: int
    metadata_name: str
    proto: bytes
    hlo_proto: bytes = b""


def iter_fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """Yields (field number, wire type, value) of a protobuf message's top level.

    Varints come back as int, length-delimited fields as bytes (a memoryview
    slice of `buf`), fixed64/fixed32 as raw bytes. Meant for the few small
    messages (HLO protos) we read without their generated classes.

    Raises:
        ValueError: on malformed input.
    """
    mv = memoryview(buf)
    n, i = len(mv), 0

    def varint() -> int:
        nonlocal i
        v = shift = 0
        while True:
            if i >= n or shift > 63:
                raise ValueError(f"bad varint at byte offset {i}")
            b = mv[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v

    while i < n:
        tag = varint()
        field, wt = tag >> 3, tag & 7
        if wt == 0:
            yield field, wt, varint()
        elif wt == 2:
            size = varint()
            if size > n - i:
                raise ValueError(f"length {size} past the end at byte offset {i}")
            yield field, wt, mv[i : i + size]
            i += size
        elif wt in (1, 5):
            size = 8 if wt == 1 else 4
            if size > n - i:
                raise ValueError(f"truncated fixed field at byte offset {i}")
            yield field, wt, mv[i : i + size]
            i += size
        else:
            raise ValueError(f"unsupported wire type {wt} at byte offset {i}")


def unwrap_hlo_proto(hlo_proto: bytes) -> bytes:
    """Returns the HloModuleProto inside a serialized xla.HloProto."""
    for field, wt, value in iter_fields(hlo_proto):
        if field == _HLO_PROTO_MODULE and wt == 2:
            return bytes(value)
    raise ValueError("HloProto has no hlo_module")


def module_name_and_id(module_proto: bytes) -> tuple[str, int]:
    """(name, id) fields of a serialized HloModuleProto."""
    name, mid = "", 0
    for field, wt, value in iter_fields(module_proto):
        if field == _MODULE_NAME and wt == 2:
            name = bytes(value).decode("utf-8", "replace")
        elif field == _MODULE_ID and wt == 0:
            mid = value
    return name, mid


def hlo_modules(cols: Any) -> list[HloModuleRef]:
    """The HLO modules of a profile, one per (program id, name), in metadata order.

    Args:
        cols: an `XSpaceColumns` (from `read_xspace`) or `LeanColumns`: only its
            planes' event metadata is read.

    Returns:
        The modules found in the `/host:metadata` plane (empty if none).

    Raises:
        InvalidProfile: a stored HLO proto is malformed.
    """
    out: list[HloModuleRef] = []
    seen: set[tuple[int, str]] = set()
    for plane in cols.planes:
        if plane.name != METADATA_PLANE:
            continue
        em = plane.event_metadata
        for meta_name, stats in zip(em.names, em.stats, strict=True):
            raw = stats.get(HLO_PROTO_STAT)
            if not isinstance(raw, bytes | bytearray):
                continue
            try:
                proto = unwrap_hlo_proto(raw)
                name, module_id = module_name_and_id(proto)
            except ValueError as e:
                raise InvalidProfile(f"HLO proto of {meta_name!r} is malformed: {e}") from e
            # The program id is in the entry's name; the module's own id and
            # the "program_id" stat are fallbacks (the stat is 0 on CPU).
            m = _NAME_WITH_ID.match(meta_name)
            if m:
                program_id = int(m.group(2))
            else:
                program_id = module_id or int(stats.get("program_id") or 0)
            key = (program_id, name or meta_name)
            if key in seen:
                continue
            seen.add(key)
            out.append(HloModuleRef(name or meta_name, program_id, meta_name, proto,
                                    bytes(raw)))
    return out
