"""Pod-scale sessions (one host file per host of a pod slice), scaled down.

A session standalone-ingested by the Kubernetes ingest Jobs as rendered and run here
(`deploy/ingest_jobs.py`: `xdiag ingest SESSION --host H`, one process per pod, against
the GCS emulator, then `--finalize`)
equals the in-service ingest byte for byte; the peak memory of an ingest does not grow
with the number of hosts; and a session opens progressively: the first hosts' timeline
is served while the others are still ingesting, with the same ids as in the final views.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT

from xdiag.core.config import Settings
from xdiag.server.services import Services
from xdiag.store import ObjectStore, layout, open_store
from xdiag.xplane.synth import pod_host_name, write_pod_session

PEAKS = {"XDIAG_HOST_PEAKS": "matmul_gflops=100,memcpy_gbps=20"}  # no host measurement
PID = "pod~session"


@pytest.fixture(scope="module")
def pod8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8-host session (200k events a host, host 3 a straggler): its session folder."""
    logdir = tmp_path_factory.mktemp("pod8")
    return write_pod_session(logdir, 8, 200_000, seed=7).folder


@pytest.fixture(scope="module")
def pod4(pod8: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same session's first 4 hosts (the same bytes)."""
    folder = tmp_path_factory.mktemp("pod4") / "pod" / "plugins" / "profile" / "session"
    folder.mkdir(parents=True)
    for i in range(4):
        os.link(pod8 / f"{pod_host_name(i)}.xplane.pb", folder / f"{pod_host_name(i)}.xplane.pb")
    return folder


def _files(folder: Path) -> list[tuple[str, Path]]:
    return [(p.name[: -len(layout.XPLANE_SUFFIX)], p)
            for p in sorted(folder.glob("*" + layout.XPLANE_SUFFIX))]


def _write_raw(store: ObjectStore, folder: Path) -> None:
    """The session written straight into the store (as `jax.profiler.trace(gs://...)`)."""
    for host, path in _files(folder):
        store.write(layout.raw_key("pod", "session", host), path.read_bytes())


def _ingest_jobs():
    """deploy/ingest_jobs.py (a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ingest_jobs", ROOT / "deploy" /
                                                  "ingest_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _derived(store: ObjectStore) -> dict[str, bytes]:
    prefix = layout.derived_prefix("pod", "session", layout.VERSION)
    return {k[len(prefix):]: store.read(k) for k in store.list(prefix)}


def _without_seconds(raw: bytes) -> dict:
    doc = json.loads(raw)
    doc.pop("seconds", None)
    return doc


def test_standalone_jobs_on_gcs_equal_the_service_ingest(pod4: Path, tmp_path: Path,
                                                         gcs_url: str, monkeypatch) -> None:
    """The indexed Job run as rendered: one process per host, two at a time (the Job's
    parallelism), against the emulator; then the finalize Job. Same files as the
    service's ingest of the uploaded session (in its process pool, as for any large
    session), byte for byte but the timings."""
    from xdiag.pipeline import admit, runner

    for k, v in PEAKS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(runner, "POOL_MIN_BYTES", 0)  # the pool, as a 32 x 40 MB session
    svc = Services(Settings.from_env(store=str(tmp_path / "local")))
    rec = svc.admission.store_session(
        run="pod", session="session", source="upload",
        files=[admit.HostFile(h, p) for h, p in _files(pod4)])
    try:
        assert svc.ingest.run(rec["id"])["status"] == "ready"
        assert svc.ingest._pool is not None
    finally:
        svc.ingest.shutdown()

    gcs = open_store(gcs_url)
    _write_raw(gcs, pod4)
    # The Jobs as rendered (deploy/ingest_jobs.py): pod 0 catalogues the session, the
    # others' init containers wait for its record; two pods at once, then the finalize.
    jobs = _ingest_jobs()
    hosts = [h for h, _ in _files(pod4)]
    assert [h for h, _ in jobs.list_hosts(gcs_url, PID)] == hosts
    out = jobs.run_locally(PID, gcs_url, jobs.list_hosts(gcs_url, PID), parallelism=2,
                           settings=PEAKS)
    assert [pod["host"] for pod in out["pods"]] == hosts
    assert out["pods"][2]["start_s"] >= min(out["pods"][0]["end_s"], out["pods"][1]["end_s"])
    assert open_store(gcs_url).read_json(layout.profile_record_key(PID))["status"] == "ready"
    a, b = _derived(svc.store), _derived(gcs)
    assert sorted(a) == sorted(b)
    assert any(k.startswith("hosts/host003") for k in a)
    for k in a:
        timed = k == "manifest.json" or (k.startswith("hosts/") and k.endswith(".json")
                                          and not k.endswith((".tl.json", ".scopes.json")))
        if timed:  # the manifest and the hosts' summaries say how long they took
            assert _without_seconds(a[k]) == _without_seconds(b[k]), k
        else:
            assert a[k] == b[k], k
    events = json.loads(a["manifest.json"])["events"]
    assert events == 4 * 200_000


def _ingest_peak_rss(folder: Path, store_dir: Path) -> int:
    """Peak RSS (bytes) of `xdiag ingest SESSION` over a whole session, as the kernel
    counts it (VmHWM: getrusage's maxrss would carry this test process's peak over the
    fork); the ingest runs in that one process (no pool)."""
    shutil.copytree(folder, store_dir / "pod" / "plugins" / "profile" / "session")
    code = ("import re, sys\n"
            "from xdiag.cli.main import main\n"
            "try:\n"
            "    main(['ingest', sys.argv[1], '--store', sys.argv[2], '--json'])\n"
            "except SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "status = open('/proc/self/status').read()\n"
            "print('HWM', re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))\n")
    res = subprocess.run([sys.executable, "-c", code, PID, str(store_dir)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, **PEAKS})
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if x.startswith("HWM "))
    return int(line.split()[1]) * 1024


def test_ingest_memory_does_not_grow_with_the_host_count(pod4: Path, pod8: Path,
                                                          tmp_path: Path) -> None:
    """Twice the hosts, the same peak: one host in memory at a time, never all. Keeping
    so much as each host's analysis (its timeline index, ~5 MB here) would add ~28 MB
    for the 4 more hosts; the bound is half a raw file per added host (~16 MB)."""
    four = _ingest_peak_rss(pod4, tmp_path / "s4")
    eight = _ingest_peak_rss(pod8, tmp_path / "s8")
    added = sum(p.stat().st_size for _, p in _files(pod8)[4:])
    assert eight - four < added / 2, (four / 2**20, eight / 2**20)


def test_first_hosts_open_while_the_others_ingest(pod4: Path, tmp_path: Path) -> None:
    """Host by host as the Job's pods finish: the profile says how many hosts are ready,
    the timeline opens on the first hosts (in record order) and grows, and what it shows
    of a host is what the final views show of it, byte for byte."""
    from xdiag.pipeline import admit
    from xdiag.server import create_app

    svc = Services(Settings(store=str(tmp_path / "st"), ingest_inline=True,
                            host_peaks="matmul_gflops=100,memcpy_gbps=20"))
    client = create_app(services=svc).test_client()
    hosts = [h for h, _ in _files(pod4)]
    rec = svc.admission.store_session(run="pod", session="session", source="upload",
                                      files=[admit.HostFile(h, p) for h, p in _files(pod4)])
    pid = rec["id"]
    assert client.get(f"/api/v1/profiles/{pid}/tracks").status_code == 409

    # Host 1 (index 1) first: nothing opens before host 0, which every id starts from.
    svc.ingest.ingest(rec, inline=True, hosts=[hosts[1]])
    prof = client.get(f"/api/v1/profiles/{pid}").json
    assert (prof["hosts_ready"], prof["timeline_hosts"], prof["timeline_ready"]) == (1, 0, False)
    assert client.get(f"/api/v1/profiles/{pid}/tracks").status_code == 409

    svc.ingest.ingest(rec, inline=True, hosts=[hosts[0]])
    prof = client.get(f"/api/v1/profiles/{pid}").json
    assert prof["status"] == "ingesting"
    assert (prof["hosts_ready"], prof["timeline_hosts"], prof["timeline_ready"]) == (2, 2, False)
    early = client.get(f"/api/v1/profiles/{pid}/tracks").json
    assert early["complete"] is False and early["hosts"] == hosts[:2]
    assert sum(t["events"] for t in early["tracks"]) == sum(h["events"] for h in rec["hosts"][:2])
    first_ids = [t["id"] for t in early["tracks"] if t["host"] == hosts[0]]
    view = (f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={early['end_ns']}&width=900"
            f"&tracks={','.join(map(str, first_ids))}")
    early_view = client.get(view)
    assert early_view.status_code == 200

    svc.ingest.ingest(rec, inline=True, hosts=[hosts[2]])
    assert client.get(f"/api/v1/profiles/{pid}/tracks").json["hosts"] == hosts[:3]
    svc.ingest.ingest(rec, inline=True, hosts=[hosts[3]])
    prof = client.get(f"/api/v1/profiles/{pid}?wait=host&timeout=0").json
    assert (prof["hosts_ready"], prof["timeline_hosts"], prof["timeline_ready"]) == (4, 4, True)

    info = svc.ingest.finalize(rec)
    svc.profiles.update(pid, status="ready", ingest=info, duration_ns=info["end_ns"])
    final = client.get(f"/api/v1/profiles/{pid}/tracks").json
    assert final["complete"] is True and final["hosts"] == hosts
    assert [t for t in final["tracks"] if t["host"] in hosts[:2]] == early["tracks"]
    assert client.get(view).data == early_view.data
    assert "hosts_ready" not in client.get(f"/api/v1/profiles/{pid}").json
