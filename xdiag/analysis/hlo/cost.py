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
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from xdiag.analysis.hlo.module import Computation, HloModule, Instruction, Shape

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
# FLOP formulas


def _dims_product(shape: Shape, dims: Iterable[int]) -> int:
    return math.prod(shape.dims[d] for d in dims if d < len(shape.dims))


def _first_array(shape: Shape) -> Shape:
    return next(iter(shape.leaves()), shape)


def dot_flops(lhs: Shape, out: Shape, lhs_contracting: Iterable[int]) -> int:
    """FLOPs of a dot: 2 per multiply-add, `2 * output elements * contraction size`."""
    return 2 * _first_array(out).num_elements * _dims_product(lhs, lhs_contracting)


def ragged_dot_flops(lhs: Shape, group_sizes: Shape, out: Shape, instr: Instruction) -> int:
    """FLOPs of a ragged dot, each row meeting only its own group: `2*m*k*n`.

    With the ragged dimension a non-contracting `lhs` dimension (the MoE case,
    out `[m, n]`) this is the dot formula on the output. With the ragged
    dimension contracting, the output gains a group dimension `[g, m, n]` but
    the groups partition `k`, so the product is divided by `g`.
    """
    assert instr.ragged_dot is not None
    dd = instr.ragged_dot.dot
    flops = dot_flops(lhs, out, dd.lhs_contracting)
    if set(instr.ragged_dot.lhs_ragged) & set(dd.lhs_contracting):
        groups = group_sizes.dims[-1] if group_sizes.dims else 1
        flops //= max(groups, 1)
    return flops


def _valid_taps(out_size: int, in_size: int, w) -> int:
    """(output position, kernel tap) pairs of one spatial dim that hit real input."""
    limit = (in_size - 1) * w.base_dilation  # last real element in dilated coordinates
    count = 0
    for k in range(w.size):
        offset = k * w.window_dilation - w.padding_low
        for o in range(out_size):
            p = o * w.stride + offset
            if 0 <= p <= limit and p % w.base_dilation == 0:
                count += 1
    return count


def conv_flops(lhs: Shape, rhs: Shape, out: Shape, instr: Instruction) -> int:
    """FLOPs of a convolution, counting only taps on real (unpadded) input."""
    cd = instr.conv
    out = _first_array(out)
    if cd is None:
        return 0
    kin = rhs.dims[cd.kernel_input_feature] if rhs.dims else 1
    kout = out.dims[cd.output_feature] if out.dims else 1
    batch = out.dims[cd.output_batch] if out.dims else 1
    taps = 1
    for i, (od, idim) in enumerate(zip(cd.output_spatial, cd.input_spatial, strict=False)):
        if i < len(instr.window):
            taps *= _valid_taps(out.dims[od], lhs.dims[idim], instr.window[i])
        else:
            taps *= out.dims[od]
    return 2 * batch * kout * kin * taps


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


def _backend_json(instr: Instruction) -> object:
    text = instr.backend_config.strip()
    if not text.startswith("{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _while_trip_count(instr: Instruction) -> int | None:
    n = _find_key(_backend_json(instr), "known_trip_count")
    if isinstance(n, dict) and "n" in n:
        try:
            return int(n["n"])
        except (TypeError, ValueError):
            return None
    return None


# ---------------------------------------------------------------------------
# The model


class _Coster:
    """Computes own costs and computation totals of one module, memoized."""

    def __init__(self, module: HloModule) -> None:
        self.m = module
        self.own: dict[str, OpCost] = {}
        self._comp_flops: dict[int, tuple[int, int]] = {}
        self._totals: dict[int, CostTotals] = {}
        self.trip_counts: dict[str, int | None] = {}

    # -- helpers ------------------------------------------------------------

    def _scalar_fn(self, instr: Instruction) -> tuple[int, int]:
        """(flops, transcendentals) of one application of the op's to_apply."""
        called = self.m.called(instr)
        if not called:
            return 1, 0  # a reducer we can't see: assume one op per application
        comp = called[0]
        if comp.id not in self._comp_flops:
            self._comp_flops[comp.id] = (0, 0)  # guard against recursion
            f = t = 0
            for i in comp.instructions:
                c = self.cost(i)
                f, t = f + c.flops, t + c.transcendentals
            self._comp_flops[comp.id] = (f, t)
        return self._comp_flops[comp.id]

    def _compute(self, instr: Instruction, ops: list[Instruction]) -> tuple[int, int, str]:
        """(flops, transcendentals, note) of a non-fusion instruction."""
        opc, out = instr.opcode, instr.shape
        n_out = out.num_elements if out.is_array else _first_array(out).num_elements
        if opc in TRANSCENDENTAL_OPS:
            return 0, n_out, ""
        if opc == "map":
            f, t = self._scalar_fn(instr)
            return n_out * f, n_out * t, ""
        if opc in ELEMENTWISE_OPS:
            return n_out, 0, ""
        if opc == "dot" and instr.dot is not None and ops:
            return dot_flops(ops[0].shape, out, instr.dot.lhs_contracting), 0, ""
        if opc == "ragged-dot" and instr.ragged_dot is not None and len(ops) >= 3:
            return ragged_dot_flops(ops[0].shape, ops[2].shape, out, instr), 0, ""
        if opc == "convolution" and len(ops) >= 2:
            return conv_flops(ops[0].shape, ops[1].shape, out, instr), 0, ""
        if opc in ("reduce", "all-reduce", "all-reduce-start", "reduce-scatter",
                   "reduce-scatter-start"):
            n_in = _first_array(ops[0].shape).num_elements if ops else 0
            f, t = self._scalar_fn(instr)
            apps = n_in - n_out if opc == "reduce" else n_in
            return max(apps, 0) * f, max(apps, 0) * t, ""
        if opc == "reduce-window":
            win = math.prod(w.size for w in instr.window) if instr.window else 1
            f, t = self._scalar_fn(instr)
            return n_out * (win - 1) * f, n_out * (win - 1) * t, ""
        if opc == "scatter" and len(ops) >= 3:
            n_upd = _first_array(ops[-1].shape).num_elements
            f, t = self._scalar_fn(instr)
            return n_upd * f, n_upd * t, ""
        if opc == "select-and-scatter" and len(ops) >= 2:
            win = math.prod(w.size for w in instr.window) if instr.window else 1
            n_src = ops[1].shape.num_elements
            return n_src * win + n_src, 0, ""  # one compare per tap, one add per source
        if opc == "sort" and ops:
            n = _first_array(ops[0].shape).num_elements
            f, t = self._scalar_fn(instr)
            logn = math.ceil(math.log2(n)) if n > 1 else 0
            return n * logn * f, n * logn * t, ""
        if opc == "custom-call":
            return self._custom_call(instr, ops)
        return 0, 0, ""

    def _custom_call(self, instr: Instruction, ops: list[Instruction]) -> tuple[int, int, str]:
        t = instr.custom_call_target
        cfg = _backend_json(instr)
        est = _find_key(cfg, "cost_estimate")
        if isinstance(est, dict) and "flops" in est:
            # Pallas kernels may declare their own cost; trust it.
            try:
                return (int(float(est["flops"])), int(float(est.get("transcendentals", 0))),
                        "cost_estimate")
            except (TypeError, ValueError):
                pass
        if t.startswith(_GEMM_TARGETS) and len(ops) >= 2:
            dd = _find_key(cfg, "dot_dimension_numbers")
            if isinstance(dd, dict) and "lhs_contracting_dimensions" in dd:
                contracting = [int(d) for d in dd["lhs_contracting_dimensions"]]
                return dot_flops(ops[0].shape, instr.shape, contracting), 0, ""
            lhs = ops[0].shape
            return (dot_flops(lhs, instr.shape, [len(lhs.dims) - 1]), 0,
                    "contraction assumed over the last lhs dimension")
        if t.startswith(_CONV_TARGETS) and instr.conv is not None and len(ops) >= 2:
            return conv_flops(ops[0].shape, ops[1].shape, instr.shape, instr), 0, ""
        if t.startswith(_NOOP_TARGETS + _TRANSFER_TARGETS):
            return 0, 0, ""
        return 0, 0, f"FLOPs of custom call {t!r} unknown"

    def _bytes(self, instr: Instruction, ops: list[Instruction]) -> tuple[int, int]:
        opc = instr.opcode
        if opc in _NO_TRAFFIC_OPS:
            return 0, 0
        out = instr.shape.byte_size
        if opc in _SLICING_OPS:
            # Only the selected window of the data operand is read.
            idx = sum(o.shape.byte_size for o in ops[1:])
            return out + idx, out
        if opc == "dynamic-update-slice" and len(ops) >= 2:
            upd = ops[1].shape.byte_size
            idx = sum(o.shape.byte_size for o in ops[2:])
            return upd + idx, upd  # in place: the rest of the buffer is untouched
        if opc == "scatter" and len(ops) >= 3:
            n = (len(ops) - 1) // 2
            idx = ops[n].shape.byte_size
            upd = sum(o.shape.byte_size for o in ops[n + 1:])
            return idx + 2 * upd, upd  # reads old values and updates, writes in place
        if opc.endswith("-start") and instr.shape.is_tuple:
            # Async starts return (operands..., result..., context): only the
            # result is new data.
            out = max((leaf.byte_size for leaf in instr.shape.leaves()), default=0)
        return sum(o.shape.byte_size for o in ops), out

    def _sliced_bytes(self, param: Instruction) -> int | None:
        """Bytes a fused parameter really reads if only slices of it are used.

        Looks through bitcasts; returns None when any use needs the whole value.
        """
        total, stack = 0, [param]
        while stack:
            value = stack.pop()
            users = self.m.users(value)
            if not users:
                return None
            for u in users:
                if u.opcode == "bitcast":
                    stack.append(u)
                elif u.opcode in _SLICING_OPS and u.operand_ids[:1] == (value.id,):
                    total += u.shape.byte_size
                else:
                    return None
        return total

    def _fusion_bytes(self, instr: Instruction, ops: list[Instruction],
                      fused: Computation) -> tuple[int, int]:
        params = fused.parameters()
        root = fused.root
        # An in-place update: the buffer param aliased with the output is not
        # read in full and only the update is written.
        dus_param = None
        written = instr.shape.byte_size
        if root.opcode == "dynamic-update-slice":
            base = self.m.operands(root)
            if base and base[0].opcode == "parameter":
                dus_param = base[0].parameter_number
                written = base[1].shape.byte_size if len(base) > 1 else written
        read = 0
        for i, op in enumerate(ops):
            full = op.shape.byte_size
            p = params[i] if i < len(params) and params[i].parameter_number == i else None
            if p is None:
                read += full
                continue
            if i == dus_param and len(self.m.users(p)) == 1:
                continue
            sliced = self._sliced_bytes(p)
            read += full if sliced is None else min(full, sliced)
        return read, written

    def _fused_category(self, comp: Computation) -> str:
        best, best_flops = "", -1
        for i in comp.instructions:
            c = self.cost(i)
            if c.flops + c.transcendentals > best_flops and i.opcode not in _NO_TRAFFIC_OPS:
                best, best_flops = c.category, c.flops + c.transcendentals
        if best_flops <= 0:
            root = comp.root
            return categorize_instruction(self.m, root)
        return best

    # -- public -------------------------------------------------------------

    def cost(self, instr: Instruction) -> OpCost:
        hit = self.own.get(instr.name)
        if hit is not None:
            return hit
        ops = self.m.operands(instr)
        category = categorize_instruction(self.m, instr)
        if instr.opcode == "fusion" and (fused := self.m.fused_computation(instr)) is not None:
            inner = self.total(fused)
            read, written = self._fusion_bytes(instr, ops, fused)
            cost = OpCost(inner.flops, inner.transcendentals, read, written,
                          inner.collective_bytes, category, self._fused_category(fused),
                          inner.complete)
        elif instr.opcode == "async-start" and self.m.called(instr):
            wrapped = self.m.called(instr)[0]
            inner = self.total(wrapped)
            root = self.cost(wrapped.root)
            cost = OpCost(inner.flops, inner.transcendentals, inner.bytes_read,
                          inner.bytes_written, inner.collective_bytes, category,
                          root.category, inner.complete)
        else:
            flops, trans, note = self._compute(instr, ops)
            read, written = self._bytes(instr, ops)
            coll = 0
            if category == "collective" and not instr.opcode.endswith("-done"):
                biggest_out = max((s.byte_size for s in instr.shape.leaves()), default=0)
                coll = max(sum(o.shape.byte_size for o in ops), biggest_out)
            complete = not note.startswith("FLOPs of custom call")
            cost = OpCost(flops, trans, read, written, coll, category, "", complete, note)
        self.own[instr.name] = cost
        return cost

    def total(self, comp: Computation) -> CostTotals:
        """Cost of running `comp` once, with nested control flow expanded."""
        hit = self._totals.get(comp.id)
        if hit is not None:
            return hit
        tot = CostTotals()
        self._totals[comp.id] = tot  # recursion guard; filled in below
        for i in comp.instructions:
            tot.add_op(self.cost(i))
            called = self.m.called(i)
            if i.opcode == "while" and called:
                trips = _while_trip_count(i)
                self.trip_counts[i.name] = trips
                body = CostTotals()
                for c in called:  # body and condition
                    body.add(self.total(c))
                tot.add(body, trips if trips is not None else 1)
                if trips is None:
                    tot.complete = False
            elif i.opcode == "call" and called:
                tot.add(self.total(called[0]))
            elif i.opcode == "conditional" and called:
                branches = [self.total(c) for c in called]
                tot.add(max(branches, key=lambda b: (b.flops, b.bytes_accessed)))
        return tot


def module_cost(module: HloModule) -> ModuleCost:
    """Costs every instruction of `module` and totals the entry computation.

    Args:
        module: A parsed module (see `parse_module`).

    Returns:
        Per-instruction costs by name and the module total.
    """
    coster = _Coster(module)
    total = coster.total(module.entry)
    for comp in module.computations:
        for i in comp.instructions:
            coster.cost(i)
    return ModuleCost(module.name, dict(coster.own), total, dict(coster.trip_counts))


def instruction_cost(module: HloModule, instr: Instruction | str) -> OpCost:
    """Own cost of one instruction (by object or name).

    Raises:
        NotFound: No instruction of that name.
    """
    if isinstance(instr, str):
        instr = module.instruction(instr)
    return _Coster(module).cost(instr)
