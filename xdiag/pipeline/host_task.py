"""Ingest's per-host task: one raw host file in, its derived files out.

The analysis is pure (`analysis.host.analyse_host`); this is its I/O shell: open or
download the raw file, parse it (or take the parse admission left, `handoff.py`),
write the timeline index as soon as it is built (from a thread, while the op and step
tables are computed; a viewer of this process reads it from memory meanwhile:
`store/live.py`), then the step table, scopes, HLO modules and the host's summary.

Runs in the serving process (one host file, or small profiles) or in a process of the
runner's pool (`in_worker`: picklable arguments, the store opened by URL).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import mmap
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from xdiag.core import heap, tempfiles, threads
from xdiag.core.errors import InvalidProfile
from xdiag.core.pack import pack_parts
from xdiag.pipeline.costs import CostMemo, StoreCostCache
from xdiag.pipeline.handoff import Handoff
from xdiag.pipeline.memory import derive_memory, raw_opener
from xdiag.store import ObjectStore, layout, open_store
from xdiag.store.live import Live

log = logging.getLogger("xdiag.ingest")


def _open_raw(store: ObjectStore, key: str, tmpdir: Path) -> tuple[Any, mmap.mmap]:
    """An mmap of the raw host file (downloaded first if the store is remote)."""
    path = store.local_path(key)
    if path is None:
        path = tmpdir / "raw.xplane.pb"
        store.download_to(key, path)
    fh = open(path, "rb")
    if os.fstat(fh.fileno()).st_size == 0:
        fh.close()
        raise InvalidProfile("empty host file")
    return fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


@threads.gc_paused()
def ingest_host(store: ObjectStore, run: str, session: str, host: str, t0_ns: int,
                derived: layout.Derived, *, costs: CostMemo, live: Live | None = None,
                handoff: Handoff | None = None) -> dict[str, Any]:
    """Analyse one host file and write its derived files; return the small summaries
    the merge needs (`merge.py`), steps included."""
    from xdiag.analysis.event_stats import ANALYSED_STATS
    from xdiag.analysis.host import analyse_host
    from xdiag.xplane.lean import read_xspace_lean

    t_start = time.perf_counter()
    # The timeline file is written by a thread while the op and step tables are built
    # (the write and its fsync release the GIL); always joined before returning.
    writer = cf.ThreadPoolExecutor(1, thread_name_prefix="xdiag-tl-writer")
    written: list[cf.Future] = []

    def write_index(idx: Any, names: list[str], tracks: list[dict[str, Any]],
                    counts: dict[str, Any]) -> None:
        meta = {"host": host, "names": names, "tracks": tracks, **idx.meta()}
        arrays = idx.arrays()
        parts = list(pack_parts(arrays, meta))
        summary = {"host": host, "tracks": tracks, "timeline_events": idx.num_events, **counts}
        key = derived.index(host)
        if live is not None:  # servable from memory while it is written
            live.early.put(key, arrays, meta, summary)

        def write() -> None:
            try:
                # Readable at once, on disk before ingest_host returns (so before any
                # manifest): the viewer need not wait for the fsync of a large index. A
                # machine crash in between leaves the profile `ingesting`, and resuming
                # starts it over (resume_pending clears its derived views first).
                store.write_parts(key, parts, durable=False)
                # After the index itself: its presence says the index is complete.
                store.write_json(derived.index_summary(host), summary)
            finally:
                if live is not None:
                    live.early.drop(key)
            if live is not None:
                live.changes.notify()  # other processes and replicas see it from now on
            store.make_durable(key)
        try:
            written.append(writer.submit(write))
        except BaseException:
            if live is not None:
                live.early.drop(key)
            raise
        if live is not None:
            live.changes.notify()

    raw_key = layout.raw_key(run, session, host)
    try:
        with tempfile.TemporaryDirectory(prefix=f"xdiag-ingest-{tempfiles.owner()}-") as tmp:
            cols = handoff.take(raw_key, store.size(raw_key)) if handoff else None
            fh = buf = None
            try:
                if cols is None:
                    fh, buf = _open_raw(store, raw_key, Path(tmp))
                    # Only what analysis reads; the file's pages are dropped while parsing.
                    cols = read_xspace_lean(buf, stats=ANALYSED_STATS)
                    # The columns hold copies: the mapped file is not read again.
                    buf.madvise(mmap.MADV_DONTNEED)
                cols.data = None

                def release(parsed: Any = cols) -> None:
                    """Analysis read the per-event columns: free them (halves the peak)."""
                    parsed.stats = parsed.events = None

                h = analyse_host(cols, t0_ns, cost_cache=StoreCostCache(store, costs),
                                 on_index=write_index, release=release)
                # The memory views (buffer assignment, allocators): the timeline is out.
                derive_memory(store, derived, host, cols, t0_ns,
                              raw_opener(store, raw_key, tmp, buf))
                del cols
            except InvalidProfile as exc:
                raise InvalidProfile(f"{host}: {exc.detail}") from None
            finally:
                if buf is not None:
                    try:
                        buf.close()
                    except BufferError:
                        pass  # a view is still alive; the mapping goes with the process
                    fh.close()
        for f in written:
            f.result()  # re-raises a failed write
    finally:
        writer.shutdown(wait=True)
    store.write_parts(derived.steps(host), pack_parts(h.steps))
    if h.kernels is not None:  # GPU kernel statistics (kernel_stats.py)
        store.write_json(derived.kernels(host), {"host": host, "kernels": h.kernels})
    # Each op name's JAX name stack, for search by named scope (name id -> op_name).
    store.write_json(derived.scopes(host), {"scopes": {str(k): v for k, v in h.scopes.items()}})
    for m in h.modules:
        key = derived.hlo(m.fingerprint)
        if not store.exists(key):
            store.write(key, m.proto)
    summary = {
        "host": host,
        "events": h.num_events,
        "aggregated_events": h.aggregated_events,
        "timeline_events": h.index.num_events,
        "tracks": h.tracks,
        "window_ns": list(h.window_ns),
        "ops": h.ops,
        "modules": [{k: getattr(m, k) for k in ("name", "program_id", "fingerprint",
                                                "instructions", "flops", "bytes")}
                    for m in h.modules],
        "device_kind_hint": h.device_kind_hint,
        "plane_peaks": h.plane_peaks,
        "seconds": time.perf_counter() - t_start,
    }
    summary.update(_diagnosis_inputs(h, host))
    # Kept so that a separate process (`xdiag ingest --finalize`) can merge the hosts.
    store.write_json(derived.host_summary(host), summary)
    return {**summary, "steps": h.steps}


def _diagnosis_inputs(h: Any, host: str) -> dict[str, Any]:
    """What the diagnosis rules need from this host (`analysis/diagnosis`); a failure
    there leaves the rules without these facts rather than failing the ingest."""
    from xdiag.analysis.diagnosis import host_inputs

    try:
        return host_inputs(h.index, h.names, h.tracks, h.steps, h.ops, h.modules)
    except Exception:
        log.exception("diagnosis facts of host %s failed", host)
        return {}


# In a process of the runner's pool: what `init_worker` set up for it (one pool belongs
# to one runner, so this process's memo is that runner's).
_worker_costs: CostMemo | None = None


def init_worker(thread_count: int) -> None:
    """A pool process's set-up: its share of the cores, its own cost memo."""
    global _worker_costs
    threads.set_count(thread_count)
    _worker_costs = CostMemo()


def in_worker(store_url: str, run: str, session: str, host: str, t0_ns: int,
              prefix: str) -> dict[str, Any]:
    """`ingest_host` in a pool process: picklable arguments, the store opened here."""
    try:
        return ingest_host(open_store(store_url), run, session, host, t0_ns,
                           layout.Derived(prefix), costs=_worker_costs or CostMemo())
    finally:
        heap.release()  # an idle pool process holds nothing of the host it ingested
