"""One status line on stderr, redrawn in place while `upload` and `capture` wait: the
transfer as a bar, then what the service is doing. Drawn only on a terminal (or when
asked), so scripts' stderr stays clean."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR = 24


class Progress:
    def __init__(self, enabled: bool, out: TextIO | None = None) -> None:
        self.enabled = enabled
        self.out = out or sys.stderr
        self.t0 = time.monotonic()
        self._shown = 0
        self._last = 0.0

    def _draw(self, text: str, force: bool) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.1):
            return
        self._last = now
        pad = max(0, self._shown - len(text))
        self.out.write("\r" + text + " " * pad)
        self.out.flush()
        self._shown = len(text)

    def bar(self, label: str, done: int, total: int, *, force: bool = False) -> None:
        """`label [#####.....]  42%  50.3/120.3 MB  180 MB/s`."""
        frac = min(1.0, done / total) if total else 1.0
        fill = round(frac * BAR)
        rate = done / max(time.monotonic() - self.t0, 1e-6) / 1e6
        self._draw(f"{label} [{'#' * fill}{'.' * (BAR - fill)}] {frac * 100:3.0f}%  "
                   f"{done / 1e6:.1f}/{total / 1e6:.1f} MB  {rate:.0f} MB/s", force)

    def status(self, text: str) -> None:
        """`text … 1.2 s` (seconds since the command started)."""
        self._draw(f"{text} … {time.monotonic() - self.t0:4.1f} s", True)

    def clear(self) -> None:
        if self.enabled and self._shown:
            self.out.write("\r" + " " * self._shown + "\r")
            self.out.flush()
            self._shown = 0
