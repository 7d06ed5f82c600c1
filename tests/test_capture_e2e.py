"""End to end on GCS: two JAX processes with the agent, capture through the CLI, stock xprof reads it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import physics
import pytest
from support import run_cli, wait_for_hosts

from xdiag.store import open_store

pytestmark = pytest.mark.slow


def _session_keys(store, run: str) -> dict[str, list[str]]:
    sessions: dict[str, list[str]] = {}
    for key in store.list(f"{run}/plugins/profile/"):
        parts = key.split("/")
        if len(parts) == 5 and key.endswith(".xplane.pb"):
            sessions.setdefault(parts[3], []).append(parts[4])
    return sessions


def test_two_hosts_one_session_on_gcs(gcs_url, serve, jobs, tmp_path: Path) -> None:
    svc = serve(gcs_url)
    a, b = jobs(svc.url, "e2e"), jobs(svc.url, "e2e")
    hosts = wait_for_hosts(svc.url, "e2e", 2)
    assert {h["port"] for h in hosts} and len({h["port"] for h in hosts}) == 2
    assert all(h["device_count"] == 8 and h["peaks"] for h in hosts)

    t0 = time.monotonic()
    res = run_cli("capture", "e2e", "--duration-ms", "1000", "--json", "--server", svc.url)
    wall = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["id"] and out["url"].endswith("/p/" + out["id"])
    assert [h["state"] for h in out["hosts"]] == ["saved", "saved"]
    # The hosts were traced in one aligned session: their windows overlap.
    assert out["windows_overlap"] is True
    w = [h["window_ns"] for h in out["hosts"]]
    assert max(w[0][0], w[1][0]) < min(w[0][1], w[1][1])
    print(f"capture of 2 hosts for 1000 ms took {wall:.2f} s (CLI wall), "
          f"{out['wall_s']:.2f} s in the service, phases {out.get('phases')}")

    # One session with two host files in the bucket, in the layout stock xprof reads.
    store = open_store(gcs_url)
    sessions = _session_keys(store, "e2e")
    assert len(sessions) == 1
    (session, files), = sessions.items()
    assert len(files) == 2 and out["id"] == f"e2e~{session}"
    local = []
    for f in files:
        dst = tmp_path / f
        store.download_to(f"e2e/plugins/profile/{session}/{f}", dst)
        local.append(str(dst))
    from xprof.convert import raw_to_tool_data

    tools = raw_to_tool_data.xspace_to_tool_names(local)
    assert "trace_viewer@" in tools or "trace_viewer" in tools

    listed = json.loads(run_cli("profiles", "--json", "--server", svc.url).stdout)
    mine = [p for p in listed if p["id"] == out["id"]]
    assert mine and mine[0]["status"] == "ready" and len(mine[0]["hosts"]) == 2
    # The two-host capture obeys physics and keeps its books (tests/physics.py).
    from xdiag.core.config import Settings
    from xdiag.server.services import Services

    reader = Services(Settings(store=gcs_url))
    physics.check(reader.views.get(reader.profiles.get(out["id"])))

    # One host killed before the next capture: the other is saved, the dead one reported.
    b.kill()
    res = run_cli("capture", "e2e", "--duration-ms", "500", "--json", "--server", svc.url)
    assert res.returncode != 0
    out2 = json.loads(res.stdout)
    states = sorted((h["state"], h["error"] or "") for h in out2["hosts"])
    assert states[0][0] == "failed" and "port closed" in states[0][1]
    assert states[1][0] == "saved"
    assert "failed" in res.stderr and "port closed" in res.stderr
    sessions = _session_keys(store, "e2e")
    assert len(sessions) == 2 and sorted(len(v) for v in sessions.values()) == [1, 2]

    # A restarted service on the same store still lists every profile and job.
    svc.stop()
    svc2 = serve(gcs_url)
    listed = json.loads(run_cli("profiles", "--json", "--server", svc2.url).stdout)
    assert {out["id"], out2["id"]} <= {p["id"] for p in listed}
    jobs_listed = json.loads(run_cli("jobs", "--json", "--server", svc2.url).stdout)
    assert [j["job"] for j in jobs_listed] == ["e2e"] and len(jobs_listed[0]["hosts"]) >= 1
    a.kill()


def test_single_host_capture_overhead(tmp_path: Path, serve, jobs) -> None:
    svc = serve(str(tmp_path / "store"))
    jobs(svc.url, "solo")
    wait_for_hosts(svc.url, "solo", 1)
    t0 = time.monotonic()
    res = run_cli("capture", "solo", "--duration-ms", "1000", "--json", "--server", svc.url)
    wall = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["windows_overlap"] is None  # one host: nothing to compare
    print(f"capture of 1 host for 1000 ms took {wall:.2f} s (CLI wall), "
          f"{out['wall_s']:.2f} s in the service, phases {out.get('phases')}")
    # The profile opens: its timeline has slices.
    import urllib.request

    with urllib.request.urlopen(f"{svc.url}/api/v1/profiles/{out['id']}/tracks") as r:
        tracks = json.load(r)
    assert tracks["tracks"] and tracks["end_ns"] > 0


def test_capture_unknown_job_fails_clearly(tmp_path: Path, serve) -> None:
    svc = serve(str(tmp_path / "store"))
    res = run_cli("capture", "nosuchjob", "--server", svc.url)
    assert res.returncode == 1
    assert "not registered" in res.stderr


def test_cli_reports_unreachable_service() -> None:
    res = run_cli("jobs", "--server", "http://127.0.0.1:9")
    assert res.returncode == 1 and "cannot reach" in res.stderr


def test_unregistered_targets_need_the_admin_flag(tmp_path: Path, serve, jobs) -> None:
    import requests

    plain = serve(str(tmp_path / "a"))
    job = jobs(plain.url, "reg")
    (host,) = wait_for_hosts(plain.url, "reg", 1)
    target = {"job": "adhoc", "duration_ms": 300, "wait": True,
              "targets": [f"127.0.0.1:{host['port']}"]}
    r = requests.post(plain.url + "/api/v1/captures", json=target, timeout=60)
    assert r.status_code == 403 and "XDIAG_ALLOW_ARBITRARY_TARGETS" in r.json()["detail"]
    admin = serve(str(tmp_path / "b"), env={"XDIAG_ALLOW_ARBITRARY_TARGETS": "1"})
    r = requests.post(admin.url + "/api/v1/captures", json=target, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "done" and r.json()["profile_id"].startswith("adhoc~")
    job.kill()


def test_metrics_count_captures(tmp_path: Path, serve) -> None:
    import urllib.request

    svc = serve(str(tmp_path / "store"))
    run_cli("capture", "nosuchjob", "--server", svc.url)  # refused before it starts
    text = urllib.request.urlopen(svc.url + "/metrics").read().decode()
    assert 'xdiag_http_requests_total{endpoint="/api/v1/captures",method="POST",status="404"}' \
        in text
    assert "xdiag_captures_total" in text and "xdiag_ingest_seconds" in text
