"""Failed credentials counted per client: the rate limit of sign-in, token and share-link
failures (a leaf: the service container owns one, auth counts into it)."""

from __future__ import annotations

import collections
import threading
import time

from xdiag.core.errors import TooManyRequests


class RateLimiter:
    """At most `limit` failures per client per `window_s`; further failures get 429 until
    the window has fewer. Only failures are limited: `fail` is called after a credential
    turned out wrong, so valid credentials from the same address always pass.

    Per process: with N replicas an attacker gets N x limit tries per window, still
    hopeless against 256-bit secrets; the limit is there to stop log flooding and scans.
    """

    MAX_CLIENTS = 50_000  # addresses tracked at once (memory bound under a spray of them)

    def __init__(self, limit: int = 20, window_s: float = 60.0) -> None:
        self.limit, self.window_s = limit, window_s
        self._fails: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def fail(self, key: str) -> None:
        """Count a failure of `key`; raise TooManyRequests if it is over the limit."""
        now = time.monotonic()
        with self._lock:
            if key not in self._fails and len(self._fails) >= self.MAX_CLIENTS:
                self._fails = {k: q for k, q in self._fails.items()
                               if q and q[-1] > now - self.window_s}
                if len(self._fails) >= self.MAX_CLIENTS:
                    self._fails.clear()
            q = self._fails.setdefault(key, collections.deque(maxlen=self.limit + 1))
            while q and q[0] <= now - self.window_s:
                q.popleft()
            q.append(now)
            if len(q) > self.limit:
                retry = int(self.window_s - (now - q[0])) + 1
                raise TooManyRequests(f"too many failed sign-in or share-link attempts from "
                                      f"this address; retry in {retry} s", retry_after=retry)
