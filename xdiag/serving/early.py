"""A profile still ingesting, seen through its timeline alone.

Ingest writes each host's timeline index before its op and step tables; once a host's
index is built (held in this process: `store/live.py`) or written (its `.tl.json` is in
the store), its timeline can be served while the rest runs. A session of many hosts
(a pod slice) opens progressively: on the first hosts, in record order, whose indexes
are there (a prefix, so that track and event ids are those of the final manifest), and
grows as the others arrive; `timeline_ready` says when every host is there.
"""

from __future__ import annotations

from typing import Any

from xdiag.analysis.profile import profile_t0, timeline_views
from xdiag.core.errors import NotFound
from xdiag.store import ObjectStore, layout
from xdiag.store.live import EarlyIndexes


def timeline_ready(store: ObjectStore, early: EarlyIndexes, record: dict[str, Any]) -> bool:
    """Whether every host's index is built here or written (metadata look-ups only)."""
    derived = layout.Derived.of(record)
    return all(early.get(derived.index(h["host"])) is not None or
               store.exists(derived.index_summary(h["host"])) for h in record["hosts"])


def hosts_ready(store: ObjectStore, early: EarlyIndexes, record: dict[str, Any]) -> list[bool]:
    """Per host, in record order: whether its index is built here or written (one
    listing of the hosts' folder, whatever the host count)."""
    derived = layout.Derived.of(record)
    folder = derived.index_summary("-").rsplit("/", 1)[0] + "/"
    listed = set(store.list(folder))
    return [early.get(derived.index(h["host"])) is not None or
            derived.index_summary(h["host"]) in listed for h in record["hosts"]]


def host_ready(store: ObjectStore, early: EarlyIndexes, record: dict[str, Any],
               i: int) -> bool:
    """Whether host `i`'s index is built here or written (one metadata look-up)."""
    derived = layout.Derived.of(record)
    host = record["hosts"][i]["host"]
    return early.get(derived.index(host)) is not None or store.exists(
        derived.index_summary(host))


def early_manifest(store: ObjectStore, early: EarlyIndexes,
                   record: dict[str, Any]) -> dict[str, Any] | None:
    """The timeline part of the manifest of a profile still ingesting, on the first
    hosts (record order) whose index is built or written (None while the first is not):
    tracks, hosts and span, no steps or modules. `hosts_total` is the record's count;
    `complete` is False."""
    derived = layout.Derived.of(record)
    results = []
    for h in record["hosts"]:
        held = early.get(derived.index(h["host"]))
        try:
            results.append(held[2] if held is not None else
                           store.read_json(derived.index_summary(h["host"])))
        except (NotFound, ValueError):
            break
    if not results:
        return None
    return {"version": layout.VERSION, "profile_id": record["id"],
            "t0_ns": profile_t0(record), "steps": [], "modules": [],
            "events": sum(r["events"] for r in results), "complete": False,
            "hosts_total": len(record["hosts"]), **timeline_views(results)}
