"""Registry: validation, TTL, heartbeats, several processes of one job, who owns a job,
and what a registration may name (the target policy)."""

from __future__ import annotations

import pytest

from xdiag.core.errors import BadRequest, Forbidden, InvalidName, NotFound, TargetRefused
from xdiag.core.targets import TargetPolicy
from xdiag.store.registry import Caller, Registry

ME = Caller("token:me", "10.0.0.1")  # registers from the address it registers


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def reg(i: int = 0, port: int = 9000, **kw) -> dict:
    return {"job": "train", "process_index": i, "host": "10.0.0.1", "port": port, **kw}


@pytest.fixture
def registry(store):
    return Registry(store, ttl_s=30, clock=Clock(), policy=TargetPolicy("10.0.0.0/8"))


def test_hosts_go_stale_after_ttl(registry) -> None:
    registry.register(reg(0, 9000), ME)
    registry.register(reg(1, 9001), ME)
    assert [h["state"] for h in registry.hosts("train")] == ["live", "live"]
    registry.clock.t += 20
    registry.heartbeat(reg(1, 9001), ME)
    registry.clock.t += 15
    assert [h["state"] for h in registry.hosts("train")] == ["stale", "live"]
    (job,) = registry.jobs()
    assert (job["live"], job["stale"]) == (1, 1)


def test_heartbeat_unknown_is_not_found(registry) -> None:
    with pytest.raises(NotFound):
        registry.heartbeat(reg(), ME)


def test_same_index_different_processes_do_not_collide(registry) -> None:
    registry.register(reg(0, 9000), ME)
    registry.register(reg(0, 9100), ME)
    assert sorted(h["port"] for h in registry.hosts("train")) == [9000, 9100]
    registry.deregister(reg(0, 9000), ME)
    assert [h["port"] for h in registry.hosts("train")] == [9100]


def test_a_restart_supersedes_the_dead_processes_of_its_indexes(registry) -> None:
    """A job killed without deregistering, then started again on new ports: its dead
    processes are not listed or captured as failed hosts; a process index with no live
    registration keeps its last one, stale (a host that really died)."""
    for i, port in ((0, 9000), (1, 9001)):
        registry.register(reg(i, port), ME)
    registry.clock.t += 60  # killed: no deregistration, heartbeats stop
    registry.register(reg(0, 9100), ME)  # restarted: only index 0 is back
    registry.clock.t += 5
    registry.register(reg(0, 9200), ME)  # and again, quickly: index 0 has two live processes
    hosts = registry.hosts("train")
    assert [(h["process_index"], h["port"], h["state"]) for h in hosts] == [
        (0, 9100, "live"), (0, 9200, "live"), (1, 9001, "stale")]
    (job,) = registry.jobs()
    assert (job["live"], job["stale"]) == (2, 1)
    registry.clock.t += 60  # everything dead: each index keeps its last registration
    registry.register(reg(1, 9301), ME)
    registry.clock.t += 60
    hosts = registry.hosts("train")
    assert sorted((h["process_index"], h["port"]) for h in hosts) == [(0, 9200), (1, 9301)]
    assert {h["state"] for h in hosts} == {"stale"}


def test_unknown_job(registry) -> None:
    with pytest.raises(NotFound, match="not registered"):
        registry.hosts("nope")


@pytest.mark.parametrize("bad", [
    {"job": "../x"}, {"host": "bad host"}, {"port": 0}, {"port": 70000},
    {"process_index": -1}, {"port": "abc"}, {"host": ""},
    {"port": 1e400}, {"port": float("nan")}, {"port": True}, {"process_index": 10**30},
    {"hostname": "x" * 10_000}, {"device_kind": "gpu\n"}, {"peaks": {"m": float("inf")}},
    {"peaks": {f"k{i}": 1 for i in range(100)}}, {"job": "j" * 121},
])
def test_registration_validated(registry, bad: dict) -> None:
    with pytest.raises((BadRequest, InvalidName)):
        registry.register({**reg(), **bad}, ME)


def test_peaks_and_fields_kept(registry) -> None:
    registry.register(reg(device_kind="cpu", device_count=8,
                          peaks={"matmul_gflops": 10.5, "memcpy_gbps": 3}), ME)
    (h,) = registry.hosts("train")
    assert h["device_count"] == 8 and h["peaks"] == {"matmul_gflops": 10.5, "memcpy_gbps": 3.0}


def test_a_job_belongs_to_whoever_registered_it_first(registry) -> None:
    other = Caller("token:other", "10.0.0.2")
    registry.register(reg(0, 9000), ME)
    with pytest.raises(Forbidden, match="someone else"):
        registry.register({**reg(1, 9001), "host": "10.0.0.2"}, other)
    with pytest.raises(Forbidden):
        registry.deregister(reg(0, 9000), Caller("token:other", "10.0.0.1"))
    assert [h["port"] for h in registry.hosts("train")] == [9000]
    admin = Caller("token:admin", "10.9.9.9", admin=True)
    assert registry.deregister(reg(0, 9000), admin)
    # Once every process of the job is gone (and a TTL has passed), the name is free.
    registry.clock.t += 31
    registry.register({**reg(1, 9001), "host": "10.0.0.2"}, other)
    assert registry.owner("train")["owner"] == "token:other"
    assert "owner" not in registry.jobs()[0]["hosts"][0]


def test_a_dead_owners_stale_processes_go_with_the_takeover(registry) -> None:
    registry.register(reg(0, 9000), ME)
    registry.clock.t += 60  # the owner's job died without deregistering
    other = Caller("token:other", "10.0.0.2")
    registry.register({**reg(0, 9100), "host": "10.0.0.2"}, other)
    assert [(h["host"], h["port"]) for h in registry.hosts("train")] == [("10.0.0.2", 9100)]


@pytest.mark.parametrize("host", ["169.254.169.254", "metadata.google.internal", "fe80::1",
                                  "192.168.1.1", "8.8.8.8", "example.com", "0.0.0.0"])
def test_only_allowed_networks_and_never_metadata(registry, host: str) -> None:
    with pytest.raises(TargetRefused):
        registry.register({**reg(), "host": host}, Caller("token:me", host))
    with pytest.raises(NotFound):
        registry.hosts("train")


def test_the_registered_address_is_the_callers(registry) -> None:
    with pytest.raises(TargetRefused, match=r"came from 10\.0\.0\.1"):
        registry.register({**reg(), "host": "10.0.0.7"}, ME)
    # An admin with XDIAG_ALLOW_ARBITRARY_TARGETS may name another address (in the networks).
    boss = Caller("token:boss", "10.0.0.1", admin=True, any_source=True)
    registry.register({**reg(), "host": "10.0.0.7"}, boss)
    with pytest.raises(TargetRefused):
        registry.register({**reg(), "host": "169.254.169.254"}, boss)


def test_loopback_is_one_machine(store) -> None:
    registry = Registry(store, clock=Clock())  # default policy: loopback only
    registry.register({**reg(), "host": "127.0.0.1"}, Caller("local", "::1"))
    registry.register({**reg(1), "host": "localhost"}, Caller("local", "127.0.0.1"))
    assert {h["host"] for h in registry.hosts("train")} == {"127.0.0.1"}
