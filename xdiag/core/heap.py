"""How this process gives memory back to the system: the C heap (glibc malloc).

Ingest allocates per-event numpy arrays of megabytes, one after another. glibc
serves a block of 128 KiB or more by its own `mmap` (given back when freed), but
raises that threshold to the size of each such block freed, up to 32 MiB: after the
first few columns are freed, every later column of a large profile comes from the
heap instead, whose freed space the process keeps. Measured on a 3M-event profile
through `xdiag serve` (bench/userpath.py): 440 MB resident after an ingest whose
live data was 50 MB, under the host probe's 300 MB and the next upload's ingest.

While an ingest runs (`large_blocks_mapped`), blocks of 1 MiB or more are mapped on
their own and given back as soon as they are freed; after the last one, the
threshold is glibc's own ceiling again (32 MiB: a viewer's requests reuse the heap
rather than fault in fresh pages for every response) and the heap's free space is
given back (`release`, `malloc_trim`). Fixing the threshold also stops glibc's
matching rise of the heap's trim threshold, so that is set to 64 MiB, the value it
reaches by itself (at glibc's initial 128 KiB the heap was shrunk and grown again
around every request: new windows took twice as long). Nothing here changes what a
program computes, only where its memory comes from; where the C library is not
glibc, it all does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from typing import Any

INGEST_BLOCK_BYTES = 1024 * 1024  # mapped on their own while an ingest runs
SERVING_BLOCK_BYTES = 32 * 1024 * 1024  # glibc's own ceiling for its moving threshold
HEAP_TRIM_BYTES = 64 * 1024 * 1024  # likewise, for the trim threshold
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h

_lock = threading.Lock()
_libc: Any = None
_ingests = 0


def _glibc() -> Any | None:
    """glibc's handle, or None where malloc is another library's (musl, macOS)."""
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            lib.gnu_get_libc_version  # noqa: B018 (glibc only)
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
            lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    return _libc or None


def _map_from(lib: Any, block_bytes: int) -> bool:
    return bool(lib.mallopt(_M_TRIM_THRESHOLD, HEAP_TRIM_BYTES)) and \
        bool(lib.mallopt(_M_MMAP_THRESHOLD, block_bytes))


def map_large_blocks(block_bytes: int = INGEST_BLOCK_BYTES) -> bool:
    """From now on, blocks of `block_bytes` or more get their own mapping, returned
    when freed (a process that only ingests: the pool's). True if it took effect."""
    with _lock:
        lib = _glibc()
        return lib is not None and _map_from(lib, block_bytes)


@contextlib.contextmanager
def large_blocks_mapped() -> Iterator[None]:
    """While any ingest of this process runs: its columns are returned when freed.
    After the last one, the heap's free space is given back too."""
    global _ingests
    lib = _glibc()
    if lib is None:
        yield
        return
    with _lock:
        _ingests += 1
        if _ingests == 1:
            _map_from(lib, INGEST_BLOCK_BYTES)
    try:
        yield
    finally:
        with _lock:
            _ingests -= 1
            if _ingests == 0:
                _map_from(lib, SERVING_BLOCK_BYTES)
        release()


def release() -> None:
    """Give the heap's free space back to the system (a few ms)."""
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)
