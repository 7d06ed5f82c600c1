"""`kill -9` of `xdiag serve` mid-ingest and mid-upload, then a restart on the same store
(issue 16, "service kill and restart"), on the local store and on GCS (fake-gcs-server).

test_crash_cleanup.py covers the local store's temporary files and an interrupted ingest
resumed by `xdiag ingest`. What this adds, on both stores: the restart alone resumes the
interrupted ingest; while it does, the listing never shows a profile `ready` whose views
do not answer; the resumed views are byte for byte those of the same file ingested
without a crash; an upload killed before its profile existed is absent from the listing,
its files and claim gone, and its session name free again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
from reliability_support import upload, wait_status

from xdiag.store import layout, open_store
from xdiag.store.layout import VERSION


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A host file whose check and ingest take a few tenths of a second each."""
    from xdiag.xplane.synth import write_synthetic_xspace

    path = tmp_path_factory.mktemp("restart") / "h.xplane.pb"
    write_synthetic_xspace(path, 400_000, n_devices=4, seed=2)
    return path.read_bytes()


def _kill_9(service) -> list[psutil.Process]:
    """SIGKILL the service's main process, as a crash would; returns its children (the
    ingest workers) so the test can wait for them to notice and exit."""
    children = psutil.Process(service.proc.pid).children(recursive=True)
    os.kill(service.proc.pid, signal.SIGKILL)
    service.proc.wait(10)
    return children


def _reap(children: list[psutil.Process]) -> None:
    """Orphaned ingest workers end by themselves once their pipe is gone; never leave one."""
    _, alive = psutil.wait_procs(children, timeout=20)
    for p in alive:
        p.kill()


def _whole_view(url: str, pid: str) -> bytes:
    end = requests.get(f"{url}/api/v1/profiles/{pid}/tracks", timeout=30).json()["end_ns"]
    r = requests.get(f"{url}/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={end}"
                     "&width=2000", timeout=30)
    assert r.status_code == 200
    return r.content


def _listing_is_never_partial(url: str, until: float) -> set[str]:
    """Poll the listing: every profile it calls `ready` must answer its views. Returns
    the ids seen."""
    seen: set[str] = set()
    while time.monotonic() < until:
        for p in requests.get(f"{url}/api/v1/profiles", timeout=30).json():
            seen.add(p["id"])
            if p["status"] == "ready":
                for view in ("tracks", "ops", "steps"):
                    r = requests.get(f"{url}/api/v1/profiles/{p['id']}/{view}", timeout=30)
                    assert r.status_code == 200, (p["id"], view, r.text[:300])
            else:
                assert p["status"] == "ingesting", p
        if all(p["status"] == "ready"
               for p in requests.get(f"{url}/api/v1/profiles", timeout=30).json()):
            break
        time.sleep(0.05)
    return seen


def test_kill_9_then_restart_resumes_and_leaves_nothing_partial(store_url: str, serve,
                                                                tmp_path: Path,
                                                                big: bytes) -> None:
    store = open_store(store_url)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    orphans: list[psutil.Process] = []

    # 1. Killed mid-ingest: once a host's timeline index is in the store, before the rest.
    first = serve(store_url, env=env)
    rec = upload(first.url, big, session="interrupted").json()
    assert rec["status"] == "ingesting", rec
    prefix = layout.derived_prefix("uploads", "interrupted", VERSION)
    deadline = time.monotonic() + 60
    while not any(k.endswith(".tl") for k in store.list(prefix)):
        assert time.monotonic() < deadline, "ingest never wrote a timeline"
        time.sleep(0.005)
    orphans += _kill_9(first)
    assert store.read_json(layout.profile_record_key("uploads~interrupted"))["status"] == \
        "ingesting"

    # 2. Killed mid-upload: the session is claimed (the body received, being checked).
    second = serve(store_url, env=env)
    threading.Thread(target=_quietly, args=(upload, second.url, big), kwargs={
        "session": "cut"}, daemon=True).start()
    deadline = time.monotonic() + 60
    while not [k for k in store.list(layout.CLAIMS) if k.endswith("/cut.json")]:
        assert time.monotonic() < deadline, "the upload never claimed its session"
        time.sleep(0.002)
    orphans += _kill_9(second)

    # 3. Restart on the same store: the interrupted ingest resumes by itself; the listing
    # never shows a profile `ready` before its views answer.
    third = serve(store_url, env=env)
    seen = _listing_is_never_partial(third.url, until=time.monotonic() + 90)
    assert wait_status(third.url, "uploads~interrupted")["status"] == "ready"
    cut_listed = "uploads~cut" in seen
    if cut_listed:  # killed just after its record was written: resumed like the other
        assert wait_status(third.url, "uploads~cut")["status"] == "ready"
    else:  # killed before: nothing of it anywhere, its name free again
        assert not store.list(layout.session_prefix("uploads", "cut"))
        assert upload(third.url, big, session="cut", wait=True).json()["status"] == "ready"
    _reap(orphans)

    # The resumed views are those of an ingest that never crashed (same bytes).
    clean = upload(third.url, big, session="clean", wait=True).json()
    assert clean["status"] == "ready"
    assert _whole_view(third.url, "uploads~interrupted") == _whole_view(third.url,
                                                                       "uploads~clean")
    assert requests.get(f"{third.url}/api/v1/profiles/uploads~interrupted/ops",
                        timeout=30).json() == requests.get(
        f"{third.url}/api/v1/profiles/uploads~clean/ops", timeout=30).json()

    # Nothing left behind: no claims, no temporary files in the store or the temp folder.
    assert store.list(layout.CLAIMS) == []
    assert not [k for k in store.list("") if ".xdiag-tmp-" in k]
    if not store_url.startswith("gs://"):
        assert not [p for p in Path(store_url).rglob(".xdiag-tmp-*")]
    assert not list(tmp.glob("xdiag-upload-*"))


def _quietly(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except requests.RequestException:  # the service was killed under the request
        pass
