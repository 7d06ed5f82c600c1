"""Opened profiles, least recently used evicted: the first view opens a profile's derived
views (memory-mapped: opening costs nothing until pages are touched), later ones reuse it.

Keyed by the manifest's generation; on a remote store the index files are local copies
keyed by their own generation (`viewfiles.py`: bounded, cleaned). Concurrent first views
of a profile open it once. A profile still ingesting opens on its timeline alone
(`early.py`). A profile whose views are of an older `layout.VERSION` is never ingested
here: `reingest` queues it in the background and the request gets a 409 saying so.
"""

from __future__ import annotations

import collections
import mmap
import threading
from collections.abc import Callable
from typing import Any

from xdiag.core import jsonio
from xdiag.core.errors import Conflict, NotFound
from xdiag.serving.early import early_manifest, host_ready
from xdiag.serving.profile import ProfileData
from xdiag.serving.viewfiles import DEFAULT_MAX_BYTES, ViewFiles
from xdiag.store import ObjectStore, layout
from xdiag.store.live import EarlyIndexes

_EARLY = "early"  # the cache generation of a profile opened on its timeline alone (+ hosts)
REBUILD_RETRY_S = 5


class ProfileCache:
    def __init__(self, store: ObjectStore, early: EarlyIndexes,
                 reingest: Callable[[str], None], capacity: int = 8,
                 max_file_bytes: int | None = None) -> None:
        self.store, self.early, self.reingest, self.capacity = store, early, reingest, capacity
        self._cache: collections.OrderedDict[str, tuple[Any, ProfileData]] = \
            collections.OrderedDict()
        self._lock = threading.Lock()
        self._opening = [threading.Lock() for _ in range(16)]  # by profile id
        # Early views holding host indexes in memory (as ingest built them): the keys each
        # holds. Such a view is let go the moment one of its files is written (~80 MB at 3M
        # events, which the next ingest would otherwise find still resident).
        self._held: dict[str, tuple[ProfileData, set[str]]] = {}
        early.on_drop(self._written)
        self.files = ViewFiles(store, max_file_bytes or DEFAULT_MAX_BYTES)

    def _buffer(self, key: str) -> Any:
        path = self.store.local_path(key)
        if path is None:
            return self.files.open(key)
        with open(path, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)

    def get(self, record: dict[str, Any], *, early: bool = False) -> ProfileData:
        """The opened profile. With `early`, a profile still ingesting is opened on its
        timeline alone as soon as its first host's index is written, on the hosts whose
        indexes are there (`early.py`; `complete` is False)."""
        pid = record["id"]
        if record["status"] == "ingesting":
            data = self._early(record) if early else None
            if data is None:
                raise Conflict(f"profile {pid!r} is still being ingested; try again in a moment")
            return data
        if record["status"] == "failed":
            with self._lock:  # an early view of it may be open: its files are gone
                self._cache.pop(pid, None)
            raise Conflict(f"profile {pid!r} failed to ingest: {record.get('error')}")
        derived = layout.Derived.of(record)
        gen = self.store.generation(derived.manifest)  # metadata only: cheap
        with self._lock:
            hit = self._cache.get(pid)
            if hit and gen and hit[0] == gen:
                self._cache.move_to_end(pid)
                return hit[1]
        with self._opening[hash(pid) % len(self._opening)]:
            return self._open(record, derived)

    def _open(self, record: dict[str, Any], derived: layout.Derived) -> ProfileData:
        pid = record["id"]
        try:
            raw, gen = self.store.read_versioned(derived.manifest)
        except NotFound:
            version = (record.get("ingest") or {}).get("version",
                                                       record.get("ingest_version"))
            if version == layout.VERSION:
                raise
            self.reingest(pid)  # queued once; a request never waits for an ingest
            progress = record.get("ingest_progress") or {}
            done = (f" ({progress['hosts_done']} of {progress['hosts']} hosts done)"
                    if progress.get("hosts") else "")
            raise Conflict(f"profile {pid!r} was ingested by an older version of xdiag "
                           f"(views v{version}, now v{layout.VERSION}); its views are being "
                           f"rebuilt in the background{done}: try again in a few seconds",
                           retry_after=REBUILD_RETRY_S) from None
        with self._lock:
            hit = self._cache.get(pid)
            if hit and hit[0] == gen:
                self._cache.move_to_end(pid)
                return hit[1]
        manifest = jsonio.loads(raw)
        bufs = [self._buffer(derived.index(h["host"])) for h in manifest["hosts"]]
        analyses = {n: self.store.read(derived.view(n)) for n in ("ops", "steps", "roofline")}
        return self._put(pid, gen, ProfileData(self.store, record, manifest, bufs, analyses))

    def _early(self, record: dict[str, Any]) -> ProfileData | None:
        pid = record["id"]
        with self._lock:
            hit = self._cache.get(pid)
        if hit and hit[0] == _EARLY:
            # Opened on its first n hosts: current unless host n is there now (one look-up).
            n = len(hit[1].manifest["hosts"])
            if n == len(record["hosts"]) or not host_ready(self.store, self.early, record, n):
                with self._lock:
                    if pid in self._cache:
                        self._cache.move_to_end(pid)
                return hit[1]
        manifest = early_manifest(self.store, self.early, record)
        if manifest is None:
            return None
        derived = layout.Derived.of(record)
        bufs, held = [], set()
        for h in manifest["hosts"]:
            key = derived.index(h["host"])
            index = self.early.get(key)  # dropped only once the file is there
            if index is not None:
                bufs.append(index[:2])
                held.add(key)
            else:
                bufs.append(self._buffer(key))
        data = self._put(pid, _EARLY, ProfileData(self.store, record, manifest, bufs, {}))
        if held:
            with self._lock:
                self._held[pid] = (data, held)
            for key in held:  # a file written meanwhile: its drop was told before we held it
                if self.early.get(key) is None:
                    self._written(key)
        return data

    def _written(self, key: str) -> None:
        """An index file is in the store now: early views holding that index in memory
        are dropped (the next request opens the profile again, from its files)."""
        with self._lock:
            for pid, (data, keys) in list(self._held.items()):
                if key in keys:
                    del self._held[pid]
                    if pid in self._cache and self._cache[pid][1] is data:
                        del self._cache[pid]

    def _put(self, pid: str, gen: Any, data: ProfileData) -> ProfileData:
        with self._lock:
            self._cache[pid] = (gen, data)
            self._cache.move_to_end(pid)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
            for p in [p for p in self._held if p not in self._cache or
                      self._cache[p][1] is not self._held[p][0]]:
                del self._held[p]  # replaced or evicted
        return data
