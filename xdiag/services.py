"""The service's parts wired together once per process (store -> registry, profiles, ...)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from xdiag.auth import RateLimiter
from xdiag.capture import Captures
from xdiag.config import Settings
from xdiag.ingest import IngestRunner
from xdiag.profiles import Profiles
from xdiag.registry import Registry
from xdiag.secrets_store import Sessions, Shares, Tokens
from xdiag.store import ObjectStore, open_store
from xdiag.targets import TargetPolicy
from xdiag.views import ViewCache


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

    def iap_keys(self) -> dict[str, str]:
        if self._iap_keys is None:
            path = self.settings.iap_keys_file
            self._iap_keys = json.loads(Path(path).read_text()) if path else {}
        return self._iap_keys

    def profile_url(self, pid: str, base: str | None = None) -> str:
        base = (base or self.settings.public_url or
                f"http://{self.settings.host}:{self.settings.port}").rstrip("/")
        return f"{base}/p/{pid}"
