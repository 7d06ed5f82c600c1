"""`kill -9` of the service mid-upload and mid-ingest (issue 16, item 3).

Before, a killed service left `.xdiag-tmp-*` copies in the store and `xdiag-upload-*`
files in the temp folder that nobody removed, and a profile it was ingesting stayed
`ingesting`. Now temporary names carry their writer's pid and start time; a service
start removes those of dead writers (never a live one's) and the unfinished upload,
and the interrupted ingest is resumed — by the next start, or by `xdiag ingest`.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from reliability_support import files_under, upload, wait_status
from support import run_cli

from xdiag.core import tempfiles
from xdiag.store import layout


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> bytes:
    """A host file that takes a few tenths of a second to check and to ingest."""
    from xdiag.xplane.synth import write_synthetic_xspace

    path = tmp_path_factory.mktemp("big") / "h.xplane.pb"
    write_synthetic_xspace(path, 500_000, n_devices=4, seed=1)
    return path.read_bytes()


def _kill(service) -> None:
    os.kill(service.proc.pid, signal.SIGKILL)
    service.proc.wait(10)


def _record(root: Path, pid: str) -> dict | None:
    path = root / layout.profile_record_key(pid)
    return json.loads(path.read_text()) if path.exists() else None


def _staged(root: Path, size: int) -> bool:
    """Whether a staged copy of `size` bytes is in the store. The resumed ingest of the
    first profile writes (and renames) temporary files of its own meanwhile."""
    for p in root.rglob(".xdiag-tmp-*"):
        try:
            if p.stat().st_size == size:
                return True
        except FileNotFoundError:
            continue  # renamed into place between the listing and the stat
    return False


def test_kill_9_mid_upload_and_mid_ingest_then_restart(tmp_path: Path, serve,
                                                       big: bytes) -> None:
    root, tmp = tmp_path / "store", tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}

    # 1. Killed while it ingests: the profile is left `ingesting`.
    first = serve(str(root), env=env)
    assert upload(first.url, big, session="ingesting").status_code == 201
    _kill(first)
    assert _record(root, "uploads~ingesting")["status"] == "ingesting"

    # 2. Killed while it checks an upload: its copies stay behind.
    second = serve(str(root), env=env)
    threading.Thread(target=lambda: _swallow(upload, second.url, big, session="unfinished"),
                     daemon=True).start()
    # Killed once the upload is staged in the store (its hard-linked copy is there):
    # the file in the temp folder and the copy in the store are both left behind.
    deadline = time.monotonic() + 30
    while not _staged(root, len(big)):
        assert time.monotonic() < deadline, "the upload was never staged"
        time.sleep(0.001)
    _kill(second)
    assert list(tmp.glob("xdiag-upload-*"))

    # A live process's temporary files (this test's) must survive every sweep.
    live_tmp = tempfiles.mkdtemp("xdiag-upload-", dir=tmp)
    live_copy = root / "uploads" / f".xdiag-tmp-{tempfiles.owner()}-live"
    live_copy.parent.mkdir(parents=True, exist_ok=True)
    live_copy.write_bytes(b"being written")

    # 3. `xdiag ingest` resumes the profile the dead service was ingesting.
    res = run_cli("ingest", "uploads~ingesting", "--store", str(root), "--json", env=env)
    assert res.returncode == 0, res.stderr
    assert _record(root, "uploads~ingesting")["status"] == "ready"

    # 4. The next start removes what the dead services left, and nothing of the living.
    third = serve(str(root), env=env)
    assert {p.name for p in tmp.glob("xdiag-*")} == {live_tmp.name}
    assert [f for f in files_under(root) if ".xdiag-tmp-" in f] == [
        f"uploads/{live_copy.name}"]
    if _record(root, "uploads~unfinished") is None:  # killed before the profile existed
        assert not [f for f in files_under(root) if "/unfinished/" in f]
    else:  # killed after: its ingest is resumed
        assert wait_status(third.url, "uploads~unfinished")["status"] == "ready"
    assert not [f for f in files_under(root) if f.startswith(layout.CLAIMS)]
    live_copy.unlink()
    assert upload(third.url, big, session="after", wait=True).json()["status"] == "ready"


def _swallow(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # the service was killed under the request
        pass


def test_a_service_leaves_an_ingest_split_over_jobs_alone(tmp_path: Path) -> None:
    """The Kubernetes ingest Jobs run `xdiag ingest --host` in one pod per host file, then
    `--finalize`: between them the profile is `ingesting` with no live process, and the
    service must not take it over (its claim says Jobs own it, for up to 6 h)."""
    import shutil

    from reliability_support import SMALL

    from xdiag.core.config import Settings
    from xdiag.server.services import Services

    root = tmp_path / "store"
    raw = root / "r" / "plugins" / "profile" / "s"
    raw.mkdir(parents=True)
    for h in ("h0", "h1"):
        shutil.copy(SMALL, raw / f"{h}.xplane.pb")
    res = run_cli("ingest", "r~s", "--store", str(root), "--host", "h0")
    assert res.returncode == 0, res.stderr
    svc = Services(Settings(store=str(root)))
    assert svc.maintain()["resumed"] == 0
    assert svc.profiles.get("r~s")["status"] == "ingesting"
    assert any(p.name == "h0.tl" for p in raw.rglob("*.tl"))  # its part is kept
    for args in (("--host", "h1"), ("--finalize",)):
        res = run_cli("ingest", "r~s", "--store", str(root), *args)
        assert res.returncode == 0, res.stderr
    assert svc.profiles.get("r~s")["status"] == "ready"
    assert svc.store.list(layout.CLAIMS) == []
