"""The service's parts wired together once per process (store -> registry, profiles, ...)."""

from __future__ import annotations

from xdiag.capture import Captures
from xdiag.config import Settings
from xdiag.ingest import IngestRunner
from xdiag.profiles import Profiles
from xdiag.registry import Registry
from xdiag.store import ObjectStore, open_store
from xdiag.views import ViewCache


class Services:
    def __init__(self, settings: Settings, store: ObjectStore | None = None) -> None:
        self.settings = settings
        self.store = store or open_store(settings.store)
        self.registry = Registry(self.store, ttl_s=settings.job_ttl_s)
        self.profiles = Profiles(self.store)
        self.ingest = IngestRunner(self.store, self.profiles, workers=settings.ingest_workers)
        self.views = ViewCache(self.store, self.ingest)
        self.captures = Captures(self)

    def profile_url(self, pid: str, base: str | None = None) -> str:
        base = (base or self.settings.public_url or
                f"http://{self.settings.host}:{self.settings.port}").rstrip("/")
        return f"{base}/p/{pid}"
