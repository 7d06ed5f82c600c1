"""GPU kernels inside command buffers (CUDA graphs) tied to the HLO instruction that
launched them. Pure: names, times and module bytes in, instruction names out.

With command buffers on, every kernel of a graph carries `hlo_op = command_buffer_N`,
the thunk, not its instruction, and the HLO has no `command_buffer` instruction: XLA
groups consecutive thunks of the entry computation's schedule into one graph. A graph
replays those thunks in schedule order, so one run of it (its kernels sharing a
`correlation_id`, in time order) is the schedule's run of instructions, and the kernels
align with it:

* a fusion's kernel is named after its instruction with '.' made '_'
  (`loop_add_fusion.67` -> `loop_add_fusion_67`), or after an identical fusion's
  (XLA emits one kernel for identical fusions: `loop_rsqrt_fusion.7` runs
  `loop_rsqrt_fusion_8`): the same name with its numbers dropped ("family");
* a Pallas/Triton custom call's kernel is the name in its backend config (`gmm`,
  `gmm__1` for its variants);
* a library call (cuBLAS/cuDNN custom call) launches kernels named by the library
  (`nvjet_sm90_*`, `cutlass_*`, a workspace `Memset`), which name nothing: they are
  the library call found at that place of the schedule.

The walk starts at a kernel whose name is exactly one instruction's, and goes forward
and backward from it, each kernel taking the first instruction ahead (within a short
window) it is compatible with; a library call keeps the library kernels that follow it.
A kernel that fits nothing keeps no instruction (the op table then lists it under its
own name, with its time: never dropped).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable, Sequence

import numpy as np

from xdiag.analysis.event_stats import EventStats
from xdiag.analysis.hlo_costs import ModuleInfo
from xdiag.analysis.op_table import op_events
from xdiag.analysis.timeline import TimelineIndex
from xdiag.analysis.tracks import Track

# Opcodes that launch nothing on the device: not part of the alignment.
_NO_LAUNCH = frozenset({"parameter", "get-tuple-element", "tuple", "bitcast", "constant",
                        "after-all", "add-dependency", "opt-barrier", "domain",
                        "partition-id", "replica-id"})
_TRITON_NAME = re.compile(r'\bname\s*=\s*"([^"]+)"')
# Kernels a library launches (cuBLAS, cuBLASLt, CUTLASS, cuDNN) and their workspace
# memsets: they carry no instruction name.
_LIBRARY_KERNEL = re.compile(
    r"^(nvjet|cutlass|xmma|sm\d+_|ampere_|hopper_|volta_|turing_|gemm|gemv|cublas|cudnn|"
    r"cudnn|fmha|flash|Memset|memset|splitKreduce|dot_kernel|gemmk|implicit_convolve)",
    re.IGNORECASE)
_WINDOW = 48  # instructions looked ahead for a kernel's match
_NUMBERS = re.compile(r"([._]\d+)+$")
_VARIANT = re.compile(r"__\d+$")

# What an instruction launches, as the alignment needs it.
OTHER, LIBRARY, TRITON, COPY, SORT = 0, 1, 2, 3, 4
_MEMCPY = re.compile(r"^memcpy", re.IGNORECASE)  # XLA's copy kernels (`memcpy32_post`)


def family(name: str) -> str:
    """An instruction's or kernel's name without its trailing numbers
    (`wrapped_convert.11`, `wrapped_convert_11`, `wrapped_convert` -> `wrapped_convert`)."""
    return _NUMBERS.sub("", name)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The entry computation's instructions that launch device work, in run order.

    Attributes:
        names: instruction names.
        kinds: LIBRARY (a custom call to a library), TRITON, COPY, SORT (a sort: a
            memcpy, then its sort kernels) or OTHER, per instruction.
        triton: the kernel name of each TRITON instruction ("" elsewhere).
        aliases: families of instructions inside a fusion that may name its kernel.
    """

    names: list[str]
    kinds: list[int]
    triton: list[str]
    aliases: list[frozenset[str]]

    @classmethod
    def of_module(cls, proto: bytes) -> Schedule:
        from xdiag.analysis.hlo.module import _module_proto

        module, _ = _module_proto(proto)
        entry = next((c for c in module.computations if c.id == module.entry_computation_id),
                     None)
        if entry is None:
            entry = next((c for c in module.computations
                          if c.name == module.entry_computation_name), module.computations[-1])
        order = _schedule(proto, entry.id)
        by_id = {i.id: i for i in entry.instructions}
        comps = {c.id: c for c in module.computations}
        seq = [by_id[i] for i in order if i in by_id] if order else list(entry.instructions)
        names, kinds, triton, aliases = [], [], [], []
        for ins in seq:
            if ins.opcode in _NO_LAUNCH:
                continue
            kind, kname = OTHER, ""
            config = ins.backend_config.decode("utf-8", "replace") \
                if ins.opcode in ("custom-call", "fusion") else ""
            if ins.opcode == "custom-call":
                target = ins.custom_call_target
                m = _TRITON_NAME.search(config) if "triton" in target else None
                if m:
                    kind, kname = TRITON, m.group(1)
                elif target.startswith(("__cublas", "__cudnn")) or "gemm" in target:
                    kind = LIBRARY
            elif ins.opcode in ("copy", "copy-start"):
                kind = COPY
            elif ins.opcode == "sort" or (ins.opcode == "fusion" and any(
                    i.opcode == "sort" for c in ins.called_computation_ids
                    if c in comps for i in comps[c].instructions)):
                kind = SORT  # a sort, or a fusion around one: a memcpy, then sort passes
            elif ins.opcode == "fusion" and ins.fusion_kind == "kCustom" and \
                    ("cublas" in config or "cudnn" in config):
                kind = LIBRARY  # a cuDNN/cuBLAS fusion (e.g. `cudnn$fmha`)
            names.append(ins.name)
            kinds.append(kind)
            triton.append(kname)
            # A fusion's kernel may be named after an instruction inside it (a sort
            # fusion `fusion.126` runs `sort_33_1`).
            aliases.append(frozenset(
                family(i.name) for c in ins.called_computation_ids if c in comps
                for i in comps[c].instructions if i.opcode in ("sort", "scatter"))
                if ins.opcode == "fusion" else frozenset())
        return cls(names, kinds, triton, aliases)

    @functools.cached_property
    def matcher(self) -> _Matcher:
        return _Matcher(self)


def _schedule(proto: bytes, entry_id: int) -> list[int]:
    """The entry computation's instruction ids in the module's schedule
    (HloModuleProto.schedule, field 7: a map from computation id to a sequence of
    instruction ids); [] when the module carries none."""
    from xdiag.xplane.hlo import iter_fields, unwrap_hlo_proto

    data = proto
    try:
        if not any(f == 3 for f, _, _ in iter_fields(data)):  # an HloProto wrapper
            data = unwrap_hlo_proto(data)
    except ValueError:
        return []
    try:
        for field, wt, value in iter_fields(data):
            if field != 7 or wt != 2:
                continue
            for f, w, entry in iter_fields(value):
                if f != 1 or w != 2:
                    continue
                key, seq = None, None
                for ef, ew, ev in iter_fields(entry):
                    if ef == 1 and ew == 0:
                        key = ev
                    elif ef == 2 and ew == 2:
                        seq = ev
                if key == entry_id and seq is not None:
                    return _ids(seq)
    except ValueError:
        return []
    return []


def _ids(seq: memoryview) -> list[int]:
    from xdiag.xplane.hlo import iter_fields

    out: list[int] = []
    for f, w, v in iter_fields(seq):
        if f != 1:
            continue
        if w == 0:
            out.append(v)
        elif w == 2:  # packed
            b, i = bytes(v), 0
            while i < len(b):
                x = s = 0
                while True:
                    c = b[i]
                    i += 1
                    x |= (c & 0x7F) << s
                    s += 7
                    if c < 0x80:
                        break
                out.append(x)
    return out


class _Matcher:
    def __init__(self, sched: Schedule) -> None:
        self.s = sched
        self.exact: dict[str, int] = {}
        for p, name in enumerate(sched.names):
            self.exact.setdefault(name.replace(".", "_"), p)
            self.exact.setdefault(name, p)
        self.fam = [family(n) for n in sched.names]
        self.fams = set(self.fam)

    def is_library(self, kernel: str) -> bool:
        return bool(_LIBRARY_KERNEL.match(kernel)) and kernel not in self.exact \
            and family(kernel) not in self.fams

    def fits(self, kernel: str, kfam: str, lib: bool, p: int) -> bool:
        kind = self.s.kinds[p]
        if lib:
            return kind == LIBRARY
        if kind == TRITON:
            return _VARIANT.sub("", kernel) == self.s.triton[p]
        if kind == LIBRARY:
            return False
        if kind in (COPY, SORT) and _MEMCPY.match(kernel):
            return True
        return kfam == self.fam[p] or kfam in self.s.aliases[p]

    def goes_on(self, kernel: str, kfam: str, lib: bool, p: int) -> bool:
        """Whether a kernel is a further kernel of the instruction at p (a library
        call's memset, split-K reduction, ...; a sort's passes after its copy)."""
        kind = self.s.kinds[p]
        return (kind == LIBRARY and lib) or \
            (kind == SORT and (kfam == self.fam[p] or kfam in self.s.aliases[p]))


def align(kernels: Sequence[str], sched: Schedule, lo: int = 0) -> list[int]:
    """The schedule position of each kernel of one run of a command buffer (kernels in
    run order), -1 where none fits; positions at `lo` or later (the graphs of one
    program run follow each other in the schedule).

    Two walks are tried and the one that places more kernels kept: from `lo` forward,
    and from the first kernel that names an instruction at `lo` or later exactly, in
    both directions (a graph's first kernels may be ones that name nothing)."""
    m = sched.matcher
    fams = [family(k) for k in kernels]
    libs = [m.is_library(k) for k in kernels]

    def walk(out: list[int], order: Iterable[int], p: int, step: int) -> None:
        last = -1
        for j in order:
            k, kfam, lib = kernels[j], fams[j], libs[j]
            if last >= 0 and m.goes_on(k, kfam, lib, last):
                out[j] = last
                continue
            q, end = p, p + step * _WINDOW
            while lo <= q < len(sched.names) and q != end and not m.fits(k, kfam, lib, q):
                q += step
            if lo <= q < len(sched.names) and q != end:
                out[j] = last = q
                p = q + step
            else:
                last = -1

    ahead = [-1] * len(kernels)
    walk(ahead, range(len(kernels)), lo, 1)
    anchor = next(((j, m.exact[k]) for j, k in enumerate(kernels)
                   if not libs[j] and m.exact.get(k, -1) >= lo), None)
    if anchor is None:
        return ahead
    j0, p0 = anchor
    both = [-1] * len(kernels)
    walk(both, range(j0, len(kernels)), p0, 1)
    walk(both, range(j0 - 1, -1, -1), p0 - 1, -1)
    return both if sum(p >= 0 for p in both) >= sum(p >= 0 for p in ahead) else ahead


def resolve(es: EventStats, idx: TimelineIndex, tracks: list[Track],
            modules: list[ModuleInfo]) -> None:
    """Replaces, in `es.hlo_op`, each command-buffer kernel's `command_buffer_N` by the
    instruction it ran, where one fits (unchanged where none does, or off GPU), and
    sets `es.graph_run` for those kernels.

    Graph runs are aligned in time order, each from where the program's previous graph
    or directly launched kernel left the schedule."""
    op_codes, op_table, has_op = es.hlo_op
    if es.correlation_id is None or not any(t.kernels for t in tracks):
        return
    cb_code = np.array([str(x).startswith("command_buffer") for x in op_table] + [False])
    if not cb_code.any():
        return
    pos, track, _ = op_events(idx, tracks)
    kern = np.array([t.kernels for t in tracks] + [False], dtype=bool)[track]
    pos, track = pos[kern], track[kern]
    src = idx.ev_src[pos]
    ok = has_op[src]
    pos, src, track = pos[ok], src[ok], track[ok]
    device = np.array([t.device if t.device is not None else -1 for t in tracks] + [-1],
                      np.int64)[track]
    is_cb = cb_code[op_codes[src]]
    if not is_cb.any():
        return
    start = idx.ev_start[pos]
    corr, has_corr = es.correlation_id
    mod_codes, mod_table, has_mod = es.hlo_module
    prog, has_prog = es.program_id
    by_prog = {m.program_id: m for m in modules if m.instructions is not None}
    by_name = {m.name: m for m in modules if m.instructions is not None}
    names = es.names[1]
    name_codes = es.names[0]
    new_codes = op_codes.copy()
    graph_run = np.full(len(op_codes), -1, np.int64)
    table = list(op_table)
    code_of = {str(x): i for i, x in enumerate(op_table)}
    schedules: dict[str, tuple[Schedule, np.ndarray]] = {}
    sched_code_cache: dict[str, np.ndarray] = {}

    def module_of(e: int) -> ModuleInfo | None:
        info = by_prog.get(int(prog[e])) if has_prog[e] else None
        if info is None and has_mod[e]:
            info = by_name.get(str(mod_table[mod_codes[e]]))
        return info

    # Per module and device: its kernels in time order, graph runs as units (each GPU
    # runs its own copy of the program).
    mod_key = np.where(has_prog[src], np.asarray(prog)[src].astype(np.int64), -1) * 65536 \
        + (device + 1)
    for key in np.unique(mod_key).tolist():
        sel = np.flatnonzero(mod_key == key)
        info = module_of(int(src[sel[0]]))
        if info is None or not is_cb[sel].any():
            continue
        got = schedules.get(info.fingerprint)
        if got is None:
            try:
                sched = Schedule.of_module(info.proto)
            except Exception:  # an odd module: its graphs' kernels stay unattributed
                continue
            place = {n: p for p, n in enumerate(sched.names)}
            got = schedules[info.fingerprint] = (
                sched, np.array([place.get(str(x), -1) for x in op_table] + [-1], np.int64))
        sched, place_of_code = got
        sched_codes = sched_code_cache.get(info.fingerprint)
        if sched_codes is None:  # the op-table code of each schedule position
            for name in sched.names:
                if name not in code_of:
                    code_of[name] = len(table)
                    table.append(name)
            sched_codes = sched_code_cache[info.fingerprint] = np.array(
                [code_of[n] for n in sched.names], np.int64)
        sel = sel[np.argsort(start[sel], kind="stable")]
        e_sel, t_sel = src[sel], start[sel]
        direct = ~is_cb[sel]
        d_start = t_sel[direct]
        d_place = place_of_code[op_codes[e_sel[direct]]]
        # Graph runs: the same command buffer and launch (correlation id), each's kernels
        # in time order, the runs in the order they began.
        cb_e, cb_start = e_sel[~direct], t_sel[~direct]
        run_key = op_codes[cb_e].astype(np.int64) * (1 << 40) + np.where(
            has_corr[cb_e], np.asarray(corr)[cb_e].astype(np.int64) % (1 << 40), -1)
        _, first, inv = np.unique(run_key, return_index=True, return_inverse=True)
        by_run = np.argsort(inv, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(inv))])
        cache: dict[tuple[tuple[str, ...], int], list[int]] = {}
        prev_end, prev_start = -1, None
        for r in np.argsort(first, kind="stable").tolist():
            members = cb_e[by_run[bounds[r]:bounds[r + 1]]]
            t0 = int(cb_start[first[r]])
            # Where the schedule stands: after the latest direct kernel before this run,
            # or after the previous graph run if that came later.
            d = int(np.searchsorted(d_start, t0, side="right")) - 1
            lo = int(d_place[d]) + 1 if d >= 0 and d_place[d] >= 0 else 0
            if prev_start is not None and (d < 0 or prev_start > d_start[d]):
                lo = prev_end + 1
            kernels = tuple(names[c] for c in name_codes[members].tolist())
            placed = cache.get((kernels, lo))
            if placed is None:
                placed = align(kernels, sched, lo)
                if lo and sum(p >= 0 for p in placed) < len(kernels):
                    again = align(kernels, sched, 0)  # another program run began
                    if sum(p >= 0 for p in again) > sum(p >= 0 for p in placed):
                        placed = again
                cache[(kernels, lo)] = placed
            at = np.asarray(placed, np.int64)
            hit = members[at >= 0]
            new_codes[hit] = sched_codes[at[at >= 0]]
            graph_run[hit] = np.where(has_corr[hit], np.asarray(corr)[hit], -1)
            prev_end = int(at.max()) if (at >= 0).any() else prev_end
            prev_start = t0
    es.hlo_op = (new_codes, table, has_op)
    es.graph_run = graph_run
