"""Timeline first, in real Chromium: a profile page opened before its ingest starts opens
on the trace as soon as the timeline is written, while ingest still builds the op and step
tables; when ingest finishes, the page turns into the full profile (tabs, step markers)
without a reload, keeping the trace's window. The page learns both by long polls."""

from __future__ import annotations

import threading
import urllib.parse
from pathlib import Path

import pytest
from e2e_support import (
    GUTTER_W,
    SMALL,
    canvas,
    canvas_pixels,
    screenshot,
    wait_trace_loaded,
    wait_trace_settled,
)
from support import hold_tables
from werkzeug.serving import make_server

from xdiag.core.config import Settings
from xdiag.pipeline import admit
from xdiag.server import create_app
from xdiag.server.services import Services


@pytest.mark.e2e
def test_trace_opens_while_ingest_builds_the_tables(ui, tmp_path: Path, monkeypatch) -> None:
    reached, release = hold_tables(monkeypatch)
    svc = Services(Settings(store=str(tmp_path / "store")))
    server = make_server("127.0.0.1", 0, create_app(services=svc), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rec = svc.admission.store_session(run="early", session="s",
                                   files=[admit.HostFile("h0", SMALL)], source="upload")
        page, _ = ui.new_page(f"http://127.0.0.1:{server.server_port}")
        asked: list[str] = []  # the profile look-ups: long polls while ingesting
        page.on("request", lambda r: asked.append(r.url) if "/api/v1/profiles/early~s?" in r.url
                or r.url.endswith("/api/v1/profiles/early~s") else None)
        page.goto(f"/p/{urllib.parse.quote(rec['id'], safe='~')}")
        page.get_by_test_id("ingesting").wait_for()  # opened before its ingest starts
        svc.ingest.submit(rec["id"])
        assert reached.wait(120)
        page.get_by_test_id("timeline-early").wait_for()
        assert any("wait=timeline" in u for u in asked), asked
        wait_trace_loaded(page)
        assert page.get_by_test_id("tab-ops").count() == 0  # the tables are not there yet
        assert page.get_by_test_id("profile-status").inner_text() == "ingesting"
        assert canvas_pixels(page)["distinct"] > 1
        assert "tab=trace" in page.url
        screenshot(page, "early-timeline")
        full = wait_trace_settled(page)
        box = canvas(page).bounding_box()  # zoom in: the window must survive the switch
        page.mouse.move(box["x"] + GUTTER_W + 0.5 * (box["width"] - GUTTER_W), box["y"] + 200)
        for _ in range(4):
            page.mouse.wheel(0, -300)
            page.wait_for_timeout(60)
        page.wait_for_url(lambda u: "t0=" in u)
        before = wait_trace_settled(page)
        assert int(before["t1"]) - int(before["t0"]) < int(full["t1"]) - int(full["t0"])

        assert any("wait=ready" in u for u in asked), asked
        release.set()
        page.get_by_test_id("tab-ops").wait_for(timeout=60_000)
        assert page.get_by_test_id("profile-status").inner_text() == "ready"
        assert page.get_by_test_id("timeline-early").count() == 0
        assert page.get_by_test_id("tab-trace").get_attribute("aria-selected") == "true"
        wait_trace_loaded(page)
        after = wait_trace_settled(page)
        assert (after["t0"], after["t1"]) == (before["t0"], before["t1"])
        page.get_by_test_id("tab-ops").click()
        page.get_by_test_id("ops-table").wait_for()
    finally:
        release.set()
        server.shutdown()
        svc.ingest.shutdown()
