"""Registry: validation, TTL, heartbeats, several processes of one job."""

from __future__ import annotations

import pytest

from xdiag.errors import BadRequest, InvalidName, NotFound
from xdiag.registry import Registry


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def reg(i: int = 0, port: int = 9000, **kw) -> dict:
    return {"job": "train", "process_index": i, "host": "10.0.0.1", "port": port, **kw}


@pytest.fixture
def registry(store):
    return Registry(store, ttl_s=30, clock=Clock())


def test_hosts_go_stale_after_ttl(registry) -> None:
    registry.register(reg(0, 9000))
    registry.register(reg(1, 9001))
    assert [h["state"] for h in registry.hosts("train")] == ["live", "live"]
    registry.clock.t += 20
    registry.heartbeat(reg(1, 9001))
    registry.clock.t += 15
    assert [h["state"] for h in registry.hosts("train")] == ["stale", "live"]
    (job,) = registry.jobs()
    assert (job["live"], job["stale"]) == (1, 1)


def test_heartbeat_unknown_is_not_found(registry) -> None:
    with pytest.raises(NotFound):
        registry.heartbeat(reg())


def test_same_index_different_processes_do_not_collide(registry) -> None:
    registry.register(reg(0, 9000))
    registry.register(reg(0, 9100))
    assert sorted(h["port"] for h in registry.hosts("train")) == [9000, 9100]
    registry.deregister(reg(0, 9000))
    assert [h["port"] for h in registry.hosts("train")] == [9100]


def test_a_restart_supersedes_the_dead_processes_of_its_indexes(registry) -> None:
    """A job killed without deregistering, then started again on new ports: its dead
    processes are not listed or captured as failed hosts; a process index with no live
    registration keeps its last one, stale (a host that really died)."""
    for i, port in ((0, 9000), (1, 9001)):
        registry.register(reg(i, port))
    registry.clock.t += 60  # killed: no deregistration, heartbeats stop
    registry.register(reg(0, 9100))  # restarted: only index 0 is back
    registry.clock.t += 5
    registry.register(reg(0, 9200))  # and again, quickly: index 0 has two live processes
    hosts = registry.hosts("train")
    assert [(h["process_index"], h["port"], h["state"]) for h in hosts] == [
        (0, 9100, "live"), (0, 9200, "live"), (1, 9001, "stale")]
    (job,) = registry.jobs()
    assert (job["live"], job["stale"]) == (2, 1)
    registry.clock.t += 60  # everything dead: each index keeps its last registration
    registry.register(reg(1, 9301))
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
])
def test_registration_validated(registry, bad: dict) -> None:
    with pytest.raises((BadRequest, InvalidName)):
        registry.register({**reg(), **bad})


def test_peaks_and_fields_kept(registry) -> None:
    registry.register(reg(device_kind="cpu", device_count=8,
                          peaks={"matmul_gflops": 10.5, "memcpy_gbps": 3}))
    (h,) = registry.hosts("train")
    assert h["device_count"] == 8 and h["peaks"] == {"matmul_gflops": 10.5, "memcpy_gbps": 3.0}
