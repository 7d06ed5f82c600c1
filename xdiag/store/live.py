"""What this process is writing, told to its readers before the store can tell them.

One `Live` per service container (`server/services.py`), handed to the ingest runner
that writes and to the readers that wait or read: two apps in one process never share
it. Other processes and replicas learn the same from the store, a little later.

- `Changes`: a counter of ingest milestones (a host's timeline written, a profile
  `ready` or `failed`), so that a request can wait for the next one (the web UI's long
  poll) instead of polling the store.
- `EarlyIndexes`: host timeline indexes built and still being written, by key: a
  viewer in the same process opens them from memory at once instead of waiting for
  the file (a 5M-event index is 133 MB, 50-100 ms to write). Each is dropped once its
  `.tl` and `.tl.json` are in the store, which then answers; readers that opened it
  hear of the drop (`on_drop`) and let go of it too.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any

# (index arrays, index meta, the `.tl.json` summary) of one host
EarlyIndex = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


class Changes:
    """Milestones of this process's ingests, counted."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.count = 0

    def notify(self) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        """Until the count moves past `seen` (read before looking at the state), or timeout."""
        with self._cond:
            self._cond.wait_for(lambda: self.count != seen, timeout)


class EarlyIndexes:
    """Host indexes being written, by their derived key (`layout.Derived.index`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, EarlyIndex] = {}
        self._on_drop: list[Callable[[str], None]] = []

    def on_drop(self, fn: Callable[[str], None]) -> None:
        """`fn(key)` after each index is dropped (its file now answers)."""
        self._on_drop.append(fn)

    def put(self, key: str, arrays: dict[str, Any], meta: dict[str, Any],
            summary: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = (arrays, meta, summary)

    def get(self, key: str) -> EarlyIndex | None:
        with self._lock:
            return self._items.get(key)

    def drop(self, key: str) -> None:
        with self._lock:
            held = self._items.pop(key, None)
        if held is not None:
            for fn in self._on_drop:
                fn(key)


@dataclasses.dataclass
class Live:
    changes: Changes = dataclasses.field(default_factory=Changes)
    early: EarlyIndexes = dataclasses.field(default_factory=EarlyIndexes)
