"""Training steps as the device ran them, merged over hosts, and what each step's time went to.

A step's window comes from analysis/device_steps.py: from when its host side began and
the device was free of earlier work, to when its last device op ended. The host's
dispatch (the step annotation) is reported beside it (`host_start_ns`, `host_dur_ns`).

Per step, averaged over every device of every host, four disjoint parts that add up to
the step's duration: `compute_ns` (busy in non-collective ops), `collective_ns`
(collectives with no compute beside them: exposed communication), `host_ns` (no device
busy at all: input pipeline, dispatch, Python) and `idle_ns` (this device waiting while
others or the host worked).

MFU = model FLOPs / (duration * peak FLOP/s of the hardware that ran it): the devices'
peaks summed; on CPU the simulated devices of a host share one host, whose measured peak
is the denominator once per host (as the trainer divides it among its devices). Model
FLOPs are what the job declares on its step annotation (`StepTraceAnnotation(...,
model_flops=F)`, F for this process's devices; the in-repo trainer does); without them,
the HLO cost model's FLOPs of the ops that ran. Those (`flops`, and `hfu`) always count
what the hardware executed: padded kernel tiles, recomputation and elementwise work
included, so they can exceed the model's FLOPs.
Summary statistics cover complete steps only (see device_steps: a step the capture cut
off is listed with `complete: false`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_NONE = np.iinfo(np.int64).min


def shares_host_peak(peaks: dict[str, Any] | None) -> bool:
    """CPU devices of one host share the host's compute and memory."""
    return bool(peaks) and str(peaks.get("device_kind", "")).lower().startswith("cpu")


def merge(tables: list[dict[str, np.ndarray]], peaks: dict[str, Any] | None) -> dict[str, Any]:
    """Merge the hosts' step tables (see device_steps.table) by step number."""
    tables = [t for t in tables if len(t["step"])]
    steps_u = np.unique(np.concatenate([t["step"] for t in tables])) if tables else \
        np.zeros(0, np.int64)
    n = len(steps_u)
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    start, host_start, dev_start = (np.full(n, big) for _ in range(3))
    end, host_end, dev_end = (np.full(n, small) for _ in range(3))
    complete = np.ones(n, bool)
    busy_sum, coll_sum, flops, any_sum = (np.zeros(n) for _ in range(4))
    declared = np.full(n, np.nan)
    devices, hosts = np.zeros(n), np.zeros(n)
    for t in tables:
        k = np.searchsorted(steps_u, t["step"])
        np.minimum.at(start, k, t["start_ns"])
        np.maximum.at(end, k, t["end_ns"])
        # Tables from before device-side steps have only the window.
        np.minimum.at(host_start, k, t.get("host_start_ns", t["start_ns"]))
        np.maximum.at(host_end, k, t.get("host_end_ns", t["end_ns"]))
        ds = t.get("device_start_ns", t["start_ns"])
        de = t.get("device_end_ns", t["end_ns"])
        np.minimum.at(dev_start, k, np.where(ds == _NONE, big, ds))
        np.maximum.at(dev_end, k, de)
        np.logical_and.at(complete, k, np.asarray(t.get("complete", np.ones(len(k))), bool))
        busy_sum[k] += t["busy_ns"].sum(axis=0)
        coll_sum[k] += t["collective_ns"].sum(axis=0)
        flops[k] += t["flops"].sum(axis=0)
        mf = np.asarray(t.get("model_flops", np.full(len(k), np.nan)), np.float64)
        declared[k] = np.where(np.isnan(declared[k]), mf, declared[k] + np.nan_to_num(mf))
        devices[k] += t["busy_ns"].shape[0]
        any_sum[k] += t["any_busy_ns"]
        hosts[k] += 1
    dur = np.maximum(end - start, 1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        busy = np.where(devices > 0, busy_sum / devices, 0.0)
        coll = np.where(devices > 0, coll_sum / devices, 0.0)
        any_busy = np.where(hosts > 0, any_sum / hosts, 0.0)
    host = np.minimum(np.maximum(dur - any_busy, 0.0), dur - busy)  # mean busy <= union busy
    idle = np.maximum(dur - busy - host, 0.0)
    mfu = hfu = None
    use_declared = bool(np.isfinite(declared).any())
    if peaks and n:
        units = hosts if shares_host_peak(peaks) else devices
        with np.errstate(invalid="ignore", divide="ignore"):
            peak_flops = dur * 1e-9 * units * peaks["flops_per_s"]
            hfu = np.where((units > 0) & (flops > 0), flops / peak_flops, np.nan)
            mfu = np.where(units > 0, declared / peak_flops, np.nan) if use_declared else hfu
    # Columns to Python lists first: indexing numpy arrays per element is ~10x slower, and
    # profiles can hold tens of thousands of steps.
    def nullable(x: np.ndarray | None) -> list[Any]:
        return [None] * n if x is None else \
            np.where(np.isnan(x), None, x).tolist()  # type: ignore[call-overload]
    mfu_list, hfu_list, declared_list = nullable(mfu), nullable(hfu), nullable(declared)
    has_dev = dev_start < big
    steps = [{"step": st, "start_ns": s0, "dur_ns": d, "compute_ns": cp, "collective_ns": cl,
              "host_ns": ho, "idle_ns": il, "devices": dv, "flops": fl, "mfu": mf,
              "host_start_ns": hs, "host_dur_ns": hd,
              "device_start_ns": ds if hv else None, "device_end_ns": de if hv else None,
              "complete": c, "hfu": hf, "model_flops": mdl}
             for st, s0, d, cp, cl, ho, il, dv, fl, mf, hs, hd, ds, de, hv, c, hf, mdl in zip(
                 steps_u.astype(np.int64).tolist(), start.tolist(), dur.astype(np.int64).tolist(),
                 (busy - coll).tolist(), coll.tolist(), host.tolist(), idle.tolist(),
                 devices.astype(np.int64).tolist(), flops.tolist(), mfu_list,
                 host_start.tolist(), (host_end - host_start).tolist(), dev_start.tolist(),
                 dev_end.tolist(), has_dev.tolist(), complete.tolist(), hfu_list,
                 declared_list, strict=True)]
    summary: dict[str, Any] = {"count": n, "complete": int(complete.sum()),
                               "incomplete": int(n - complete.sum())}
    d_ok = dur[complete]
    if len(d_ok):
        summary.update(mean_ns=float(d_ok.mean()), p50_ns=float(np.percentile(d_ok, 50)),
                       p90_ns=float(np.percentile(d_ok, 90)), min_ns=float(d_ok.min()),
                       max_ns=float(d_ok.max()),
                       host_dispatch_mean_ns=float((host_end - host_start)[complete].mean()))
    for name, x in (("mfu", mfu), ("hfu", hfu)):
        valid = x[complete & ~np.isnan(x)] if x is not None else np.zeros(0)
        summary[name] = float(valid.mean()) if len(valid) else None
    summary["mfu_source"] = (
        "model FLOPs declared by the job on its step annotations" if use_declared else
        "FLOPs of the ops that ran, from the HLO cost model (the job declared no model FLOPs)")
    summary["definition"] = ("a step runs from when its host side began and the device was "
                             "free of earlier work to when its last device op ended")
    return {"steps": steps, "summary": summary}
