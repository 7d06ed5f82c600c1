"""A profile still ingesting, seen through its timeline alone.

Ingest writes each host's timeline index before its op and step tables; once every
host's index is built (held in this process: `store/live.py`) or written (its
`.tl.json` is in the store), the timeline can be served while the rest runs.
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


def early_manifest(store: ObjectStore, early: EarlyIndexes,
                   record: dict[str, Any]) -> dict[str, Any] | None:
    """The timeline part of the manifest of a profile still ingesting, once every host's
    index is built or written (None before): tracks, hosts and span, no steps or modules."""
    derived = layout.Derived.of(record)
    results = []
    for h in record["hosts"]:
        held = early.get(derived.index(h["host"]))
        try:
            results.append(held[2] if held is not None else
                           store.read_json(derived.index_summary(h["host"])))
        except (NotFound, ValueError):
            return None
    return {"version": layout.VERSION, "profile_id": record["id"],
            "t0_ns": profile_t0(record), "steps": [], "modules": [],
            "events": sum(r["events"] for r in results), "complete": False,
            **timeline_views(results)}
