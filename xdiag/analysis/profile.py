"""A profile's views from its hosts' summaries (pure): tracks and id bases, op and step
tables, roofline, peaks. The same merge gives the final manifest and, from the hosts'
timeline summaries alone, the early one a viewer opens while ingest still runs."""

from __future__ import annotations

from typing import Any

from xdiag.analysis import opstats, peaks, roofline, steps


def profile_t0(record: dict[str, Any]) -> int:
    """The profile's time origin: the earliest host window start (absolute ns)."""
    windows = [h["window_ns"] for h in record["hosts"] if h.get("window_ns")]
    return min(w[0] for w in windows) if windows else 0


def timeline_views(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The profile's tracks and hosts (event id and track id bases) from the hosts'
    summaries, in record order: the same for the early and the final manifest."""
    tracks, hosts = [], []
    eid_base = 0
    for r in results:
        first = len(tracks)
        for t in r["tracks"]:
            tracks.append({**t, "id": len(tracks), "host": r["host"]})
        hosts.append({"host": r["host"], "events": r["events"], "eid_base": eid_base,
                      "track_base": first, "num_tracks": len(r["tracks"]),
                      "window_ns": r["window_ns"], "aggregated_events": r["aggregated_events"]})
        eid_base += r["events"]
    return {"tracks": tracks, "hosts": hosts,
            "end_ns": max((r["window_ns"][1] for r in results), default=0)}


def device_kind(record: dict[str, Any], results: list[dict[str, Any]]) -> str:
    return record.get("device_kind") or next((r["device_kind_hint"] for r in results), "cpu")


def plane_peaks(results: list[dict[str, Any]]) -> dict[str, float]:
    return next((r["plane_peaks"] for r in results if r["plane_peaks"]), {})


def needs_host_peaks(record: dict[str, Any], results: list[dict[str, Any]]) -> bool:
    """Whether `profile_views` needs the service's host peaks for this profile."""
    return peaks.needs_host_peaks(device_kind(record, results), plane_peaks(results),
                                  record.get("peaks"))


def profile_views(record: dict[str, Any], results: list[dict[str, Any]],
                  host_peaks: peaks.HostPeaks | None = None) -> dict[str, Any]:
    """Merge the hosts' summaries into the profile-level views.

    `host_peaks`: the service's, needed only when `needs_host_peaks` (neither the
    xplane, the device table nor the agent gives peaks)."""
    modules: dict[str, dict[str, Any]] = {}
    for r in results:
        for m in r["modules"]:
            # Prefer a host's entry with costs: another host may not have run it.
            if m["fingerprint"] not in modules or modules[m["fingerprint"]]["flops"] is None:
                modules[m["fingerprint"]] = m
    kind = device_kind(record, results)
    pk = peaks.resolve(kind, plane_peaks(results), record.get("peaks"), host_peaks)
    ops = opstats.merge([(r["host"], r["ops"]) for r in results], pk)
    step_view = steps.merge([r["steps"] for r in results], pk)
    return {
        **timeline_views(results),
        "modules": modules,
        "ops": ops,
        "steps": step_view,
        "roofline": roofline.compute(ops, pk),
        "peaks": pk,
        "device_kind": kind,
    }
