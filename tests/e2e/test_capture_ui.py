"""The Jobs page's Capture button, end to end: a real JAX job with the agent registers with the
service, the button captures it, the progress reaches done, and the new profile opens."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from e2e_support import api, canvas_pixels, screenshot, wait_trace_loaded


@pytest.mark.e2e
def test_capture_button_produces_a_profile_that_opens(ui, viewer_service, jobs) -> None:
    job = "e2e-ui-capture"
    jobs(viewer_service.url, job)  # tests/jobs/agent_job.py: JAX on 8 CPU devices + the agent
    before = {p["id"] for p in api(viewer_service.url, "/api/v1/profiles")[1]}

    page, _ = ui.new_page(viewer_service.url)
    page.goto("/jobs")
    card = page.locator(f"[data-testid=job-card][data-job='{job}']")
    # The page polls the job list every 3 s; JAX start-up on a busy 2-core box takes a while.
    card.locator("[data-testid=host-row][data-state=live]").wait_for(timeout=120_000)
    card.get_by_test_id("capture-duration").fill("500")
    button = card.get_by_test_id("capture-button")
    assert button.is_enabled()
    button.click()

    state = card.get_by_test_id("capture-state")
    state.wait_for()
    seen = set()
    # Progress follows a long poll (a state change at once, the hosts every 2 s):
    # capturing -> saving -> ingesting -> done.
    for _ in range(600):
        s = state.get_attribute("data-state")
        seen.add(s)
        if s in ("done", "failed"):
            break
        page.wait_for_timeout(200)
    print(f"capture states seen by the page: {sorted(seen)}")
    assert s == "done", card.get_by_test_id("capture-progress").inner_text()
    link = card.get_by_test_id("capture-result-link")
    link.wait_for()
    screenshot(page, "10-jobs")

    link.click()
    page.wait_for_url(re.compile(r"/p/"))
    pid = urllib.parse.unquote(urllib.parse.urlsplit(page.url).path.split("/p/", 1)[1])
    assert pid not in before
    prof = api(viewer_service.url, f"/api/v1/profiles/{urllib.parse.quote(pid, safe='~')}")[1]
    assert prof["status"] == "ready" and prof["source"] == "capture" and prof["job"] == job, prof
    assert page.get_by_test_id("profile-status").inner_text() == "ready"

    page.get_by_test_id("tab-trace").click()
    st = wait_trace_loaded(page, timeout=60_000)
    px = canvas_pixels(page)
    print(f"captured profile {pid}: {prof['events']} events, {st['slices']} slices drawn, {px}")
    assert px["saturated"] > 0, px
    screenshot(page, "11-captured-trace")
