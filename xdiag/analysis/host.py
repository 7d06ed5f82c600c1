"""Everything ingest derives from ONE host file. Pure: columns in, arrays/dicts out.

`analyse_host` turns an XSpace's columns into the host's timeline index, its
op table (per module, op and device: occurrences, total and self time) and its
step table (per step and device: busy, collective and compute time, FLOPs).
HLO costs come from the modules the host's own metadata plane carries.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from xdiag.analysis import device_steps, timeline
from xdiag.analysis._intervals import ps_to_ns, row_sums
from xdiag.analysis.tracks import Track, assign_tracks
from xdiag.core import threads
from xdiag.xplane.arrays import factorize as _factorize_sorted

log = logging.getLogger("xdiag.analysis")

COLLECTIVE = "collective"


@dataclasses.dataclass
class OpCostInfo:
    flops: float
    bytes: float
    category: str
    fused_category: str = ""  # for fusions: what the work inside is (e.g. "dot")
    # Inside a fused computation: its cost is its fusion's, so an event of it (a runtime
    # that traces a fusion's inner ops) must not count it again.
    in_fusion: bool = False
    collective_bytes: float = 0.0  # a collective's payload per device


class OpCosts(Mapping[str, OpCostInfo]):
    """A module's per-op costs, read-only, over the cached plain columns (names, flops,
    bytes, category codes into labels): a train step has tens of thousands of ops, and
    only those that ran are looked up, so each becomes an OpCostInfo when it is."""

    def __init__(self, raw: dict[str, list[Any]]) -> None:
        self._raw = raw
        self._index: dict[str, int] | None = None

    def _at(self) -> dict[str, int]:
        if self._index is None:
            self._index = {name: i for i, name in enumerate(self._raw["names"])}
        return self._index

    def __getitem__(self, op: str) -> OpCostInfo:
        i, r = self._at()[op], self._raw
        labels = r["labels"]
        return OpCostInfo(float(r["flops"][i]), float(r["bytes"][i]), labels[r["category"][i]],
                          labels[r["fused_category"][i]], bool(r["in_fusion"][i]),
                          float(r["collective_bytes"][i]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._at())

    def scopes(self) -> Iterator[tuple[str, str]]:
        """(op, its framework name stack: JAX named scopes and primitive) for every op
        whose metadata has one."""
        names = self._raw.get("op_names") or ()
        return ((op, on) for op, on in zip(self._raw["names"], names, strict=False) if on)

    def __len__(self) -> int:
        return len(self._at())


@dataclasses.dataclass
class ModuleInfo:
    name: str
    program_id: int
    proto: bytes
    fingerprint: str
    instructions: int | None  # None: not costed (the module did not run in the capture)
    flops: float | None
    bytes: float | None
    costs: Mapping[str, OpCostInfo]
    triton_kernels: frozenset[str] = frozenset()
    _by_kernel: dict[str, str] | None = None

    def is_triton_kernel(self, kernel: str) -> bool:
        """A Pallas/Triton custom call's kernel (`gmm`, or `gmm__3` for its variants)."""
        return re.sub(r"__\d+$", "", kernel) in self.triton_kernels

    def op_of_kernel(self, kernel: str) -> str | None:
        """The instruction a GPU kernel runs: XLA names kernels after their instruction
        with '.' made '_' (fusion `loop_add_fusion.6` -> kernel `loop_add_fusion_6`)."""
        if self._by_kernel is None:
            self._by_kernel = {name.replace(".", "_"): name for name in self.costs}
            self._by_kernel.update({name: name for name in self.costs})
        return self._by_kernel.get(kernel)


@dataclasses.dataclass
class HostAnalysis:
    index: timeline.TimelineIndex
    names: list[str]
    tracks: list[dict[str, Any]]
    ops: dict[str, list[Any]]  # columns: module, program_id, op, device, category, ...
    steps: dict[str, np.ndarray]  # see _step_table
    modules: list[ModuleInfo]
    window_ns: tuple[int, int]
    num_events: int
    aggregated_events: int
    device_kind_hint: str
    plane_peaks: dict[str, float]
    # name id -> the op's framework name stack (HLO metadata op_name), for the names that
    # are ops: search finds an op by its JAX named scope (`experts`), not only its HLO name.
    scopes: dict[int, str] = dataclasses.field(default_factory=dict)


class CostCache(Protocol):
    """Where module costs computed once are kept (a dict, or the store across processes)."""

    def get(self, fingerprint: str) -> dict[str, Any] | None: ...

    def put(self, fingerprint: str, costs: dict[str, Any]) -> None: ...


_TRITON_NAME = re.compile(r'\bname\s*=\s*"([^"]+)"')


def _module_costs(proto: bytes) -> dict[str, Any]:
    """Per-op costs and totals of one module, as plain data (cacheable as JSON).

    Ops are columns (names, integer flops and bytes, category codes into `labels`):
    a train step's 18k ops encode and decode several times faster so than as a dict
    of rows.
    """
    from xdiag.analysis.hlo.cost import CATEGORIES, cost_columns

    cols = cost_columns(proto)
    triton = sorted({m.group(1) for _, target, config in cols.custom_configs
                     if target.endswith("triton") and (m := _TRITON_NAME.search(config))})
    fusion, collective = CATEGORIES.index("fusion"), CATEGORIES.index(COLLECTIVE)
    # A fusion around a collective is counted as the collective it is.
    shown = np.where((cols.category == fusion) & (cols.fused_category == collective),
                     collective, cols.category)
    return {
        "instructions": len(cols.names),
        "triton_kernels": triton,  # Pallas/Triton kernel names its custom calls launch
        "flops": float(cols.total.flops), "bytes": float(cols.total.bytes_accessed),
        "ops": {"names": cols.names, "flops": cols.flops.tolist(),
                "bytes": (cols.bytes_read + cols.bytes_written).tolist(),
                "category": shown.tolist(),
                # -1 (no fused category) is the last label
                "fused_category": np.where(cols.fused_category < 0, len(CATEGORIES),
                                           cols.fused_category).tolist(),
                "in_fusion": cols.in_fusion.astype(np.int8).tolist(),
                "collective_bytes": cols.collective_bytes.tolist(),
                "op_names": cols.op_names,
                "labels": [*CATEGORIES, ""]},
    }


def module_infos(cols: Any, cache: CostCache | None = None,
                 ran: Callable[[str, int], bool] | None = None) -> list[ModuleInfo]:
    """HLO modules of the host with per-op costs (categories drive op stats and steps).

    Parsing and costing a large module takes seconds, and every capture of a job
    carries the same modules: `cache` keeps the costs by module fingerprint. A
    process's metadata lists every module it compiled (its init, say), but only
    those that ran in the capture (`ran(name, program_id)`) need costs now: the
    others are listed with `instructions`/`flops`/`bytes` None unless cached.
    """
    from xdiag.xplane.hlo import hlo_modules

    out = []
    for ref in hlo_modules(cols):
        fp = hashlib.sha256(ref.proto).hexdigest()[:16]
        costs = cache.get(fp) if cache is not None else None
        if costs is None and ran is not None and not ran(ref.name, ref.program_id):
            out.append(ModuleInfo(name=ref.name, program_id=ref.program_id, proto=ref.proto,
                                  fingerprint=fp, instructions=None, flops=None, bytes=None,
                                  costs={}))
            continue
        if costs is None:
            try:
                costs = _module_costs(ref.proto)
            except Exception as exc:  # one odd module must not fail the whole profile
                log.warning("HLO module %s: cost model failed: %s", ref.name, exc)
                continue
            if cache is not None:
                cache.put(fp, costs)
        out.append(ModuleInfo(
            name=ref.name, program_id=ref.program_id, proto=ref.proto, fingerprint=fp,
            instructions=costs["instructions"], flops=costs["flops"], bytes=costs["bytes"],
            costs=OpCosts(costs["ops"]),
            triton_kernels=frozenset(costs.get("triton_kernels", ()))))
    return out


def _plane_peaks(cols: Any) -> dict[str, float]:
    """Device capability stats device planes carry: TPUs give both peaks, GPUs
    (CUPTI) only the memory bandwidth; the FLOP/s then come from the table."""
    for p in cols.planes:
        if not p.name.startswith("/device:"):
            continue
        st, out = p.stats, {}
        flops = st.get("peak_teraflops_per_second")
        bw = st.get("peak_hbm_bw_gigabytes_per_second") or st.get("memory_bandwidth")
        if flops:
            out["flops_per_s"] = float(flops) * 1e12
        if bw:
            bw = float(bw)
            out["bytes_per_s"] = bw * 1e9 if bw < 1e7 else bw  # GB/s or B/s
        if out:
            return out
    return {}


def _device_kind_hint(cols: Any) -> str:
    for p in cols.planes:
        if p.name.startswith("/device:"):
            for key in ("gpu_device_name", "device_type_name", "device_vendor", "devtype"):
                if p.stats.get(key):
                    return str(p.stats[key])
            return p.name.split(":")[1]
    return "cpu"


ANALYSED_STATS = ("hlo_op", "hlo_module", "program_id", "device_ordinal", "step_num",
                  "correlation_id", "run_id", "model_flops")


@dataclasses.dataclass
class EventStats:
    """The per-event stats the analyses use, gathered once (each gather is a pass over stats)."""

    names: tuple[np.ndarray, list[str]]
    hlo_op: tuple[np.ndarray, list[Any], np.ndarray]
    hlo_module: tuple[np.ndarray, list[Any], np.ndarray]
    # A callable until `materialise`: not needed before the timeline is written.
    program_id: tuple[np.ndarray, np.ndarray] | Callable[[], tuple[np.ndarray, np.ndarray]]
    device_ordinal: tuple[np.ndarray, np.ndarray] | None  # None once tracks are assigned
    # (events that carry a step number, its value); None once the step marks are taken
    step_num: tuple[np.ndarray, np.ndarray] | None
    # (events that carry the job's declared model FLOPs of a step, the value); likewise
    model_flops: tuple[np.ndarray, np.ndarray] | None
    # GPU only (gathered once kernel tracks are known): kernel <-> its host launch.
    correlation_id: tuple[np.ndarray, np.ndarray] | None = None
    # CPU: the XLA program run an op belongs to (and host events of that run), deferred
    # like program_id.
    run_id: tuple[np.ndarray, np.ndarray] | Callable[[], tuple[np.ndarray, np.ndarray]] \
        | None = None

    @classmethod
    def gather(cls, cols: Any, *, with_ordinal: bool = True,
               hlo_op: tuple[np.ndarray, list[Any], np.ndarray] | None = None) -> EventStats:
        return cls(names=cols.event_names(),
                   hlo_op=hlo_op if hlo_op is not None else cols.event_stat_codes("hlo_op"),
                   hlo_module=cols.event_stat_codes("hlo_module"),
                   program_id=cols.event_stat_later("program_id"),
                   device_ordinal=cols.event_stat("device_ordinal") if with_ordinal else None,
                   step_num=cols.event_stat_sparse("step_num"),
                   model_flops=cols.event_stat_sparse("model_flops"),
                   run_id=cols.event_stat_later("run_id"))

    def materialise(self) -> None:
        """Computes what `gather` deferred."""
        if callable(self.program_id):
            self.program_id = self.program_id()
        if callable(self.run_id):
            self.run_id = self.run_id()


def _modules_that_ran(es: EventStats) -> Callable[[str, int], bool] | None:
    """Whether a module (name, program id) has events in the capture; None: can't tell."""
    _, mod_table, has_mod = es.hlo_module
    prog, has_prog = es.program_id
    if not (np.any(has_mod) or np.any(has_prog)):
        return None
    names = {str(x) for x in mod_table}
    ran_programs = np.asarray(prog)[has_prog]  # a module is checked only when not cached

    def ran(name: str, program_id: int) -> bool:
        return name in names or bool(np.any(ran_programs == program_id))
    return ran


def analyse_host(cols: Any, t0_ns: int, *, cost_cache: CostCache | None = None,
                 on_index: Callable[[timeline.TimelineIndex, list[str], list[dict[str, Any]],
                                     dict[str, Any]], None] | None = None,
                 release: Callable[[], None] | None = None) -> HostAnalysis:
    """Analyse one host's columns (never modified); times become ns from the profile
    start `t0_ns`.

    `on_index(index, names, tracks, counts)` is called once the timeline index is final
    (it is not modified afterwards), before the op and step tables are built.
    `release()` is called as soon as the per-event columns (`cols.events`, `cols.stats`)
    are no longer read, so that their owner can free them: ingest does, which roughly
    halves its peak memory. With `release` and `on_index`, the returned index keeps only
    its slices and segments (on_index has the viewport structures).
    """
    ev = cols.events
    n = len(ev)
    kind_hint, plane_peaks = _device_kind_hint(cols), _plane_peaks(cols)
    # Tracks first, from the two stats they need, so that their temporaries are gone
    # before the other per-event stats exist (this is ingest's peak of memory).
    hlo_op = cols.event_stat_codes("hlo_op")
    track_of, tracks = assign_tracks(cols, cols.event_stat_codes("device_ordinal"), hlo_op[2])
    es = EventStats.gather(cols, with_ordinal=False, hlo_op=hlo_op)
    del hlo_op
    if any(t.kernels for t in tracks):
        es.correlation_id = cols.event_stat("correlation_id")
    line_of = _event_lines(cols)
    name_codes, names = es.names
    # Aggregated events have no position in time; usually there are none (sel = None).
    sel = np.flatnonzero(~ev.aggregated) if ev.aggregated.any() else None
    n_timed = n if sel is None else len(sel)
    # Times in ns from the profile start (one C pass, which also gives the window).
    start_ps = ev.start_ps if sel is None else ev.start_ps[sel]
    dur_ps = ev.duration_ps if sel is None else ev.duration_ps[sel]
    start_ns, end_ns = np.empty(n_timed, np.int64), np.empty(n_timed, np.int64)
    window = ps_to_ns(np.ascontiguousarray(start_ps, np.int64),
                      np.ascontiguousarray(dur_ps, np.int64), (cols.t0_ns - t0_ns) * 1000,
                      start_ns, end_ns, threads.count())
    del start_ps, dur_ps
    marks = device_steps.marks(*es.step_num, sel, start_ns, end_ns, es.model_flops)
    es.step_num = es.model_flops = None
    track_sel, names_sel = (track_of, name_codes) if sel is None else (track_of[sel],
                                                                        name_codes[sel])
    lines_sel = line_of if sel is None else line_of[sel]
    del line_of
    if release is not None:
        del ev, track_of
        release()
    idx = timeline.build(track_sel, start_ns, end_ns, names_sel,
                         lanes=np.array([t.kernels for t in tracks], dtype=bool),
                         lines=lines_sel)
    del track_sel, names_sel, start_ns, end_ns, lines_sel  # the index holds sorted copies
    # ev_src must index the reader's order, not the kept subset.
    if sel is not None:
        idx.ev_src = sel[idx.ev_src]
    del sel

    depths = idx.track_depths(len(tracks))
    counts = idx.track_counts(len(tracks))
    track_json = [{**t.to_json(), "max_depth": int(depths[i]), "events": int(counts[i])}
                  for i, t in enumerate(tracks)]
    if on_index is not None:  # the index is final: it can be written while tables are built
        on_index(idx, names, track_json, {"events": n, "aggregated_events": int(n - n_timed),
                                          "window_ns": list(window)})
        if release is not None:
            # The tables read only the slices and segments; the viewport structures are
            # the writer's now, and are freed as soon as they are written.
            none = np.zeros(0, np.int64)
            idx = dataclasses.replace(idx, pool_ref=none, block_ptr=none,
                                      lod_block=np.zeros((0, 0), np.int32))

    # HLO parsing and costing (seconds for a large train step) come after the timeline,
    # which does not need them: a viewer can open the timeline while they run.
    es.materialise()
    modules = module_infos(cols, cost_cache, _modules_that_ran(es))
    ops, op_info = _op_table(es, idx, tracks, modules)
    steps = _step_table(es, marks, idx, tracks, op_info, window)
    return HostAnalysis(index=idx, names=names, tracks=track_json, ops=ops, steps=steps,
                        modules=modules, window_ns=window, num_events=n,
                        aggregated_events=int(n - n_timed),
                        device_kind_hint=kind_hint, plane_peaks=plane_peaks,
                        scopes=name_scopes(names, modules))


def name_scopes(names: list[str], modules: list[ModuleInfo]) -> dict[int, str]:
    """The framework name stack of each event name that is an op of a module that ran
    (GPU kernels are named after their instruction with '.' made '_')."""
    by_op: dict[str, str] = {}
    for m in modules:
        if isinstance(m.costs, OpCosts):
            for op, scope in m.costs.scopes():
                by_op.setdefault(op, scope)
                by_op.setdefault(op.replace(".", "_"), scope)
    return {i: by_op[n] for i, n in enumerate(names) if n in by_op} if by_op else {}


def _event_lines(cols: Any) -> np.ndarray:
    """The line (host thread, device stream) of every event, int32: nesting is only
    within one line, so the timeline index needs it (CPU device tracks gather the ops of
    one device from several threads)."""
    lines = cols.lines
    n = len(cols.events)
    a = np.asarray(lines.event_start, np.int64)
    z = np.asarray(lines.event_stop, np.int64)
    out = np.zeros(n, np.int32)
    if len(a) and n:
        # Lines hold contiguous runs of events: mark each run's start with its line's
        # increment over the previous run's, and sum.
        order = np.lexsort((z, a))  # empty runs before the run that starts with them
        a, z, line = a[order], z[order], order.astype(np.int64)
        if np.all(a[1:] >= z[:-1]):
            steps = np.zeros(n + 1, np.int64)
            np.add.at(steps, a, np.diff(np.concatenate([[0], line])))
            out = np.cumsum(steps[:n]).astype(np.int32)
        else:  # overlapping runs (not written by any profiler we know): one at a time
            for li, (x, y) in enumerate(zip(a.tolist(), z.tolist(), strict=True)):
                out[x:y] = line[li]
    return out


def _op_events(idx: timeline.TimelineIndex,
               tracks: list[Track]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions (in idx order) of XLA op slices, those on op tracks, with the track and
    row of each: op tracks are whole segments, so all three come from np.repeat."""
    op_tracks = np.array([t.kind == "xla_ops" for t in tracks] + [False], dtype=bool)
    segs = np.flatnonzero(op_tracks[idx.seg_track]) if len(idx.seg_track) else \
        np.zeros(0, np.int64)
    sizes = np.diff(idx.seg_ptr)[segs]
    n = int(sizes.sum())
    dtype = np.int32 if len(idx.seg_ptr) and idx.seg_ptr[-1] < 2**31 else np.int64
    # pos = the op segments' aranges, concatenated: k + (segment start - its offset in pos).
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    pos = np.arange(n, dtype=dtype)
    pos += np.repeat((idx.seg_ptr[segs] - offset).astype(dtype), sizes)
    track = np.repeat(idx.seg_track[segs], sizes)
    depth = np.repeat(idx.seg_depth[segs], sizes)
    return pos, track, depth


Column = tuple[Callable[[], np.ndarray], int | None]  # (make the column, its range if small)
_SMALL_RANGE = 4096


def _unique_rows_lazy(columns: list[Column], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of n-row integer columns and each row's index among them, each
    column made, folded into one key and freed in turn (peak: about one int64 per row).

    A column whose values are known to lie in [-1, range) is used as is; others are
    factorized first, so the combined key stays small enough to factorize in O(n).
    """
    k = len(columns)
    if n == 0:
        return np.zeros((0, k), np.int64), np.zeros(0, np.int64)
    key = np.zeros(n, dtype=np.int64)
    values = []
    for make, size in columns:
        col = np.asarray(make(), dtype=np.int64)
        if size is not None and size <= _SMALL_RANGE:
            vals = np.arange(-1, size, dtype=np.int64)
            col += 1
            codes = col
        else:
            vals, codes = _factorize_sorted(col)
        del col
        key *= len(vals)
        key += codes
        del codes
        values.append(vals)
    ukey, inv = _factorize_sorted(key)
    del key
    rows = np.zeros((len(ukey), k), dtype=np.int64)
    rest = ukey.copy()
    for j in range(k - 1, -1, -1):
        rows[:, j] = values[j][rest % len(values[j])]
        rest //= len(values[j])
    return rows, inv


def _op_table(es: EventStats, idx: timeline.TimelineIndex, tracks: list[Track],
              modules: list[ModuleInfo]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Op table per (module, op, program, device) over the op slices, plus per-slice FLOPs
    and collective flags for the step table. Grouping columns are built one at a time and
    freed, so the peak stays near one int64 per slice."""
    pos, track_of_pos, _ = _op_events(idx, tracks)
    names_codes, names = es.names
    op_codes, op_table, has_op = es.hlo_op
    mod_codes, mod_table, has_mod = es.hlo_module
    prog, has_prog = es.program_id
    op_names = np.array([str(x) for x in op_table] + names, dtype=object)
    mod_names = np.array([str(x) for x in mod_table] + [""], dtype=object)
    dev_lut = np.array([t.device if t.device is not None else -1 for t in tracks] + [-1],
                       dtype=np.int64)
    src = idx.ev_src[pos]
    kernel_lut = np.array([t.kernels for t in tracks] + [False], dtype=bool)
    # (module, op, program) folded into one key per event in reader order (sequential
    # passes), then gathered into slice order once, instead of once per column.
    n_mod, n_op = len(mod_table) + 1, len(op_table) + len(names)
    prog_vals, prog_codes = _factorize_sorted(
        np.where(has_prog, np.asarray(prog).astype(np.int64, copy=False), -1))
    n_prog = len(prog_vals)
    ev_key = np.where(has_mod, mod_codes, n_mod - 1).astype(np.int64)
    ev_key *= n_op
    ev_key += np.where(has_op, op_codes, len(op_table) + names_codes)
    ev_key *= max(n_prog, 1)
    ev_key += prog_codes
    del prog_codes
    key = ev_key[src]
    del ev_key
    makers: list[Column] = [
        (lambda: key, None),
        (lambda: dev_lut[track_of_pos], int(dev_lut.max(initial=-1)) + 1),
    ]
    if kernel_lut.any():  # GPU: the kernel name is part of the key
        makers.append((lambda: np.where(kernel_lut[track_of_pos], names_codes[src], -1),
                       len(names)))
    rows, inv = _unique_rows_lazy(makers, len(pos))
    del key
    folded = rows[:, 0]
    uniq = np.empty((len(rows), 5), np.int64)
    uniq[:, 2] = prog_vals[folded % max(n_prog, 1)] if n_prog else -1
    folded = folded // max(n_prog, 1)
    uniq[:, 1] = folded % n_op
    uniq[:, 0] = folded // n_op
    uniq[:, 3] = rows[:, 1]
    uniq[:, 4] = rows[:, 2] if rows.shape[1] > 2 else -1
    by_prog = {m.program_id: m for m in modules}
    # By name only when the name is unique: two compilations of one jitted function (other
    # shapes, other fusion decisions) share a name, and the wrong one's `dot` may be another
    # instruction entirely (an uploaded CNN's `dot` got a whole fusion's FLOPs that way).
    names_seen: dict[str, int] = {}
    for m in modules:
        names_seen[m.name] = names_seen.get(m.name, 0) + 1
    by_name = {m.name: m for m in modules if names_seen[m.name] == 1}
    # Resolve each distinct (module, op, program, kernel) to the op it is counted under,
    # once (a row per device repeats it); GPU kernels of one op (or unnamed kernels of one
    # command buffer) merge into one op.
    src_vals, src_of_row = _factorize_sorted(rows[:, 0] * (len(names) + 1) + (uniq[:, 4] + 1))
    first_row = np.full(len(src_vals), len(uniq), np.int64)
    np.minimum.at(first_row, src_of_row, np.arange(len(uniq)))
    op_of: dict[tuple[str, str, int], int] = {}  # (module, op, program) -> op id
    op_keys: list[tuple[str, str, int]] = []
    op_infos: list[ModuleInfo | None] = []
    op_of_src = np.empty(len(src_vals), np.int64)
    for s, u in enumerate(first_row.tolist()):
        mk, ok_, pid, _, kern = uniq[u].tolist()
        module, op = str(mod_names[mk]), str(op_names[ok_])
        info = by_prog.get(pid) or by_name.get(module)
        if kern >= 0:
            op = _kernel_op(info, names[kern], op if ok_ < len(op_table) else None)
        key = (module or (info.name if info else ""), op, int(pid))
        got = op_of.get(key)
        if got is None:
            got = op_of[key] = len(op_keys)
            op_keys.append(key)
            op_infos.append(info)
        op_of_src[s] = got
    # Rows: (op, device), numbered in order of first appearance.
    n_dev = int(uniq[:, 3].max(initial=-1)) + 2
    row_key = op_of_src[src_of_row] * n_dev + (uniq[:, 3] + 1)
    keys_sorted, first, row_of = np.unique(row_key, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inv = rank[row_of.reshape(-1)][inv]
    row_op = (keys_sorted[order] // n_dev).tolist()
    row_dev = (keys_sorted[order] % n_dev - 1).tolist()
    n_rows = len(row_op)
    # Occurrences, total (inclusive: each slice's whole duration), self (what the device
    # spent in the op itself: children excluded, concurrent ops sharing their overlap; see
    # timeline.build) and top-level counts per row, in one pass.
    nested = idx.ev_nested[pos]
    occ, tot, slf, top = np.frombuffer(row_sums(
        np.ascontiguousarray(inv), pos, idx.ev_self, idx.ev_start, idx.ev_end,
        nested.view(np.uint8), n_rows), np.int64).reshape(4, n_rows)
    # Category and costs depend on the op only: once per op, not per op and device.
    # (category, fused category, FLOPs, bytes, costed, counted in its fusion, payload)
    desc = []
    for (_, op, _), info in zip(op_keys, op_infos, strict=True):
        cost = info.costs.get(op) if info else None
        if cost is not None and cost.in_fusion:
            desc.append((cost.category, cost.fused_category, 0.0, 0.0, True, True, 0.0))
        elif cost is not None:
            desc.append((cost.category, cost.fused_category, cost.flops, cost.bytes, True,
                         False, cost.collective_bytes))
        elif info is not None and info.is_triton_kernel(op):
            desc.append(("custom_call", "triton", 0.0, 0.0, False, False, 0.0))
        else:  # FLOPs and bytes unknown
            desc.append((_guess_category(op), "", 0.0, 0.0, False, False, 0.0))
    keys = [op_keys[o] for o in row_op]
    rdesc = [desc[o] for o in row_op]
    cols_out: dict[str, list[Any]] = {
        "module": [k[0] for k in keys], "program_id": [k[2] for k in keys],
        "op": [k[1] for k in keys], "device": row_dev,
        "category": [d[0] for d in rdesc], "fused_category": [d[1] for d in rdesc],
        "occurrences": occ.tolist(), "total_ns": tot.tolist(), "self_ns": slf.tolist(),
        "flops": [d[2] for d in rdesc], "bytes": [d[3] for d in rdesc],
        "costed": [d[4] for d in rdesc], "in_fusion": [d[5] for d in rdesc],
        "collective_bytes": [d[6] for d in rdesc], "top_level": top.tolist()}
    # Collectives: per row, the time spent waiting for the other devices to arrive and the
    # time of the transfer itself (None where no other device's part is in this file).
    coll_rows = np.flatnonzero(np.asarray(cols_out["category"], dtype=object) == COLLECTIVE)
    if len(coll_rows):
        wait, transfer, known = _collective_parts(es, idx, pos, inv, row_op, row_dev, coll_rows)
        cols_out["wait_ns"] = [int(w) if k else None for w, k in zip(wait, known, strict=True)]
        cols_out["transfer_ns"] = [int(t) if k else None
                                   for t, k in zip(transfer, known, strict=True)]
    # Per slice (the step table's input); a constant column when no row differs.
    row_flops = np.asarray(cols_out["flops"], dtype=np.float64)
    row_coll = np.asarray(cols_out["category"], dtype=object) == COLLECTIVE
    ev_flops = row_flops[inv] if row_flops.any() else np.zeros(len(inv), np.float64)
    ev_coll = row_coll[inv] if row_coll.any() else np.zeros(len(inv), bool)
    return cols_out, {"pos": pos, "track": track_of_pos, "flops": ev_flops,
                      "collective": ev_coll.astype(bool), "nested": nested,
                      "module_flops": {m.program_id: m.flops or 0.0 for m in modules}}



def _collective_parts(es: EventStats, idx: timeline.TimelineIndex, pos: np.ndarray,
                      inv: np.ndarray, row_op: list[int], row_dev: list[int],
                      coll_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per op-table row: (wait ns, transfer ns, known) summed over its collective slices.

    One run of a collective is the k-th slice of that op in one program run on each
    device (CPU: by run_id); it cannot move data before its last participant arrives, so
    on a device the time from its own start to the last start is waiting for the other
    devices, and the rest is the transfer. Known only where at least two devices' parts
    of a run are in this host's file."""
    n_rows = len(row_op)
    wait, transfer, seen = np.zeros(n_rows), np.zeros(n_rows), np.zeros(n_rows, bool)
    run = es.run_id if not callable(es.run_id) else None
    is_coll = np.zeros(n_rows, bool)
    is_coll[coll_rows] = True
    sl = np.flatnonzero(is_coll[inv])
    if run is None or not len(sl):
        return wait, transfer, seen
    vals, has = run
    src = idx.ev_src[pos[sl]]
    sl = sl[has[src]]
    if not len(sl):
        return wait, transfer, seen
    src = idx.ev_src[pos[sl]]
    r = np.asarray(vals)[src].astype(np.int64)
    op = np.asarray(row_op, np.int64)[inv[sl]]
    dev = np.asarray(row_dev, np.int64)[inv[sl]]
    s, e = idx.ev_start[pos[sl]], idx.ev_end[pos[sl]]
    order = np.lexsort((s, op, r, dev))
    r, op, dev, s, e, sl = r[order], op[order], dev[order], s[order], e[order], sl[order]
    new_group = np.ones(len(sl), bool)
    new_group[1:] = (r[1:] != r[:-1]) | (op[1:] != op[:-1]) | (dev[1:] != dev[:-1])
    first = np.maximum.accumulate(np.where(new_group, np.arange(len(sl)), 0))
    rank = np.arange(len(sl)) - first
    _, inst = np.unique(np.stack([r, op, rank], axis=1), axis=0, return_inverse=True)
    inst = inst.reshape(-1)
    last = np.full(inst.max() + 1, np.iinfo(np.int64).min)
    np.maximum.at(last, inst, s)
    parts = np.bincount(inst)
    ok = parts[inst] >= 2
    arrive = last[inst]
    w = np.clip(arrive - s, 0, e - s)
    t = np.maximum(e - np.maximum(s, arrive), 0)
    rows = inv[sl]
    np.add.at(wait, rows[ok], w[ok])
    np.add.at(transfer, rows[ok], t[ok])
    seen[rows[ok]] = True
    return wait, transfer, seen


def _kernel_op(info: ModuleInfo | None, kernel: str, hlo_op: str | None) -> str:
    """The op a GPU kernel is counted under: the instruction that launched it (its
    `hlo_op`) unless that is a whole command buffer (CUDA graph); there, the instruction
    the kernel is named after (fusions); else the kernel's name (a library kernel: cuBLAS,
    cub, memset). Not the kernel's name first: XLA shares one kernel among identical
    fusions (`loop_add_fusion.1` ... `.5` all launch `loop_add_fusion`)."""
    if hlo_op and not hlo_op.startswith("command_buffer"):
        return hlo_op
    inst = info.op_of_kernel(kernel) if info else None
    return inst or kernel


_GUESSES = (("all-reduce", COLLECTIVE), ("all-gather", COLLECTIVE), ("reduce-scatter", COLLECTIVE),
            ("all-to-all", COLLECTIVE), ("collective-permute", COLLECTIVE),
            ("fusion", "fusion"), ("convolution", "dot"), ("dot", "dot"), ("gemm", "dot"),
            ("copy", "copy"), ("custom-call", "custom_call"), ("while", "control_flow"),
            # GPU library kernels, by name: cuBLAS(Lt)/CUTLASS GEMMs, copies, sorts.
            ("nvjet", "dot"), ("xmma", "dot"), ("cutlass", "dot"), ("memcpy", "copy"),
            ("memset", "copy"), ("sort", "sort"), ("nccl", COLLECTIVE))


def _guess_category(op: str) -> str:
    """Category from the op name when no HLO module is available (uploaded w/o metadata)."""
    low = op.lower()
    return next((cat for key, cat in _GUESSES if key in low), "other")


def _step_table(es: EventStats, marks: tuple[np.ndarray, ...],
                idx: timeline.TimelineIndex, tracks: list[Track], op_info: dict[str, Any],
                window: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per step: its window as the device ran it and, per device, busy/collective time
    and FLOPs (see analysis/device_steps.py). `marks`: the step annotations' (step,
    start, end, declared model FLOPs)."""
    uniq, a, b, declared = marks
    pos, track_pos = op_info["pos"], op_info["track"]
    src = idx.ev_src
    op_start, op_end = idx.ev_start[pos], idx.ev_end[pos]
    own = _device_step_line(idx, tracks, es.names[1])
    if own is not None:  # TPU: the device's own step line is the truth
        return _own_step_table(own, marks, idx, tracks, op_info, op_start, op_end)
    kernel_lut = np.array([t.kernels for t in tracks] + [False], dtype=bool)
    thread_lut = np.array([t.group == "thread" for t in tracks] + [False], dtype=bool)
    pos_track = np.repeat(idx.seg_track, np.diff(idx.seg_ptr))
    host_pos = np.flatnonzero(thread_lut[pos_track])
    del pos_track
    op_src = src[pos]
    # Work items: GPU kernels (correlated to their launch), else CPU program runs.
    gpu = es.correlation_id is not None and kernel_lut.any() and np.any(es.correlation_id[1])
    run_vals, has_run = es.run_id if es.run_id is not None else (None, None)
    if gpu:
        corr, has_corr = es.correlation_id
        corr = np.asarray(corr).astype(np.int64, copy=False)
        is_k = kernel_lut[track_pos] & has_corr[op_src]
        hp = host_pos[has_corr[src[host_pos]]]
        items = device_steps.gpu_items(corr[op_src[is_k]], op_start[is_k], op_end[is_k],
                                       corr[src[hp]], idx.ev_start[hp], a, b)
        op_item = np.full(len(pos), -1, np.int64)
        op_item[is_k] = items["item"]
    elif run_vals is not None and np.any(has_run):
        run_vals = np.asarray(run_vals).astype(np.int64, copy=False)
        hp = host_pos[has_run[src[host_pos]]]
        items = device_steps.cpu_items(run_vals[op_src], has_run[op_src], op_start, op_end,
                                       run_vals[src[hp]], idx.ev_start[hp], idx.ev_end[hp],
                                       a, b)
        op_item = items["item"]
    else:  # nothing ties device work to steps: each op to the annotation it starts in
        step = device_steps.annotation_at(a, b, op_start, True) if len(a) else \
            np.full(len(pos), -1, np.int64)
        items = {"item": np.arange(len(pos)), "start": op_start, "end": op_end,
                 "step": step, "done": np.full(len(pos), -1)}
        op_item = items["item"]
    op_step = np.where(op_item >= 0, items["step"][np.maximum(op_item, 0)], -1) \
        if len(items["step"]) else np.full(len(pos), -1, np.int64)
    win = device_steps.windows(items, a, b, int(window[1]))

    # Devices: a CPU or TPU op track each; a GPU's streams are one device.
    counts = idx.track_counts(len(tracks))
    units: list[dict[str, Any]] = []
    by_device: dict[Any, dict[str, Any]] = {}
    for t in range(len(tracks)):
        if tracks[t].kind != "xla_ops" or not counts[t] or not len(uniq):
            continue
        lo, hi = np.searchsorted(track_pos, np.array([t, t + 1], track_pos.dtype)).tolist()
        if tracks[t].kernels and tracks[t].device in by_device:
            by_device[tracks[t].device]["ranges"].append((lo, hi))
            continue
        unit = {"device": tracks[t].device, "ranges": [(lo, hi)], "kernels": tracks[t].kernels}
        units.append(unit)
        if tracks[t].kernels:
            by_device[tracks[t].device] = unit
    nested, coll, flops = op_info["nested"], op_info["collective"], op_info["flops"]
    for unit in units:
        m = np.concatenate([np.arange(lo, hi) for lo, hi in unit.pop("ranges")])
        unit.update(slices=m, start=op_start[m], end=op_end[m], top=~nested[m],
                    collective=coll[m])
        if unit.pop("kernels"):
            # Library kernels (cuBLAS, cub) have no instruction of their own, so their
            # FLOPs are missing from the op sums; a whole program's FLOPs are not.
            unit["program_flops"] = _program_flops_per_step(
                es, op_src[m], op_step[m], len(a), op_info["module_flops"])
    return device_steps.table(uniq, a, b, declared, win, units, op_step, flops)


def _device_step_line(idx: timeline.TimelineIndex, tracks: list[Track],
                      names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(step numbers, start, end) from the devices' own step lines -- TPUs write a line
    named "Steps" on each device plane whose events are named by step number -- merged
    over devices; None when there is none."""
    lines = [t for t, tr in enumerate(tracks)
             if tr.group == "device" and tr.name.rsplit(" · ", 1)[-1] == "Steps"]
    if not lines:
        return None
    steps, starts, ends = [], [], []
    for s_ in np.flatnonzero(np.isin(idx.seg_track, lines)).tolist():
        a, b = int(idx.seg_ptr[s_]), int(idx.seg_ptr[s_ + 1])
        for i in range(a, b):
            name = names[int(idx.ev_name[i])].strip()
            if name.isdigit():
                steps.append(int(name))
                starts.append(int(idx.ev_start[i]))
                ends.append(int(idx.ev_end[i]))
    if not steps:
        return None
    uniq, inv = np.unique(np.asarray(steps, np.int64), return_inverse=True)
    lo = np.full(len(uniq), np.iinfo(np.int64).max)
    hi = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(lo, inv, np.asarray(starts, np.int64))
    np.maximum.at(hi, inv, np.asarray(ends, np.int64))
    return uniq, lo, hi


def _own_step_table(own: tuple[np.ndarray, np.ndarray, np.ndarray],
                    marks: tuple[np.ndarray, ...], idx: timeline.TimelineIndex,
                    tracks: list[Track], op_info: dict[str, Any], op_start: np.ndarray,
                    op_end: np.ndarray) -> dict[str, np.ndarray]:
    """The step table over the devices' own step windows; the host annotations of the
    same step numbers, where present, give the dispatch and the declared model FLOPs."""
    uniq, lo, hi = own
    m_steps, m_a, m_b, m_declared = marks
    j = np.searchsorted(m_steps, uniq)
    hit = (j < len(m_steps)) & (m_steps[np.minimum(j, max(len(m_steps) - 1, 0))] == uniq)         if len(m_steps) else np.zeros(len(uniq), bool)
    jj = np.minimum(j, max(len(m_steps) - 1, 0))
    host_a = np.where(hit, m_a[jj] if len(m_steps) else lo, lo)
    host_b = np.where(hit, m_b[jj] if len(m_steps) else hi, hi)
    declared = np.where(hit, m_declared[jj] if len(m_steps) else np.nan, np.nan)
    win = {"start_ns": lo, "end_ns": hi, "device_start_ns": lo, "device_end_ns": hi,
           "has_work": np.ones(len(uniq), bool), "complete": np.ones(len(uniq), bool)}
    op_step = device_steps.annotation_at(lo, hi, op_start, True)
    units = []
    nested, coll = op_info["nested"], op_info["collective"]
    track_pos = op_info["track"]
    counts = idx.track_counts(len(tracks))
    for t in range(len(tracks)):
        if tracks[t].kind != "xla_ops" or not counts[t]:
            continue
        a_, b_ = np.searchsorted(track_pos, np.array([t, t + 1], track_pos.dtype)).tolist()
        m = np.arange(a_, b_)
        units.append({"device": tracks[t].device, "slices": m, "start": op_start[m],
                      "end": op_end[m], "top": ~nested[m], "collective": coll[m]})
    table = device_steps.table(uniq, host_a, host_b, declared, win, units, op_step,
                               op_info["flops"])
    return table


def _program_flops_per_step(es: EventStats, src: np.ndarray, step: np.ndarray, n_steps: int,
                            module_flops: dict[int, float]) -> np.ndarray:
    """Per step, the cost-model FLOPs of every program that ran kernels in it (once each;
    assumes one execution of a program per step, as a jitted train step)."""
    prog, has_prog = es.program_id
    keep = has_prog[src] & (step >= 0)
    out = np.zeros(n_steps)
    if keep.any():
        pg = np.asarray(prog)[src[keep]].astype(np.int64)
        pairs = np.unique(np.stack([step[keep], pg], axis=1), axis=0)
        for step_i, program in pairs.tolist():
            out[step_i] += module_flops.get(program, 0.0)
    return out
