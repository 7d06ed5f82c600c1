"""The view cache of a replica on GCS (issue 16, item 2): local copies of the timeline
index keyed by generation, downloaded once under a unique name, bounded and cleaned.

Before, copies were keyed by object name: after a delete and an upload of another
profile under the same id, an old replica served the old copy (the first test's window:
40 slices of the deleted profile where a fresh replica served 8 of the new one);
concurrent first views shared one `.part` file (1 to 15 of 20 requests -> 500 in four
runs of the second test); copies were never deleted, and a key over 255 bytes -> 500.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest
from reliability_support import SMALL, variant

from xdiag.core import tempfiles
from xdiag.core.config import Settings
from xdiag.server import create_app
from xdiag.server.services import Services
from xdiag.serving.viewfiles import PREFIX, ViewFiles
from xdiag.store import layout
from xdiag.store.layout import VERSION


def _replica(store_url: str):
    """An app instance of its own (its own view cache) on the shared bucket."""
    svc = Services(Settings(store=store_url, ingest_inline=True))
    return create_app(services=svc), svc


def _upload(app, data: bytes, session: str, run: str = "r", host: str = "h") -> dict:
    resp = app.test_client().post("/api/v1/profiles?wait=1", data={
        "file": (io.BytesIO(data), f"{host}.xplane.pb"), "session": session,
        "run": run}, content_type="multipart/form-data")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "ready"
    return resp.get_json()


def _window(app, pid: str) -> dict:
    resp = app.test_client().get(f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns=1000000000000"
                      "&width=1000&format=json")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@pytest.fixture(scope="module")
def other_profile(tmp_path_factory) -> bytes:
    from xdiag.xplane.synth import write_synthetic_xspace

    path = tmp_path_factory.mktemp("synth") / "h.xplane.pb"
    write_synthetic_xspace(path, 20_000, n_devices=2, seed=3)
    return path.read_bytes()


def test_an_old_replica_serves_a_profile_uploaded_again_under_its_id(
        gcs_url: str, other_profile: bytes) -> None:
    a, _ = _replica(gcs_url)
    old, _ = _replica(gcs_url)
    pid = _upload(a, SMALL.read_bytes(), "s")["id"]
    first = _window(old, pid)  # the old replica copies the index
    assert a.test_client().delete(f"/api/v1/profiles/{pid}").status_code == 204
    _upload(a, other_profile, "s")
    fresh, _ = _replica(gcs_url)
    expected = _window(fresh, pid)
    assert len(expected["slices"]) != len(first["slices"])  # the test means something
    assert _window(old, pid) == expected


def test_twenty_concurrent_first_views_on_a_fresh_replica(gcs_url: str) -> None:
    a, _ = _replica(gcs_url)
    pid = _upload(a, variant(1), "s")["id"]
    app, svc = _replica(gcs_url)
    barrier = threading.Barrier(20)
    answers: list[tuple[int, bytes]] = []

    def view() -> None:
        client = app.test_client()
        barrier.wait()
        resp = client.get(f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns=10000000000"
                          "&width=800")
        answers.append((resp.status_code, resp.data))

    threads = [threading.Thread(target=view) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [code for code, _ in answers] == [200] * 20
    assert len({body for _, body in answers}) == 1
    assert [p.name for p in svc.views.files.files()] != [] and not any(
        p.name.startswith(".part") for p in svc.views.files.files())
    assert len(svc.views.files.files()) == 1  # one host, downloaded once


def test_copies_are_bounded_replaced_and_removed(gcs_url: str, tmp_path: Path) -> None:
    a, svc = _replica(gcs_url)
    pids = [_upload(a, variant(i), f"s{i}")["id"] for i in range(3)]
    # Names as long as allowed: the index's key is far over 255 bytes.
    pids.append(_upload(a, variant(3), "s" * 100, run="r" * 99, host="h" * 150)["id"])
    keys = []
    for pid in pids:
        rec = svc.profiles.get(pid)
        keys.append(layout.derived_prefix(rec["run"], rec["session"], VERSION) +
                    f"hosts/{rec['hosts'][0]['host']}.tl")
    assert len(keys[3]) > 255
    size = svc.store.size(keys[0])
    files = ViewFiles(svc.store, max_bytes=int(size * 2.5))
    maps = [files.open(k) for k in keys]
    assert all(len(m) == svc.store.size(k) for m, k in zip(maps, keys, strict=True))
    on_disk = files.files()
    assert len(on_disk) == 2 and files.bytes <= size * 2.5  # the least recent deleted
    assert all(len(p.name) <= 64 for p in on_disk)
    assert maps[0][:16] == files.open(keys[0])[:16]  # evicted copies are fetched again
    # A new generation replaces its copy at once.
    svc.store.write(keys[3], svc.store.read(keys[3]))
    files.open(keys[3])
    assert len(files.files()) == 2 and files.bytes <= size * 2.5
    directory = files.dir
    files.close()
    assert not directory.exists()


def test_a_dead_replicas_copies_are_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    live = tempfiles.mkdtemp(PREFIX, dir=tmp_path)
    dead = tmp_path / f"{PREFIX}{tempfiles.machine()}.{2**22 + 17}.5-abc"  # no such pid
    dead.mkdir()
    (dead / "copy").write_bytes(b"x" * 1000)
    old = tmp_path / f"{PREFIX}untagged"  # an older version's directory
    old.mkdir()
    os.utime(old, (0, 0))
    removed = {p for p, _ in tempfiles.sweep(tmp_path, (PREFIX,))}
    assert removed == {dead, old} and live.exists()
