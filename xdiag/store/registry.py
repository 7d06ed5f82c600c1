"""The job registry: which processes of which jobs can be captured right now.

One small object per process in the store (`layout.job_host_key`:
`.xdiag/jobs/<job>/<process_index>@<address>_<port>.json`, with the address the target
policy kept, sanitised), so every service replica sees the same registry. Each process
writes only its own object, so heartbeats need no preconditions. A host whose
heartbeats stop for `ttl_s` is shown stale and is not captured.

What a registration may name is the target policy's (`core/targets.py`): the address
the agent calls from, inside the allowed networks. A job belongs to the identity that
registered it first (`layout.job_owner_key`: `.xdiag/job-owners/<job>.json`); others
cannot add hosts to it or deregister its hosts (admins can), until all its processes
are gone.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable
from typing import Any

from xdiag.core.errors import BadRequest, Forbidden, NotFound, TargetRefused
from xdiag.core.names import check_job, check_name
from xdiag.core.targets import TargetPolicy, check_host_syntax
from xdiag.core.values import to_float, to_int
from xdiag.store import ObjectStore, layout

# Registrations are a few hundred bytes; bounds keep one from bloating every /jobs answer.
MAX_TEXT = 256
MAX_PEAKS = 8
_PEAK_KEY = re.compile(r"[a-z0-9_]{1,64}")
_INT_FIELDS = {  # name -> (lo, hi)
    "process_count": (1, 1_000_000),
    "pid": (0, 2**31 - 1),
    "device_count": (0, 1_000_000),
    "local_device_count": (0, 1_000_000),
}
_TEXT_FIELDS = ("hostname", "device_kind", "jax_version")


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who registers: `identity` owns what it registers; `client` is the address the
    request came from (behind trusted proxies, the real client's)."""

    identity: str
    client: str | None
    admin: bool = False
    any_source: bool = False  # admin with XDIAG_ALLOW_ARBITRARY_TARGETS: any address


def _text(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if not isinstance(value, str) or len(value) > MAX_TEXT or not value.isprintable():
        raise BadRequest(f"{name} must be printable text of at most {MAX_TEXT} characters")
    return value


def validate_registration(body: Any) -> dict[str, Any]:
    """Check an agent's registration and keep only known fields, each bounded (the
    address is checked against the target policy by the Registry)."""
    if not isinstance(body, dict):
        raise BadRequest("registration must be a JSON object")
    reg: dict[str, Any] = {
        "job": check_job(body.get("job", "")),
        "process_index": to_int(body.get("process_index"), "process_index", lo=0, hi=1_000_000),
        "host": check_host_syntax(body.get("host")),
        "port": to_int(body.get("port"), "port", lo=1, hi=65535),
    }
    for name, (lo, hi) in _INT_FIELDS.items():
        if body.get(name) is not None:
            reg[name] = to_int(body[name], name, lo=lo, hi=hi)
    for name in _TEXT_FIELDS:
        if body.get(name) is not None:
            reg[name] = _text(body, name)
    peaks = body.get("peaks")
    if isinstance(peaks, dict):
        if len(peaks) > MAX_PEAKS or not all(isinstance(k, str) and _PEAK_KEY.fullmatch(k)
                                              for k in peaks):
            raise BadRequest(f"peaks: at most {MAX_PEAKS} entries named like matmul_gflops")
        reg["peaks"] = {k: to_float(v, f"peaks.{k}", lo=0, hi=1e12) for k, v in peaks.items()}
    return reg


def _key(reg: dict[str, Any]) -> str:
    return layout.job_host_key(reg["job"], reg["process_index"], reg["host"], reg["port"])


def _public(reg: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reg.items() if k != "owner"}


class Registry:
    def __init__(self, store: ObjectStore, ttl_s: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 policy: TargetPolicy | None = None) -> None:
        self.store, self.ttl_s, self.clock = store, ttl_s, clock
        self.policy = policy or TargetPolicy()

    # -- who may write what ---------------------------------------------------

    def _admit(self, body: Any, caller: Caller) -> dict[str, Any]:
        """The validated registration, its address checked against the target policy."""
        reg = validate_registration(body)
        reg["host"] = self.policy.registration_host(reg["host"], caller.client,
                                                    any_source=caller.any_source)
        return reg

    def owner(self, job: str) -> dict[str, Any] | None:
        try:
            return self.store.read_json(layout.job_owner_key(job))
        except NotFound:
            return None

    def _claim(self, job: str, caller: Caller) -> None:
        """Make sure `caller` may add hosts to `job`: it owns the job, or is an admin, or the
        job is unowned, or its owner's processes are all gone (then `caller` takes it over
        and the dead registrations go). Otherwise Forbidden."""
        current = self.owner(job)
        if current and (current.get("owner") == caller.identity or caller.admin):
            return
        now = self.clock()

        def claim(rec: Any) -> Any:
            if rec and rec.get("owner") != caller.identity and not self._abandoned(job, rec):
                raise Forbidden(f"job {job!r} is registered by someone else: use another job "
                                "name, or ask an admin to deregister its hosts")
            return {"job": job, "owner": caller.identity, "claimed_at": now}

        before = current.get("owner") if current else None
        self.store.update_json(layout.job_owner_key(job), claim)
        if before is not None and before != caller.identity:
            for key in self.store.list(f"{layout.JOBS}{job}/"):
                self.store.delete(key)  # the previous owner's dead processes

    def _abandoned(self, job: str, rec: dict[str, Any]) -> bool:
        """No live process left, and not claimed within a TTL (a claim whose registration
        is still on its way is not abandoned)."""
        if self.clock() - float(rec.get("claimed_at", 0)) <= self.ttl_s:
            return False
        regs = [r for _, r in self.store.iter_json(f"{layout.JOBS}{job}/")]
        return not any(self._with_state(r)["state"] == "live" for r in regs)

    def _check_owner(self, reg: dict[str, Any], caller: Caller) -> None:
        if caller.admin or reg.get("owner") == caller.identity:
            return
        job_owner = (self.owner(reg["job"]) or {}).get("owner")
        if job_owner != caller.identity:
            raise Forbidden(f"host {reg['host']}:{reg['port']} of job {reg['job']!r} was "
                            "registered by someone else; only they or an admin may change it")

    # -- the agent's calls ------------------------------------------------------

    def register(self, body: Any, caller: Caller) -> dict[str, Any]:
        reg = self._admit(body, caller)
        self._claim(reg["job"], caller)
        now = self.clock()
        reg.update(registered_at=now, last_seen=now, owner=caller.identity)
        self.store.write_json(_key(reg), reg)
        return _public(reg)

    def heartbeat(self, body: Any, caller: Caller) -> dict[str, Any]:
        reg = self._admit(body, caller)
        key = _key(reg)
        old = self.store.read_json(key)  # NotFound -> the agent re-registers
        self._check_owner(old, caller)
        reg.update(registered_at=old.get("registered_at", self.clock()), last_seen=self.clock(),
                   owner=old.get("owner") or caller.identity)
        self.store.write_json(key, reg)
        return _public(reg)

    def deregister(self, body: Any, caller: Caller) -> bool:
        """Remove a registration: its own agent (or the job's owner, or an admin). Nothing
        is dialled, so only the key is worked out: the address the registration kept."""
        reg = validate_registration(body)
        try:
            reg["host"] = self.policy.registration_host(reg["host"], caller.client,
                                                        any_source=True)
        except TargetRefused:
            pass  # a registration kept before the policy: named as it was stored
        key = _key(reg)
        try:
            old = self.store.read_json(key)
        except NotFound:
            return False
        self._check_owner(old, caller)
        return self.store.delete(key)

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
            out.append({"job": job, "hosts": [_public(h) for h in hosts], "live": live,
                        "stale": len(hosts) - live})
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
