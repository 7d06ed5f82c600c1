"""The buffer assignment of an `xla.HloProto`, read with protobuf's C parser.

Our HLO proto subset (`hlo/proto/hlo.proto`) reads only the module. A profile's
metadata plane embeds each program as an `HloProto` whose field 3 is XLA's
`BufferAssignmentProto` (logical buffers, buffer allocations, heap-simulator traces):
the compiler's own account of every byte the program uses. Its messages are declared
here at import, with upstream's field numbers (xla/service/hlo.proto), on top of the
module messages already registered, so no generated code is needed and parsing is
protobuf's (upb) speed: ~15 ms for a 20k-instruction train step. Pure: bytes in,
messages out.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from xdiag.analysis.hlo.proto import hlo_pb2

_F = descriptor_pb2.FieldDescriptorProto
_OPT, _REP = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_I64, _I32, _BOOL, _STR, _MSG = (_F.TYPE_INT64, _F.TYPE_INT32, _F.TYPE_BOOL, _F.TYPE_STRING,
                                 _F.TYPE_MESSAGE)
_PACKAGE = "xdiag.memory"
_FILE = "xdiag/analysis/memory_proto.proto"


def _message(name: str, fields: list[tuple[str, int, int, int, str]],
             nested: tuple[descriptor_pb2.DescriptorProto, ...] = ()
             ) -> descriptor_pb2.DescriptorProto:
    m = descriptor_pb2.DescriptorProto(name=name)
    for fname, number, ftype, label, type_name in fields:
        f = m.field.add(name=fname, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
    for n in nested:
        m.nested_type.add().CopyFrom(n)
    return m


def _file() -> descriptor_pb2.FileDescriptorProto:
    p = f".{_PACKAGE}."
    fdp = descriptor_pb2.FileDescriptorProto(name=_FILE, package=_PACKAGE, syntax="proto3",
                                             dependency=[hlo_pb2.DESCRIPTOR.name])
    location = _message("Location", [("instruction_id", 4, _I64, _OPT, ""),
                                     ("shape_index", 3, _I64, _REP, "")])
    fdp.message_type.add().CopyFrom(_message("LogicalBufferProto", [
        ("id", 1, _I64, _OPT, ""), ("size", 2, _I64, _OPT, ""),
        ("defined_at", 3, _MSG, _OPT, p + "LogicalBufferProto.Location"),
        ("color", 4, _I64, _OPT, "")], (location,)))
    assigned = _message("Assigned", [("logical_buffer_id", 1, _I64, _OPT, ""),
                                     ("offset", 2, _I64, _OPT, ""), ("size", 3, _I64, _OPT, "")])
    fdp.message_type.add().CopyFrom(_message("BufferAllocationProto", [
        ("index", 1, _I64, _OPT, ""), ("size", 2, _I64, _OPT, ""),
        ("is_thread_local", 3, _BOOL, _OPT, ""), ("is_tuple", 11, _BOOL, _OPT, ""),
        ("is_entry_computation_parameter", 5, _BOOL, _OPT, ""),
        ("is_constant", 12, _BOOL, _OPT, ""), ("parameter_number", 6, _I64, _OPT, ""),
        ("maybe_live_out", 7, _BOOL, _OPT, ""), ("color", 8, _I64, _OPT, ""),
        ("assigned", 9, _MSG, _REP, p + "BufferAllocationProto.Assigned")], (assigned,)))
    event = _message("Event", [("kind", 1, _I32, _OPT, ""), ("buffer_id", 2, _I64, _OPT, ""),
                               ("instruction_name", 4, _STR, _OPT, ""),
                               ("share_with_canonical_id", 5, _I64, _OPT, "")])
    fdp.message_type.add().CopyFrom(_message("HeapSimulatorTrace", [
        ("events", 1, _MSG, _REP, p + "HeapSimulatorTrace.Event"),
        ("whole_module_simulation", 2, _BOOL, _OPT, ""),
        ("buffer_allocation_index", 3, _I64, _OPT, "")], (event,)))
    fdp.message_type.add().CopyFrom(_message("BufferAssignmentProto", [
        ("logical_buffers", 1, _MSG, _REP, p + "LogicalBufferProto"),
        ("buffer_allocations", 3, _MSG, _REP, p + "BufferAllocationProto"),
        ("heap_simulator_traces", 4, _MSG, _REP, p + "HeapSimulatorTrace")]))
    fdp.message_type.add().CopyFrom(_message("HloProto", [
        ("hlo_module", 1, _MSG, _OPT, ".xla.HloModuleProto"),
        ("buffer_assignment", 3, _MSG, _OPT, p + "BufferAssignmentProto")]))
    return fdp


def _register() -> Any:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_FILE)
    except KeyError:
        pool.Add(_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.HloProto"))


# xla.HloProto with its buffer assignment: `HloProtoWithBuffers.FromString(bytes)`.
HloProtoWithBuffers: Any = _register()

# HeapSimulatorTrace.Event.Kind
ALLOC, FREE, SHARE_WITH = 0, 1, 2
