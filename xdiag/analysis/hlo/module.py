"""A light, read-only model of an XLA HLO module.

Input is the serialized proto bytes: either an `HloModuleProto` (what jaxlib's
`HloModule.as_serialized_hlo_module_proto()` returns) or the `HloProto`
wrapper that the profiler embeds in an XSpace's metadata plane. Everything
here is pure: bytes in, dataclasses out. `format_module` prints HLO-like text from
this model alone; XLA's own printer (jaxlib) is the serving side's (`serving/hlo.py`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

from google.protobuf.message import DecodeError

from xdiag.analysis.hlo.proto import hlo_pb2, xla_data_pb2
from xdiag.core.errors import InvalidProfile, NotFound

# Bits per element by HLO dtype name. Sub-byte types are stored one per byte
# unless the layout packs them (element_size_in_bits), as XLA does.
_DTYPE_BITS: dict[str, int] = {
    "pred": 8, "s1": 8, "s2": 8, "s4": 8, "u1": 8, "u2": 8, "u4": 8,
    "s8": 8, "u8": 8, "s16": 16, "u16": 16, "s32": 32, "u32": 32, "s64": 64, "u64": 64,
    "f16": 16, "bf16": 16, "f32": 32, "f64": 64, "c64": 64, "c128": 128,
    "f8e5m2": 8, "f8e4m3": 8, "f8e4m3fn": 8, "f8e4m3b11fnuz": 8, "f8e3m4": 8,
    "f8e5m2fnuz": 8, "f8e4m3fnuz": 8, "f4e2m1fn": 8, "f8e8m0fnu": 8,
}
# Types that hold no array data.
_NON_ARRAY = {"tuple", "token", "opaque", "invalid", "buffer"}


# Computed once: a module has tens of thousands of shapes, and the enum wrapper's
# lookups rebuild their value lists on every call.
_DTYPE_NAMES = {
    v: {"OPAQUE_TYPE": "opaque", "PRIMITIVE_TYPE_INVALID": "invalid"}.get(k, k.lower())
    for k, v in xla_data_pb2.PrimitiveType.items()
}


def _dtype_name(element_type: int) -> str:
    """HLO text name of a PrimitiveType (`f32`, `bf16`, `pred`, `tuple`, ...)."""
    # Unknown (newer than our enum): keep it visible.
    return _DTYPE_NAMES.get(element_type) or f"type{element_type}"


@dataclass(frozen=True)
class Shape:
    """An HLO shape: an array (`dtype`, `dims`) or a tuple of shapes.

    Attributes:
        dtype: HLO element type name (`f32`, `bf16`, `s32`, `pred`, ...), or
            `tuple` / `token` / `opaque`.
        dims: Array dimensions (empty for scalars and non-arrays).
        tuple_shapes: Element shapes when `dtype == "tuple"`.
        element_bits: Packed element size from the layout; 0 means the dtype's
            natural size.
        layout: Minor-to-major dimension order, empty when absent.
    """

    dtype: str
    dims: tuple[int, ...] = ()
    tuple_shapes: tuple[Shape, ...] = ()
    element_bits: int = 0
    layout: tuple[int, ...] = ()

    @classmethod
    def from_proto(cls, proto: xla_data_pb2.ShapeProto) -> Shape:
        """Builds a shape from a `ShapeProto`."""
        return cls(
            dtype=_dtype_name(proto.element_type),
            dims=tuple(proto.dimensions),
            tuple_shapes=tuple(cls.from_proto(s) for s in proto.tuple_shapes),
            element_bits=proto.layout.element_size_in_bits if proto.HasField("layout") else 0,
            layout=tuple(proto.layout.minor_to_major) if proto.HasField("layout") else (),
        )

    @property
    def is_tuple(self) -> bool:
        return self.dtype == "tuple"

    @property
    def is_array(self) -> bool:
        return self.dtype not in _NON_ARRAY

    # Cached: parsing shares one Shape per distinct shape, and the cost model asks each
    # for its size tens of thousands of times.
    @cached_property
    def num_elements(self) -> int:
        """Elements of an array shape (1 for a scalar, 0 for non-arrays)."""
        return math.prod(self.dims) if self.is_array else 0

    @cached_property
    def byte_size(self) -> int:
        """Bytes of the data, summed over tuple leaves (tuple index tables excluded)."""
        if self.is_tuple:
            return sum(s.byte_size for s in self.tuple_shapes)
        if not self.is_array:
            return 0
        bits = self.element_bits or _DTYPE_BITS.get(self.dtype, 32)
        return (self.num_elements * bits + 7) // 8

    def leaves(self) -> Iterator[Shape]:
        """Yields the array shapes of a (possibly nested) tuple, in order."""
        if self.is_tuple:
            for s in self.tuple_shapes:
                yield from s.leaves()
        else:
            yield self

    def __str__(self) -> str:
        if self.is_tuple:
            return "(" + ", ".join(str(s) for s in self.tuple_shapes) + ")"
        if not self.is_array:
            return f"{self.dtype}[]"
        return f"{self.dtype}[{','.join(str(d) for d in self.dims)}]"


@dataclass(frozen=True)
class DotDims:
    """Dimension numbers of a dot (and the dense part of a ragged dot)."""

    lhs_contracting: tuple[int, ...] = ()
    rhs_contracting: tuple[int, ...] = ()
    lhs_batch: tuple[int, ...] = ()
    rhs_batch: tuple[int, ...] = ()

    @classmethod
    def from_proto(cls, p: xla_data_pb2.DotDimensionNumbers) -> DotDims:
        return cls(tuple(p.lhs_contracting_dimensions), tuple(p.rhs_contracting_dimensions),
                   tuple(p.lhs_batch_dimensions), tuple(p.rhs_batch_dimensions))


@dataclass(frozen=True)
class RaggedDotDims:
    """Dimension numbers of a ragged dot (`lhs` ragged dims, `rhs` group dims)."""

    dot: DotDims
    lhs_ragged: tuple[int, ...] = ()
    rhs_group: tuple[int, ...] = ()


@dataclass(frozen=True)
class ConvDims:
    """Convolution dimension numbers (input / kernel / output layouts)."""

    input_batch: int
    input_feature: int
    input_spatial: tuple[int, ...]
    kernel_input_feature: int
    kernel_output_feature: int
    kernel_spatial: tuple[int, ...]
    output_batch: int
    output_feature: int
    output_spatial: tuple[int, ...]

    @classmethod
    def from_proto(cls, p: xla_data_pb2.ConvolutionDimensionNumbers) -> ConvDims:
        return cls(p.input_batch_dimension, p.input_feature_dimension,
                   tuple(p.input_spatial_dimensions), p.kernel_input_feature_dimension,
                   p.kernel_output_feature_dimension, tuple(p.kernel_spatial_dimensions),
                   p.output_batch_dimension, p.output_feature_dimension,
                   tuple(p.output_spatial_dimensions))


@dataclass(frozen=True)
class WindowDim:
    """One dimension of a convolution / reduce-window window."""

    size: int
    stride: int = 1
    padding_low: int = 0
    padding_high: int = 0
    window_dilation: int = 1
    base_dilation: int = 1


@dataclass(frozen=True, eq=False)  # identity semantics: each is one node of the graph
class Instruction:
    """One HLO instruction.

    Attributes:
        id: The proto's instruction id (unique in the module).
        name: Instruction name, unique in the module (`fusion.3`, `dot.1`).
        opcode: HLO opcode (`fusion`, `dot`, `all-reduce`, ...).
        shape: Output shape.
        computation: Name of the computation that holds it.
        operand_ids: Ids of the operands, in order.
        called_computation_ids: Ids of called computations (fused, to_apply,
            while body/condition, branches).
        fusion_kind: `kLoop`, `kInput`, `kOutput`, `kCustom` for fusions.
        custom_call_target: Target of a custom call.
        op_name: Framework op name from the metadata (`jit(f)/dot_general`).
        op_type: Framework op type from the metadata.
        source: `file:line` of the user code, when known.
        backend_config: Backend config as text (usually JSON), `""` when absent.
        literal: A constant's value as HLO text when small (`0`, `{1, 2}`),
            `{...}` when large or of a type we do not decode, else `""`.
    """

    id: int
    name: str
    opcode: str
    shape: Shape
    computation: str
    operand_ids: tuple[int, ...] = ()
    called_computation_ids: tuple[int, ...] = ()
    parameter_number: int = 0
    tuple_index: int = 0
    fusion_kind: str = ""
    custom_call_target: str = ""
    op_name: str = ""
    op_type: str = ""
    source: str = ""
    dimensions: tuple[int, ...] = ()
    dot: DotDims | None = None
    ragged_dot: RaggedDotDims | None = None
    conv: ConvDims | None = None
    window: tuple[WindowDim, ...] = ()
    feature_group_count: int = 1
    batch_group_count: int = 1
    replica_groups: tuple[tuple[int, ...], ...] = ()
    channel_id: int = 0
    backend_config: str = ""
    comparison_direction: str = ""
    literal: str = ""
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, eq=False)
class Computation:
    """An HLO computation: instructions in dependency order plus its root."""

    id: int
    name: str
    instructions: tuple[Instruction, ...]
    root_id: int
    is_fusion: bool = False

    @cached_property
    def by_id(self) -> dict[int, Instruction]:
        return {i.id: i for i in self.instructions}

    @property
    def root(self) -> Instruction:
        return self.by_id[self.root_id] if self.root_id in self.by_id else self.instructions[-1]

    def parameters(self) -> list[Instruction]:
        """Parameters ordered by parameter number."""
        params = [i for i in self.instructions if i.opcode == "parameter"]
        return sorted(params, key=lambda i: i.parameter_number)


@dataclass(frozen=True, eq=False)
class HloModule:
    """A parsed HLO module with look-ups by name and by id.

    Attributes:
        name: Module name (`jit_train_step`).
        id: Module id (the `program_id` profiler events refer to).
        entry_computation_id: Id of the entry computation.
        computations: All computations, callees before callers.
        raw: The serialized `HloModuleProto` it came from (for XLA's printer).
    """

    name: str
    id: int
    entry_computation_id: int
    computations: tuple[Computation, ...]
    raw: bytes = field(default=b"", repr=False, compare=False)

    @cached_property
    def _comp_by_id(self) -> dict[int, Computation]:
        return {c.id: c for c in self.computations}

    @cached_property
    def _comp_by_name(self) -> dict[str, Computation]:
        return {c.name: c for c in self.computations}

    @cached_property
    def _instr_by_name(self) -> dict[str, Instruction]:
        return {i.name: i for c in self.computations for i in c.instructions}

    @cached_property
    def _users(self) -> dict[tuple[str, int], list[Instruction]]:
        users: dict[tuple[str, int], list[Instruction]] = {}
        for c in self.computations:
            for i in c.instructions:
                for op in dict.fromkeys(i.operand_ids):  # an op used twice is one user
                    users.setdefault((c.name, op), []).append(i)
        return users

    @cached_property
    def _caller(self) -> dict[int, Instruction]:
        # The instruction that calls each computation (first one wins: fused and
        # wrapped computations have exactly one caller).
        out: dict[int, Instruction] = {}
        for c in self.computations:
            for i in c.instructions:
                for cid in i.called_computation_ids:
                    out.setdefault(cid, i)
        return out

    @property
    def entry(self) -> Computation:
        """The entry computation (falls back to the last one, as XLA orders them)."""
        return self._comp_by_id.get(self.entry_computation_id, self.computations[-1])

    def instructions(self) -> Iterator[Instruction]:
        """All instructions of all computations."""
        for c in self.computations:
            yield from c.instructions

    def computation(self, key: str | int) -> Computation:
        """The computation with this name or id.

        Raises:
            NotFound: No such computation.
        """
        comp = self._comp_by_id.get(key) if isinstance(key, int) else self._comp_by_name.get(key)
        if comp is None:
            raise NotFound(f"computation {key!r} is not in HLO module {self.name!r}")
        return comp

    def instruction(self, name: str) -> Instruction:
        """The instruction with this name.

        Raises:
            NotFound: No such instruction; the message suggests close names.
        """
        instr = self._instr_by_name.get(name)
        if instr is None:
            close = difflib.get_close_matches(name, list(self._instr_by_name), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else (
                "; list the module's ops and pick one of their names")
            raise NotFound(f"op {name!r} is not in HLO module {self.name!r}{hint}",
                           module=self.name, op=name)
        return instr

    def has_instruction(self, name: str) -> bool:
        return name in self._instr_by_name

    def operands(self, instr: Instruction) -> list[Instruction]:
        """Operand instructions, in operand order (ids resolve in the same computation)."""
        by_id = self._comp_by_name[instr.computation].by_id
        return [by_id[i] for i in instr.operand_ids if i in by_id]

    def users(self, instr: Instruction) -> list[Instruction]:
        """Instructions that take `instr` as an operand, in computation order."""
        return list(self._users.get((instr.computation, instr.id), ()))

    def called(self, instr: Instruction) -> list[Computation]:
        """Computations called by `instr` (fused computation, to_apply, body, ...)."""
        return [self._comp_by_id[c] for c in instr.called_computation_ids if c in self._comp_by_id]

    def fused_computation(self, instr: Instruction) -> Computation | None:
        """The fused computation of a fusion instruction, else None."""
        if instr.opcode != "fusion":
            return None
        called = self.called(instr)
        return called[0] if called else None

    def caller(self, comp: Computation) -> Instruction | None:
        """The instruction that calls `comp` (None for the entry computation)."""
        return self._caller.get(comp.id)


# ---------------------------------------------------------------------------
# Parsing


def _source(meta: xla_data_pb2.OpMetadata, frames: hlo_pb2.StackFrameIndexProto,
            by_frame: dict[int, str] | None = None) -> str:
    if meta.source_file:
        return f"{meta.source_file}:{meta.source_line}"
    sid = meta.stack_frame_id  # 1-based into the module's flat frame table
    if by_frame is not None:  # memo: thousands of instructions share a few frames
        got = by_frame.get(sid)
        if got is None:
            got = by_frame[sid] = _source(meta, frames)
        return got
    if 0 < sid <= len(frames.stack_frames):
        loc_id = frames.stack_frames[sid - 1].file_location_id
        if 0 < loc_id <= len(frames.file_locations):
            loc = frames.file_locations[loc_id - 1]
            if 0 < loc.file_name_id <= len(frames.file_names):
                return f"{frames.file_names[loc.file_name_id - 1]}:{loc.line}"
    return ""


_LITERAL_MAX = 16  # larger constants print as {...}, as XLA's printer does


def _literal_text(p: hlo_pb2.HloInstructionProto) -> str:
    if p.opcode != "constant":
        return ""
    lit = p.literal
    shape = Shape.from_proto(p.shape)
    if not shape.is_array or shape.num_elements > _LITERAL_MAX or len(shape.dims) > 1:
        return "{...}"
    dtype = shape.dtype
    values: list[str] = []
    if dtype == "pred":
        values = ["true" if v else "false" for v in lit.preds]
    elif dtype in ("f32", "f64"):
        fmt = "{:.9g}" if dtype == "f32" else "{:.17g}"
        raw_values = lit.f32s if dtype == "f32" else lit.f64s
        values = [fmt.format(v).replace("e+", "e") for v in raw_values]
    elif dtype in ("s32", "s64", "u32", "u64"):
        values = [str(v) for v in getattr(lit, dtype + "s")]
    if len(values) != shape.num_elements:
        return "{...}"  # a type we don't decode (bf16, s8, ...) or no literal sent
    return values[0] if not shape.dims else "{" + ", ".join(values) + "}"


def _replica_groups(p: hlo_pb2.HloInstructionProto) -> tuple[tuple[int, ...], ...]:
    groups = p.collective_device_list.replica_groups or p.replica_groups
    if groups:
        return tuple(tuple(g.replica_ids) for g in groups)
    iota = p.collective_device_list.iota_replica_group_list
    if iota.num_replica_groups and iota.num_devices_per_group:
        # Group sizes are what the cost model needs; the exact device ids of an
        # iota list would need the reshape/transpose, which nothing here uses.
        n, k = iota.num_replica_groups, iota.num_devices_per_group
        return tuple(tuple(range(g * k, (g + 1) * k)) for g in range(n))
    return ()


T = TypeVar("T")


def _frozen(cls: type[T], **fields: object) -> T:
    """cls(**fields) for a frozen dataclass given every field, without its __init__, which
    pays an object.__setattr__ per field (a third of parsing a large module)."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def _shape(proto: xla_data_pb2.ShapeProto, cache: dict[bytes, Shape]) -> Shape:
    """Shape.from_proto, memoised: a module repeats a few hundred shapes thousands of times."""
    key = proto.SerializeToString()
    shape = cache.get(key)
    if shape is None:
        shape = cache[key] = Shape.from_proto(proto)
    return shape


def _instruction(p: hlo_pb2.HloInstructionProto, comp: str,
                 frames: hlo_pb2.StackFrameIndexProto,
                 shapes: dict[bytes, Shape] | None = None,
                 by_frame: dict[int, str] | None = None) -> Instruction:
    opcode = p.opcode
    extra: dict[str, object] = {}
    if p.slice_dimensions:
        extra["slice"] = tuple((s.start, s.limit, s.stride or 1) for s in p.slice_dimensions)
    if p.dynamic_slice_sizes:
        extra["dynamic_slice_sizes"] = tuple(p.dynamic_slice_sizes)
    if p.source_target_pairs:
        extra["source_target_pairs"] = tuple((s.source, s.target) for s in p.source_target_pairs)
    if p.fft_length:
        extra["fft_length"] = tuple(p.fft_length)
    ragged = None
    if p.HasField("ragged_dot_dimension_numbers"):
        r = p.ragged_dot_dimension_numbers
        ragged = RaggedDotDims(DotDims.from_proto(r.dot_dimension_numbers),
                               tuple(r.lhs_ragged_dimensions), tuple(r.rhs_group_dimensions))
    return _frozen(
        Instruction,
        id=p.id,
        name=p.name,
        opcode=opcode,
        shape=_shape(p.shape, shapes) if shapes is not None else Shape.from_proto(p.shape),
        computation=comp,
        operand_ids=tuple(p.operand_ids),
        called_computation_ids=tuple(p.called_computation_ids),
        parameter_number=p.parameter_number,
        tuple_index=p.tuple_index,
        fusion_kind=p.fusion_kind,
        custom_call_target=p.custom_call_target,
        op_name=p.metadata.op_name,
        op_type=p.metadata.op_type,
        source=_source(p.metadata, frames, by_frame),
        dimensions=tuple(p.dimensions),
        dot=DotDims.from_proto(p.dot_dimension_numbers) if p.HasField("dot_dimension_numbers") else None,
        ragged_dot=ragged,
        conv=(ConvDims.from_proto(p.convolution_dimension_numbers)
              if p.HasField("convolution_dimension_numbers") else None),
        window=tuple(WindowDim(d.size, d.stride or 1, d.padding_low, d.padding_high,
                               d.window_dilation or 1, d.base_dilation or 1)
                     for d in p.window.dimensions) if p.HasField("window") else (),
        feature_group_count=p.feature_group_count or 1,
        batch_group_count=p.batch_group_count or 1,
        replica_groups=(_replica_groups(p) if p.replica_groups or p.HasField("collective_device_list")
                        else ()),
        channel_id=p.channel_id,
        backend_config=p.backend_config.decode("utf-8", "replace"),
        comparison_direction=p.comparison_direction,
        literal=_literal_text(p) if opcode == "constant" else "",
        extra=extra,
    )


def _module_proto(data: bytes) -> tuple[hlo_pb2.HloModuleProto, bool]:
    """Returns the module proto and whether it came wrapped in an HloProto."""
    # An HloProto's field 1 is the whole module; a bare module's field 1 is its
    # name, which almost never parses as a module with computations.
    try:
        wrapped = hlo_pb2.HloProto.FromString(data)
        if wrapped.hlo_module.computations:
            return wrapped.hlo_module, True
    except DecodeError:
        pass
    try:
        module = hlo_pb2.HloModuleProto.FromString(data)
    except DecodeError as e:
        raise InvalidProfile(f"not a serialized HloModuleProto or HloProto: {e}") from e
    if not module.computations:
        raise InvalidProfile("HLO module proto has no computations; pass the bytes of an "
                             "HloModuleProto or of the profiler's HloProto wrapper")
    return module, False


def parse_module(data: bytes) -> HloModule:
    """Parses serialized `HloModuleProto` or `HloProto` bytes.

    Args:
        data: The serialized proto.

    Returns:
        The module model.

    Raises:
        InvalidProfile: The bytes are neither proto, or hold no computations.
    """
    p, wrapped = _module_proto(data)
    frames = p.stack_frame_index
    shapes: dict[bytes, Shape] = {}
    by_frame: dict[int, str] = {}
    comps = tuple(
        Computation(
            id=c.id,
            name=c.name,
            instructions=tuple(_instruction(i, c.name, frames, shapes, by_frame)
                               for i in c.instructions),
            root_id=c.root_id,
            is_fusion=c.is_fusion_computation,
        )
        for c in p.computations
    )
    entry_id = p.entry_computation_id
    if entry_id not in {c.id for c in comps}:
        entry_id = next((c.id for c in comps if c.name == p.entry_computation_name), comps[-1].id)
    # XLA's printer (serving/hlo.py) takes module bytes; re-serializing keeps the fields
    # our subset does not declare (protobuf retains unknown fields).
    raw = p.SerializeToString() if wrapped else data
    return HloModule(name=p.name, id=p.id, entry_computation_id=entry_id,
                     computations=comps, raw=raw)


# ---------------------------------------------------------------------------
# Text


def _attrs(module: HloModule, i: Instruction, metadata: bool) -> list[str]:
    out: list[str] = []
    if i.opcode == "get-tuple-element":
        out.append(f"index={i.tuple_index}")
    if i.fusion_kind:
        out.append(f"kind={i.fusion_kind}")
    names = [c.name for c in module.called(i)]
    if names:
        key = {"fusion": "calls", "while": None, "conditional": "branch_computations"}.get(
            i.opcode, "to_apply")
        if i.opcode == "while" and len(names) == 2:
            # XLA stores [body, condition] for while.
            out += [f"condition=%{names[1]}", f"body=%{names[0]}"]
        elif key == "branch_computations" or len(names) > 1:
            out.append("calls={" + ", ".join(f"%{n}" for n in names) + "}")
        else:
            out.append(f"{key}=%{names[0]}")
    if i.dimensions:
        out.append("dimensions={" + ",".join(map(str, i.dimensions)) + "}")
    if i.dot:
        for label, dims in (("lhs_batch_dims", i.dot.lhs_batch), ("rhs_batch_dims", i.dot.rhs_batch),
                            ("lhs_contracting_dims", i.dot.lhs_contracting),
                            ("rhs_contracting_dims", i.dot.rhs_contracting)):
            if dims:
                out.append(f"{label}={{{','.join(map(str, dims))}}}")
    if i.ragged_dot:
        r = i.ragged_dot
        out.append(f"lhs_contracting_dims={{{','.join(map(str, r.dot.lhs_contracting))}}}")
        out.append(f"rhs_contracting_dims={{{','.join(map(str, r.dot.rhs_contracting))}}}")
        out.append(f"lhs_ragged_dims={{{','.join(map(str, r.lhs_ragged))}}}")
        out.append(f"rhs_group_dims={{{','.join(map(str, r.rhs_group))}}}")
    if i.window:
        out.append("window={size=" + "x".join(str(w.size) for w in i.window) + "}")
    if i.comparison_direction:
        out.append(f"direction={i.comparison_direction}")
    if i.custom_call_target:
        out.append(f'custom_call_target="{i.custom_call_target}"')
    if i.replica_groups:
        out.append("replica_groups={" + ",".join(
            "{" + ",".join(map(str, g)) + "}" for g in i.replica_groups) + "}")
    if metadata and (i.op_name or i.source):
        meta = f'op_name="{i.op_name}"' if i.op_name else ""
        if i.source:
            f, _, line = i.source.rpartition(":")
            meta += f' source_file="{f}" source_line={line}'
        out.append("metadata={" + meta.strip() + "}")
    if i.backend_config:
        out.append(f"backend_config={i.backend_config}")
    return out


def _shape_text(s: Shape) -> str:
    if s.is_tuple:
        return "(" + ", ".join(_shape_text(t) for t in s.tuple_shapes) + ")"
    text = str(s)
    if s.layout and s.dims:
        text += "{" + ",".join(map(str, s.layout)) + "}"
    return text


def format_module(module: HloModule, *, metadata: bool = True) -> str:
    """Prints the module as HLO-like text from our model alone (no jaxlib).

    Args:
        module: The module.
        metadata: Include `metadata={...}` attributes.

    Returns:
        Text in the shape of XLA's printer (not guaranteed to re-parse).
    """
    lines = [f"HloModule {module.name}", ""]
    for comp in module.computations:
        params = ", ".join(f"{p.name}: {p.shape}" for p in comp.parameters())
        head = "ENTRY " if comp.id == module.entry.id else ""
        lines.append(f"{head}%{comp.name} ({params}) -> {comp.root.shape} {{")
        for i in comp.instructions:
            ops = ", ".join(f"%{o.name}" for o in module.operands(i))
            arg = {"parameter": str(i.parameter_number), "constant": i.literal}.get(i.opcode, ops)
            attrs = _attrs(module, i, metadata)
            root = "ROOT " if i.id == comp.root.id else ""
            tail = (", " + ", ".join(attrs)) if attrs else ""
            lines.append(f"  {root}%{i.name} = {_shape_text(i.shape)} {i.opcode}({arg}){tail}")
        lines += ["}", ""]
    return "\n".join(lines)
