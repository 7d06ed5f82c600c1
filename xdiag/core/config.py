"""Service settings: defaults, overridden by `XDIAG_*` environment, then by flags/test config."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent.parent  # xdiag/
REPO_ROOT = PACKAGE.parent


def _default_webui_dir() -> str:
    packaged = PACKAGE / "server" / "static"
    if (packaged / "index.html").exists():
        return str(packaged)
    return str(REPO_ROOT / "webui" / "dist")


@dataclasses.dataclass
class Settings:
    store: str = "./var/xdiag-store"
    host: str = "127.0.0.1"
    port: int = 8791
    auth: str = "none"  # none | token | iap
    public_url: str = ""  # base URL used in printed links; default: the request's own
    job_ttl_s: float = 30.0  # a host whose heartbeats stop for this long is shown stale
    allow_arbitrary_targets: bool = False  # admin flag: capture unregistered host:port
    # Networks whose addresses agents may register and captures may dial (CIDRs, comma-
    # separated). Link-local and metadata addresses are refused whatever this says.
    target_networks: str = "127.0.0.0/8,::1/128"
    # Host header values answered besides loopback names on `port`, the bind address and
    # public_url's host: "name", "name:port", ".suffix" (subdomains), or "*" (any).
    allowed_hosts: str = ""
    # Proxies (CIDRs) whose X-Forwarded-For/-Proto/-Host are believed; others' are ignored.
    trusted_proxies: str = ""
    max_upload_bytes: int = 2 * 1024**3
    ingest_workers: int = 0  # processes for multi-host ingest; 0: min(4, os.cpu_count())
    ingest_inline: bool = False  # run ingest in the request thread (tests, CLI)
    webui_dir: str = dataclasses.field(default_factory=_default_webui_dir)
    insecure: bool = False  # allow auth=none on a non-loopback address
    iap_audience: str = ""  # /projects/<number>/global/backendServices/<id>
    iap_keys_file: str = ""  # JSON {key id: PEM public key}, as IAP publishes them
    iap_roles: str = ""  # "alice@x.com=admin,*@x.com=editor"; others are viewers
    # Roofline peaks for CPU profiles whose agent recorded none:
    # "matmul_gflops=100,memcpy_gbps=20[,cache_gbps=..]". Unset: the service measures its
    # own host once, in the background at start-up (pipeline/hostpeaks.py).
    host_peaks: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get("XDIAG_" + field.name.upper())
            if raw is None:
                continue
            if field.type == "bool":
                values[field.name] = raw.lower() in ("1", "true", "yes", "on")
            elif field.type == "int":
                values[field.name] = int(raw)
            elif field.type == "float":
                values[field.name] = float(raw)
            else:
                values[field.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_host_peaks(text: str) -> dict[str, float] | None:
    """`XDIAG_HOST_PEAKS` ("matmul_gflops=100,memcpy_gbps=20") as numbers; None if unset.
    Raises ValueError naming what is wrong."""
    if not text.strip():
        return None
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        try:
            values[key.strip()] = float(raw) if sep else float("nan")
        except ValueError:
            values[key.strip()] = float("nan")
        if not (values[key.strip()] >= 0):  # NaN too
            raise ValueError(f"XDIAG_HOST_PEAKS: {part!r} is not name=number")
    missing = {"matmul_gflops", "memcpy_gbps"} - values.keys()
    if missing:
        raise ValueError(f"XDIAG_HOST_PEAKS needs {' and '.join(sorted(missing))} "
                         "(e.g. matmul_gflops=100,memcpy_gbps=20)")
    return values
