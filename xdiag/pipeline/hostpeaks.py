"""The service's host peaks: the roofline's last resort for CPU profiles without any.

Configured (`XDIAG_HOST_PEAKS`), else measured once on the service host (the agent's
own probe: an XLA matmul and a memory copy, ~1 s) and kept in the store
(`layout.SERVICE_HOST_PEAKS`), so that every replica and every restart rates such
uploads the same way. A serving process starts the measurement in the background at
start-up (`start`); an ingest that needs the peaks before it is done waits for it, and
a standalone `xdiag ingest` measures when it first needs them. Analysis receives the
result as data (`analysis.peaks.HostPeaks`).

The probe runs in a process of its own (`python -m xdiag.pipeline.hostpeaks`), at a
lower priority: JAX and XLA (~1.5 s of CPU to import and compile, ~300 MB resident)
never enter the serving process, and a profile uploaded right after start-up is
parsed and indexed ahead of it. Nothing on a profile's first-view path waits for it:
only the merge of an ingest that needs the peaks does (the timeline is served before).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading

from xdiag.analysis.peaks import HostPeaks
from xdiag.core.config import parse_host_peaks
from xdiag.core.errors import NotFound, XdiagError
from xdiag.store import ObjectStore, layout

log = logging.getLogger("xdiag.hostpeaks")

CONFIGURED = "configured host peaks (XDIAG_HOST_PEAKS)"
MEASURED = "measured on the xdiag service host (no peaks recorded with the profile)"
PROBE_S = 1.0
PROBE_NICE = 10  # below the service's ingest threads; the probe keeps its best iterations
PROBE_TIMEOUT_S = 120.0


class ServicePeaks:
    def __init__(self, store: ObjectStore, configured: str = "") -> None:
        self.store = store
        values = parse_host_peaks(configured)
        self._peaks = HostPeaks(values, CONFIGURED) if values else None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Measure in the background now, unless configured or already known."""
        with self._lock:
            if self._peaks is not None or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._measure_logged, daemon=True,
                                            name="xdiag-host-peaks")
            self._thread.start()

    def get(self) -> HostPeaks:
        """The peaks; measures them (or waits for the measurement under way) if needed."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._lock:
            if self._peaks is None:
                self._peaks = HostPeaks(self._stored_or_measured(), MEASURED)
            return self._peaks

    def _measure_logged(self) -> None:
        try:
            peaks = HostPeaks(self._stored_or_measured(), MEASURED)
        except Exception as exc:  # the store is down: `get` tries again when needed
            log.warning("service host peaks not measured at start-up: %s", exc)
            return
        with self._lock:
            self._peaks = self._peaks or peaks

    def _stored_or_measured(self) -> dict[str, float]:
        try:
            return self.store.read_json(layout.SERVICE_HOST_PEAKS)
        except NotFound:
            pass
        measured = probe()
        try:
            self.store.write_json(layout.SERVICE_HOST_PEAKS, measured, if_generation=0)
        except XdiagError:
            return self.store.read_json(layout.SERVICE_HOST_PEAKS)  # a replica was first
        return measured


def probe(seconds: float = PROBE_S) -> dict[str, float]:
    """The agent's probe of this host, in a child process at a lower priority."""
    out = subprocess.run([sys.executable, "-m", "xdiag.pipeline.hostpeaks", str(seconds)],
                         capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if out.returncode != 0:
        raise RuntimeError(f"the host peak probe failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _main() -> None:
    os.nice(PROBE_NICE)
    from xdiag.agent import measure_host_peaks

    print(json.dumps(measure_host_peaks(float(sys.argv[1]) if len(sys.argv) > 1 else PROBE_S)))


if __name__ == "__main__":
    _main()
