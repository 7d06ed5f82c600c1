"""How ingest uses this process: threads for its C passes, and the garbage collector.

Threads: how many this process's C passes may use.

The passes a viewer waits on before the first timeline (the XSpace parse, the
sort and level-of-detail build of the index, time conversion) split their work
over this many threads, each result independent of the split. A process of
ingest's multi-host pool gets its share of the cores instead, so that the pool's
processes do not contend for them.

Garbage collector: paused while ingest runs (`gc_paused`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import threading
from collections.abc import Iterator

MAX_THREADS = 4  # the passes are memory-bound: more threads than this gain nothing
_count: int | None = None


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def count() -> int:
    """Threads for one pass: `XDIAG_THREADS` if set, else the cores, at most MAX_THREADS."""
    global _count
    if _count is None:
        env = os.environ.get("XDIAG_THREADS", "").strip()
        _count = int(env) if env.isdigit() and int(env) > 0 else min(MAX_THREADS, cores())
    return _count


def set_count(n: int) -> None:
    global _count
    _count = max(1, int(n))


_gc_lock = threading.Lock()
_gc_holds = 0
_gc_was_enabled = True


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pauses the cyclic garbage collector while any ingest step runs in this process.

    Ingest allocates a few hundred thousand short-lived containers (op rows, cost
    tables, JSON) that form no cycles; the collector's full passes over them took
    ~10% of a trainer capture's CPU. Reference counting still frees them at once,
    and collection resumes (with the usual thresholds) when the last ingest ends.
    """
    global _gc_holds, _gc_was_enabled
    with _gc_lock:
        if _gc_holds == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holds += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holds -= 1
            if _gc_holds == 0 and _gc_was_enabled:
                gc.enable()
