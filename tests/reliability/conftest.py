"""Fixtures of the reliability suite; helpers are in reliability_support.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_support import RestartableGCS


@pytest.fixture
def restartable_gcs(tmp_path: Path, monkeypatch) -> Iterator[RestartableGCS]:
    """Its own emulator (killing the session's would break other tests); the GCS client
    gives up after 1.5 s instead of 120 s, so an outage answers within the test."""
    from xdiag.store import gcs

    server = RestartableGCS(tmp_path / "gcs")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.url)
    monkeypatch.setattr(gcs, "RETRY_S", 1.5)
    monkeypatch.setattr(gcs, "RETRY", gcs.DEFAULT_RETRY.with_deadline(1.5).with_delay(
        initial=0.1, maximum=0.5))
    yield server
    server.kill()
