"""The service host's peak probe never runs beside a host file's columns (issue 18: the
service's peak memory is the sum of its processes'): a merge that needs the peaks has
the probe wait for every upload parse and host analysis in progress, and one such
analysis starting stops a probe, which runs again once it is done.

The probe's process is faked (it measures nothing here): what is checked is when it
starts and is stopped, never how long anything takes.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from support import FIXTURES

from xdiag.core.config import Settings
from xdiag.pipeline import admit, host_task, hostpeaks
from xdiag.server.services import Services
from xdiag.store import layout

SMALL = FIXTURES / "cpu_small.xplane.pb"
PEAKS = {"matmul_gflops": 50.0, "memcpy_gbps": 10.0}
WAIT_S = 60.0  # liveness only: each wait ends as soon as its condition holds


class FakeProbe:
    """A probe process that answers PEAKS once `finish` is set, or dies when killed."""

    def __init__(self, finished: bool = False) -> None:
        self.finish = threading.Event()
        if finished:
            self.finish.set()
        self.killed = False

    @property
    def returncode(self) -> int | None:
        return -9 if self.killed else 0 if self.finish.is_set() else None

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        self.killed = True

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        return ("" if self.killed else json.dumps(PEAKS) + "\n"), ""


def _until(cond, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def fresh_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process has measured nothing of its host yet."""
    monkeypatch.setattr(hostpeaks, "_this_host", hostpeaks._HostMemo())


def test_a_merge_waits_with_the_probe_until_another_host_analysis_is_done(
        tmp_path, monkeypatch: pytest.MonkeyPatch, fresh_host) -> None:
    svc = Services(Settings(store=str(tmp_path / "store")))  # no peaks configured
    a_waits, b_started, b_done = threading.Event(), threading.Event(), threading.Event()
    starts: list[tuple[bool, bool]] = []  # at each probe start: (b analysing, holding)

    def start_probe(seconds: float) -> FakeProbe:
        starts.append((b_started.is_set() and not b_done.is_set(), svc.ingest.holding()))
        return FakeProbe(finished=True)

    get = svc.host_peaks.get

    def get_peaks():
        a_waits.set()  # a merge needs the peaks now
        return get()

    ingest_host = host_task.ingest_host

    def analyse(store, run, session, *args, **kw):
        if session == "b":
            b_started.set()
            assert a_waits.wait(WAIT_S)
            time.sleep(0.2)  # room for a probe that would not wait to start (it must not)
            try:
                return ingest_host(store, run, session, *args, **kw)
            finally:
                b_done.set()
        return ingest_host(store, run, session, *args, **kw)

    monkeypatch.setattr(hostpeaks, "_start_probe", start_probe)
    monkeypatch.setattr(svc.host_peaks, "get", get_peaks)
    monkeypatch.setattr(host_task, "ingest_host", analyse)
    ids = [svc.admission.store_session(run="r", session=s, files=[admit.HostFile("h0", SMALL)],
                                       source="upload")["id"] for s in ("b", "a")]
    for pid in ids:
        svc.ingest.submit(pid)
    _until(lambda: all(svc.profiles.get(p)["status"] != "ingesting" for p in ids),
           "both ingests")
    for pid in ids:
        rec = svc.profiles.get(pid)
        assert rec["status"] == "ready", rec.get("error")
    assert b_done.is_set() and a_waits.is_set()
    # Measured once, after B's analysis: never beside a host's columns.
    assert starts == [(False, False)]
    rec = svc.profiles.get(ids[1])
    roofline = svc.store.read_json(layout.Derived.of(rec).view("roofline"))
    assert roofline["peaks"]["source"] == hostpeaks.MEASURED
    assert roofline["peaks"]["flops_per_s"] == PEAKS["matmul_gflops"] * 1e9


def test_an_analysis_that_starts_stops_the_probe_which_runs_again_after(
        tmp_path, monkeypatch: pytest.MonkeyPatch, fresh_host) -> None:
    svc = Services(Settings(store=str(tmp_path / "store")))
    peaks = svc.host_peaks
    holding = threading.Event()
    peaks.holding = holding.is_set
    procs: list[FakeProbe] = []

    def start_probe(seconds: float) -> FakeProbe:
        assert not holding.is_set(), "the probe started beside a host's columns"
        procs.append(FakeProbe())
        return procs[-1]

    monkeypatch.setattr(hostpeaks, "_start_probe", start_probe)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(peaks.get()), daemon=True)
    waiter.start()  # a merge that needs the peaks
    _until(lambda: len(procs) == 1, "the first probe")
    holding.set()  # an upload is parsed, or a host analysed, meanwhile
    _until(lambda: procs[0].killed, "the first probe to be stopped")
    holding.clear()
    _until(lambda: len(procs) == 2, "the probe to run again")
    procs[1].finish.set()
    waiter.join(WAIT_S)
    assert got and got[0].values == PEAKS and got[0].source == hostpeaks.MEASURED
    assert not procs[1].killed
    assert peaks.store.read_json(layout.SERVICE_HOST_PEAKS) == PEAKS  # kept for every replica


def test_a_merge_waits_for_a_quiet_moment_only_so_long(
        tmp_path, monkeypatch: pytest.MonkeyPatch, fresh_host) -> None:
    """Uploads that never stop (some host's columns always held) must not hold a merge
    back for ever: after URGENT_WAIT_S the probe runs beside them, and is not stopped."""
    svc = Services(Settings(store=str(tmp_path / "store")))
    peaks = svc.host_peaks
    peaks.holding = lambda: True
    procs: list[FakeProbe] = []

    def start_probe(seconds: float) -> FakeProbe:
        procs.append(FakeProbe())
        return procs[-1]

    monkeypatch.setattr(hostpeaks, "_start_probe", start_probe)
    monkeypatch.setattr(hostpeaks, "URGENT_WAIT_S", 0.3)
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(peaks.get()), daemon=True)
    t0 = time.monotonic()
    waiter.start()
    _until(lambda: len(procs) == 1, "the probe, once the merge has waited long enough")
    assert time.monotonic() - t0 >= 0.3  # it did wait for a quiet moment first
    procs[0].finish.set()
    waiter.join(WAIT_S)
    assert got and got[0].values == PEAKS
    assert len(procs) == 1 and not procs[0].killed
