"""The service's parts wired together, once per app (and once per standalone `xdiag
ingest` or `xdiag token` command): every piece of state a service keeps in its process
is a member here, so two apps in one process never share any by accident.

What stays process-wide is what is so by nature: the Prometheus registry, the garbage
collector's pause count and this process's thread count (`core/threads.py`), its
owner tag (`core/tempfiles.py`), and the interpreter's switch interval set below.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xdiag.core import tempfiles
from xdiag.core.config import Settings
from xdiag.core.errors import XdiagError
from xdiag.core.targets import TargetPolicy
from xdiag.pipeline.admit import Admission
from xdiag.pipeline.capture import Captures
from xdiag.pipeline.claims import Claims
from xdiag.pipeline.handoff import Handoff
from xdiag.pipeline.hostpeaks import ServicePeaks
from xdiag.pipeline.runner import IngestRunner
from xdiag.server.ratelimit import RateLimiter
from xdiag.serving.cache import ProfileCache
from xdiag.store import ObjectStore, open_store
from xdiag.store.live import Live
from xdiag.store.profiles import Profiles
from xdiag.store.registry import Registry
from xdiag.store.secrets import Shares, SignIns, Tokens

log = logging.getLogger("xdiag.services")

# Temporary names in the system temp folder that `tempfiles.sweep` may clean.
TEMP_PREFIXES = ("xdiag-upload-", "xdiag-ingest-", "xdiag-views-", "xdiag-adopt-",
                 "xdiag-parts-", "xdiag-capture-")


class Services:
    def __init__(self, settings: Settings, store: ObjectStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        # A single host file is ingested by a thread of the serving process, which holds
        # the GIL for Python-heavy stretches (HLO costing): with the default 5 ms switch
        # interval, a viewer's timeline request waits 5 ms at each hand-over (0.25 s for
        # the first viewport measured, 20-50 ms at 1 ms).
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.001))
        self.settings = settings
        self.clock = clock
        self.store = store or open_store(settings.store)
        self.live = Live()  # what ingest here tells readers here before the store does
        self.tokens = Tokens(self.store, lambda: self.clock())
        self.shares = Shares(self.store, lambda: self.clock())
        self.signins = SignIns(self.store, self.tokens, lambda: self.clock())
        self.limiter = RateLimiter()
        self._iap_keys: dict[str, str] | None = None
        self.registry = Registry(self.store, ttl_s=settings.job_ttl_s,
                                 policy=TargetPolicy(settings.target_networks))
        self.profiles = Profiles(self.store)
        self.claims = Claims(self.store)
        self.handoff = Handoff()
        self.host_peaks = ServicePeaks(self.store, settings.host_peaks)
        self.admission = Admission(self.store, self.profiles, self.claims, self.handoff)
        self.ingest = IngestRunner(self.store, self.profiles, self.claims, live=self.live,
                                   handoff=self.handoff, host_peaks=self.host_peaks,
                                   processes=settings.ingest_workers)
        # Readers ask for a background re-ingest of views they find stale; never run one.
        self.views = ProfileCache(self.store, self.live.early, reingest=self.ingest.submit)
        self.captures = Captures(self.store, self.registry, self.admission, self.ingest)
        self.maintenance_s = 60.0  # resume what dead or stalled processes left
        self.sweep_s = 600.0  # remove temporary files dead processes left
        self._maintenance: threading.Thread | None = None
        self._last_sweep = float("-inf")

    def start(self) -> None:
        """What a serving process does once: resume what dead processes left (ingests,
        unfinished uploads) and remove their temporary files now, then keep doing so
        in the background (another replica's abandoned ingest is taken over); measure
        this host's peaks in the background if the store has none."""
        if self._maintenance is not None:
            return
        self.maintain()
        self.host_peaks.start()
        ref = weakref.ref(self)  # the thread does not keep a discarded service alive
        self._maintenance = threading.Thread(target=_maintenance_loop, args=(ref,),
                                             daemon=True, name="xdiag-maintenance")
        self._maintenance.start()

    def maintain(self, *, sweep: bool | None = None) -> dict[str, Any]:
        """One pass: temporary files (every `sweep_s`, or if `sweep`) and resumes.
        Never raises: a store outage is logged and the next pass tries again."""
        out: dict[str, Any] = {}
        now = time.monotonic()
        if sweep or (sweep is None and now - self._last_sweep >= self.sweep_s):
            self._last_sweep = now
            out["removed"] = self._guarded("temporary files", self.sweep_temp) or []
        out["resumed"] = self._guarded("resume", self.ingest.resume_pending)
        return out

    def sweep_temp(self) -> list[tuple[str, int]]:
        """The temporary files dead processes left here and in a local store."""
        removed = [(str(p), n) for p, n in tempfiles.sweep(tempfiles.system_dir(),
                                                           TEMP_PREFIXES)]
        removed += self.store.sweep_temp()
        if removed:
            log.info("removed %d temporary file(s) (%d bytes) left by dead processes",
                     len(removed), sum(n for _, n in removed))
        return removed

    @staticmethod
    def _guarded(what: str, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except XdiagError as exc:
            log.warning("maintenance (%s) skipped: %s", what, exc.detail)
        except Exception:
            log.exception("maintenance (%s) failed", what)
        return None

    def iap_keys(self) -> dict[str, str]:
        if self._iap_keys is None:
            path = self.settings.iap_keys_file
            self._iap_keys = json.loads(Path(path).read_text()) if path else {}
        return self._iap_keys

    def profile_url(self, pid: str, base: str | None = None) -> str:
        base = (base or self.settings.public_url or
                f"http://{self.settings.host}:{self.settings.port}").rstrip("/")
        return f"{base}/p/{pid}"


def _maintenance_loop(ref: weakref.ref) -> None:
    while True:
        svc = ref()
        if svc is None:
            return
        wait = svc.maintenance_s
        del svc
        time.sleep(wait)
        svc = ref()
        if svc is None:
            return
        svc.maintain()
        del svc
