"""The rule engine: each rule a small pure function of the derived views, its thresholds
in ONE table (`THRESHOLDS`), its output findings ranked by the time they cost per step.

A finding says what is wrong in plain words, with the evidence (numbers with units), an
estimate of the time it costs per step (`cost_ns_per_step`: the ranking key), a
confidence, what to try, and links to where the evidence is (a timeline window on a host,
the op table filtered, a roofline point). Per-step figures are medians over the complete
steps (robust to a first step that carries a compilation or a late start).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from xdiag.analysis.diagnosis.hosts_steps import _kept, lateness, slowest_of

# rule id -> its title and thresholds. Units in the names: _ns, _share (0..1), counts.
THRESHOLDS: dict[str, dict[str, Any]] = {
    "straggler_host": {"title": "Straggler host", "min_share_of_step": 0.10,
                       "min_ns": 1_000_000, "min_slowest_fraction": 0.5},
    # A device is late every step (a slow chip, uneven shards), not in some (a thread the
    # OS descheduled): its excess is the 25th percentile over steps, in >= 3 steps.
    "straggler_device": {"title": "Straggler device", "min_share_of_step": 0.10,
                         "min_ns": 500_000, "min_slowest_fraction": 0.75, "min_steps": 3,
                         "excess_quantile": 0.25},
    "input_bound": {"title": "Input- or host-bound steps", "min_share_of_period": 0.10,
                    "min_ns": 1_000_000},
    "exposed_collectives": {"title": "Exposed collectives", "min_share_of_step": 0.10,
                            "min_ns": 50_000},
    "memory_bound_op": {"title": "Memory-bound hot op", "min_share_of_busy": 0.20,
                        "min_share_of_step": 0.05, "min_share_of_peak_bandwidth": 0.01,
                        "max_findings": 3},
    "low_mfu": {"title": "Low MFU", "max_mfu": 0.25},
    "recompilation": {"title": "Recompilation inside the capture", "min_compile_ns": 1_000_000},
    "dispatch_bound": {"title": "Many tiny ops / dispatch overhead",
                       "min_dispatches_per_step": 20, "min_idle_share_of_period": 0.30},
    "host_callback": {"title": "Host callbacks or debug prints inside steps",
                      "min_ns": 20_000},
    "kernel_launch_overhead": {"title": "GPU kernel-launch overhead",
                               "min_kernels_per_step": 200, "max_median_kernel_ns": 10_000,
                               "min_idle_share_of_step": 0.15},
    "memory_capacity": {"title": "Device memory near capacity", "min_fraction": 0.90},
}
MAX_RULE_STEPS = 2000  # evenly spaced steps the per-step medians read (robust, bounded)
SEVERITY = ((0.20, "high"), (0.05, "medium"), (0.0, "low"))  # by cost share of the period
# Every unit an evidence value may carry (the web UI formats each: webui/src/lib/findings.ts
# EVIDENCE_UNITS); "" is a plain number, or text.
UNITS = ("ns", "fraction", "FLOP/byte", "B/s", "bytes", "steps", "calls", "ops",
         "compilations", "kernels", "")
CALLBACK = re.compile(r"callback|debug_print|xla_python|outside_compilation|host_compute",
                      re.IGNORECASE)


@dataclasses.dataclass
class Finding:
    rule: str
    subject: str
    title: str
    cost_ns_per_step: float
    confidence: float
    evidence: list[dict[str, Any]]
    what_to_try: list[str]
    links: dict[str, Any] = dataclasses.field(default_factory=dict)
    summary: bool = False

    def to_json(self, period_ns: float | None) -> dict[str, Any]:
        """The finding as the API gives it. `cost_share`: the cost per step over the mean
        step period (`Inputs.period_ns`), at most 1: a step cannot lose more than it
        lasts (a rule whose estimate exceeds it, a median over a mean, is capped)."""
        share = min(self.cost_ns_per_step / period_ns, 1.0) if period_ns else None
        sev = next(s for lim, s in SEVERITY if (share or 0.0) >= lim)
        return {"id": f"{self.rule}:{self.subject}", "rule": self.rule, "title": self.title,
                "severity": sev, "cost_ns_per_step": round(float(self.cost_ns_per_step), 1),
                "cost_share": None if share is None else round(share, 4),
                "confidence": round(float(self.confidence), 2), "evidence": self.evidence,
                "what_to_try": self.what_to_try, "summary": self.summary, "links": self.links}


@dataclasses.dataclass
class Inputs:
    """What the rules read. `hosts`: (host, per-step rows of `hosts_steps.host_rows` with
    `gap_ns`, facts or None); `tracks`: the manifest's (id, host, device, kind)."""

    device_kind: str
    hosts: list[tuple[str, dict[str, Any], dict[str, Any] | None]]
    ops: dict[str, Any]
    roofline: dict[str, Any]
    steps: dict[str, Any]
    tracks: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    memory: dict[str, Any] | None = None

    @functools.cached_property
    def n_steps(self) -> int:
        return int(self.steps.get("summary", {}).get("complete") or 0)

    @functools.cached_property
    def step_ns(self) -> float | None:
        d = [s["dur_ns"] for s in self.steps.get("steps", []) if s.get("complete")]
        return float(np.median(d)) if d else None

    @functools.cached_property
    def period_ns(self) -> float | None:
        """The mean step period over the complete steps: step time plus the device-idle
        gap after it (time a cost can be lost in: a rule's cost per step is a part of it,
        what the steps that compiled took counted too), the hosts' steps together."""
        p = [np.asarray(r["dur_ns"], np.float64) + np.nan_to_num(np.asarray(
            r.get("gap_ns", np.zeros(len(r["dur_ns"]))), np.float64))
             for _, r, _ in self.hosts if len(r["dur_ns"])]
        p = np.concatenate(p) if p else np.zeros(0)
        return float(p.mean()) if len(p) else self.step_ns

    @property
    def n_devices(self) -> int:
        return max(len(self.ops.get("devices") or []), 1)

    @property
    def gpu(self) -> bool:
        k = self.device_kind.lower()
        return not k.startswith("cpu") and not k.startswith("tpu")

    def track(self, host: str, device: int | None = None) -> int | None:
        for t in self.tracks:
            if t.get("host") == host and t.get("kind") == "xla_ops" and (
                    device is None or t.get("device") == device):
                return t.get("id")
        return None

    def window(self, host: str, r: dict[str, Any], k: int, device: int | None = None,
               with_gap: bool = False) -> dict[str, Any]:
        """A timeline link to step k (an index into r's steps) of `host`."""
        start = int(r["start_ns"][k])
        end = start + int(r["dur_ns"][k])
        if with_gap:
            g = r["gap_ns"][k]
            end += 0 if g != g else int(g)
        return {"host": host, "track": self.track(host, device), "device": device,
                "start_ns": start, "end_ns": end, "step": int(r["step"][k])}


def _ev(label: str, value: Any, unit: str, **extra: Any) -> dict[str, Any]:
    assert unit in UNITS, f"evidence unit {unit!r} is not in UNITS (the UI formats those)"
    if isinstance(value, float):
        value = round(value, 4 if unit in ("", "fraction", "FLOP/byte") else 1)
    return {"label": label, "value": value, "unit": unit, **extra}


def _ms(ns: float) -> str:
    return f"{ns / 1e6:.3g} ms" if ns >= 1e5 else f"{ns / 1e3:.3g} µs"


def _median_index(x: np.ndarray) -> int:
    """The index of the value nearest the median (a representative step)."""
    ok = np.flatnonzero(~np.isnan(x))
    if not len(ok):
        return 0
    return int(ok[np.argmin(np.abs(x[ok] - np.median(x[ok])))])


# -- rules ------------------------------------------------------------------------------

def straggler_host(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    if len(x.hosts) < 2 or not x.step_ns:
        return []
    common = set.intersection(*(set(r["step"].tolist()) for _, r, _ in x.hosts))
    steps = np.array(sorted(common), np.int64)
    if not len(steps):
        return []
    steps = steps[_kept(len(steps), MAX_RULE_STEPS)]
    own = np.array([_take(r, steps, r["dur_ns"] - r["collective_ns"]) for _, r, _ in x.hosts])
    wait = np.array([_take(r, steps, r["collective_ns"]) for _, r, _ in x.hosts])
    work = np.array([_take(r, steps, r["compute_ns"]) for _, r, _ in x.hosts])
    score = lateness(own, wait, work)
    slowest = slowest_of(score, 0.0)
    med = np.median(score, axis=1)
    i = int(np.argmax(med))
    excess, frac = float(med[i]), float(np.mean(slowest == i))
    if excess < max(th["min_ns"], th["min_share_of_step"] * x.step_ns) or \
            frac < th["min_slowest_fraction"]:
        return []
    host, r, _ = x.hosts[i]
    others = [j for j in range(len(x.hosts)) if j != i]
    k = _median_index(score[i])
    kk = int(np.searchsorted(r["step"], steps[k]))
    return [Finding(
        "straggler_host", host,
        f"{host} is a straggler: the other hosts wait about {_ms(excess)} for it every step",
        excess, min(0.95, 0.5 + 0.45 * frac) * (1.0 if len(steps) >= 3 else 0.7),
        [_ev(f"time of its own per step on {host} (step time less exposed collectives)",
             float(np.median(own[i])), "ns"),
         _ev("the same on the other hosts (median)", float(np.median(own[others])), "ns"),
         _ev(f"exposed collective (waiting) per step on {host}", float(np.median(wait[i])), "ns"),
         _ev("the same on the other hosts (median)", float(np.median(wait[others])), "ns"),
         _ev(f"steps where {host} was the slowest", int((slowest == i).sum()), "steps",
             of=len(steps))],
        [f"Compare what {host} does each step with the others: extra Python or input work, "
         "a slower or busier machine (other processes, thermal throttling), more data "
         "assigned to it.",
         "Open its timeline at the linked step: the gap or the longer ops are the excess."],
        {"timeline": x.window(host, r, kk), "hosts_steps": {"host": host}})]


def _take(r: dict[str, Any], steps: np.ndarray, vals: np.ndarray) -> np.ndarray:
    return np.asarray(vals, np.float64)[np.searchsorted(r["step"], steps)]


def straggler_device(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    if not x.step_ns:
        return []
    best: tuple[float, Any] | None = None
    for host, r, _ in x.hosts:
        cols = _kept(r["busy_dev"].shape[1], MAX_RULE_STEPS)
        busy, coll = r["busy_dev"][:, cols], r["coll_dev"][:, cols]
        if busy.shape[0] < 2 or not busy.shape[1]:
            continue
        if busy.shape[1] < th["min_steps"]:
            continue
        own, wait = busy - coll, coll
        score = lateness(own, wait)
        med = np.quantile(score, th["excess_quantile"], axis=1)
        d = int(np.argmax(med))
        frac = float(np.mean(slowest_of(score, 0.0) == d))
        if best is None or med[d] > best[0]:
            best = (float(med[d]), (host, r, d, frac, own, wait, score, cols))
    if best is None:
        return []
    excess, (host, r, d, frac, own, wait, score, cols) = best
    if excess < max(th["min_ns"], th["min_share_of_step"] * x.step_ns) or \
            frac < th["min_slowest_fraction"]:
        return []
    dev = int(r["devices"][d])
    others = [j for j in range(own.shape[0]) if j != d]
    k = int(cols[_median_index(score[d])])
    # Simulated CPU devices share their host's cores: less sure there.
    conf = min(0.9, 0.4 + 0.5 * frac) * (0.7 if x.device_kind.lower().startswith("cpu") else 1)
    return [Finding(
        "straggler_device", f"{host}:{dev}",
        f"Device {dev} on {host} is a straggler: the other devices wait about "
        f"{_ms(excess)} for it every step",
        excess, conf,
        [_ev(f"busy in compute per step, device {dev}", float(np.median(own[d])), "ns"),
         _ev("the same, other devices (median)", float(np.median(own[others])), "ns"),
         _ev(f"exposed collective per step, device {dev}", float(np.median(wait[d])), "ns"),
         _ev("the same, other devices (median)", float(np.median(wait[others])), "ns"),
         _ev(f"steps where device {dev} was the slowest", round(frac * own.shape[1]),
             "steps", of=int(own.shape[1]))],
        ["Look for uneven work: a sharding that gives this device more rows or experts "
         "(MoE routing imbalance), or padding on one shard.",
         "On CPU, simulated devices share the host's cores: a busy host slows some of them."],
        {"timeline": x.window(host, r, k, dev), "hosts_steps": {"host": host}})]


def dispatch_bound(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    out = []
    for host, r, f in x.hosts:
        if not f or not f.get("dispatches") or not len(r["step"]):
            continue
        disp = _facts_by_step(f, "dispatches", r)
        period = r["dur_ns"] + np.nan_to_num(r["gap_ns"])
        idle = np.maximum(r["host_ns"] - _compiling(f, r), 0.0) + np.nan_to_num(r["gap_ns"])
        md, mi = float(np.nanmedian(disp)), float(np.median(idle))
        if md < th["min_dispatches_per_step"] or \
                mi < th["min_idle_share_of_period"] * float(np.median(period)):
            continue
        ops = _facts_by_step(f, "step_ops", r)
        op_ns = _facts_by_step(f, "step_op_ns", r)
        mean_op = float(np.nansum(op_ns) / max(np.nansum(ops), 1))
        k = _median_index(idle)
        out.append(Finding(
            "dispatch_bound", host,
            f"Steps on {host} are dispatch-bound: {md:.0f} separate jitted calls per step "
            f"leave the device idle {_ms(mi)} of every step",
            mi, 0.8,
            [_ev("jitted calls dispatched per step (median)", md, "calls"),
             _ev("device ops per step (median)", float(np.nanmedian(ops)), "ops"),
             _ev("mean device op time", mean_op, "ns"),
             _ev("device idle per step (median)", mi, "ns"),
             _ev("step period (median)", float(np.median(period)), "ns")],
            ["Put the loop body under one jax.jit (or lax.scan/fori_loop over the small ops) "
             "so each step is one dispatch.",
             "Avoid Python-side indexing and per-element ops on jax.Arrays inside the loop."],
            {"timeline": x.window(host, r, k), "ops": {"host": host}}))
    return out


def _facts_by_step(f: dict[str, Any], key: str, r: dict[str, Any]) -> np.ndarray:
    pos = {s: i for i, s in enumerate(f.get("step") or [])}
    vals = f.get(key) or []
    return np.array([np.nan if (i := pos.get(s)) is None or vals[i] is None else vals[i]
                     for s in r["step"].tolist()], np.float64)


def _compiling(f: dict[str, Any] | None, r: dict[str, Any]) -> np.ndarray:
    """Per step of r, the time the host spent compiling inside it (0 where unknown)."""
    if not f or not f.get("compile_in_step_ns"):
        return np.zeros(len(r["step"]))
    return np.nan_to_num(_facts_by_step(f, "compile_in_step_ns", r))


def input_bound(x: Inputs, th: dict[str, Any], skip: set[str] = frozenset()) -> list[Finding]:
    best = None
    for host, r, f in x.hosts:
        if host in skip or not len(r["step"]):
            continue
        gap = r["gap_ns"]
        # Host-only time spent compiling is the recompilation rule's, not input.
        host_only = np.maximum(r["host_ns"] - _compiling(f, r), 0.0)
        idle = host_only + np.where(np.isnan(gap), 0.0, gap)
        if len(gap) > 1 and (~np.isnan(gap)).any():
            idle = idle[~np.isnan(gap)]
            period = (r["dur_ns"] + gap)[~np.isnan(gap)]
        else:
            period = r["dur_ns"]
        mi, mp = float(np.median(idle)), float(np.median(period))
        if mi >= max(th["min_ns"], th["min_share_of_period"] * mp) and \
                (best is None or mi > best[0]):
            best = (mi, mp, host, r)
    if best is None:
        return []
    mi, mp, host, r = best
    gap = r["gap_ns"]
    k = _median_index(np.where(np.isnan(gap), np.nan, r["host_ns"] + gap)) \
        if (~np.isnan(gap)).any() else 0
    return [Finding(
        "input_bound", host,
        f"The device waits for the host: idle {_ms(mi)} of every {_ms(mp)} step period on "
        f"{host} while the host prepares the next step",
        mi, 0.75 if len(r["step"]) >= 3 else 0.5,
        [_ev("device idle between steps (median)", float(np.nanmedian(gap))
             if (~np.isnan(gap)).any() else 0.0, "ns"),
         _ev("host-only time inside steps (median)", float(np.median(r["host_ns"])), "ns"),
         _ev("step period, start to start (median)", mp, "ns"),
         _ev("share of the period the devices are idle", mi / mp if mp else 0.0, "fraction")],
        ["Prefetch input on a background thread (or tf.data / grain with prefetch) and "
         "transfer the next batch while this step runs (jax.device_put ahead of time).",
         "Move per-step host work (numpy preprocessing, logging, metrics fetches) off the "
         "critical path; fetch metrics one step late.",
         "Don't block on the step's result (block_until_ready, float(loss)) every step."],
        {"timeline": x.window(host, r, k, with_gap=True), "hosts_steps": {"host": host}})]


def exposed_collectives(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    if not x.step_ns:
        return []
    per_host = []
    for host, r, _ in x.hosts:
        if not r["coll_dev"].shape[0] or not r["coll_dev"].shape[1]:
            continue
        per_host.append((float(np.median(r["coll_dev"].min(axis=0))),
                         float(np.median(r["collective_ns"])), host, r))
    if not per_host:
        return []
    least, mean_c, host, r = min(per_host, key=lambda p: p[0])
    if least < max(th["min_ns"], th["min_share_of_step"] * x.step_ns):
        return []
    colls = [o for o in x.ops.get("ops", []) if o.get("category") == "collective"]
    colls.sort(key=lambda o: -o["self_ns"])
    ev = [_ev("exposed collective time per step, least-waiting device (median)", least, "ns"),
          _ev("exposed collective time per step, mean over devices (median)", mean_c, "ns"),
          _ev("share of the step", least / x.step_ns, "fraction")]
    links: dict[str, Any] = {"timeline": x.window(host, r, _median_index(r["collective_ns"])),
                             "ops": {"category": "collective"}}
    if colls:
        top = colls[0]
        ev.append(_ev(f"top collective {top['op']} ({top['module']}), all devices",
                      top["self_ns"], "ns"))
        if top.get("wait_ns") is not None:
            ev.append(_ev(f"{top['op']}: waiting for the other devices", top["wait_ns"], "ns"))
            ev.append(_ev(f"{top['op']}: transfer", top.get("transfer_ns") or 0, "ns"))
        links["ops"] = {"category": "collective", "module": top["module"], "op": top["op"],
                        "q": top["op"]}
    return [Finding(
        "exposed_collectives", "profile",
        f"Communication is not overlapped with compute: {_ms(least)} of every step is spent "
        "in collectives with no computation beside them",
        least, 0.7, ev,
        ["Let XLA overlap the collective with independent compute: prefetch the next "
         "layer's all-gather (FSDP), use async collectives / latency-hiding scheduler flags.",
         "Reduce the payload: shard differently (fewer all-gathers of large weights), "
         "gradient accumulation so reductions happen less often.",
         "If waiting dominates (a device or host arrives late), fix that straggler first."],
        links)]


def memory_bound_op(x: Inputs, th: dict[str, Any],
                    scopes: dict[tuple[str, int, str], str] | None = None) -> list[Finding]:
    """Ops left of the ridge that hold much of the device time and of the step, and move
    bytes at a rate memory could bind (a host callback moving 84 bytes in 25 ms has an
    intensity below the ridge too, but memory is not what holds it)."""
    out = []
    steps = max(x.n_steps, 1)
    peaks = x.roofline.get("peaks") or {}
    min_bw = th["min_share_of_peak_bandwidth"] * (peaks.get("bytes_per_s") or 0.0)
    for p in x.roofline.get("ops", []):
        if len(out) >= th["max_findings"]:
            break
        if p.get("bound_by") != "memory" or (p.get("share") or 0) < th["min_share_of_busy"]:
            continue
        if p.get("category") in ("collective", "control_flow") or is_callback(p, scopes):
            continue
        if (p.get("bytes_per_s") or 0.0) < min_bw:
            continue
        n_dev = max(len(_op_devices(x, p)), 1)
        cost = p["self_ns"] / steps / n_dev
        if x.step_ns and cost < th["min_share_of_step"] * x.step_ns:
            continue
        ev = [_ev("share of device busy time", p["share"], "fraction"),
              _ev("time per step per device", cost, "ns"),
              _ev("operational intensity", p.get("oi") or 0.0, "FLOP/byte"),
              _ev("ridge point (intensity where compute takes over)",
                  x.roofline.get("ridge_oi") or 0.0, "FLOP/byte"),
              _ev("achieved bandwidth", p.get("bytes_per_s") or 0.0, "B/s"),
              _ev("peak bandwidth", peaks.get("bytes_per_s") or 0.0, "B/s")]
        if p.get("above_roof"):
            ev.append(_ev("above the memory roof", p.get("reason") or "", ""))
        out.append(Finding(
            "memory_bound_op", f"{p['module']}/{p['op']}",
            f"{p['op']} is memory-bound and takes {p['share'] * 100:.0f}% of device time "
            f"({_ms(cost)} per step)",
            cost, 0.5 if p.get("above_roof") else 0.8, ev,
            ["Move fewer bytes: fuse it with its producer or consumer, avoid the transpose "
             "or layout change (choose the layout the consumer wants), keep activations in "
             "bf16.",
             "Recompute cheap elementwise chains instead of storing and reloading them."],
            {"roofline": {"module": p["module"], "program_id": p["program_id"], "op": p["op"]},
             "ops": {"module": p["module"], "op": p["op"], "q": p["op"]}}))
    return out


def _op_devices(x: Inputs, p: dict[str, Any]) -> dict[str, Any]:
    for o in x.ops.get("ops", []):
        if (o["module"], o["program_id"], o["op"]) == (p["module"], p["program_id"], p["op"]):
            return o.get("per_device") or {}
    return {}


def is_callback(o: dict[str, Any], scopes: dict[tuple[str, int, str], str] | None) -> bool:
    """A host callback op (jax.debug.print/callback, pure_callback, io_callback), by its
    name or its JAX name stack."""
    return bool(CALLBACK.search(o["op"]) or CALLBACK.search(
        (scopes or {}).get((o["module"], o["program_id"], o["op"]), "")))


def host_callback(x: Inputs, th: dict[str, Any], scopes: dict[tuple[str, int, str], str]
                  ) -> list[Finding]:
    hits = [o for o in x.ops.get("ops", []) if is_callback(o, scopes)]
    if not hits:
        return []
    steps = max(x.n_steps, 1)
    cost = sum(o["total_ns"] / max(len(o.get("per_device") or {}), 1) for o in hits) / steps
    if cost < th["min_ns"]:
        return []
    hits.sort(key=lambda o: -o["total_ns"])
    top = hits[0]
    names = ", ".join(dict.fromkeys(o["op"] for o in hits[:8]))
    scope = scopes.get((top["module"], top["program_id"], top["op"]), "")
    ev = [_ev("host callback ops", len(hits), "ops"),
          _ev("their time per step per device", cost, "ns"),
          _ev("calls per step", sum(o["occurrences"] for o in hits) / steps, "calls")]
    if scope:
        ev.append(_ev(f"{top['op']} comes from", scope, ""))
    return [Finding(
        "host_callback", "profile",
        f"Host callbacks inside the step ({names}) stop the device for {_ms(cost)} per step",
        cost, 0.9, ev,
        ["Remove jax.debug.print / jax.debug.callback from the hot step, or guard them so "
         "they run only every N steps (lax.cond on the step number).",
         "Return values from the step and log them on the host instead (one step late).",
         "For pure_callback/io_callback: move the host work outside the jitted step or "
         "express it in jax.numpy."],
        {"ops": {"module": top["module"], "op": top["op"], "q": top["op"]}})]


def recompilation(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    worst = None
    for host, r, f in x.hosts:
        c = (f or {}).get("compile") or {}
        if c.get("ns", 0) >= th["min_compile_ns"] and (worst is None or c["ns"] > worst[1]["ns"]):
            worst = (host, c, f, r)
    if worst is None:
        return []
    host, c, f, r = worst
    steps = max(x.n_steps, 1)
    # What the steps that compiled took over the others: the compile and what comes with
    # it (the new executable's first run, its allocations), when both kinds were captured.
    comp = _compiling(f, r) > 0
    slower = float(np.maximum(r["dur_ns"][comp] - np.median(r["dur_ns"][~comp]), 0).sum()) \
        if comp.any() and (~comp).any() else 0.0
    cost = max(c["ns"], slower) / steps
    programs: dict[str, set[int]] = {}
    for p in x.ops.get("by_program", []):
        programs.setdefault(p["module"], set()).add(p["program_id"])
    twice = sorted(m for m, ids in programs.items() if len(ids) > 1)
    mods = c.get("modules") or twice
    ev = [_ev("time in jitted calls that compiled (tracing, lowering, compiling)", c["ns"],
              "ns"),
          _ev("of which the backend compile", c.get("backend_ns", c["ns"]), "ns"),
          _ev("compilations", c.get("count", 0), "compilations"),
          _ev("of which inside steps", float(sum(f.get("compile_in_step_ns") or [0])), "ns"),
          _ev("steps that compiled, over the median step that did not (summed)", slower, "ns"),
          _ev("spread over the steps (per step)", cost, "ns")]
    if c.get("functions"):
        ev.append(_ev("jitted functions that missed the cache", ", ".join(c["functions"][:8]),
                      ""))
    if mods:
        ev.append(_ev("modules compiled", ", ".join(mods[:8]), ""))
    if twice:
        ev.append(_ev("jitted functions that ran as several programs", ", ".join(twice[:8]), ""))
    win = (c.get("windows") or [[0, 0]])[0]
    return [Finding(
        "recompilation", host,
        f"JAX recompiled during the capture: {_ms(c['ns'])} in jitted calls that compiled "
        f"on {host}"
        + (f" ({', '.join(mods[:3])})" if mods else ""),
        cost, 0.85 if twice or c.get("count", 0) > 1 else 0.7, ev,
        ["Keep shapes static: pad batches to a few bucket sizes instead of the exact length.",
         "Mark configuration arguments static_argnums only if they rarely change; pass "
         "changing Python scalars as arrays.",
         "Log compilations (jax.config.update('jax_log_compiles', True)) to see which "
         "argument changed."],
        {"timeline": {"host": host, "track": None, "device": None,
                      "start_ns": int(win[0]), "end_ns": int(max(win[1], win[0] + 1)),
                      "step": None}})]


def kernel_launch_overhead(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    if not x.gpu:
        return []
    out = []
    for host, r, f in x.hosts:
        if not f or not f.get("kernels") or f.get("kernel_p50_ns") is None:
            continue
        kern = _facts_by_step(f, "step_kernels", r)
        mk, p50 = float(np.nanmedian(kern)), float(f["kernel_p50_ns"])
        idle = float(np.median(r["host_ns"] + r["idle_ns"]))
        mstep = float(np.median(r["dur_ns"]))
        if mk < th["min_kernels_per_step"] or p50 > th["max_median_kernel_ns"] or \
                idle < th["min_idle_share_of_step"] * mstep:
            continue
        out.append(Finding(
            "kernel_launch_overhead", host,
            f"The GPU on {host} runs {mk:.0f} short kernels per step (median "
            f"{_ms(p50)}) and sits idle {_ms(idle)} of each step between them",
            idle, 0.6,
            [_ev("kernels per step (median)", mk, "kernels"),
             _ev("median kernel time", p50, "ns"),
             _ev("GPU idle inside the step (median)", idle, "ns"),
             _ev("step time (median)", mstep, "ns")],
            ["Enable CUDA graphs (XLA command buffers: --xla_gpu_enable_command_buffer) so "
             "launches are batched.",
             "Fuse more: larger per-kernel work (bigger batch per device, fewer tiny "
             "elementwise ops), scan over layers."],
            {"timeline": x.window(host, r, _median_index(r["host_ns"])),
             "ops": {"host": host}}))
    return out


def memory_capacity(x: Inputs, th: dict[str, Any]) -> list[Finding]:
    devs = (x.memory or {}).get("devices") or []
    worst = None
    for d in devs:
        cap, peak = d.get("capacity_bytes"), d.get("peak_bytes")
        if cap and peak is not None and (worst is None or peak / cap > worst[0]):
            worst = (peak / cap, d)
    if worst is None or worst[0] < th["min_fraction"]:
        return []
    frac, d = worst
    name = f"{d.get('host', '')}:{d.get('device', '')}".strip(":")
    return [Finding(
        "memory_capacity", name or "device",
        f"Device memory is {frac * 100:.0f}% full at its peak ({name})", 0.0, 0.8,
        [_ev("peak bytes in use", d["peak_bytes"], "bytes"),
         _ev("capacity", d["capacity_bytes"], "bytes"), _ev("fraction", frac, "fraction")],
        ["Rematerialise (jax.checkpoint) the largest activations, shard optimizer state "
         "(FSDP/ZeRO), or lower the per-device batch before it runs out of memory."],
        {"memory": {"host": d.get("host"), "device": d.get("device")}})]


def low_mfu(x: Inputs, th: dict[str, Any], found: list[Finding]) -> list[Finding]:
    summ = x.steps.get("summary") or {}
    mfu = summ.get("mfu")
    if mfu is None or mfu >= th["max_mfu"] or not x.step_ns:
        return []
    causes = [f for f in found if f.cost_ns_per_step > 0 and not f.summary]
    if causes:
        top = max(causes, key=lambda f: f.cost_ns_per_step)
        cause = THRESHOLDS[top.rule]["title"].lower() + f" ({top.subject})"
        cost, conf = top.cost_ns_per_step, 0.7
        what = [f"Fix the dominant cause first: {top.title}."]
        links = dict(top.links)
    else:
        parts = {k: float(np.median([s[k] for s in x.steps["steps"] if s.get("complete")]))
                 for k in ("compute_ns", "collective_ns", "host_ns", "idle_ns")}
        dom = max(parts, key=lambda k: parts[k])
        cause = {"compute_ns": "the compute itself runs far below the peak (small matrix "
                               "multiplies, memory-bound fusions, padding)",
                 "collective_ns": "exposed communication", "host_ns": "the host",
                 "idle_ns": "devices waiting for each other"}[dom]
        cost = x.step_ns * (1 - mfu / th["max_mfu"])
        conf = 0.3
        what = ["Open the roofline: ops far below both roofs are the ones to fix (larger "
                "matmuls, fewer layout changes, bf16)."]
        links = {"roofline": {}}
    return [Finding(
        "low_mfu", "profile",
        f"MFU is {mfu * 100:.1f}%; the dominant cause: {cause}",
        cost, conf,
        [_ev("MFU", mfu, "fraction"), _ev("HFU", summ.get("hfu"), "fraction"),
         _ev("MFU from", summ.get("mfu_source", ""), ""),
         _ev("step time (median)", x.step_ns, "ns")],
        what, links, summary=True)]


RULES: dict[str, Callable[..., list[Finding]]] = {
    "straggler_host": straggler_host, "straggler_device": straggler_device,
    "dispatch_bound": dispatch_bound, "input_bound": input_bound,
    "exposed_collectives": exposed_collectives, "memory_bound_op": memory_bound_op,
    "host_callback": host_callback, "recompilation": recompilation,
    "kernel_launch_overhead": kernel_launch_overhead, "memory_capacity": memory_capacity,
    "low_mfu": low_mfu,
}


def _one_straggler(hosts: list[Finding], devices: list[Finding]) -> list[Finding]:
    """A straggling device on the straggling host, late by about as much (within 25 %),
    is that host's cause, not a second finding: it becomes the host's evidence."""
    out = list(hosts)
    for d in devices:
        host = d.subject.rsplit(":", 1)[0]
        h = next((f for f in hosts if f.subject == host), None)
        if h is not None and abs(d.cost_ns_per_step - h.cost_ns_per_step) <= \
                0.25 * h.cost_ns_per_step:
            h.evidence.append(_ev("of which on one device", d.title, ""))
            continue
        out.append(d)
    return out


def rank(findings: list[Finding]) -> list[Finding]:
    """Costliest first; a summary (low MFU) after the cause it rolls up; then rule order."""
    order = list(RULES)
    return sorted(findings, key=lambda f: (-f.cost_ns_per_step, f.summary,
                                           order.index(f.rule), f.subject))


def run(x: Inputs, scopes: dict[tuple[str, int, str], str] | None = None,
        thresholds: dict[str, dict[str, Any]] | None = None
        ) -> tuple[list[Finding], list[dict[str, Any]], list[dict[str, Any]]]:
    """Every rule over the inputs: (ranked findings, the rule table, rules skipped)."""
    th = thresholds or THRESHOLDS
    scopes = scopes or {}
    found: list[Finding] = []
    skipped = []
    dispatch = dispatch_bound(x, th["dispatch_bound"])
    found += dispatch
    found += input_bound(x, th["input_bound"], skip={f.subject for f in dispatch})
    found += _one_straggler(straggler_host(x, th["straggler_host"]),
                            straggler_device(x, th["straggler_device"]))
    for name in ("exposed_collectives", "recompilation", "kernel_launch_overhead"):
        found += RULES[name](x, th[name])
    found += memory_bound_op(x, th["memory_bound_op"], scopes)
    found += host_callback(x, th["host_callback"], scopes)
    if x.memory is None:
        skipped.append({"rule": "memory_capacity", "reason": "no memory view for this profile"})
    else:
        found += memory_capacity(x, th["memory_capacity"])
    if not x.gpu:
        skipped.append({"rule": "kernel_launch_overhead", "reason": "not a GPU capture"})
    found += low_mfu(x, th["low_mfu"], found)
    fired = {f.rule for f in found}
    table = [{"rule": k, "title": v["title"],
              "thresholds": {n: val for n, val in v.items() if n != "title"},
              "fired": k in fired} for k, v in th.items()]
    return rank(found), table, skipped
