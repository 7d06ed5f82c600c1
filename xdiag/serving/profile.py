"""One profile's derived views, opened: its hosts' timeline indexes (memory-mapped:
opening costs nothing until pages are touched), its manifest and its stored analyses,
and the viewport query over them (`timeline`). `cache.py` keeps them opened, so the
first query is as fast as the hundredth; `search.py` and `events.py` answer over them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from xdiag.analysis import timeline
from xdiag.analysis._intervals import compact_names, emit_slices
from xdiag.core import jsonio
from xdiag.core.errors import BadRequest, Conflict, NotFound
from xdiag.core.pack import unpack
from xdiag.serving import wire
from xdiag.store import ObjectStore, layout

MAX_WIDTH = 16384


def _new_columns(n: int, dtypes: dict[str, str]) -> dict[str, np.ndarray]:
    return {name: np.empty(n, dtype) for name, dtype in dtypes.items()}


def _time_bounds(idx: timeline.TimelineIndex, r: timeline.Ranges) -> tuple[int, int] | None:
    """The earliest start and the latest end of the slices `r` selects: each range's first
    and last slice, since a segment's slices (and its LOD blocks) are sorted by start and do
    not overlap. None when `r` selects nothing."""
    live = r.hi > r.lo
    if not live.any():
        return None
    lo, hi, pooled = r.lo[live], r.hi[live] - 1, r.pooled[live].astype(bool)
    if len(idx.pool_ref):
        pool = idx.pool_ref
        lo = np.where(pooled, pool[np.where(pooled, lo, 0)], lo)
        hi = np.where(pooled, pool[np.where(pooled, hi, 0)], hi)
    return int(idx.ev_start[lo].min()), int(idx.ev_end[hi].max())


class HostData:
    def __init__(self, store: ObjectStore, record: dict[str, Any], info: dict[str, Any],
                 buf: Any) -> None:
        # The index file's buffer, or (arrays, meta) of an index still being written.
        arrays, meta = buf if isinstance(buf, tuple) else unpack(buf)
        self._buf = buf
        self.store, self.record = store, record
        self.host: str = info["host"]
        self.eid_base: int = info["eid_base"]
        self.track_base: int = info["track_base"]
        self.num_events: int = info["events"]
        self.index = timeline.TimelineIndex.from_arrays(arrays, meta)
        self.names: list[str] = meta["names"]
        self.names_arr = np.array(self.names, dtype=object)
        self.num_tracks = len(meta["tracks"])
        self.max_depth = int(self.index.seg_depth.max(initial=0))
        self._scopes: dict[int, str] | None = None
        self._pos: np.ndarray | None = None
        self._events: Any = None
        self._lock = threading.Lock()

    def scopes(self) -> dict[int, str]:
        """Name id -> the op's JAX name stack (written after the index; {} until then or
        for profiles ingested without it)."""
        if self._scopes is None:
            try:
                raw = self.store.read_json(
                    layout.Derived.of(self.record).scopes(self.host))["scopes"]
                scopes = {int(k): str(v) for k, v in raw.items()}
            except (NotFound, ValueError, KeyError, TypeError):
                return {}
            self._scopes = scopes
        return self._scopes

    def position(self, src: int) -> int:
        """Index position of reader event `src` (-1 if it is not on the timeline)."""
        with self._lock:
            if self._pos is None:
                pos = np.full(self.num_events, -1, dtype=np.int64)
                pos[self.index.ev_src] = np.arange(self.index.num_events)
                self._pos = pos
        return int(self._pos[src])

    def events(self) -> Any:
        """Single events' stats from the raw host file (`xplane/events.py`: no full
        parse); opened once."""
        from xdiag.xplane.events import EventReader

        with self._lock:
            if self._events is None:
                key = layout.raw_key(self.record["run"], self.record["session"], self.host)
                path = self.store.local_path(key)
                self._events = EventReader(str(path) if path else self.store.read(key))
            return self._events


class ProfileData:
    def __init__(self, store: ObjectStore, record: dict[str, Any], manifest: dict[str, Any],
                 bufs: list[Any], analyses: dict[str, bytes]) -> None:
        self.store, self.record, self.manifest = store, record, manifest
        self._analysis_raw = analyses  # the stored JSON, served as is
        self._analyses: dict[str, Any] = {}
        self.tracks: list[dict[str, Any]] = manifest["tracks"]
        self.end_ns: int = int(manifest["end_ns"])
        self.hosts = [HostData(store, record, h, b) for h, b in zip(manifest["hosts"], bufs,
                                                                     strict=True)]
        self._eid_bases = np.array([h.eid_base for h in self.hosts], dtype=np.int64)
        self.search_cache: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}  # search.py
        self._tracks_json: bytes | None = None

    def tracks_json(self) -> bytes:
        """`GET .../tracks`: tracks in display order, the time span and step markers, as
        JSON made once (every page open asks for it; with a step marker per step it is
        3.4 MB at 10M events, ~10 ms to encode each time)."""
        if self._tracks_json is None:
            self._tracks_json = jsonio.dumps({
                "start_ns": 0, "end_ns": self.end_ns, "tracks": self.tracks,
                "steps": self.manifest["steps"],
                "hosts": [h["host"] for h in self.manifest["hosts"]],
                "complete": self.complete})
        return self._tracks_json

    # -- timeline ------------------------------------------------------------

    def timeline(self, start_ns: int, end_ns: int, width: int,
                 tracks: list[int] | None = None,
                 columns: Callable[[int, dict[str, str]], dict[str, np.ndarray]] | None = None,
                 ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The slices in a viewport: the wire's header and its six columns, each as narrow
        as its values allow (serving/wire.py), starts after the header's `origin_ns`.
        `columns(n, dtypes)` says where n slices go (a response body's views); new arrays
        otherwise."""
        if end_ns <= start_ns:
            raise BadRequest("end_ns must be greater than start_ns")
        if not 1 <= width <= MAX_WIDTH:
            raise BadRequest(f"width must be within 1..{MAX_WIDTH} pixels")
        found = []
        track_info = []
        bucket_ns = 0
        for h in self.hosts:
            local = None
            if tracks is not None:
                local = np.array([t - h.track_base for t in tracks
                                  if h.track_base <= t < h.track_base + h.num_tracks],
                                 dtype=np.int64)
                if not len(local):
                    continue
            r = timeline.ranges(h.index, start_ns, end_ns, width, h.num_tracks, local)
            found.append((h, r))
            bucket_ns = max(bucket_ns, r.bucket_ns)
            for t in range(h.num_tracks):
                if r.in_window[t] or r.returned[t]:
                    track_info.append({"id": h.track_base + t, "in_window": int(r.in_window[t]),
                                       "returned": int(r.returned[t])})
        counts = [r.count for _, r in found]
        bounds = [b for h, r in found if (b := _time_bounds(h.index, r)) is not None]
        origin = min((b[0] for b in bounds), default=start_ns)
        span = max((b[1] for b in bounds), default=origin) - origin
        hosts = [h for h, _ in found]
        dtypes = {"start_ns": wire.narrowest("start_ns", span),
                  "dur_ns": wire.narrowest("dur_ns", span), "id": "uint32",
                  "name": wire.narrowest("name", sum(len(h.names) for h in hosts) - 1),
                  "track": wire.narrowest("track", max((h.track_base + h.num_tracks
                                                        for h in hosts), default=0)),
                  "depth": wire.narrowest("depth", max((h.max_depth for h in hosts),
                                                       default=0))}
        cols = (columns or _new_columns)(sum(counts), dtypes)
        strings: dict[str, int] = {}
        at = 0
        for (h, r), k in zip(found, counts, strict=True):
            out = {name: col[at:at + k] for name, col in cols.items()}
            at += k
            idx = h.index
            emit_slices(r.lo, r.hi, r.pooled, idx.pool_ref, r.segs, idx.seg_track,
                        idx.seg_depth, h.track_base, idx.ev_start, idx.ev_end, idx.ev_name,
                        idx.ev_src, h.eid_base, origin, out["start_ns"], out["dur_ns"], out["name"],
                        out["id"], out["track"], out["depth"])
            # Only the strings used: host name ids -> their rank among those used.
            names = out["name"]
            used = np.frombuffer(compact_names(names, len(h.names), 0), np.int64)
            if len(self.hosts) == 1:  # one host's names are distinct already: no dict
                strings.update(zip(h.names_arr[used].tolist(), range(len(used)), strict=True))
            else:  # names repeat across hosts: one string-table entry each
                glob = np.array([strings.setdefault(h.names[n], len(strings))
                                 for n in used.tolist()], dtype=np.uint32)
                np.take(glob, names, out=names)
        header = {"start_ns": start_ns, "end_ns": end_ns, "width": width,
                  "bucket_ns": bucket_ns, "count": at, "origin_ns": origin,
                  "strings": list(strings), "tracks": track_info}
        return header, cols

    def host_of(self, eid: int) -> tuple[HostData, int]:
        """The host of event `eid` and the event's index in that host's file."""
        if eid < 0:
            raise NotFound(f"no event {eid}")
        k = int(np.searchsorted(self._eid_bases, eid, side="right")) - 1
        h = self.hosts[k]
        if eid - h.eid_base >= h.num_events:
            raise NotFound(f"no event {eid} in profile {self.record['id']!r}")
        return h, eid - h.eid_base

    # -- analyses ----------------------------------------------------------------

    def analysis(self, name: str) -> Any:
        """The analysis `name` ("ops", "steps", "roofline") as Python data."""
        self.require_complete(name)
        if name not in self._analyses:
            self._analyses[name] = jsonio.loads(self._analysis_raw[name])
        return self._analyses[name]

    def analysis_json(self, name: str) -> bytes:
        """The same, as the JSON ingest wrote: serving it needs no re-encoding."""
        self.require_complete(name)
        return self._analysis_raw[name]

    @property
    def complete(self) -> bool:
        """False while only the timeline is ready (the rest of ingest still runs)."""
        return self.manifest.get("complete", True)

    def require_complete(self, what: str) -> None:
        if not self.complete:
            raise Conflict(f"the {what} of profile {self.record['id']!r} are still being "
                           "computed; the timeline is ready")
