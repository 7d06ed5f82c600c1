"""Shared fixtures: a real fake-gcs-server, stores of both kinds, services, jobs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import FakeGCS, JobProcess, Service

from xdiag.store import ObjectStore


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCS]:
    server = FakeGCS(tmp_path_factory.mktemp("fake-gcs"))
    old = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = server.url
    yield server
    server.stop()
    if old is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture
def gcs_url(fake_gcs: FakeGCS) -> str:
    return f"gs://{fake_gcs.new_bucket()}/root"


@pytest.fixture(params=["local", "gcs"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path / "store")
    return request.getfixturevalue("gcs_url")


@pytest.fixture
def store(store_url: str) -> ObjectStore:
    from xdiag.store import open_store

    return open_store(store_url)


@pytest.fixture
def serve(tmp_path: Path):
    """Factory: serve(store_url, *flags) -> Service; all stopped at teardown."""
    started: list[Service] = []

    def start(store_url: str, *extra: str, env: dict | None = None,
              port: int | None = None) -> Service:
        svc = Service(store_url, tmp_path, *extra, env=env, port=port)
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def jobs(tmp_path: Path):
    started: list[JobProcess] = []

    def start(server: str, job: str) -> JobProcess:
        p = JobProcess(server, job, tmp_path)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


