"""One parsed host file handed from upload validation to the ingest that follows it in
the same process, so a single-host upload or capture is parsed once, not twice.

Validation parses every byte anyway (it must, to refuse a corrupt file before anything is
stored); keeping the analysed stats while it does costs little, and the ingest of that
host, which the service runs in-process for one host file, then starts from the columns.
One slot: a newer put replaces an older one, take empties it, and an entry nobody takes
within `TTL_S` is dropped, so at most one parsed file is ever held.
"""

from __future__ import annotations

import threading
import time
from typing import Any

TTL_S = 120.0

_lock = threading.Lock()
_slot: tuple[tuple[str, str, int], float, Any] | None = None


def put(store_url: str, key: str, size: int, cols: Any) -> None:
    """Offer the parsed columns of the raw object `key` (of `size` bytes) in `store_url`."""
    global _slot
    with _lock:
        _slot = ((store_url, key, size), time.monotonic(), cols)


def take(store_url: str, key: str, size: int | None) -> Any | None:
    """The columns offered for exactly this object, once; None if there are none."""
    global _slot
    with _lock:
        slot, _slot = _slot, None
    if slot is None:
        return None
    ident, at, cols = slot
    if ident == (store_url, key, size) and time.monotonic() - at <= TTL_S:
        return cols
    if time.monotonic() - at <= TTL_S:  # meant for another ingest: put it back
        with _lock:
            if _slot is None:
                _slot = slot
    return None
