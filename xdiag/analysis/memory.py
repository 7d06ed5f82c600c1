"""Where every byte of a program's memory goes: the compiler's buffer assignment.

`program_memory(hlo_proto)` reads one `xla.HloProto` (module + buffer assignment, as a
profile's metadata plane carries it) and returns, per memory space, what stock xprof's
`memory_viewer` shows, with the same semantics (xprof's
`hlo_proto_to_memory_visualization_utils.cc`), in bytes:

- the heap simulation of the buffer allocation that holds the temporaries, replayed in
  program order (ALLOC adds a logical buffer, FREE drops it when no buffer shares it any
  more, SHARE_WITH reuses a canonical buffer's memory, shown as the sharer from then on):
  the heap size before each event (and once at the end), padded and unpadded, its peak
  and the buffers live there;
- the buffers of "indefinite" lifetime (entry parameters, maybe-live-out outputs,
  constants; thread-local ones are left out, as xprof 2.24.2 does): present for the
  whole program, so added to every point of the heap and to the peak; for each such
  allocation its largest logical buffer is listed;
- entry-parameter and maybe-live-out bytes (allocation sizes), total allocation bytes.

Beyond xprof: every buffer carries its JAX op name, innermost named scope and source
line (from the op metadata and the module's stack-frame index), a category (parameter,
optimizer state, output, temporary, constant), and the bytes live at the
peak are grouped by category and by scope; `scope_peaks` is each named scope's own
largest simultaneous footprint anywhere in the program (a scope absent at the global
peak still shows how much it needs).

Where xprof's order is a hash map's (several temporary allocations of one memory space,
each with its own heap trace), the lowest allocation index is taken.

Pure: bytes in, JSON-ready dicts out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from xdiag.analysis.hlo.proto import xla_data_pb2
from xdiag.analysis.memory_proto import ALLOC, FREE, SHARE_WITH, HloProtoWithBuffers

# xprof folds buffers under this size into one "small" heap object (MemoryViewerOption).
SMALL_BUFFER_BYTES = 16384
# Points of the heap series kept per program (max per bucket; the peak is always kept).
MAX_SERIES_POINTS = 4096
NO_SCOPE = "(no scope)"

_PT = xla_data_pb2.PrimitiveType
_TUPLE, _TOKEN, _OPAQUE = _PT.Value("TUPLE"), _PT.Value("TOKEN"), _PT.Value("OPAQUE_TYPE")
_POINTER_BYTES = 8  # ShapeUtil::ByteSizeOf(shape, sizeof(void*)) for tuples and opaques


def _element_bytes(name: str) -> int:
    n = name.lower()
    if n in ("c128",):
        return 16
    if n in ("s64", "u64", "f64", "c64"):
        return 8
    if n in ("s32", "u32", "f32"):
        return 4
    if n in ("s16", "u16", "f16", "bf16"):
        return 2
    return 1  # pred, 8-bit and sub-byte types (one per byte without a packed layout)


_DTYPE = {v: ("opaque" if k == "OPAQUE_TYPE" else k.lower()) for k, v in _PT.items()}
_BYTES = {v: _element_bytes(k) for k, v in _PT.items()}


class NotAvailable(Exception):
    """The program's memory cannot be shown; the message says why (a sentence that
    starts "not available because")."""


def _resolve_shape(shape: Any, shape_index: Iterable[int]) -> Any:
    """xprof's ResolveShapeIndex: only the LAST index picks a top-level tuple element."""
    idx = list(shape_index)
    if idx and idx[-1] < len(shape.tuple_shapes):
        return shape.tuple_shapes[idx[-1]]
    return shape


def _unpadded_bytes(shape: Any) -> int:
    """ShapeUtil::ByteSizeOf of the shape in its default (unpadded) layout."""
    et = shape.element_type
    if et == _TUPLE:
        return _POINTER_BYTES * len(shape.tuple_shapes)
    if et == _TOKEN:
        return 0
    if et == _OPAQUE:
        return _POINTER_BYTES
    return math.prod(shape.dimensions) * _BYTES.get(et, 4)


def shape_string(shape: Any) -> str:
    """XLA's HumanStringWithLayout: `f32[512,64]{1,0}`, tuples as `(a, b)`."""
    et = shape.element_type
    if et == _TUPLE:
        return "(" + ", ".join(shape_string(s) for s in shape.tuple_shapes) + ")"
    dt = _DTYPE.get(et, f"type{et}")
    if et in (_TOKEN, _OPAQUE):
        return dt + "[]"
    dyn = list(shape.is_dynamic_dimension)
    dims = ",".join(("<=" if i < len(dyn) and dyn[i] else "") + str(d)
                    for i, d in enumerate(shape.dimensions))
    out = f"{dt}[{dims}]"
    if shape.HasField("layout") and (shape.dimensions or shape.layout.minor_to_major):
        out += "{" + ",".join(str(d) for d in shape.layout.minor_to_major) + "}"
    return out


# JAX transformation wrappers in op names: `jvp(...)`, `transpose(jvp(...))`.
_WRAPPED = re.compile(r"^[\w.\-]+\((.*)\)$")
_TRANSFORMS = {"jvp", "transpose", "vmap", "pmap", "remat", "checkpoint", "shard_map",
               "custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr", "xla_pmap",
               "cond", "while", "body", "branch", "scan", "pjit", "jit", "xla_call",
               "remat2", "rematted_computation", "named_call"}


def scope_path(op_name: str) -> list[str]:
    """The JAX named scopes of an op name, outermost first.

    `jit(train_step)/jvp()/shard_map/experts/gmm` -> ["experts"]: the last component
    (the primitive, or an inner jitted function) goes, `jit(...)` wrappers and
    transformation names go, `transpose(jvp(x))` becomes `x`.
    """
    parts = op_name.split("/")
    if len(parts) < 2:
        return []
    out = []
    for comp in parts[:-1]:
        if comp.startswith(("jit(", "pjit(")):
            continue
        if ":" in comp:  # `dot_general:transpose(jvp(x))`: a primitive named after x
            comp = comp.split(":", 1)[1]
        while (m := _WRAPPED.match(comp)) is not None:
            comp = m.group(1)
        if comp and comp not in _TRANSFORMS:
            out.append(comp)
    return out


class _Frames:
    """The module's StackFrameIndexProto: frame id -> innermost (file, line) and stack."""

    def __init__(self, index: Any) -> None:
        self.files = list(index.file_names)
        self.locations = [(loc.file_name_id, loc.line, loc.column)
                          for loc in index.file_locations]
        self.frames = [(f.file_location_id, f.parent_frame_id) for f in index.stack_frames]
        self._cache: dict[int, dict[str, Any] | None] = {}

    def _location(self, frame_id: int) -> tuple[str, int, int] | None:
        if not 0 < frame_id <= len(self.frames):
            return None
        loc_id = self.frames[frame_id - 1][0]
        if not 0 < loc_id <= len(self.locations):
            return None
        file_id, line, column = self.locations[loc_id - 1]
        if not 0 < file_id <= len(self.files):
            return None
        return self.files[file_id - 1], line, column

    def source(self, frame_id: int) -> dict[str, Any] | None:
        if frame_id not in self._cache:
            self._cache[frame_id] = self._source(frame_id)
        return self._cache[frame_id]

    def _source(self, frame_id: int) -> dict[str, Any] | None:
        top = self._location(frame_id)
        if top is None:
            return None
        stack, seen, fid = [], set(), frame_id
        while 0 < fid <= len(self.frames) and fid not in seen and len(stack) < 64:
            seen.add(fid)
            loc = self._location(fid)
            if loc is not None:
                stack.append(f"{loc[0]}:{loc[1]}:{loc[2]}")
            fid = self.frames[fid - 1][1]
        return {"file": top[0], "line": top[1], "stack": stack}


def _source(metadata: Any, frames: _Frames) -> dict[str, Any] | None:
    """xprof's GetSourceInfo: the stack frame if the op has one, else its source_file."""
    if metadata.stack_frame_id:
        src = frames.source(metadata.stack_frame_id)
        if src is not None:
            return src
    if metadata.source_file:
        return {"file": metadata.source_file, "line": metadata.source_line, "stack": []}
    return None


def _allocation_category(a: Any) -> str:
    """xprof's BufferAllocationStruct::category, in our words."""
    if a.is_entry_computation_parameter:
        return "parameter"
    if a.maybe_live_out:
        return "output"
    if a.is_thread_local:
        return "thread_local"
    if a.is_constant:
        return "constant"
    return "temporary"


_OPTIMIZER = re.compile(r"(^|[.\[\]'\"/])(opt_state|optimizer|opt)([.\[\]'\"/]|$)")


def _is_indefinite(a: Any) -> bool:
    """Present for the whole program. Stock xprof 2.24.2 (our oracle) leaves thread-local
    allocations out (newer sources count them): they live on a thread's stack, not in
    the device heap."""
    return bool(a.is_entry_computation_parameter or a.is_constant or a.maybe_live_out)


class _Program:
    """Look-ups over one parsed HloProto (xprof's HloProtoBufferWrapper)."""

    def __init__(self, proto: Any) -> None:
        self.proto = proto
        module, ba = proto.hlo_module, proto.buffer_assignment
        self.frames = _Frames(module.stack_frame_index)
        instr: dict[int, Any] = {}
        for comp in module.computations:
            for ins in comp.instructions:
                instr[ins.id] = ins
        lb_proto = {lb.id: lb for lb in ba.logical_buffers}
        self.allocations = {a.index: a for a in ba.buffer_allocations}
        # logical buffer id -> (proto, its allocation, offset, instruction); last wins
        self.buffers: dict[int, tuple[Any, Any, int, Any]] = {}
        for a in ba.buffer_allocations:
            for asg in a.assigned:
                lb = lb_proto.get(asg.logical_buffer_id)
                if lb is None:
                    continue
                ins = instr.get(lb.defined_at.instruction_id)
                if ins is None:
                    continue
                self.buffers[lb.id] = (lb, a, asg.offset, ins)
        # Which allocation each heap-simulator trace simulates (by its first event's
        # buffer: the trace's own buffer_allocation_index is not trusted, as in xprof).
        self.trace_of_allocation: dict[int, int] = {}
        for i, trace in enumerate(ba.heap_simulator_traces):
            if not trace.events:
                continue
            b = self.buffers.get(trace.events[0].buffer_id)
            if b is not None:
                self.trace_of_allocation[b[1].index] = i
        self._unpadded: dict[int, int] = {}

    def colors(self) -> list[int]:
        return sorted({a.color for a in self.allocations.values()})

    def allocations_of(self, color: int) -> list[Any]:
        return [a for a in self.allocations.values() if a.color == color]

    def trace_id(self, color: int) -> int:
        """xprof's GetHeapSimulatorTraceId: the trace of the color's (first) temporary
        allocation, else the trace with most events of buffers of that color."""
        for a in sorted(self.allocations_of(color), key=lambda a: a.index):
            if not _is_indefinite(a) and a.index in self.trace_of_allocation:
                return self.trace_of_allocation[a.index]
        best, best_count = -1, 0
        for i, trace in enumerate(self.proto.buffer_assignment.heap_simulator_traces):
            count = 0
            for ev in trace.events:
                b = self.buffers.get(ev.buffer_id)
                if b is not None and b[0].color == color:
                    count += 1
            if count > best_count:
                best, best_count = i, count
        return best

    def unpadded(self, lb_id: int) -> int:
        v = self._unpadded.get(lb_id)
        if v is None:
            lb, _, _, ins = self.buffers[lb_id]
            v = _unpadded_bytes(_resolve_shape(ins.shape, lb.defined_at.shape_index))
            self._unpadded[lb_id] = v
        return v

    def describe(self, lb_id: int) -> dict[str, Any]:
        lb, a, offset, ins = self.buffers[lb_id]
        shape = _resolve_shape(ins.shape, lb.defined_at.shape_index)
        md = ins.metadata
        scopes = scope_path(md.op_name)
        category = _allocation_category(a)
        if category == "parameter" and _OPTIMIZER.search(md.op_name):
            category = "optimizer_state"
        return {
            "id": lb.id, "size_bytes": lb.size, "unpadded_bytes": self.unpadded(lb_id),
            "shape": shape_string(shape),
            "dtype": _DTYPE.get(shape.element_type, ""),
            "dims": list(shape.dimensions) if shape.element_type != _TUPLE else [],
            "instruction": ins.name, "shape_index": list(lb.defined_at.shape_index),
            "opcode": ins.opcode, "category": category, "memory_space": lb.color,
            "source": _source(md, self.frames), "op_name": md.op_name,
            "scope": scopes[-1] if scopes else "", "scope_path": "/".join(scopes),
            "allocation": a.index, "allocation_bytes": a.size, "offset": offset, "live": None,
        }


def _simulate(p: _Program, trace: Any) -> dict[str, Any]:
    """xprof's ProcessHeapSimulatorTrace, in one pass: the live intervals of the
    canonical buffers give those live at the peak afterwards (xprof copies its live list
    at every new peak)."""
    n = len(trace.events)
    heap = unpadded = 0
    peak = peak_unpadded = peak_pos = 0
    heap_tl: list[int] = []
    unpadded_tl: list[int] = []
    names: list[str] = []
    refs: dict[int, int] = {}
    canonical: dict[int, int] = {}
    intervals: list[list[int]] = []  # [first event, last event or -1, canonical id]
    open_intervals: dict[int, list[list[int]]] = {}
    shares: list[tuple[int, int, int]] = []  # (event, canonical, the sharer shown for it)
    spans: dict[int, list[int]] = {}
    seen_allocations: set[int] = set()
    size = {i: b[0].size for i, b in p.buffers.items()}
    scope_of = {}
    scope_live: dict[str, int] = {}
    scope_peak: dict[str, int] = {}

    def root(i: int) -> int:
        while i in canonical:
            i = canonical[i]
        return i

    def scope(i: int) -> str:
        s = scope_of.get(i)
        if s is None:
            path = scope_path(p.buffers[i][3].metadata.op_name)
            s = scope_of[i] = path[-1] if path else NO_SCOPE
        return s

    def increase(i: int, init_span: bool) -> None:
        nonlocal heap, unpadded, peak, peak_unpadded, peak_pos
        iv = [len(heap_tl) - 1, -1, i]
        intervals.append(iv)
        open_intervals.setdefault(i, []).append(iv)
        heap += size[i]
        unpadded += p.unpadded(i)
        if heap > peak:
            peak, peak_pos, peak_unpadded = heap, len(heap_tl) - 1, unpadded
        if init_span:
            spans[i] = [len(heap_tl) - 1, n - 1]
        s = scope(i)
        scope_live[s] = scope_live.get(s, 0) + size[i]
        if scope_live[s] > scope_peak.get(s, 0):
            scope_peak[s] = scope_live[s]

    def decrease(i: int) -> None:
        nonlocal heap, unpadded
        for iv in open_intervals.pop(i, ()):
            iv[1] = len(heap_tl) - 1
        heap -= size[i]
        if heap < 0:
            raise NotAvailable("not available because the heap simulation frees more "
                               f"than it allocated (heap size {heap} bytes)")
        unpadded -= p.unpadded(i)
        if i in spans:
            spans[i][1] = len(heap_tl) - 1
        s = scope(i)
        scope_live[s] -= size[i]

    for ev in trace.events:
        heap_tl.append(heap)
        unpadded_tl.append(unpadded)
        names.append(ev.instruction_name)
        b = ev.buffer_id
        if b in p.buffers:
            seen_allocations.add(p.buffers[b][1].index)
            if ev.kind == ALLOC:
                r = root(b)
                refs[r] = refs.get(r, 0) + 1
                increase(b, True)
            elif ev.kind == FREE:
                r = root(b)
                refs[r] = refs.get(r, 0) - 1
                if refs[r] < 0:
                    raise NotAvailable("not available because the heap simulation frees "
                                       f"buffer {b} more than once")
                if refs[r] == 0:
                    decrease(r)
                if b in canonical and b in spans:  # a sharer's own span ends here
                    spans[b][1] = len(heap_tl) - 1
            elif ev.kind == SHARE_WITH:
                c = ev.share_with_canonical_id
                if c in p.buffers:
                    canonical[b] = c
                    r = root(c)
                    refs[r] = refs.get(r, 0) + 1
                    if refs[r] == 1:
                        # The canonical's memory is reused after its FREE: the sharer
                        # is what occupies it now (shown in its place), from here on.
                        shares.append((len(heap_tl) - 1, r, b))
                        spans[b] = [len(heap_tl) - 1, n - 1]
                        increase(r, False)
            else:
                raise NotAvailable("not available because the heap simulation has an "
                                   f"event of unknown kind {ev.kind}")
    heap_tl.append(heap)
    unpadded_tl.append(unpadded)
    names.append("")
    if len(seen_allocations) != 1:
        raise NotAvailable("not available because the heap simulation spans "
                           f"{len(seen_allocations)} buffer allocations, not one")
    # Live at the peak (an increase, never a decrease, happens at the peak's event), in
    # the order they came, each shown as the buffer that last took its memory over.
    display = {r: b for k, r, b in shares if k <= peak_pos}
    live = [display.get(i, i) for start, end, i in intervals
            if start <= peak_pos and (end < 0 or end > peak_pos)] if peak > 0 else []
    return {"heap": heap_tl, "unpadded": unpadded_tl, "names": names, "peak": peak,
            "peak_unpadded": peak_unpadded, "peak_pos": peak_pos, "spans": spans,
            "scope_peak": scope_peak, "live": live}


def _downsample(values: list[int], keep: int, limit: int) -> list[int]:
    """Positions to draw: all if few, else the max of each bucket (and `keep`)."""
    n = len(values)
    if n <= limit:
        return list(range(n))
    step = math.ceil(n / limit)
    out = []
    for a in range(0, n, step):
        seg = values[a:a + step]
        j = a + max(range(len(seg)), key=seg.__getitem__)
        if a <= keep < a + step:
            j = keep
        out.append(j)
    return out


def _groups(items: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
    acc: dict[str, list[int]] = {}
    for key, b in items:
        g = acc.setdefault(key, [0, 0])
        g[0] += b
        g[1] += 1
    return [{"key": k, "bytes": v[0], "count": v[1]}
            for k, v in sorted(acc.items(), key=lambda kv: (-kv[1][0], kv[0]))]


def _space_view(p: _Program, color: int, series_points: int) -> dict[str, Any]:
    allocations = p.allocations_of(color)
    entry = sum(a.size for a in allocations if a.is_entry_computation_parameter)
    live_out = sum(a.size for a in allocations if a.maybe_live_out)
    non_reusable = sum(a.size for a in allocations if a.is_thread_local or a.is_tuple)
    indefinite_allocs = [a for a in sorted(allocations, key=lambda a: a.index)
                         if _is_indefinite(a)]
    total = sum(a.size for a in allocations if not a.is_thread_local)

    trace_id = p.trace_id(color)
    traces = p.proto.buffer_assignment.heap_simulator_traces
    sim: dict[str, Any] = {"heap": [], "unpadded": [], "names": [], "peak": 0,
                           "peak_unpadded": 0, "peak_pos": 0, "spans": {}, "scope_peak": {}}
    peak_live: list[int] = []
    if 0 <= trace_id < len(traces):
        sim = _simulate(p, traces[trace_id])
        peak_live = sim["live"]

    # Buffers at the peak: each indefinite allocation's largest logical buffer, then
    # the heap simulation's live buffers (xprof's PeakUsageSnapshot).
    # As xprof, an indefinite allocation counts only if it has a logical buffer of
    # non-zero size (tuple index tables of size-0 buffers, say, do not).
    buffers: list[dict[str, Any]] = []
    unlisted: list[dict[str, Any]] = []
    indefinite = 0
    for a in indefinite_allocs:
        best, best_size = None, 0
        for asg in a.assigned:
            b = p.buffers.get(asg.logical_buffer_id)
            if b is not None and b[0].size > best_size:
                best, best_size = b[0].id, b[0].size
        if best is not None:
            d = p.describe(best)
            d["group_bytes"] = a.size  # the allocation: what it takes for the whole run
            indefinite += a.size
            # As xprof, listed for the main memory only: other spaces (VMEM, say) hold
            # no copy of them; their bytes still count.
            (buffers if color == 0 else unlisted).append(d)
    for i in peak_live:
        d = p.describe(i)
        d["live"] = sim["spans"].get(i)
        d["group_bytes"] = d["size_bytes"]
        buffers.append(d)
    buffers.sort(key=lambda d: -d["size_bytes"])  # stable: xprof's order among equals

    heap = [h + indefinite for h in sim["heap"]]
    unpadded = [u + indefinite for u in sim["unpadded"]]
    peak = sim["peak"] + indefinite
    # xprof's series holds the heap BEFORE each event (and once more at the end): the
    # peak event's own point is the next one, where the chart marks the peak.
    peak_point = sim["peak_pos"] + 1 if sim["heap"] else 0
    keep = _downsample(heap, peak_point, series_points)
    temp_scope_peak = sorted(sim["scope_peak"].items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "memory_space": color,
        "peak_heap_bytes": peak,
        "peak_unpadded_heap_bytes": sim["peak_unpadded"] + indefinite,
        "entry_parameters_bytes": entry,
        "maybe_live_out_bytes": live_out,
        "indefinite_bytes": indefinite,
        "non_reusable_bytes": non_reusable,
        "temporaries_peak_bytes": sim["peak"],
        "total_allocation_bytes": total,
        "peak_position": sim["peak_pos"],  # xprof's peakHeapSizePosition: the peak's event
        "peak_point": peak_point,  # the series position whose heap is the peak
        "peak_instruction": sim["names"][sim["peak_pos"]] if sim["names"] else "",
        "heap_simulation": trace_id >= 0,
        "heap": {"available": bool(heap),
                 # no heap simulation: every buffer lives for the whole program
                 "reason": None if heap else (
                     "not available because the compiler simulated no heap for this program: "
                     "all of its buffers (parameters, outputs, constants) live from its start "
                     "to its end, so its memory is flat at the peak"),
                 "total_points": len(heap), "downsampled": len(keep) < len(heap),
                 "position": keep, "heap_bytes": [heap[i] for i in keep],
                 "unpadded_bytes": [unpadded[i] for i in keep],
                 "instruction": [sim["names"][i] for i in keep]},
        "buffers": buffers,
        "buffers_at_peak": len(buffers),
        "small_buffer_bytes": SMALL_BUFFER_BYTES,
        "groups": {
            "by_category": _groups((d["category"], d["group_bytes"])
                                   for d in buffers + unlisted),
            "by_scope": _groups((d["scope"] or NO_SCOPE, d["group_bytes"])
                                for d in buffers + unlisted),
            # each scope's own largest footprint of temporaries, anywhere in the program
            "scope_peaks": [{"key": k, "bytes": v} for k, v in temp_scope_peak if v > 0],
        },
    }


def program_memory(hlo_proto: bytes, *, series_points: int = MAX_SERIES_POINTS
                   ) -> dict[str, Any]:
    """The memory view of one program, per memory space (see the module docstring).

    Args:
        hlo_proto: a serialized `xla.HloProto` (the metadata plane's "Hlo Proto" stat).
        series_points: at most this many points of the heap series are kept.

    Returns:
        {"available": True, "memory_spaces": [0, ...], "spaces": {"0": view, ...}}, or
        {"available": False, "reason": "not available because ..."}.
    """
    try:
        proto = HloProtoWithBuffers.FromString(hlo_proto)
    except Exception as e:  # protobuf's DecodeError, or a truncated message
        return {"available": False,
                "reason": f"not available because the HLO proto is malformed or truncated ({e})"}
    if not proto.HasField("buffer_assignment"):
        return {"available": False,
                "reason": "not available because the HLO module carries no buffer assignment"}
    ba = proto.buffer_assignment
    if not ba.buffer_allocations:
        return {"available": False,
                "reason": "not available because the buffer assignment has no buffer "
                          "allocations (it was truncated or stripped)"}
    p = _Program(proto)
    if not p.buffers:
        return {"available": False,
                "reason": "not available because the buffer assignment's logical buffers "
                          "do not match the module's instructions (truncated?)"}
    spaces = {}
    try:
        for color in p.colors():
            spaces[str(color)] = _space_view(p, color, series_points)
    except NotAvailable as e:
        return {"available": False, "reason": str(e)}
    return {"available": True, "memory_spaces": p.colors(), "spaces": spaces}


def summary(view: dict[str, Any]) -> dict[str, Any]:
    """The few numbers of a program's default memory space (for the program list)."""
    if not view.get("available"):
        return {"available": False, "reason": view.get("reason")}
    spaces = view["spaces"]
    space = spaces.get("0") or spaces[str(view["memory_spaces"][0])]
    return {"available": True, "reason": None,
            **{k: space[k] for k in ("peak_heap_bytes", "peak_unpadded_heap_bytes",
                                     "entry_parameters_bytes", "maybe_live_out_bytes")}}
