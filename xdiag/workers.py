"""How many threads this process's C passes may use.

The passes a viewer waits on before the first timeline (the XSpace parse, the
sort and level-of-detail build of the index, time conversion) split their work
over this many threads, each result independent of the split. A process of
ingest's multi-host pool gets its share of the cores instead, so that the pool's
processes do not contend for them.
"""

from __future__ import annotations

import os

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
