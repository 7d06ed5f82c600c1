"""Uploads: every accepted layout works, every bad input is refused and leaves the store unchanged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import FIXTURES, run_cli

from xdiag.store import open_store

SMALL = FIXTURES / "cpu_small.xplane.pb"


def _all_keys(store_url: str) -> list[str]:
    """Every key, and (local store) every file on disk: copies are staged as hidden
    temporary files while the upload is validated, and a refused upload leaves none."""
    keys = [k for k in open_store(store_url).list("") if not k.endswith(".lock")]
    files = [str(p.relative_to(store_url)) for p in Path(store_url).rglob("*")
             if p.is_file() and not p.name.endswith(".lock")]
    return sorted(keys) + ["file:" + f for f in sorted(files)]


@pytest.fixture
def service(tmp_path: Path, serve):
    return serve(str(tmp_path / "store"))


def _garbage(tmp_path: Path) -> dict[str, Path]:
    data = SMALL.read_bytes()
    cases = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "random": os.urandom(4096),
        "text": b"this is not a profile\n" * 50,
    }
    out = {}
    for name, payload in cases.items():
        p = tmp_path / name / f"{name}.xplane.pb"
        p.parent.mkdir()
        p.write_bytes(payload)
        out[name] = p
    return out


@pytest.mark.parametrize("case", ["empty", "truncated", "random", "text"])
def test_bad_uploads_are_refused_and_change_nothing(service, tmp_path: Path, case: str) -> None:
    before = _all_keys(service.store_url)
    path = _garbage(tmp_path)[case]
    res = run_cli("upload", str(path), "--server", service.url)
    assert res.returncode == 1
    assert "HTTP 400" in res.stderr and f"{case}.xplane.pb" in res.stderr
    expected = {"empty": "empty", "truncated": "not a valid XSpace", "random": "XSpace",
                "text": "XSpace"}[case]
    assert expected in res.stderr
    assert _all_keys(service.store_url) == before


def test_bad_host_in_a_session_rejects_the_whole_session(service, tmp_path: Path) -> None:
    session = tmp_path / "sess"
    session.mkdir()
    shutil.copy(SMALL, session / "good.xplane.pb")
    (session / "bad.xplane.pb").write_bytes(SMALL.read_bytes()[:1000])
    before = _all_keys(service.store_url)
    res = run_cli("upload", str(session), "--server", service.url)
    assert res.returncode == 1 and "bad.xplane.pb" in res.stderr
    assert _all_keys(service.store_url) == before


@pytest.mark.parametrize("field,value", [("run", ".."), ("run", "a/b"), ("session", "x\x01y"),
                                         ("run", "../../etc")])
def test_invalid_names_rejected(service, field: str, value: str) -> None:
    import requests

    before = _all_keys(service.store_url)
    with open(SMALL, "rb") as fh:
        r = requests.post(service.url + "/api/v1/profiles", data={field: value},
                          files={"file": ("h.xplane.pb", fh)})
    assert r.status_code == 400 and r.json()["error"] == "invalid_name"
    assert _all_keys(service.store_url) == before


def test_single_file_upload_lists_and_opens(service) -> None:
    res = run_cli("upload", str(SMALL), "--json", "--server", service.url)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "ready" and out["url"].endswith(out["id"])
    listed = json.loads(run_cli("profiles", "--json", "--server", service.url).stdout)
    assert out["id"] in [p["id"] for p in listed]
    # Same session again: a clear conflict, nothing overwritten.
    again = run_cli("upload", str(SMALL), "--server", service.url, "--run", out["run"],
                    "--session", out["session"])
    assert again.returncode == 1 and "already exists" in again.stderr


JAX_TRACE = """
import sys, jax, jax.numpy as jnp
with jax.profiler.trace(sys.argv[1]):
    x = jnp.ones((256, 256))
    for i in range(5):
        with jax.profiler.StepTraceAnnotation("train", step_num=i):
            x = jnp.tanh(x @ x).block_until_ready()
"""


def test_stock_jax_profiler_logdir_uploads(service, tmp_path: Path) -> None:
    logdir = tmp_path / "my_run"
    subprocess.run([sys.executable, "-c", JAX_TRACE, str(logdir)], check=True, timeout=120,
                   capture_output=True)
    assert list(logdir.glob("plugins/profile/*/*.xplane.pb"))
    res = run_cli("upload", str(logdir), "--json", "--server", service.url)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["run"] == "my_run" and out["status"] == "ready"
    session = next(logdir.glob("plugins/profile/*")).name
    assert out["session"] == session
    # Stored in exactly the xprof layout, byte for byte.
    store = open_store(service.store_url)
    (src,) = logdir.glob("plugins/profile/*/*.xplane.pb")
    key = f"my_run/plugins/profile/{session}/{out['hosts'][0]['host']}.xplane.pb"
    assert store.read(key) == src.read_bytes()
    listed = json.loads(run_cli("profiles", "--json", "--server", service.url).stdout)
    assert out["id"] in [p["id"] for p in listed]
    steps = json.loads(run_cli_get(service.url, f"/api/v1/profiles/{out['id']}/steps"))
    assert steps["summary"]["count"] >= 4


def run_cli_get(server: str, path: str) -> str:
    import urllib.request

    with urllib.request.urlopen(server + path) as r:
        return r.read().decode()


def test_upload_missing_path() -> None:
    res = run_cli("upload", "/nonexistent/x.xplane.pb")
    assert res.returncode == 2  # click usage error: the path does not exist
