"""The service's parts wired together once per process (store -> registry, profiles, ...)."""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xdiag.core.config import Settings
from xdiag.core.targets import TargetPolicy
from xdiag.pipeline.capture import Captures
from xdiag.pipeline.runner import IngestRunner
from xdiag.server.auth import RateLimiter
from xdiag.serving.profile import ViewCache
from xdiag.store import ObjectStore, open_store
from xdiag.store.profiles import Profiles
from xdiag.store.registry import Registry
from xdiag.store.secrets import Sessions, Shares, Tokens

log = logging.getLogger("xdiag.services")

# Temporary names in the system temp folder that `tempfiles.sweep` may clean.
TEMP_PREFIXES = ("xdiag-upload-", "xdiag-ingest-", "xdiag-views-", "xdiag-adopt-",
                 "xdiag-parts-", "xdiag-capture-")


class Services:
    def __init__(self, settings: Settings, store: ObjectStore | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.store = store or open_store(settings.store)
        self.tokens = Tokens(self.store, lambda: self.clock())
        self.shares = Shares(self.store, lambda: self.clock())
        self.sessions = Sessions(self.store, self.tokens, lambda: self.clock())
        self.limiter = RateLimiter()
        self._iap_keys: dict[str, str] | None = None
        self.registry = Registry(self.store, ttl_s=settings.job_ttl_s,
                                 policy=TargetPolicy(settings.target_networks))
        self.profiles = Profiles(self.store)
        self.ingest = IngestRunner(self.store, self.profiles, workers=settings.ingest_workers)
        self.views = ViewCache(self.store, self.ingest)
        self.captures = Captures(self)
        self.maintenance_s = 60.0  # resume what dead or stalled processes left
        self.sweep_s = 600.0  # remove temporary files dead processes left
        self._maintenance: threading.Thread | None = None
        self._last_sweep = float("-inf")

    def start(self) -> None:
        """What a serving process does once: resume what dead processes left (ingests,
        unfinished uploads) and remove their temporary files now, then keep doing so
        in the background (another replica's abandoned ingest is taken over)."""
        if self._maintenance is not None:
            return
        self.maintain()
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
        from xdiag.core import tempfiles

        removed = [(str(p), n) for p, n in tempfiles.sweep(tempfiles.system_dir(),
                                                           TEMP_PREFIXES)]
        removed += self.store.sweep_temp()
        if removed:
            log.info("removed %d temporary file(s) (%d bytes) left by dead processes",
                     len(removed), sum(n for _, n in removed))
        return removed

    @staticmethod
    def _guarded(what: str, step: Callable[[], Any]) -> Any:
        from xdiag.core.errors import XdiagError

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
