"""The job registry: which processes of which jobs can be captured right now.

One small object per process (`.xdiag/jobs/<job>/<process_index>.json`) in the
store, so every service replica sees the same registry. Each process writes
only its own object, so heartbeats need no preconditions. A host whose
heartbeats stop for `ttl_s` is shown stale and is not captured.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from typing import Any

from xdiag.errors import BadRequest, NotFound
from xdiag.names import check_name
from xdiag.store import ObjectStore, layout

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_OPTIONAL_FIELDS = {
    "process_count": int,
    "hostname": str,
    "pid": int,
    "device_kind": str,
    "device_count": int,
    "local_device_count": int,
    "jax_version": str,
}


def _check_host(host: object) -> str:
    if not isinstance(host, str) or not host:
        raise BadRequest("registration needs 'host', the address the service can dial")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        raise BadRequest(f"host {host!r} is neither an IP address nor a hostname")
    return host


def validate_registration(body: Any) -> dict[str, Any]:
    """Check an agent's registration and keep only known fields."""
    if not isinstance(body, dict):
        raise BadRequest("registration must be a JSON object")
    job = check_name(body.get("job", ""), "job")
    try:
        index = int(body.get("process_index", -1))
        port = int(body.get("port", 0))
    except (TypeError, ValueError):
        raise BadRequest("process_index and port must be integers") from None
    if index < 0:
        raise BadRequest("process_index must be >= 0")
    if not 0 < port < 65536:
        raise BadRequest(f"port {port} is out of range 1..65535")
    reg: dict[str, Any] = {
        "job": job,
        "process_index": index,
        "host": _check_host(body.get("host")),
        "port": port,
    }
    for name, kind in _OPTIONAL_FIELDS.items():
        if body.get(name) is not None:
            try:
                reg[name] = kind(body[name])
            except (TypeError, ValueError):
                raise BadRequest(f"{name} must be {kind.__name__}") from None
    peaks = body.get("peaks")
    if isinstance(peaks, dict):
        reg["peaks"] = {
            k: float(v) for k, v in peaks.items() if isinstance(v, int | float) and len(k) < 64
        }
    return reg


def _key(reg: dict[str, Any]) -> str:
    return layout.job_host_key(reg["job"], reg["process_index"], reg["host"], reg["port"])


class Registry:
    def __init__(self, store: ObjectStore, ttl_s: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.ttl_s, self.clock = store, ttl_s, clock

    def register(self, body: Any) -> dict[str, Any]:
        reg = validate_registration(body)
        now = self.clock()
        reg["registered_at"] = now
        reg["last_seen"] = now
        self.store.write_json(_key(reg), reg)
        return reg

    def heartbeat(self, body: Any) -> dict[str, Any]:
        reg = validate_registration(body)
        key = _key(reg)
        old = self.store.read_json(key)  # NotFound -> the agent re-registers
        reg["registered_at"] = old.get("registered_at", self.clock())
        reg["last_seen"] = self.clock()
        self.store.write_json(key, reg)
        return reg

    def deregister(self, body: Any) -> bool:
        return self.store.delete(_key(validate_registration(body)))

    def _with_state(self, reg: dict[str, Any]) -> dict[str, Any]:
        stale = self.clock() - float(reg.get("last_seen", 0)) > self.ttl_s
        return {**reg, "state": "stale" if stale else "live"}

    def _current(self, regs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The registrations that still stand for their process index, with their state:
        every live one; a stale one only when none is live and it is the last seen. A job
        restarted after a crash (its agent never deregistered) re-registers the same
        indexes on new ports: the dead processes are superseded, not failed hosts."""
        by_index: dict[int, list[dict[str, Any]]] = {}
        for reg in regs:
            by_index.setdefault(reg["process_index"], []).append(self._with_state(reg))
        out = []
        for _, group in sorted(by_index.items()):
            live = sorted((h for h in group if h["state"] == "live"),
                          key=lambda h: (h["host"], h["port"]))
            out += live or [max(group, key=lambda h: float(h.get("last_seen", 0)))]
        return out

    def jobs(self) -> list[dict[str, Any]]:
        by_job: dict[str, list[dict[str, Any]]] = {}
        for _, reg in self.store.iter_json(layout.JOBS):
            if isinstance(reg, dict) and "job" in reg:
                by_job.setdefault(reg["job"], []).append(reg)
        out = []
        for job, regs in sorted(by_job.items()):
            hosts = self._current(regs)
            live = sum(h["state"] == "live" for h in hosts)
            out.append({"job": job, "hosts": hosts, "live": live, "stale": len(hosts) - live})
        return out

    def hosts(self, job: str) -> list[dict[str, Any]]:
        """The registered hosts of `job` that still stand (live, or stale and not superseded
        by a restart), by process index; NotFound if none is registered."""
        prefix = f"{layout.JOBS}{check_name(job, 'job')}/"
        hosts = self._current([reg for _, reg in self.store.iter_json(prefix)])
        if not hosts:
            raise NotFound(
                f"job {job!r} is not registered: start it with xdiag.agent.start(job={job!r}, "
                "server=...) and check `xdiag jobs`"
            )
        return hosts
