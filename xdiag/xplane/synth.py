"""Generator of large, valid, CPU-like XSpace profiles for benchmarks and tests.

The profile mimics what the JAX profiler writes for a jitted training loop on
N (forced) CPU devices:

* `/host:metadata`: one event metadata per program carrying a real compiled
  HLO module (as an xla.HloProto in the "Hlo Proto" stat), so HLO-based
  analyses (cost model, roofline) have something true to work on;
* `/host:CPU`: a "python" thread line with `train` StepTraceAnnotation events
  (stat step_num) each containing a `PjitFunction(...)` dispatch, and one
  thread line per device whose steps are a program-level event containing
  one event per executed HLO instruction of the module (while loops contain
  their condition and body instructions per iteration), with stats hlo_op and
  hlo_module (ref values, as real profiles use), program_id and
  device_ordinal;
* `Task Environment`: profile start/stop times.

Speed: events are never built as protobuf objects. Each line's events are laid
out as numpy columns and encoded to wire format in bulk (vectorised varints),
so tens of millions of events take seconds. Only the small metadata is built
with upb.
"""

from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xdiag.core.varint import put_varint, varint, varint_len
from xdiag.xplane.hlo import iter_fields
from xdiag.xplane.xplane_pb2 import XLine, XPlane, XSpace

# Opcodes that XLA:CPU does not run as thunks (no trace events).
_NO_EVENT_OPCODES = {"parameter", "constant", "tuple", "get-tuple-element", "bitcast"}

# Wire tags (field << 3 | wire type) used when encoding events in bulk.
_TAG_PLANE = 0x0A  # XSpace.planes
_TAG_LINE = 0x1A  # XPlane.lines
_TAG_EVENT = 0x22  # XLine.events
_TAG_EV_MD, _TAG_EV_OFF, _TAG_EV_DUR, _TAG_EV_STAT = 0x08, 0x10, 0x18, 0x22
_TAG_ST_MD = 0x08
_TAG_ST_INT64 = 0x20  # XStat.int64_value
_TAG_ST_REF = 0x38  # XStat.ref_value

_PY_LINE_ID = 1_000_000
_LINE_TIMESTAMP_NS = 1_000  # line bases are relative, as in captured profiles
_PROFILE_START_NS = 1_790_000_000_000_000_000


@dataclass(frozen=True)
class SynthSummary:
    """What `write_synthetic_xspace` wrote.

    Attributes:
        path: the file written.
        n_events: events in the file (exactly the number asked for).
        n_steps: training steps (some trailing ones may be partial).
        n_devices: device thread lines.
        bytes: file size.
        module_name, program_id: the HLO module the op events refer to.
        seconds: generation time.
    """

    path: Path
    n_events: int
    n_steps: int
    n_devices: int
    bytes: int
    module_name: str
    program_id: int
    seconds: float


# -- the HLO module --------------------------------------------------------


@functools.lru_cache(maxsize=4)
def compiled_module(loop_trips: int = 3) -> bytes:
    """A real optimized HLO module (serialized HloModuleProto), compiled once.

    The module is `jit_train_step`: a dot + tanh, a while loop of `loop_trips`
    iterations (dot, relu, add), and a final dot and reduction.
    """
    import jax
    import jax.numpy as jnp

    def train_step(x, w1, w2):
        h = jnp.tanh(x @ w1)

        def body(_, h):
            return jax.nn.relu(h @ w2) + 0.1 * h

        h = jax.lax.fori_loop(0, loop_trips, body, h)
        return ((h @ w1.T) ** 2).mean()

    args = (jnp.ones((128, 256)), jnp.ones((256, 512)), jnp.ones((512, 512)))
    compiled = jax.jit(train_step).lower(*args).compile()
    return compiled.runtime_executable().hlo_modules()[0].as_serialized_hlo_module_proto()


@dataclass
class _Node:
    """One event of the per-step template: an op, or the program around them."""

    name: str
    opcode: str
    parent: int  # index of the parent node, -1 for the program node
    base_ns: float  # typical duration of a leaf


def _packed_ints(wt: int, value) -> list[int]:
    """Values of a repeated int64 field occurrence (packed or not)."""
    if wt == 0:
        return [value]
    out, v, shift = [], 0, 0
    for byte in bytes(value):
        v |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            out.append(v)
            v = shift = 0
    return out


def _module_structure(
    module: bytes,
) -> tuple[str, int, dict[int, list[tuple[str, str, list[int]]]], int]:
    """(name, id, computations {id: [(inst name, opcode, called ids)]}, entry id)."""
    name, mid, entry_id, entry_name = "", 0, 0, ""
    comps: dict[int, list[tuple[str, str, list[int]]]] = {}
    comp_names: dict[str, int] = {}
    for f, wt, v in iter_fields(module):
        if f == 1 and wt == 2:
            name = bytes(v).decode()
        elif f == 2 and wt == 2:
            entry_name = bytes(v).decode()
        elif f == 5 and wt == 0:
            mid = v
        elif f == 6 and wt == 0:
            entry_id = v
        elif f == 3 and wt == 2:
            cid, cname, insts = 0, "", []
            for f2, wt2, v2 in iter_fields(v):
                if f2 == 1 and wt2 == 2:
                    cname = bytes(v2).decode()
                elif f2 == 5 and wt2 == 0:
                    cid = v2
                elif f2 == 2 and wt2 == 2:
                    iname, opcode, called = "", "", []
                    for f3, wt3, v3 in iter_fields(v2):
                        if f3 == 1 and wt3 == 2:
                            iname = bytes(v3).decode()
                        elif f3 == 2 and wt3 == 2:
                            opcode = bytes(v3).decode()
                        elif f3 == 38:
                            called += _packed_ints(wt3, v3)
                    insts.append((iname, opcode, called))
            comps[cid] = insts
            comp_names[cname] = cid
    if not entry_id:
        entry_id = comp_names.get(entry_name, 0)
    return name, mid, comps, entry_id


def _op_base_ns(opcode: str, name: str, rng: np.random.Generator) -> float:
    """A plausible typical duration per op kind (dots dominate)."""
    if "dot" in name or "ynn" in name or opcode in ("dot", "convolution"):
        return float(rng.uniform(40_000, 150_000))
    if opcode == "fusion":
        return float(rng.uniform(5_000, 30_000))
    if opcode == "copy":
        return float(rng.uniform(500, 3_000))
    return float(rng.uniform(1_000, 8_000))


def _step_template(
    module: bytes, loop_trips: int, rng: np.random.Generator
) -> tuple[list[_Node], str, int]:
    """Preorder event template of one step on one device."""
    name, mid, comps, entry = _module_structure(module)
    nodes = [_Node("ThunkExecutor::Execute", "", -1, 0.0)]
    base: dict[str, float] = {}

    def emit(comp_id: int, parent: int, depth: int) -> None:
        for iname, opcode, called in comps.get(comp_id, []):
            if opcode in _NO_EVENT_OPCODES:
                continue
            b = base.setdefault(iname, _op_base_ns(opcode, iname, rng))
            me = len(nodes)
            nodes.append(_Node(iname, opcode, parent, b))
            if opcode == "while" and len(called) >= 2 and depth < 4:
                body, cond = called[0], called[1]
                for _ in range(loop_trips):
                    emit(cond, me, depth + 1)
                    emit(body, me, depth + 1)
                emit(cond, me, depth + 1)

    emit(entry, 0, 0)
    return nodes, name, mid or 1


def _layout(
    nodes: list[_Node], n_steps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(start_ns, duration_ns) arrays of shape (n_steps, len(nodes)), relative to the step.

    Leaves get noisy durations; parents span their children plus gaps, so the
    nesting is exact on every step.
    """
    k = len(nodes)
    children: list[list[int]] = [[] for _ in nodes]
    for i, nd in enumerate(nodes):
        if nd.parent >= 0:
            children[nd.parent].append(i)
    dur = np.zeros((n_steps, k), np.int64)
    gap = rng.integers(100, 1_000, size=(n_steps, k), dtype=np.int64)
    for i in range(k - 1, -1, -1):  # children before parents
        if children[i]:
            c = children[i]
            dur[:, i] = (dur[:, c] + gap[:, c]).sum(axis=1) + 300
        else:
            noise = rng.uniform(0.9, 1.1, size=n_steps)
            dur[:, i] = np.maximum(1, (nodes[i].base_ns * noise).astype(np.int64))
    start = np.zeros((n_steps, k), np.int64)
    for i in range(1, k):
        sibs = children[nodes[i].parent]
        j = sibs.index(i)
        prev_end = (
            start[:, nodes[i].parent] if j == 0 else start[:, sibs[j - 1]] + dur[:, sibs[j - 1]]
        )
        start[:, i] = prev_end + gap[:, i]
    return start, dur


# -- bulk wire encoding ----------------------------------------------------


def _put_const(buf: np.ndarray, pos: np.ndarray, raw: bytes) -> None:
    """Writes the same bytes at every position in `pos`."""
    for k, byte in enumerate(raw):
        buf[pos + k] = byte


@dataclass
class _Slot:
    """One optional stat per event: where `mask` is set, stat `md` holding
    `value` (an int64 array, or one int for all events) under wire tag `tag`."""

    mask: np.ndarray
    md: int
    tag: int
    value: np.ndarray | int


def _encode_events(
    md: np.ndarray, off: np.ndarray, dur: np.ndarray, slots: list[_Slot]
) -> np.ndarray:
    """Wire bytes of `XLine.events` records (tag + length + XEvent) for all events.

    Every field's byte length is computed first, so the position of every
    field of every event follows from one cumulative sum; then each field is
    written for all events at once.
    """
    u = np.uint64
    md_u, off_u, dur_u = md.astype(u), off.view(u), dur.view(u)
    l_md, l_off, l_dur = varint_len(md_u), varint_len(off_u), varint_len(dur_u)
    ev_len = 3 + l_md + l_off + l_dur
    prepared = []
    for s in slots:
        # Stat record: tag, length, (metadata id field), (value field).
        head = bytes([_TAG_ST_MD]) + varint(s.md) + bytes([s.tag])
        if isinstance(s.value, int):
            body = head + varint(s.value & (2**64 - 1))
            rec = bytes([_TAG_EV_STAT]) + varint(len(body)) + body
            ev_len += np.where(s.mask, len(rec), 0)
            prepared.append((s, rec, None, None))
        else:
            val_u = s.value.view(u)
            l_val = varint_len(val_u)
            body_len = len(head) + l_val  # < 128: a one-byte length
            ev_len += np.where(s.mask, 2 + body_len, 0)
            prepared.append((s, head, val_u, l_val))
    l_ev = varint_len(ev_len.astype(u))
    rec_len = 1 + l_ev + ev_len
    ends = np.cumsum(rec_len)
    buf = np.empty(int(ends[-1]) if len(ends) else 0, np.uint8)
    cur = ends - rec_len
    buf[cur] = _TAG_EVENT
    cur += 1
    put_varint(buf, cur, ev_len.astype(u), l_ev)
    cur += l_ev
    for tag, val, ln in (
        (_TAG_EV_MD, md_u, l_md),
        (_TAG_EV_OFF, off_u, l_off),
        (_TAG_EV_DUR, dur_u, l_dur),
    ):
        buf[cur] = tag
        cur += 1
        put_varint(buf, cur, val, ln)
        cur += ln
    for s, raw, val_u, l_val in prepared:
        everywhere = bool(s.mask.all())
        idx = slice(None) if everywhere else np.flatnonzero(s.mask)
        c = cur[idx]
        if val_u is None:  # the whole record is constant
            _put_const(buf, c, raw)
            cur[idx] += len(raw)
            continue
        lv = l_val[idx]
        buf[c] = _TAG_EV_STAT
        buf[c + 1] = (len(raw) + lv).astype(np.uint8)
        _put_const(buf, c + 2, raw)
        put_varint(buf, c + 2 + len(raw), val_u[idx], lv)
        cur[idx] += 2 + len(raw) + lv
    return buf


def _line_record(line_id: int, name: str, events: np.ndarray) -> list:
    head = XLine(
        id=line_id,
        display_id=line_id,
        name=name,
        display_name=name,
        timestamp_ns=_LINE_TIMESTAMP_NS,
    )
    head_b = head.SerializeToString()
    body = len(head_b) + len(events)
    return [bytes([_TAG_LINE]) + varint(body) + head_b, events]


# -- the profile -----------------------------------------------------------


class _Interner:
    """Assigns ids to names in a plane's event or stat metadata map."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, name: str) -> int:
        return self.ids.setdefault(name, len(self.ids) + 1)


def write_synthetic_xspace(
    path: str | Path,
    n_events: int,
    *,
    n_devices: int = 8,
    seed: int = 0,
    loop_trips: int = 3,
    hostname: str = "synthetic",
    slowdown: float = 1.0,
    step_bound_ns: int | None = None,
    schedule_seed: int | None = None,
) -> SynthSummary:
    """Writes a CPU-like XSpace with exactly `n_events` events.

    Args:
        path: output file (conventionally `<host>.xplane.pb`).
        n_events: total events over all lines (>= 1).
        n_devices: device thread lines (>= 1).
        seed: RNG seed; the same arguments give the same bytes.
        loop_trips: iterations of the module's while loop per step (each adds
            the loop's condition and body op events, nested under the while op).
        hostname: stored in XSpace.hostnames.
        slowdown: every op's typical duration times this (> 1: a straggler host,
            whose steps take that much longer; the events are the same).
        step_bound_ns, schedule_seed: for the hosts of one session: the step period's
            lower bound (default: this host's longest program plus a margin, see
            `step_bound_ns`) and the seed of the periods' jitter (default: `seed`'s
            generator), so that every host runs the same step schedule, the fast ones
            waiting for the slowest as in a synchronous SPMD program.

    Returns:
        A `SynthSummary`.
    """
    if n_events < 1 or n_devices < 1:
        raise ValueError("n_events and n_devices must be >= 1")
    if not slowdown > 0:
        raise ValueError("slowdown must be > 0")
    t_begin = time.perf_counter()
    rng = np.random.default_rng(seed)
    module = compiled_module(loop_trips)
    nodes, module_name, program_id = _step_template(module, loop_trips, rng)
    for nd in nodes:
        nd.base_ns *= slowdown
    k = len(nodes)
    per_step = 2 + n_devices * k  # train + PjitFunction on the host line
    n_steps = -(-n_events // per_step)

    # Step starts: a period comfortably longer than any device's program.
    bound = _bound_ns(nodes, seed) if step_bound_ns is None else step_bound_ns
    period_rng = rng if schedule_seed is None else np.random.default_rng(schedule_seed)
    period = (bound * period_rng.uniform(1.05, 1.25, size=n_steps)).astype(np.int64)
    step_start = np.concatenate([[20_000], 20_000 + np.cumsum(period)[:-1]]).astype(np.int64)

    # Events to drop from the tails so the total is exact (prefixes of the
    # preorder step template stay well nested).
    excess = n_steps * per_step - n_events
    keep = {}
    for d in range(n_devices - 1, -1, -1):
        cut = min(excess, k)
        keep[d] = n_steps * k - cut
        excess -= cut
    keep_host = 2 * n_steps - excess

    ev_md, st_md = _Interner(), _Interner()
    sm_hlo_op, sm_module = st_md("hlo_op"), st_md("hlo_module")
    sm_program, sm_device = st_md("program_id"), st_md("device_ordinal")
    sm_run, sm_step = st_md("run_id"), st_md("step_num")
    ref_module = st_md(module_name)
    node_md = np.array([ev_md(nd.name) for nd in nodes], np.int64)
    node_ref = np.array([st_md(nd.name) if i else 0 for i, nd in enumerate(nodes)], np.int64)
    is_op = np.arange(k) > 0

    chunks: list = []
    for d in range(n_devices):
        start, dur = _layout(nodes, n_steps, rng)
        jitter = rng.integers(0, 5_000, size=n_steps, dtype=np.int64)
        off = ((start + (step_start + jitter)[:, None]) * 1000).reshape(-1)[: keep[d]]
        du = (dur * 1000).reshape(-1)[: keep[d]]
        n = len(off)
        col = np.arange(n) % k
        op = is_op[col]
        steps = np.arange(n) // k
        slots = [
            _Slot(op, sm_hlo_op, _TAG_ST_REF, node_ref[col]),
            _Slot(op, sm_module, _TAG_ST_REF, ref_module),
            _Slot(op, sm_program, _TAG_ST_INT64, program_id),
            _Slot(np.ones(n, bool), sm_device, _TAG_ST_INT64, d),
            _Slot(~op, sm_run, _TAG_ST_INT64, steps.astype(np.int64)),
        ]
        events = _encode_events(node_md[col], off, du, slots)
        chunks += _line_record(100 + d, f"tf_XLAPjRtCpuClient/{100 + d}", events)

    # Host thread: train(step) containing PjitFunction(...) dispatch.
    train_start = step_start - 15_000
    train_dur = period - 2_000
    pjit_start = train_start + 2_000
    pjit_dur = np.minimum(12_000 + rng.integers(0, 3_000, size=n_steps), train_dur - 3_000)
    host_off = (np.stack([train_start, pjit_start], axis=1) * 1000).reshape(-1)[:keep_host]
    host_dur = (np.stack([train_dur, pjit_dur], axis=1) * 1000).reshape(-1)[:keep_host]
    n = len(host_off)
    is_train = np.arange(n) % 2 == 0
    md_train, md_pjit = ev_md("train"), ev_md("PjitFunction(train_step)")
    host_md = np.where(is_train, md_train, md_pjit)
    slots = [_Slot(is_train, sm_step, _TAG_ST_INT64, np.arange(n, dtype=np.int64) // 2)]
    chunks = [
        *_line_record(_PY_LINE_ID, "python", _encode_events(host_md, host_off, host_dur, slots)),
        *chunks,
    ]
    # Host offsets are relative to the same base; keep them non-negative.
    assert host_off.min() >= 0

    cpu = XPlane(id=1, name="/host:CPU")
    for name, i in ev_md.ids.items():
        cpu.event_metadata[i].id = i
        cpu.event_metadata[i].name = name
    for name, i in st_md.ids.items():
        cpu.stat_metadata[i].id = i
        cpu.stat_metadata[i].name = name
    cpu_meta = cpu.SerializeToString()
    cpu_len = len(cpu_meta) + sum(len(c) for c in chunks)

    meta = XPlane(id=0, name="/host:metadata")
    meta.stat_metadata[1].id, meta.stat_metadata[1].name = 1, "Hlo Proto"
    meta.stat_metadata[2].id, meta.stat_metadata[2].name = 2, "program_id"
    em = meta.event_metadata[1]
    em.id, em.name, em.display_name = (
        1,
        f"{module_name}({program_id})",
        f"{module_name}({program_id})",
    )
    hlo_proto = b"\x0a" + varint(len(module)) + module  # xla.HloProto{hlo_module}
    em.stats.add(metadata_id=1, bytes_value=hlo_proto)
    em.stats.add(metadata_id=2, uint64_value=program_id)

    t_end = int(step_start[-1] + period[-1]) + 20_000
    env = XPlane(id=2, name="Task Environment")
    env.stat_metadata[1].id, env.stat_metadata[1].name = 1, "profile_start_time"
    env.stat_metadata[2].id, env.stat_metadata[2].name = 2, "profile_stop_time"
    env.stats.add(metadata_id=1, uint64_value=_PROFILE_START_NS)
    env.stats.add(metadata_id=2, uint64_value=_PROFILE_START_NS + t_end)

    def plane_record(body_len: int) -> bytes:
        return bytes([_TAG_PLANE]) + varint(body_len)

    path = Path(path)
    with open(path, "wb") as f:
        f.write(XSpace(planes=[meta]).SerializeToString())
        f.write(plane_record(cpu_len))
        f.write(cpu_meta)
        for c in chunks:
            f.write(c)
        f.write(XSpace(planes=[env], hostnames=[hostname]).SerializeToString())
    return SynthSummary(
        path=path,
        n_events=n_events,
        n_steps=n_steps,
        n_devices=n_devices,
        bytes=path.stat().st_size,
        module_name=module_name,
        program_id=program_id,
        seconds=time.perf_counter() - t_begin,
    )


def _bound_ns(nodes: list[_Node], seed: int) -> int:
    """A lower bound of the step period: the program's length (a probe) plus a margin."""
    _, dur_probe = _layout(nodes, 1, np.random.default_rng(seed + 1))
    return int(dur_probe[0, 0] * 1.3) + 50_000


def step_bound_ns(*, seed: int = 0, loop_trips: int = 3, slowdown: float = 1.0) -> int:
    """The step period's lower bound `write_synthetic_xspace` takes for these arguments."""
    nodes, _, _ = _step_template(compiled_module(loop_trips), loop_trips,
                                 np.random.default_rng(seed))
    for nd in nodes:
        nd.base_ns *= slowdown
    return _bound_ns(nodes, seed)


@dataclass(frozen=True)
class PodSummary:
    """What `write_pod_session` wrote: one `SynthSummary` per host, in host order."""

    folder: Path
    hosts: list[SynthSummary]
    slow_hosts: tuple[int, ...]
    slowdown: float
    seconds: float


def pod_host_name(i: int) -> str:
    """The host name of host `i` of a pod session (`<name>.xplane.pb` on disk)."""
    return f"host{i:03d}"


def write_pod_session(
    logdir: str | Path,
    n_hosts: int,
    events_per_host: int,
    *,
    run: str = "pod",
    session: str = "session",
    n_devices: int = 8,
    seed: int = 0,
    slow_hosts: tuple[int, ...] | None = None,
    slowdown: float = 1.5,
) -> PodSummary:
    """Writes a pod slice's session as the JAX profiler leaves it: one file per host in
    `<logdir>/<run>/plugins/profile/<session>/<host>.xplane.pb` (stock xprof's layout).

    Every host runs the same program from the same profile start (aligned windows) on
    the same step schedule (a synchronous SPMD program); host `i` uses seed `seed + i`,
    so the same arguments give the same bytes. The hosts in `slow_hosts` (default: every
    eighth, from the fourth: 3, 11, 19, 27 of 32) are stragglers whose ops take
    `slowdown` times longer: the step period fits them, the other hosts wait.

    Returns:
        A `PodSummary`; its `folder` is the session folder.
    """
    if n_hosts < 1:
        raise ValueError("n_hosts must be >= 1")
    t_begin = time.perf_counter()
    slow = tuple(range(3, n_hosts, 8)) if slow_hosts is None else tuple(slow_hosts)
    folder = Path(logdir) / run / "plugins" / "profile" / session
    folder.mkdir(parents=True, exist_ok=True)
    scale = [slowdown if i in slow else 1.0 for i in range(n_hosts)]
    bound = max(step_bound_ns(seed=seed + i, slowdown=scale[i]) for i in range(n_hosts))
    hosts = [
        write_synthetic_xspace(
            folder / f"{pod_host_name(i)}.xplane.pb",
            events_per_host,
            n_devices=n_devices,
            seed=seed + i,
            hostname=pod_host_name(i),
            slowdown=scale[i],
            step_bound_ns=bound,
            schedule_seed=seed,
        )
        for i in range(n_hosts)
    ]
    return PodSummary(folder, hosts, slow, slowdown, time.perf_counter() - t_begin)


def main(argv: list[str] | None = None) -> int:
    """CLI: python -m xdiag.xplane.synth OUT --events N [--devices 8] [--seed 0]
    [--hosts H: OUT is a log dir, H host files of N events each]."""
    ap = argparse.ArgumentParser(
        prog="python -m xdiag.xplane.synth", description=__doc__.splitlines()[0]
    )
    ap.add_argument("out", type=Path, help="output .xplane.pb file")
    ap.add_argument("--events", type=int, required=True, help="total number of events")
    ap.add_argument("--devices", type=int, default=8, help="device thread lines (default 8)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loop-trips", type=int, default=3, help="while-loop iterations per step")
    ap.add_argument("--hosts", type=int, default=0, help="a pod session of this many host "
                    "files of --events each, in OUT/pod/plugins/profile/session/")
    ap.add_argument("--slowdown", type=float, default=1.5, help="with --hosts: how much "
                    "slower the straggler hosts' ops are (default 1.5)")
    a = ap.parse_args(argv)
    if a.hosts:
        pod = write_pod_session(a.out, a.hosts, a.events, n_devices=a.devices, seed=a.seed,
                                slowdown=a.slowdown)
        print(f"wrote {pod.folder}: {a.hosts} hosts x {a.events} events, "
              f"{sum(h.bytes for h in pod.hosts) / 1e6:.1f} MB, slow hosts "
              f"{list(pod.slow_hosts)} (x{pod.slowdown}) in {pod.seconds:.1f} s")
        return 0
    s = write_synthetic_xspace(
        a.out, a.events, n_devices=a.devices, seed=a.seed, loop_trips=a.loop_trips
    )
    print(
        f"wrote {s.path}: {s.n_events} events, {s.n_steps} steps, {s.n_devices} devices, "
        f"{s.bytes / 1e6:.1f} MB in {s.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
