"""The service's host peaks: the roofline's last resort for CPU profiles without any.

Configured (`XDIAG_HOST_PEAKS`), else measured once on the service host (the agent's
own probe: an XLA matmul and a memory copy, ~1 s) and kept in the store
(`layout.SERVICE_HOST_PEAKS`), so that every replica and every restart rates such
uploads the same way. A serving process starts the measurement in the background at
start-up (`start`); an ingest that needs the peaks before it is done waits for it, and
a standalone `xdiag ingest` measures when it first needs them. Analysis receives the
result as data (`analysis.peaks.HostPeaks`).

The probe runs in a process of its own (`python -m xdiag.pipeline.hostpeaks`): JAX and XLA (~1.5 s of CPU to import and compile, ~230 MB resident)
never enter the serving process. In the background it runs only while the service
admits and ingests nothing (`busy`, from the ingest runner), and is stopped, to run
again later, when an upload or ingest starts meanwhile: a profile uploaded right after
start-up is parsed and indexed without it (and it does not measure a busy host).
Nothing on a profile's first-view path waits for it: only the merge of an ingest that
needs the peaks does (the timeline is served before), which then has it run as soon as
no ingest holds a host file's columns (`holding`: an upload received and parsed, a
host's analysis), so that the probe's memory is never added to an ingest's peak nor its
CPU taken from one: it waits for them, and one that starts meanwhile stops it, to run
again once that host's analysis is done. (A merge only waits; the host analyses it
waits for never wait for the probe.) A merge waits so at most URGENT_WAIT_S: uploads
that never pause would otherwise hold it back for ever.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from xdiag.analysis.peaks import HostPeaks
from xdiag.core.config import parse_host_peaks
from xdiag.core.errors import NotFound, XdiagError
from xdiag.store import ObjectStore, layout

log = logging.getLogger("xdiag.hostpeaks")

CONFIGURED = "configured host peaks (XDIAG_HOST_PEAKS)"
MEASURED = "measured on the xdiag service host (no peaks recorded with the profile)"
PROBE_S = 1.0
PROBE_TIMEOUT_S = 120.0
IDLE_S = 1.0  # the background probe waits for this long without uploads or ingests
# A merge waits at most this long for a moment with no upload parse or host analysis
# in progress; then the probe runs beside them (their memory and its ~230 MB at once)
# rather than hold the merge back for as long as uploads keep coming.
URGENT_WAIT_S = 60.0
POLL_S = 0.05


class ServicePeaks:
    def __init__(self, store: ObjectStore, configured: str = "") -> None:
        self.store = store
        values = parse_host_peaks(configured)
        self._peaks = HostPeaks(values, CONFIGURED) if values else None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._urgent = threading.Event()
        # Whether the service is admitting or ingesting a profile now (the ingest runner
        # sets it): the background probe starts only after IDLE_S without any, and is
        # stopped, to start again later, if one begins meanwhile.
        self.busy: Callable[[], bool] = lambda: False
        # Whether an upload is being received and parsed or a host file analysed now
        # (the ingest runner sets it): the probe, even one a merge waits for, never
        # runs beside one.
        self.holding: Callable[[], bool] = lambda: False

    def start(self) -> None:
        """Measure in the background once the service is idle, unless configured or
        already known."""
        with self._lock:
            if self._peaks is not None or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._measure_logged, daemon=True,
                                            name="xdiag-host-peaks")
            self._thread.start()

    def get(self) -> HostPeaks:
        """The peaks; measures them now if needed (or has the background probe run now,
        without its quiet second), as soon as no upload or host analysis is in progress
        (`holding`, or after URGENT_WAIT_S whatever is), and waits for them."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._urgent.set()
            thread.join()
        with self._lock:
            if self._peaks is None:
                self._peaks = HostPeaks(self._stored_or_measured(), MEASURED)
            return self._peaks

    def _measure_logged(self) -> None:
        try:
            peaks = HostPeaks(self._stored_or_measured(background=True), MEASURED)
        except Exception as exc:  # the store is down: `get` tries again when needed
            log.warning("service host peaks not measured at start-up: %s", exc)
            return
        with self._lock:
            self._peaks = self._peaks or peaks

    def _stored_or_measured(self, background: bool = False) -> dict[str, float]:
        try:
            return self.store.read_json(layout.SERVICE_HOST_PEAKS)
        except NotFound:
            pass
        measured = _this_host.get()
        if measured is None:
            measured = self._probe_when_idle(urgent=not background)
            _this_host.put(measured)
        try:
            self.store.write_json(layout.SERVICE_HOST_PEAKS, measured, if_generation=0)
        except XdiagError:
            return self.store.read_json(layout.SERVICE_HOST_PEAKS)  # a replica was first
        return measured

    def _probe_when_idle(self, urgent: bool = False) -> dict[str, float]:
        """The probe, run while no upload or host analysis is in progress (`holding`),
        and in the background (not `urgent`, until `get` makes it so) only after
        IDLE_S without any upload or ingest (`busy`). One that an upload or host
        analysis interrupts (or, in the background, any ingest) is stopped and run
        again later: it neither adds its memory to an ingest's peak nor measures a
        busy host. An urgent probe waits for that at most URGENT_WAIT_S."""
        urgent_since: float | None = None

        def in_the_way(now_urgent: bool) -> bool:
            nonlocal urgent_since
            if now_urgent and urgent_since is None:
                urgent_since = time.monotonic()
            if urgent_since is not None and time.monotonic() - urgent_since > URGENT_WAIT_S:
                return False  # waited long enough: measure beside whatever runs
            return self.holding() or (not now_urgent and self.busy())

        while True:
            quiet_since = time.monotonic()
            while True:
                now_urgent = urgent or self._urgent.is_set()
                if in_the_way(now_urgent):
                    quiet_since = time.monotonic()
                elif now_urgent or time.monotonic() - quiet_since >= IDLE_S:
                    break
                self._pause(now_urgent)
            proc = _start_probe(PROBE_S)
            started, stopped = time.monotonic(), False
            while proc.poll() is None:
                now_urgent = urgent or self._urgent.is_set()
                if in_the_way(now_urgent):
                    proc.kill()
                    stopped = True
                    break
                if time.monotonic() - started > PROBE_TIMEOUT_S:
                    proc.kill()
                    proc.communicate()
                    raise RuntimeError(
                        f"the host peak probe took over {PROBE_TIMEOUT_S:.0f} s")
                self._pause(now_urgent)
            out, err = proc.communicate()
            if not stopped:
                return _result(proc.returncode, out, err)
            log.info("host peak probe stopped (an upload or ingest started); it runs "
                     "again when none is in progress")

    def _pause(self, urgent: bool) -> None:
        if urgent:
            time.sleep(POLL_S)
        else:
            self._urgent.wait(POLL_S)  # `get` makes the probe urgent at once


class _HostMemo:
    """What this process measured of its host: a fact about the machine, whatever the
    store (a second store served by the same process is given it, not probed again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: dict[str, float] | None = None

    def get(self) -> dict[str, float] | None:
        with self._lock:
            return self._value

    def put(self, value: dict[str, float]) -> None:
        with self._lock:
            self._value = self._value or value


_this_host = _HostMemo()


def _start_probe(seconds: float) -> subprocess.Popen:
    # The probe measures the CPU alone: JAX need not look for (or start) accelerators,
    # whose runtimes would add their memory and start-up to the service's process tree.
    return subprocess.Popen([sys.executable, "-m", "xdiag.pipeline.hostpeaks", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
                                 "JAX_PLATFORMS": "cpu"})


def _result(returncode: int | None, out: str, err: str) -> dict[str, float]:
    if returncode != 0:
        raise RuntimeError(f"the host peak probe failed: {err.strip()[-500:]}")
    return json.loads(out.strip().splitlines()[-1])


def _main() -> None:
    from xdiag.agent import measure_host_peaks

    print(json.dumps(measure_host_peaks(float(sys.argv[1]) if len(sys.argv) > 1 else PROBE_S)))


if __name__ == "__main__":
    _main()
