"""One parsed host file handed from admission to the ingest that follows it in the same
process, so a single-host upload or capture is parsed once, not twice.

Admission parses every byte anyway (it must, to refuse a corrupt file before anything is
stored); keeping the analysed stats while it does costs little, and the ingest of that
host, which the service runs in-process for one host file, then starts from the columns.
One slot per service container: a newer put replaces an older one, take empties it, and
an entry nobody takes within `TTL_S` is dropped, so at most one parsed file is held.
"""

from __future__ import annotations

import threading
import time
from typing import Any

TTL_S = 120.0


class Handoff:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slot: tuple[tuple[str, int], float, Any] | None = None

    def put(self, key: str, size: int, cols: Any) -> None:
        """Offer the parsed columns of the raw object `key` (of `size` bytes)."""
        with self._lock:
            self._slot = ((key, size), time.monotonic(), cols)

    def take(self, key: str, size: int | None) -> Any | None:
        """The columns offered for exactly this object, once; None if there are none."""
        with self._lock:
            slot, self._slot = self._slot, None
        if slot is None:
            return None
        ident, at, cols = slot
        fresh = time.monotonic() - at <= TTL_S
        if ident == (key, size) and fresh:
            return cols
        if fresh:  # meant for another ingest: put it back
            with self._lock:
                if self._slot is None:
                    self._slot = slot
        return None
