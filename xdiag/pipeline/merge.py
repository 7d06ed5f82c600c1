"""Ingest's last step: the hosts' summaries merged into the profile's views (pure:
`analysis.profile`), written, and the manifest written last, which marks them complete.

The summaries come from the host tasks of this ingest, or from the store when the hosts
were ingested elsewhere (`xdiag ingest --finalize`, after Kubernetes Jobs of one pod
per host file).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from xdiag.analysis import profile
from xdiag.core import metrics, threads
from xdiag.core.errors import Conflict, NotFound
from xdiag.core.pack import unpack
from xdiag.pipeline.hostpeaks import ServicePeaks
from xdiag.store import ObjectStore, layout

log = logging.getLogger("xdiag.ingest")


def stored_results(store: ObjectStore, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The hosts' summaries and step tables as their host tasks wrote them."""
    derived = layout.Derived.of(record)
    try:
        return [{**store.read_json(derived.host_summary(h["host"])),
                 "steps": unpack(store.read(derived.steps(h["host"])))[0]}
                for h in record["hosts"]]
    except NotFound as exc:
        raise Conflict(f"cannot finalize {record['id']}: {exc.detail}; ingest every host "
                       "first") from None


def _diagnosis(record: dict[str, Any], results: list[dict[str, Any]],
               views: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The diagnosis views (`analysis/diagnosis`); a failure there is recorded in them
    (the API says so) rather than failing the ingest."""
    from xdiag.analysis.diagnosis import VIEWS, build

    try:
        return build(record["id"], results, views)
    except Exception as exc:
        log.exception("diagnosis of %s failed", record["id"])
        return {name: {"available": False, "reason": f"the diagnosis failed: {exc}"}
                for name in VIEWS}


@threads.gc_paused()
def finalize(store: ObjectStore, record: dict[str, Any], results: list[dict[str, Any]],
             host_peaks: ServicePeaks, seconds: float = 0.0) -> dict[str, Any]:
    """Write the profile's views and manifest; return the ingest summary."""
    derived = layout.Derived.of(record)
    t_start = time.perf_counter()
    fallback = host_peaks.get() if profile.needs_host_peaks(record, results) else None
    views = profile.profile_views(record, results, fallback)
    for name in ("ops", "steps", "roofline"):
        store.write_json(derived.view(name), views[name])
    for name, view in _diagnosis(record, results, views).items():
        store.write_json(derived.view(name), view)
    seconds += time.perf_counter() - t_start
    events = sum(r["events"] for r in results)
    manifest = {
        "version": layout.VERSION,
        "profile_id": record["id"],
        "end_ns": views["end_ns"],
        "t0_ns": profile.profile_t0(record),
        "hosts": views["hosts"],
        "tracks": views["tracks"],
        "steps": [{"step": s["step"], "start_ns": s["start_ns"], "dur_ns": s["dur_ns"]}
                  for s in views["steps"]["steps"]],
        "modules": list(views["modules"].values()),
        "peaks": views["peaks"],
        "device_kind": views["device_kind"],
        "events": events,
        "seconds": seconds,
        "complete": True,
    }
    store.write_json(derived.manifest, manifest)  # last: marks completeness
    metrics.INGEST_SECONDS.observe(seconds)
    metrics.INGEST_EVENTS.inc(events)
    return {"version": layout.VERSION, "seconds": round(seconds, 4), "end_ns": views["end_ns"],
            "events_per_s": round(events / max(seconds, 1e-9)),
            "hosts": [{"host": r["host"], "events": r["events"],
                       "seconds": round(r["seconds"], 4)} for r in results]}
