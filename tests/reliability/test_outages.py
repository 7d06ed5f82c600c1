"""A store that stops answering mid-upload or mid-ingest (issue 16, item 3), on a real
fake-gcs-server that the tests kill and start again.

Before: an outage mid-upload answered HTTP 404 "no object" (a lost resumable upload
session) or, after the client's 120 s of retries, 500; a 5 s outage during ingest left
the profile `failed` for good. Now: 503 saying the store is not answering, nothing of
the upload left once the store is back; ingest retries, and what it could not finish
is resumed.
"""

from __future__ import annotations

import io
import threading
import time

import pytest
from reliability_support import SMALL, variant
from support import hold_tables

from xdiag.core.config import Settings
from xdiag.core.errors import StoreError
from xdiag.pipeline import admit, runner
from xdiag.pipeline.runner import IngestRunner
from xdiag.server import create_app
from xdiag.server.services import Services
from xdiag.store import layout


def _service(store_url: str) -> Services:
    return Services(Settings(store=store_url, ingest_inline=True))


def _post(app, data: bytes, session: str):
    return app.test_client().post("/api/v1/profiles?wait=1", data={
        "file": (io.BytesIO(data), "h.xplane.pb"), "session": session},
        content_type="multipart/form-data")


def _ready(svc: Services, pid: str, timeout: float = 60) -> bool:
    """Whether the profile becomes `ready` (a queued ingest runs in the background)."""
    deadline = time.monotonic() + timeout
    while svc.profiles.get(pid)["status"] != "ready":
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_outage_mid_upload_is_a_503_and_leaves_nothing(restartable_gcs, monkeypatch) -> None:
    svc = _service(f"gs://{restartable_gcs.new_bucket()}/root")
    app = create_app(services=svc)
    checked = admit.inspect_xplane

    def check_then_outage(*args, **kwargs):  # the session is claimed, nothing copied yet
        out = checked(*args, **kwargs)
        restartable_gcs.kill()
        return out

    monkeypatch.setattr(admit, "inspect_xplane", check_then_outage)
    resp = _post(app, variant(1), "s")
    assert resp.status_code == 503, resp.get_json()
    detail = resp.get_json()["detail"]
    assert "not answering" in detail and "no object" not in detail, detail
    assert resp.headers.get("Retry-After")
    monkeypatch.setattr(admit, "inspect_xplane", checked)
    restartable_gcs.start()
    assert svc.store.list(layout.CLAIMS)  # what the failed upload could not undo ...
    svc.maintain()
    # ... is gone once the store is back (an empty profile index is all there is, and
    # the service's own host peaks if its background probe ran meanwhile: not an upload's).
    assert [k for k in svc.store.list("")
            if k not in (layout.PROFILE_INDEX, layout.SERVICE_HOST_PEAKS)] == []
    assert _post(app, variant(2), "s").get_json()["status"] == "ready"


def test_outage_mid_ingest_is_retried(restartable_gcs, monkeypatch) -> None:
    monkeypatch.setattr(runner, "RETRY_DELAYS_S", (1.0, 2.0, 4.0))
    svc = _service(f"gs://{restartable_gcs.new_bucket()}/root")
    svc.host_peaks.get()  # measured once, before the test holds ingest
    reached, release = hold_tables(monkeypatch)
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h", SMALL)], source="upload")
    out: list[dict] = []
    worker = threading.Thread(target=lambda: out.append(svc.ingest.run(rec["id"], inline=True)))
    worker.start()
    assert reached.wait(30)
    restartable_gcs.kill()  # the timeline is written; the tables are not
    release.set()
    time.sleep(2.5)
    restartable_gcs.start()
    worker.join(60)
    assert out and out[0]["status"] == "ready", out
    assert svc.views.get(out[0]).timeline(0, 10**10, 100)[0]["count"] > 0
    assert svc.store.list(layout.CLAIMS) == []


def test_outage_longer_than_the_retries_is_resumed(restartable_gcs, monkeypatch) -> None:
    monkeypatch.setattr(runner, "RETRY_DELAYS_S", (0.2,))
    svc = _service(f"gs://{restartable_gcs.new_bucket()}/root")
    svc.host_peaks.get()
    reached, release = hold_tables(monkeypatch)
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h", SMALL)], source="upload")
    out: list[dict] = []
    worker = threading.Thread(target=lambda: out.append(svc.ingest.run(rec["id"], inline=True)))
    worker.start()
    assert reached.wait(30)
    restartable_gcs.kill()
    release.set()
    worker.join(60)
    assert out[0]["status"] == "ingesting"  # nothing could be recorded
    restartable_gcs.start()
    assert svc.maintain()["resumed"] == 1
    assert _ready(svc, rec["id"])
    # The claim is released just after the outcome is recorded (by the resuming thread).
    deadline = time.monotonic() + 10
    while svc.store.list(layout.CLAIMS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.store.list(layout.CLAIMS) == []


def test_a_store_failure_is_recorded_for_users_and_retried_later(tmp_path,
                                                                  monkeypatch) -> None:
    svc = _service(str(tmp_path / "store"))
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h", SMALL)], source="upload")
    monkeypatch.setattr(runner, "RETRY_DELAYS_S", (0.01,))
    calls = []

    def unreachable(self, record, **kwargs):
        calls.append(record["id"])
        raise StoreError("the store gs://b/root is not answering (connection refused, "
                         "retried for up to 120 s); try again once it is reachable")

    monkeypatch.setattr(IngestRunner, "ingest", unreachable)
    failed = svc.ingest.run(rec["id"], inline=True)
    assert len(calls) == 2 and failed["status"] == "failed"
    assert "could not be reached" in failed["error"] and "tries again by itself" in \
        failed["error"] and failed["retry_at"] > time.time()
    monkeypatch.undo()
    assert svc.ingest.resume_pending() == 0  # not due yet
    svc.profiles.update(rec["id"], retry_at=time.time() - 1)
    assert svc.ingest.resume_pending() == 1
    assert _ready(svc, rec["id"])


@pytest.mark.parametrize("exc", [TypeError("int() argument must be a string"),
                                 OverflowError("int too big to convert")])
def test_an_internal_error_is_not_shown_as_python_text(tmp_path, monkeypatch, exc) -> None:
    svc = _service(str(tmp_path / "store"))
    rec = svc.admission.store_session(run="r", session="s",
                               files=[admit.HostFile("h", SMALL)], source="upload")

    def crash(self, record, **kwargs):
        raise exc

    monkeypatch.setattr(IngestRunner, "ingest", crash)
    out = svc.ingest.run(rec["id"], inline=True)
    assert out["status"] == "failed" and str(exc) not in out["error"]
    assert type(exc).__name__ not in out["error"] and "internal error (reference" in out["error"]
    assert not out.get("retry_at")
