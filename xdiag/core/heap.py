"""How this process gives memory back to the system: the C heap (glibc malloc).

Ingest allocates per-event numpy arrays of megabytes, one after another. glibc
serves a block of 128 KiB or more by its own `mmap` (given back when freed), but
raises that threshold to the size of each such block freed, up to 32 MiB: after the
first few columns are freed, every later column of a large profile comes from the
heap, whose freed space the process keeps. Measured on a 3M-event profile through
`xdiag serve` (bench/userpath.py): 440 MB resident after an ingest whose live data
was 50 MB, under the host probe's 300 MB and the next upload's ingest. `release`
gives that space back (`malloc_trim`, a few ms) once an ingest's columns are freed.

Not done: fixing the threshold low (`mallopt`) so that every column is mapped and
returned on its own. It cut the ingest's peak by ~30 MB more, but each column then
faults in fresh pages: on the same 3M-event profile the timeline index took 60-280 ms
longer and the whole analysis 0.3-0.6 s (3x the page faults, 2-5x the system time).

The price of `release`: the next ingest faults its working set in again instead of
reusing the heap (through `xdiag serve`: a second 3M-event upload right after the first
+0.15-0.3 s to its URL, 10M +0.7 s in one run; with numpy's huge-page advice off that
cost moved to the first upload instead). Not trimming kept 200-250 MB more at 3M events.
What a fault costs depends on the machine: on our VMs (Firecracker, the guest kernel's
free page reporting on, `page_reporting_order=11`) memory freed in 8 MB blocks is handed
back to the host about 2 s later, and touching it again costs a fault in the host too.
Measured with numpy, 400 MB allocated and touched right after the same was freed: 32 ms;
after a pause of 1 / 2 / 3 / 5 s: 0.30 / 0.87 / 0.47-0.89 / 1.11 s. That is why an upload
that follows another at once is faster than one after a few seconds of anything (bench
notes), whoever freed the memory. Tried through `xdiag serve` (3M events, 2-3 runs each):
keeping every freed block (no `release`, glibc's mmap off) cut the index stage of a second
upload 0.33-0.39 -> 0.12-0.13 s but its first view only 0.79-0.91 -> 0.67-0.71 s, while
the tree's peak rose 364-374 -> 598-680 MB (the host probe beside the kept heap) and a
second upload's 364-373 -> 504-595 MB; no `release` alone: views 0.75-1.07 s, peaks 400-486
and 362-431 MB. Neither is worth its memory; a machine without page reporting pays neither.

`limit_arenas`: glibc gives each thread that allocates while another does a heap
(arena) of its own, up to 8 per core, and memory freed in one arena serves only that
arena's later allocations. A serving process has many threads (the HTTP server's
workers, the ingest queue, the index writer, the self-time pass): an upload is parsed by
a request thread, analysed by an ingest thread, and viewports are built by whichever
worker takes the request, so each one's freed memory stayed resident beside the
others'. Measured through `xdiag serve` on a 3M-event, 120 MB file (bench/userpath.py,
same tree, alternated, 4 runs each): a second upload's peak 495-508 -> 441-460 MB, the
server after 50 new windows 317-325 -> 182-188 MB; ingest and window times unchanged
within the noise (load 2-2.5). Two arenas, not one: the ingest and the requests then
seldom wait for each other's lock.
An explicit MALLOC_ARENA_MAX in the environment is left as it is.

Nothing here changes what a program computes; where the C library is not glibc it
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

_libc: Any = None
_M_ARENA_MAX = -8  # glibc's mallopt parameter
ARENAS = 2


def _glibc() -> Any | None:
    """glibc's handle, or None where malloc is another library's (musl, macOS)."""
    global _libc
    if _libc is None:
        try:
            # glibc's own name first: find_library runs `ldconfig -p` in a child process,
            # which the first trim, at an ingest's peak, used to start (a fork of the
            # whole service, counted twice in its process tree's memory until exec).
            try:
                lib = ctypes.CDLL("libc.so.6")
            except OSError:
                lib = ctypes.CDLL(ctypes.util.find_library("c"))
            lib.gnu_get_libc_version  # noqa: B018 (glibc only)
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc or None


def release() -> bool:
    """Give the heap's free space back to the system; False where that is not known
    how (not glibc)."""
    lib = _glibc()
    if lib is None:
        return False
    lib.malloc_trim(0)
    return True


def limit_arenas(count: int = ARENAS) -> bool:
    """Have all threads of this process share at most `count` C heaps (arenas); call it
    before the threads that allocate start. False where not glibc, or where the
    environment says otherwise (MALLOC_ARENA_MAX)."""
    lib = _glibc()
    if lib is None or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    return bool(lib.mallopt(_M_ARENA_MAX, count))
