"""Per-instruction cost model of an HLO module: FLOPs, transcendentals, bytes.

Conventions (per device, as the module is one SPMD partition):

- A multiply-add is 2 FLOPs: a dot costs `2 * output_elements * contraction`.
  A ragged dot costs `2*m*k*n` — every row of `lhs` meets only its own group's
  weights — unlike XLA's cost analysis, which does not count it that way.
- Convolutions count only the multiply-adds that touch real (unpadded,
  undilated) input, per spatial dimension, like XLA.
- Elementwise ops cost 1 FLOP per output element; transcendental ops (exp, log,
  tanh, ...) cost 1 transcendental per element and no FLOPs, like XLA.
- Bytes are what crosses memory: operands read plus the output written. A
  fusion counts only its own operands and output (its inside stays in
  registers/cache), except that a parameter read only through slices counts the
  sliced bytes and an in-place dynamic-update-slice root writes only the update.
- `while`/`call`/`conditional` cost nothing themselves; the module total adds
  their bodies (a while body times its known trip count, the most expensive
  conditional branch). `async-start` carries the cost of the op it wraps.
- Reductions, maps, scatters and sorts cost their `to_apply` per application;
  sums too large for int64 stop at its maximum.

These rules are computed in C (`xdiag/analysis/_hlocost.c`) from the module's
bytes: a train step has tens of thousands of instructions, and costing them as
Python objects took about a second per capture. This module holds the tables
the C side takes (which opcodes are elementwise, which targets are GEMMs, ...)
and reads the JSON backend configs, and wraps the results.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from xdiag.analysis import _hlocost
from xdiag.analysis.hlo.module import HloModule, Instruction
from xdiag.core.errors import InvalidProfile

# Category ids (stable, used as JSON keys) and their display labels.
CATEGORY_LABELS: dict[str, str] = {
    "fusion": "fusion",
    "dot": "dot/convolution",
    "collective": "collective",
    "copy": "copy/data movement",
    "custom_call": "custom call",
    "elementwise": "elementwise",
    "reduction": "reduction",
    "control_flow": "control flow",
    "other": "other",
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_LABELS)
COLLECTIVE = "collective"

TRANSCENDENTAL_OPS = frozenset({
    "exponential", "exponential-minus-one", "log", "log-plus-one", "tanh", "logistic",
    "rsqrt", "sqrt", "cbrt", "power", "sine", "cosine", "tan", "atan2", "erf",
})
ELEMENTWISE_OPS = frozenset({
    "add", "subtract", "multiply", "divide", "remainder", "maximum", "minimum", "negate",
    "abs", "sign", "floor", "ceil", "round-nearest-afz", "round-nearest-even", "compare",
    "select", "clamp", "and", "or", "xor", "not", "shift-left", "shift-right-arithmetic",
    "shift-right-logical", "convert", "is-finite", "popcnt", "count-leading-zeros", "real",
    "imag", "complex", "reduce-precision", "stochastic-convert", "map",
}) | TRANSCENDENTAL_OPS
DOT_OPS = frozenset({"dot", "ragged-dot", "convolution"})
REDUCTION_OPS = frozenset({"reduce", "reduce-window", "select-and-scatter"})
COPY_OPS = frozenset({
    "copy", "copy-start", "copy-done", "transpose", "broadcast", "reshape", "dynamic-reshape",
    "concatenate", "slice", "dynamic-slice", "dynamic-update-slice", "gather", "scatter",
    "pad", "reverse", "iota", "bitcast-convert",
})
_COLLECTIVE_BASE = ("all-reduce", "all-gather", "reduce-scatter", "all-to-all",
                    "ragged-all-to-all", "collective-permute", "collective-broadcast",
                    "send", "recv")
COLLECTIVE_OPS = frozenset(
    [*_COLLECTIVE_BASE, *(f"{o}-start" for o in _COLLECTIVE_BASE),
     *(f"{o}-done" for o in _COLLECTIVE_BASE)])
CONTROL_FLOW_OPS = frozenset({"while", "call", "conditional", "async-start", "async-update",
                              "async-done"})

# Ops that only rename, group or sequence buffers: no data crosses memory.
_NO_TRAFFIC_OPS = frozenset({
    "parameter", "constant", "tuple", "get-tuple-element", "bitcast", "after-all",
    "add-dependency", "partition-id", "replica-id", "opt-barrier", "domain",
    "get-dimension-size", "while", "call", "conditional", "async-start", "async-update",
    "async-done", "copy-done",
}) | frozenset(o for o in COLLECTIVE_OPS if o.endswith("-done"))
_SLICING_OPS = frozenset({"slice", "dynamic-slice", "gather"})

# Custom-call targets (prefixes) by what they compute.
_GEMM_TARGETS = ("__cublas$gemm", "__cublas$lt$matmul", "__onednn$matmul", "__xnn$dot",
                 "__hipblas$gemm", "__hipblaslt$matmul")
_CONV_TARGETS = ("__cudnn$conv", "__onednn$convolution", "__miopen$conv")
_KERNEL_TARGETS = ("tpu_custom_call", "__gpu$xla.gpu.triton", "mosaic_gpu", "triton_kernel_call")
_NOOP_TARGETS = ("Sharding", "SPMDFullToShardShape", "SPMDShardToFullShape", "LayoutConstraint",
                 "annotate_device_placement", "X64Combine", "X64SplitLow", "X64SplitHigh")
_TRANSFER_TARGETS = ("MoveToHost", "MoveToDevice", "PinToDevice")


def categorize(opcode: str, custom_call_target: str = "") -> str:
    """Category id of an HLO op, from its opcode (and custom-call target).

    Works from strings alone so profile events (which carry an op's opcode or
    category but not the module) and the cost model agree. Use
    `categorize_instruction` to see through `async-start` wrappers.

    Args:
        opcode: HLO opcode, e.g. `fusion`, `dot`, `all-gather-start`.
        custom_call_target: The target of a `custom-call`.

    Returns:
        One of `CATEGORIES`.
    """
    if opcode == "fusion":
        return "fusion"
    if opcode in DOT_OPS:
        return "dot"
    if opcode in COLLECTIVE_OPS:
        return "collective"
    if opcode == "custom-call":
        t = custom_call_target
        if t.startswith(_GEMM_TARGETS) or t.startswith(_CONV_TARGETS):
            return "dot"
        if t.startswith(_TRANSFER_TARGETS):
            return "copy"
        if t.startswith(_NOOP_TARGETS):
            return "other"
        return "custom_call"
    if opcode in COPY_OPS:
        return "copy"
    if opcode in ELEMENTWISE_OPS:
        return "elementwise"
    if opcode in REDUCTION_OPS:
        return "reduction"
    if opcode in CONTROL_FLOW_OPS:
        return "control_flow"
    return "other"


def categorize_instruction(module: HloModule, instr: Instruction) -> str:
    """Category of an instruction; async wrappers take the wrapped op's category."""
    cur = instr
    for _ in range(8):  # start -> update* -> done chains are short
        if cur.opcode not in ("async-start", "async-update", "async-done"):
            break
        called = module.called(cur)
        if called:
            root = called[0].root
            return categorize(root.opcode, root.custom_call_target)
        # A done/update may not list the wrapped computation: walk back to its start.
        operands = module.operands(cur)
        if not operands:
            break
        cur = operands[0]
    return categorize(instr.opcode, instr.custom_call_target)


@dataclass(frozen=True)
class OpCost:
    """Cost of one instruction executed once.

    Attributes:
        flops: Floating-point (and integer arithmetic) operations; FMA = 2.
        transcendentals: Transcendental evaluations (exp, log, tanh, ...).
        bytes_read: Bytes of operands read from memory.
        bytes_written: Bytes of output written to memory.
        collective_bytes: For collectives, the payload per device (the larger
            of what it sends and what it receives); 0 otherwise.
        category: Category id (see `CATEGORIES`).
        fused_category: For fusions and async wrappers, the category of the
            work inside (the op with the most FLOPs, else the root); else "".
        complete: False when the model had to guess (unknown custom call, loop
            with unknown trip count).
        note: Why it is incomplete, or what was assumed.
    """

    flops: int = 0
    transcendentals: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    collective_bytes: int = 0
    category: str = "other"
    fused_category: str = ""
    complete: bool = True
    note: str = ""

    @property
    def bytes_accessed(self) -> int:
        return self.bytes_read + self.bytes_written

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["bytes_accessed"] = self.bytes_accessed
        return out


@dataclass
class CostTotals:
    """Summed cost of a computation run once (loops expanded by trip count)."""

    flops: int = 0
    transcendentals: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    collective_bytes: int = 0
    complete: bool = True
    flops_by_category: dict[str, int] = field(default_factory=dict)
    bytes_by_category: dict[str, int] = field(default_factory=dict)

    @property
    def bytes_accessed(self) -> int:
        return self.bytes_read + self.bytes_written

    def add_op(self, cost: OpCost, times: int = 1) -> None:
        self.flops += cost.flops * times
        self.transcendentals += cost.transcendentals * times
        self.bytes_read += cost.bytes_read * times
        self.bytes_written += cost.bytes_written * times
        self.collective_bytes += cost.collective_bytes * times
        self.complete = self.complete and cost.complete
        cat = cost.category
        if cost.flops:
            self.flops_by_category[cat] = self.flops_by_category.get(cat, 0) + cost.flops * times
        if cost.bytes_accessed:
            self.bytes_by_category[cat] = (self.bytes_by_category.get(cat, 0)
                                           + cost.bytes_accessed * times)

    def add(self, other: CostTotals, times: int = 1) -> None:
        self.flops += other.flops * times
        self.transcendentals += other.transcendentals * times
        self.bytes_read += other.bytes_read * times
        self.bytes_written += other.bytes_written * times
        self.collective_bytes += other.collective_bytes * times
        self.complete = self.complete and other.complete
        for mine, theirs in ((self.flops_by_category, other.flops_by_category),
                             (self.bytes_by_category, other.bytes_by_category)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0) + v * times

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        out["bytes_accessed"] = self.bytes_accessed
        return out


@dataclass(frozen=True)
class ModuleCost:
    """Costs of every instruction of a module and the module total.

    Attributes:
        module: Module name.
        ops: Own cost of every instruction by name, fused ones included (a
            fused instruction's bytes are what it would move on its own; only
            the fusion's numbers count towards totals).
        total: The entry computation run once, control flow expanded.
        trip_counts: Trip count of each `while` (None when unknown, counted once).
    """

    module: str
    ops: dict[str, OpCost]
    total: CostTotals
    trip_counts: dict[str, int | None]

    def to_json(self) -> dict[str, object]:
        return {"module": self.module, "total": self.total.to_json(),
                "trip_counts": dict(self.trip_counts),
                "ops": {k: v.to_json() for k, v in self.ops.items()}}


# ---------------------------------------------------------------------------
# The model: the formulas run in C (xdiag/analysis/_hlocost.c) over the module's
# bytes; Python supplies the opcode tables above and reads the JSON backend
# configs of whiles and custom calls.


def _find_key(obj: object, key: str) -> object | None:
    """Depth-first search of a JSON value for `key`."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            hit = _find_key(v, key)
            if hit is not None:
                return hit
    elif isinstance(obj, list):
        for v in obj:
            hit = _find_key(v, key)
            if hit is not None:
                return hit
    return None


def _backend_json(text: str) -> object:
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _trip_count(cfg: object) -> int | None:
    n = _find_key(cfg, "known_trip_count")
    if isinstance(n, dict) and "n" in n:
        try:
            return int(n["n"])
        except (TypeError, ValueError):
            return None
    return None


def _cost_estimate(cfg: object) -> tuple[int, int] | None:
    """A Pallas kernel's declared (flops, transcendentals), trusted when present."""
    est = _find_key(cfg, "cost_estimate")
    if isinstance(est, dict) and "flops" in est:
        try:
            return int(float(est["flops"])), int(float(est.get("transcendentals", 0)))
        except (TypeError, ValueError):
            return None
    return None


def _gemm_contracting(cfg: object) -> list[int] | None:
    dd = _find_key(cfg, "dot_dimension_numbers")
    if isinstance(dd, dict) and "lhs_contracting_dimensions" in dd:
        return [int(d) for d in dd["lhs_contracting_dimensions"]]
    return None


# Tables the C model takes (see _hlocost.c): opcode flags and custom-call target kinds.
_TRANS, _ELEM, _NO_TRAFFIC, _SLICING, _ON_DEMAND = 1, 2, 4, 8, 16
# In a fusion these are computed element by element for their consumers.
_ON_DEMAND_OPS = ELEMENTWISE_OPS | {"bitcast", "reshape", "transpose", "copy"}
_OTHER_TARGET, _GEMM, _CONV, _NOOP = 0, 1, 2, 3
_NOTE_ASSUMED = "contraction assumed over the last lhs dimension"


def _op_flags(opcode: str) -> int:
    return ((_TRANS if opcode in TRANSCENDENTAL_OPS else 0)
            | (_ELEM if opcode in ELEMENTWISE_OPS else 0)
            | (_NO_TRAFFIC if opcode in _NO_TRAFFIC_OPS else 0)
            | (_SLICING if opcode in _SLICING_OPS else 0)
            | (_ON_DEMAND if opcode in _ON_DEMAND_OPS else 0))


def _target_kind(target: str) -> int:
    if target.startswith(_GEMM_TARGETS):
        return _GEMM
    if target.startswith(_CONV_TARGETS):
        return _CONV
    if target.startswith(_NOOP_TARGETS + _TRANSFER_TARGETS):
        return _NOOP
    return _OTHER_TARGET


@dataclass(frozen=True)
class CostColumns:
    """Own cost of every instruction as columns (module order) and the module total.

    What `module_cost` builds `OpCost`s from, and what ingest reads directly: no
    Python object per instruction.

    Attributes:
        module: Module name.
        names: Instruction names.
        flops, transcendentals, bytes_read, bytes_written, collective_bytes: int64.
        category: Index into `CATEGORIES` (int8).
        fused_category: Index into `CATEGORIES`, -1 for none (int8).
        complete: bool.
        in_fusion: bool: inside a fused computation; its cost is part of its fusion's,
            so a profile event of it must not count it again.
        op_names: The framework's name of each instruction (metadata `op_name`: the JAX
            name stack with named scopes, e.g. `jit(step)/moe/experts/dot_general`).
        notes: Why an op's cost is incomplete or assumed, by instruction index.
        total: The entry computation run once, control flow expanded.
        trip_counts: Trip count of each `while` the total expanded (None: unknown).
        custom_configs: (index, target, backend config) of custom calls that have one.
    """

    module: str
    names: list[str]
    flops: np.ndarray
    transcendentals: np.ndarray
    bytes_read: np.ndarray
    bytes_written: np.ndarray
    collective_bytes: np.ndarray
    category: np.ndarray
    fused_category: np.ndarray
    complete: np.ndarray
    in_fusion: np.ndarray
    notes: dict[int, str]
    total: CostTotals
    trip_counts: dict[str, int | None]
    custom_configs: list[tuple[int, str, str]]
    op_names: list[str] = field(default_factory=list)


def _dtype_bits_table() -> bytes:
    from xdiag.analysis.hlo.module import _DTYPE_BITS, _DTYPE_NAMES, _NON_ARRAY

    table = []
    for v in range(max(_DTYPE_NAMES) + 1):
        name = _DTYPE_NAMES.get(v)
        if name is None:
            table.append(32)  # unknown: an array of 32-bit elements, as Shape reads it
        elif name == "tuple":
            table.append(-1)
        else:
            table.append(0 if name in _NON_ARRAY else _DTYPE_BITS.get(name, 32))
    return np.array(table, np.int16).tobytes()


_DTYPE_BITS_TABLE = _dtype_bits_table()


def cost_columns(data: bytes) -> CostColumns:
    """Costs every instruction of serialized `HloModuleProto` or `HloProto` bytes.

    Raises:
        InvalidProfile: The bytes are not a module proto, or the model cannot
            read it (a dimension index out of range, a computation calling itself).
    """
    try:
        handle = _hlocost.decode(data, _DTYPE_BITS_TABLE)
    except ValueError as e:
        raise InvalidProfile(f"not a serialized HloModuleProto or HloProto: {e}") from e
    name, opcodes, targets, configs, names, codes, op_names = _hlocost.info(handle)
    trips: dict[int, int] = {}
    estimates: dict[int, tuple[int, int]] = {}
    gemm: dict[int, list[int]] = {}
    custom: list[tuple[int, str, str]] = []
    for i, opcode, target, raw in configs:
        text = raw.decode("utf-8", "replace")
        cfg = _backend_json(text)
        if opcodes[opcode] == "while":
            if (n := _trip_count(cfg)) is not None:
                trips[i] = n
            continue
        custom.append((i, targets[target], text))
        if (est := _cost_estimate(cfg)) is not None:
            estimates[i] = est
        elif _target_kind(targets[target]) == _GEMM and (dims := _gemm_contracting(cfg)) is not None:
            gemm[i] = dims
    cat_index = {c: k for k, c in enumerate(CATEGORIES)}
    try:
        columns, totals, whiles = _hlocost.cost(
            handle,
            np.array([cat_index[categorize(o)] for o in opcodes], np.int8).tobytes(),
            np.array([_op_flags(o) for o in opcodes], np.uint8).tobytes(),
            np.array([cat_index[categorize("custom-call", t)] for t in targets], np.int8).tobytes(),
            np.array([_target_kind(t) for t in targets], np.uint8).tobytes(),
            cat_index[COLLECTIVE], len(CATEGORIES), trips, estimates, gemm)
    except ValueError as e:
        raise InvalidProfile(f"HLO module {name!r}: {e}") from e
    i64 = [np.frombuffer(c, np.int64) for c in columns[:5]]
    cat, fused, complete, note, in_fusion = (np.frombuffer(c, np.int8) for c in columns[5:])
    pairs = np.frombuffer(codes, np.int32).reshape(-1, 2)
    notes = {}
    for i in np.flatnonzero(note).tolist():
        notes[i] = ("cost_estimate", _NOTE_ASSUMED,
                    f"FLOPs of custom call {targets[pairs[i, 1]]!r} unknown")[note[i] - 1]
    flops, trans, br, bw, coll, done, fbc, bbc = totals
    total = CostTotals(flops, trans, br, bw, coll, bool(done),
                       {c: v for c, v in zip(CATEGORIES, fbc, strict=True) if v},
                       {c: v for c, v in zip(CATEGORIES, bbc, strict=True) if v})
    return CostColumns(
        module=name, names=names, flops=i64[0], transcendentals=i64[1], bytes_read=i64[2],
        bytes_written=i64[3], collective_bytes=i64[4], category=cat, fused_category=fused,
        complete=complete.astype(bool), in_fusion=in_fusion.astype(bool), notes=notes,
        total=total, op_names=op_names,
        trip_counts={names[i]: trips.get(i) for i in whiles}, custom_configs=custom)


def module_cost(module: HloModule) -> ModuleCost:
    """Costs every instruction of `module` and totals the entry computation.

    Args:
        module: A parsed module (see `parse_module`); its `raw` bytes are costed.

    Returns:
        Per-instruction costs by name and the module total.
    """
    cols = cost_columns(module.raw)
    ops = {}
    rows = zip(cols.names, cols.flops.tolist(), cols.transcendentals.tolist(),
               cols.bytes_read.tolist(), cols.bytes_written.tolist(),
               cols.collective_bytes.tolist(), cols.category.tolist(),
               cols.fused_category.tolist(), cols.complete.tolist(), strict=True)
    for i, (name, f, t, r, w, c, cat, fused, complete) in enumerate(rows):
        ops.setdefault(name, OpCost(f, t, r, w, c, CATEGORIES[cat],
                                    CATEGORIES[fused] if fused >= 0 else "", complete,
                                    cols.notes.get(i, "")))
    return ModuleCost(module.name, ops, cols.total, cols.trip_counts)


def instruction_cost(module: HloModule, instr: Instruction | str) -> OpCost:
    """Own cost of one instruction (by object or name).

    Raises:
        NotFound: No instruction of that name.
    """
    name = instr if isinstance(instr, str) else instr.name
    module.instruction(name)  # NotFound with close names
    return module_cost(module).ops[name]
