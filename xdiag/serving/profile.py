"""Serving side of the derived views: load once per profile, answer viewport queries.

A `ProfileData` is opened from the manifest and the hosts' timeline files
(memory-mapped: opening costs nothing until pages are touched) and kept in an
LRU cache, so the first query is as fast as the hundredth. Only the event
details of a clicked slice go back to the raw file (the stats are not copied
into the derived views), to that one event's bytes (`xplane/events.py`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from xdiag.analysis import timeline
from xdiag.analysis._intervals import gather_slices
from xdiag.core import jsonio
from xdiag.core.errors import BadRequest, Conflict, NotFound
from xdiag.core.pack import unpack
from xdiag.store import ObjectStore, layout

MAX_WIDTH = 16384
SEARCH_LIMIT = 1000


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
        self._search_cache: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}

    # -- timeline ------------------------------------------------------------

    def timeline(self, start_ns: int, end_ns: int, width: int,
                 tracks: list[int] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        if end_ns <= start_ns:
            raise BadRequest("end_ns must be greater than start_ns")
        if not 1 <= width <= MAX_WIDTH:
            raise BadRequest(f"width must be within 1..{MAX_WIDTH} pixels")
        parts = []
        strings: dict[str, int] = {}
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
            win = timeline.query(h.index, start_ns, end_ns, width, h.num_tracks, local)
            bucket_ns = max(bucket_ns, win.bucket_ns)
            ev = win.ev
            idx = h.index
            # The wire's float64 times, uint32 ids and host-local name ids in one C pass.
            k = len(ev)
            start, dur = np.empty(k, np.float64), np.empty(k, np.float64)
            name_ids, ids = np.empty(k, np.uint32), np.empty(k, np.uint32)
            gather_slices(ev, idx.ev_start, idx.ev_end, idx.ev_name, idx.ev_src, h.eid_base,
                          start, dur, name_ids, ids)
            # Strings actually used, without sorting: mark, then map host ids -> response ids.
            used = np.zeros(len(h.names), dtype=bool)
            used[name_ids] = True
            remap = np.zeros(len(h.names), dtype=np.uint32)
            u = np.flatnonzero(used)
            if len(self.hosts) == 1:  # one host's names are distinct already: no dict
                remap[u] = np.arange(len(strings), len(strings) + len(u), dtype=np.uint32)
                strings.update(zip(h.names_arr[u].tolist(), remap[u].tolist(), strict=True))
            else:  # names repeat across hosts: one string-table entry each
                for k in u.tolist():
                    remap[k] = strings.setdefault(h.names[k], len(strings))
            track = idx.seg_track[win.seg].astype(np.uint32)
            track += np.uint32(h.track_base)
            parts.append({"start_ns": start, "dur_ns": dur, "id": ids, "name": remap[name_ids],
                          "track": track, "depth": idx.seg_depth[win.seg].astype(np.uint16)})
            for t in range(h.num_tracks):
                if win.in_window[t] or win.returned[t]:
                    track_info.append({"id": h.track_base + t, "in_window": int(win.in_window[t]),
                                       "returned": int(win.returned[t])})
        columns = {k: (parts[0][k] if len(parts) == 1 else np.concatenate([p[k] for p in parts]))
                   if parts else np.zeros(0, dtype) for k, dtype in (("start_ns", np.float64),
                                                        ("dur_ns", np.float64),
                                                        ("id", np.uint32), ("name", np.uint32),
                                                        ("track", np.uint32),
                                                        ("depth", np.uint16))}
        header = {"version": 1, "start_ns": start_ns, "end_ns": end_ns, "width": width,
                  "bucket_ns": bucket_ns, "count": len(columns["id"]),
                  "strings": list(strings), "tracks": track_info}
        return header, columns

    # -- events ----------------------------------------------------------------

    def _host_of(self, eid: int) -> tuple[HostData, int]:
        if eid < 0:
            raise NotFound(f"no event {eid}")
        k = int(np.searchsorted(self._eid_bases, eid, side="right")) - 1
        h = self.hosts[k]
        if eid - h.eid_base >= h.num_events:
            raise NotFound(f"no event {eid} in profile {self.record['id']!r}")
        return h, eid - h.eid_base

    def event(self, eid: int) -> dict[str, Any]:
        h, src = self._host_of(eid)
        pos = h.position(src)
        if pos < 0:
            raise NotFound(f"event {eid} is an aggregate without a position on the timeline")
        idx = h.index
        seg = int(np.searchsorted(idx.seg_ptr, pos, side="right")) - 1
        stats = _jsonable(h.events().event_stats(src))
        hlo = None
        if "hlo_op" in stats:
            hlo = {"op": stats.get("hlo_op"), "module": stats.get("hlo_module"),
                   "program_id": stats.get("program_id")}
        track = h.track_base + int(idx.seg_track[seg])
        out = {"id": eid, "name": h.names[int(idx.ev_name[pos])], "track": track,
               "host": h.host, "depth": int(idx.seg_depth[seg]),
               "start_ns": int(idx.ev_start[pos]), "dur_ns": int(idx.ev_end[pos] - idx.ev_start[pos]),
               "stats": stats, "hlo": hlo, "category": None, "flops": None, "bytes": None}
        # Cost and category come from the op table: absent (None) until ingest has built it.
        if self.tracks[track].get("kind") == "xla_ops" and self.complete:
            op_name = (hlo or {}).get("op") or out["name"]
            module = (hlo or {}).get("module")
            # A GPU kernel is counted under its own fusion (kernel `x_fusion_3` is op
            # `x_fusion.3`) or name, not under the command buffer its hlo_op names.
            op = self.op_lookup(op_name, module) or self.op_lookup(out["name"], module,
                                                                     kernel=True)
            scope = h.scopes().get(int(idx.ev_name[pos]))
            if scope:
                out["scope"] = scope  # the JAX name stack: named scopes, primitive
            if op:
                per = max(op["occurrences"], 1)
                out.update(category=op["category"],
                           flops=None if op["flops"] is None else op["flops"] / per,
                           bytes=None if op["bytes"] is None else op["bytes"] / per)
                if hlo is None:
                    out["hlo"] = {"op": op["op"], "module": op["module"],
                                  "program_id": op["program_id"]}
        return out

    def op_lookup(self, op: str, module: str | None, *,
                  kernel: bool = False) -> dict[str, Any] | None:
        """The op table row of `op` (with `kernel`: of the op a GPU kernel of that name ran)."""
        ops = self.analysis("ops")["ops"]
        same = (lambda o: o["op"] == op or o["op"].replace(".", "_") == op) if kernel else \
            (lambda o: o["op"] == op)
        return next((o for o in ops if same(o) and (not module or o["module"] == module)), None)

    # -- search ----------------------------------------------------------------

    def search(self, q: str, after_ns: int | None, limit: int) -> dict[str, Any]:
        """Events whose name contains `q` (any case) -- or, for ops, whose JAX name stack
        does (named scopes such as `experts`: matches then carry `scope`) -- in time order
        (ties: host, then index order), `limit` at a time after `after_ns`. Events named "end: <op>" are left
        out: XLA:CPU's thunk executor (thunk_executor.cc) records one where it handles an op's
        completion (a few hundred ns on a runtime thread, the consumer end of a flow from
        the op, no HLO stats), so they would double every op match.

        Each segment's slices are sorted by start, so a page merges the next `limit`
        matches of each segment instead of sorting every match (millions for a broad
        query on a 10M-event profile: 0.3-0.5 s)."""
        q = q.strip()
        if not q:
            raise BadRequest("search needs a non-empty q")
        limit = max(1, min(limit, SEARCH_LIMIT))
        hit = self._search_cache.get(q.lower())
        if hit is None:
            hit = []
            for hi, h in enumerate(self.hosts):
                scopes = h.scopes() if self.complete else {}
                ids = [i for i, n in enumerate(h.names)
                       if (q.lower() in n.lower() or q.lower() in scopes.get(i, "").lower())
                       and not n.startswith("end:")]
                if not ids:
                    continue
                # One gather from a per-name flag (np.isin makes a pass per matching name).
                hit_name = np.zeros(len(h.names), bool)
                hit_name[ids] = True
                pos = np.flatnonzero(hit_name[h.index.ev_name])
                # Where each segment's matches start in `pos` (positions ascend).
                hit.append((hi, pos, np.searchsorted(pos, h.index.seg_ptr)))
            if len(self._search_cache) > 32:
                self._search_cache.clear()
            self._search_cache[q.lower()] = hit
        starts, hosts, found = [], [], []
        after = 0  # matches after `after_ns`
        for hi, pos, bounds in hit:
            idx = self.hosts[hi].index
            for seg in np.flatnonzero(np.diff(bounds)).tolist():
                lo, hi_ = int(bounds[seg]), int(bounds[seg + 1])
                if after_ns is not None:
                    a, b = int(idx.seg_ptr[seg]), int(idx.seg_ptr[seg + 1])
                    first = a + int(np.searchsorted(idx.ev_start[a:b], after_ns, side="right"))
                    lo += int(np.searchsorted(pos[lo:hi_], first))
                after += hi_ - lo
                take = pos[lo:min(hi_, lo + limit)]
                starts.append(idx.ev_start[take])
                hosts.append(np.full(len(take), hi, np.int64))
                found.append(take)
        if found:
            start, host_i, pos = (np.concatenate(x) for x in (starts, hosts, found))
            page = np.lexsort((pos, host_i, start))[:limit]
            host_i, pos = host_i[page], pos[page]
        else:
            host_i = pos = np.zeros(0, np.int64)
        matches = []
        for hi, p in zip(host_i.tolist(), pos.tolist(), strict=True):
            h = self.hosts[hi]
            idx = h.index
            seg = int(np.searchsorted(idx.seg_ptr, p, side="right")) - 1
            name_id = int(idx.ev_name[p])
            match = {"id": int(h.eid_base + idx.ev_src[p]), "name": h.names[name_id],
                     "track": h.track_base + int(idx.seg_track[seg]),
                     "depth": int(idx.seg_depth[seg]), "start_ns": int(idx.ev_start[p]),
                     "dur_ns": int(idx.ev_end[p] - idx.ev_start[p])}
            scope = (h._scopes or {}).get(name_id)
            if scope:
                match["scope"] = scope
            matches.append(match)
        total = sum(len(pos_) for _, pos_, _ in hit)
        return {"q": q, "total": total, "matches": matches,
                "next_after_ns": matches[-1]["start_ns"] if after > limit and matches else None}

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


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in stats.items():
        if isinstance(v, bytes):
            v = f"<{len(v)} bytes>"
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out
