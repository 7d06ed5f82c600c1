"""Two `xdiag serve` replicas on one bucket behave as one service (deploy/k8s runs >= 2).

Everything the service knows lives in the store, so a request may land on any replica:
a job registered through A is listed and captured through B, and the profile B captured
and ingested opens through A.
"""

from __future__ import annotations

import json
import struct
import time
import urllib.request
from typing import Any

from support import run_cli, wait_for_hosts


def get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read(), r.headers.get("Content-Type", "")


def get_json(url: str) -> Any:
    return json.loads(get(url)[0])


def test_two_replicas_on_one_bucket_are_one_service(gcs_url, serve, jobs) -> None:
    a, b = serve(gcs_url), serve(gcs_url)
    assert a.url != b.url

    # The agent knows only replica A.
    jobs(a.url, "replicas")
    hosts = wait_for_hosts(a.url, "replicas", 1, timeout=60)

    # Replica B lists it without ever having heard from the agent.
    listed = wait_for_hosts(b.url, "replicas", 1, timeout=10)
    assert [(h["host"], h["port"]) for h in listed] == [(h["host"], h["port"]) for h in hosts]

    # ... and captures it.
    res = run_cli("capture", "replicas", "--duration-ms", "500", "--json", "--server", b.url,
                  timeout=120)
    assert res.returncode == 0, res.stderr
    cap = json.loads(res.stdout)
    pid = cap["id"]
    assert pid and [h["state"] for h in cap["hosts"]] == ["saved"]

    # The capture's progress record is shared too.
    assert get_json(f"{a.url}/api/v1/captures/{cap['capture_id']}")["profile_id"] == pid

    # The profile B captured and ingested opens through A.
    deadline = time.monotonic() + 30
    while (rec := get_json(f"{a.url}/api/v1/profiles/{pid}"))["status"] == "ingesting":
        assert time.monotonic() < deadline, "ingest did not finish in 30 s"
        time.sleep(0.3)
    assert rec["status"] == "ready", rec
    assert pid in [p["id"] for p in get_json(f"{a.url}/api/v1/profiles")]

    tracks = get_json(f"{a.url}/api/v1/profiles/{pid}/tracks")
    assert tracks["tracks"] and tracks["end_ns"] > 0
    window = f"start_ns=0&end_ns={tracks['end_ns']}&width=800"
    tl = get_json(f"{a.url}/api/v1/profiles/{pid}/timeline?{window}&format=json")
    assert tl["slices"], "the timeline window has slices"
    assert {s["track"] for s in tl["slices"]} <= {t["id"] for t in tracks["tracks"]}
    body, ctype = get(f"{a.url}/api/v1/profiles/{pid}/timeline?{window}")
    assert ctype.startswith("application/x-xdiag-timeline")
    assert body[:4] == b"XDTL" and struct.unpack_from("<I", body, 4)[0] == 2
    # Both replicas answer the same for the same window.
    assert get_json(f"{b.url}/api/v1/profiles/{pid}/timeline?{window}&format=json") == tl

    # Share links: a link made on A opens on B; revoking it on B takes effect on A.
    import urllib.error

    req = urllib.request.Request(f"{a.url}/api/v1/shares", method="POST",
                                 data=json.dumps({"profile_id": pid, "expires_in": "1h"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        share = json.load(r)
    token = share["token"]
    page, ctype = get(f"{b.url}/s/{token}")
    assert ctype.startswith("text/html") and page
    opened = get_json(f"{a.url}/api/v1/shares?profile_id={pid}")
    assert opened[0]["opens"] == 1  # recorded by B, visible through A
    req = urllib.request.Request(f"{b.url}/api/v1/shares/{share['id']}", method="DELETE")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 204
    for replica in (a, b):
        try:
            get(f"{replica.url}/s/{token}")
            raise AssertionError("a revoked link still opens")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
