"""The profile catalogue: one record per profile plus a summary index for listing.

`.xdiag/profiles/<id>.json` holds the full record and is the source of truth;
`.xdiag/index.json` holds one summary line per profile so that listing is one
read, never a walk over the raw data. Both are updated under generation
preconditions, so concurrent replicas never lose an entry. A missing or damaged
index is rebuilt from the records.
"""

from __future__ import annotations

import time
from typing import Any

from xdiag.core import jsonio
from xdiag.core.errors import Conflict, NotFound
from xdiag.core.names import split_profile_id
from xdiag.store import ObjectStore, layout

SUMMARY_FIELDS = (
    "id", "run", "session", "status", "error", "created_at", "source", "job", "events",
    "duration_ns", "hosts", "ingest", "retry_at",
)


def summary(record: dict[str, Any]) -> dict[str, Any]:
    out = {k: record.get(k) for k in SUMMARY_FIELDS}
    out["hosts"] = [{"host": h.get("host"), "bytes": h.get("bytes")} for h in record.get("hosts", [])]
    if out["ingest"]:  # keep the summary small: no per-host details
        out["ingest"] = {k: out["ingest"].get(k) for k in ("version", "seconds", "events_per_s")}
    out["ingest_version"] = (record.get("ingest") or {}).get("version")
    return out


class Profiles:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    def get(self, pid: str) -> dict[str, Any]:
        split_profile_id(pid)
        try:
            return self.store.read_json(layout.profile_record_key(pid))
        except NotFound:
            raise NotFound(f"no profile {pid!r}; `xdiag profiles` lists them") from None

    def exists(self, pid: str) -> bool:
        return self.store.exists(layout.profile_record_key(pid))

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Add a new profile; Conflict if the id is taken (never overwrite raw data's record)."""
        from xdiag.core.errors import PreconditionFailed

        record.setdefault("created_at", time.time())
        key = layout.profile_record_key(record["id"])
        try:
            self.store.write_json(key, record, if_generation=0)
        except PreconditionFailed:
            # A write retried after its answer was lost finds itself: not a conflict.
            try:
                mine = self.store.read(key) == jsonio.dumps(record)
            except NotFound:
                mine = False
            if not mine:
                raise Conflict(f"profile {record['id']!r} already exists") from None
        self._index_put(record)
        return record

    def update(self, pid: str, **changes: Any) -> dict[str, Any]:
        def apply(current: Any) -> Any:
            if current is None:
                raise NotFound(f"profile {pid!r} disappeared while updating it")
            return {**current, **changes}

        record = self.store.update_json(layout.profile_record_key(pid), apply)
        self._index_put(record)
        return record

    def delete(self, pid: str) -> None:
        record = self.get(pid)
        # Index entry first: a half-deleted profile must never stay listed.
        self._index_remove(pid)
        self.store.delete_prefix(layout.session_prefix(record["run"], record["session"]))
        self.store.delete(layout.profile_record_key(pid))

    def list(self, *, q: str = "", run: str = "", job: str = "", status: str = "") -> list[dict]:
        entries = list(self._index().values())
        if q:
            ql = q.lower()
            entries = [e for e in entries if ql in e["id"].lower() or ql in str(e.get("job")).lower()]
        if run:
            entries = [e for e in entries if e["run"] == run]
        if job:
            entries = [e for e in entries if e.get("job") == job]
        if status:
            entries = [e for e in entries if e["status"] == status]
        return sorted(entries, key=lambda e: e.get("created_at") or 0, reverse=True)

    # -- the summary index -------------------------------------------------

    def _index(self) -> dict[str, dict[str, Any]]:
        try:
            index = self.store.read_json(layout.PROFILE_INDEX)
            if isinstance(index, dict) and isinstance(index.get("profiles"), dict):
                return index["profiles"]
        except (NotFound, ValueError):
            pass
        return self.rebuild_index()

    def _scan_records(self) -> dict[str, dict[str, Any]]:
        return {
            rec["id"]: summary(rec)
            for _, rec in self.store.iter_json(layout.PROFILE_RECORDS)
            if isinstance(rec, dict) and "id" in rec
        }

    def rebuild_index(self) -> dict[str, dict[str, Any]]:
        entries = self._scan_records()
        self.store.update_json(layout.PROFILE_INDEX, lambda _: {"profiles": entries})
        return entries

    def _valid_index(self, index: Any) -> dict[str, Any]:
        if isinstance(index, dict) and isinstance(index.get("profiles"), dict):
            return index
        return {"profiles": self._scan_records()}  # lost or damaged: rebuild, never drop entries

    def _index_put(self, record: dict[str, Any]) -> None:
        def apply(index: Any) -> Any:
            index = self._valid_index(index)
            index["profiles"][record["id"]] = summary(record)
            return index

        self.store.update_json(layout.PROFILE_INDEX, apply)

    def _index_remove(self, pid: str) -> None:
        def apply(index: Any) -> Any:
            index = self._valid_index(index)
            index["profiles"].pop(pid, None)
            return index

        self.store.update_json(layout.PROFILE_INDEX, apply)
