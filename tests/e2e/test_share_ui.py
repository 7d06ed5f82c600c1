"""Issue 6's browser flow in real Chromium against `xdiag serve --auth token`: sign in with a
token, open a profile at a time window, Share, open the link in a fresh context (no cookies)
and see the same view read-only, with access to that one profile's data and nothing else."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator

import pytest
from e2e_support import (
    SMALL,
    api,
    canvas_pixels,
    canvas_state,
    screenshot,
    upload,
    wait_trace_loaded,
    wait_trace_settled,
)
from support import Service, run_cli


def make_token(store: str, role: str) -> str:
    res = run_cli("token", "create", "--role", role, "--name", f"e2e-{role}", "--store", store, "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["token"]


@pytest.fixture(scope="module")
def auth_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    work = tmp_path_factory.mktemp("e2e-auth")
    store = str(work / "store")
    editor = make_token(store, "editor")  # straight into the store, before the service starts
    svc = Service(store, work, "--auth", "token")
    try:
        env = {"XDIAG_TOKEN": editor}
        shared = upload(svc.url, SMALL, "--run", "e2e-shared", "--session", "shared", env=env)
        other = upload(svc.url, SMALL, "--run", "e2e-private", "--session", "private", env=env)
        yield {"svc": svc, "editor": editor, "shared": shared, "other": other}
    finally:
        svc.stop()


def pid_path(pid: str) -> str:
    return urllib.parse.quote(pid, safe="~")


@pytest.mark.e2e
def test_sign_in_share_and_open_the_link_read_only(ui, auth_world) -> None:
    svc, shared, other = auth_world["svc"], auth_world["shared"], auth_world["other"]
    # Without a session the API refuses.
    assert api(svc.url, "/api/v1/profiles")[0] == 401

    # ---- the editor signs in through the form
    page, _ = ui.new_page(svc.url, "editor")
    page.goto("/")
    page.get_by_test_id("signin-form").wait_for()
    assert page.get_by_test_id("nav-jobs").count() == 0  # nowhere to go before signing in
    screenshot(page, "13-signin")
    page.get_by_test_id("signin-token").fill(auth_world["editor"])
    page.get_by_test_id("signin-submit").click()
    page.locator(f"[data-testid=profile-row][data-id='{shared['id']}']").wait_for()
    assert page.get_by_test_id("signout").is_visible() and page.get_by_test_id("nav-jobs").is_visible()
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["xdiag_session"]["httpOnly"] and cookies["xdiag_session"]["sameSite"] in ("Strict", "Lax")

    # ---- a particular view: trace tab, a window in the middle of the profile
    end = shared["duration_ns"]
    t0, t1 = end // 4, end // 2
    page.goto(f"/p/{pid_path(shared['id'])}?tab=trace&t0={t0}&t1={t1}")
    st = wait_trace_settled(page)
    assert (int(st["t0"]), int(st["t1"])) == (t0, t1), st
    page.get_by_test_id("share-button").click()
    page.get_by_test_id("share-dialog").wait_for()
    page.get_by_test_id("share-create").click()
    link_input = page.get_by_test_id("share-link")
    link_input.wait_for()
    link = link_input.input_value()
    assert link.startswith(svc.url + "/s/"), link
    screenshot(page, "14-share-dialog")

    # ---- the link in a FRESH context: no cookies, no sign-in
    guest, watch = ui.new_page(svc.url, "guest")
    # Its own probes below answer 401/403; Chromium logs those as console errors.
    watch.allow_console(r"status of 40[13]")
    assert guest.context.cookies() == []
    timeline_status: list[int] = []
    guest.on("response", lambda r: timeline_status.append(r.status) if "/timeline?" in r.url else None)
    guest.goto(link)
    guest.get_by_test_id("readonly-banner").wait_for()
    st = wait_trace_loaded(guest)
    st = wait_trace_settled(guest)
    assert (int(st["t0"]), int(st["t1"])) == (t0, t1), st  # the same window as shared
    assert guest.get_by_test_id("tab-trace").get_attribute("aria-selected") == "true"
    assert int(st["slices"]) > 0 and canvas_pixels(guest)["saturated"] > 0
    assert timeline_status and set(timeline_status) == {200}, timeline_status
    guest_cookies = {c["name"]: c for c in guest.context.cookies()}
    assert set(guest_cookies) == {"xdiag_share"} and guest_cookies["xdiag_share"]["httpOnly"]
    # Read-only: no share, capture, upload, delete or navigation to other pages.
    for testid in ("share-button", "capture-button", "upload-button", "profile-delete", "nav-profiles",
                   "nav-jobs", "nav-diff", "signin-form"):
        assert guest.get_by_test_id(testid).count() == 0, testid
    # Other tabs of the shared profile load too.
    guest.get_by_test_id("tab-ops").click()
    guest.get_by_test_id("ops-table").wait_for()
    guest.get_by_test_id("tab-trace").click()
    wait_trace_settled(guest)
    assert canvas_state(guest)["t0"] == str(t0)
    screenshot(guest, "15-shared-readonly")

    # The link's session reaches this profile's data and nothing else.
    def status_in_guest(path: str, method: str = "GET") -> int:
        return guest.evaluate(
            """async ([p, m]) => (await fetch(p, {method: m, headers: {'Content-Type': 'application/json'},
                                                 body: m === 'POST' ? '{}' : undefined})).status""",
            [path, method])

    assert status_in_guest(f"/api/v1/profiles/{pid_path(shared['id'])}/tracks") == 200
    assert status_in_guest(f"/api/v1/profiles/{pid_path(other['id'])}/tracks") in (403, 404)
    assert status_in_guest("/api/v1/shares", "POST") in (401, 403)
    assert status_in_guest("/api/v1/captures", "POST") in (401, 403)
    resp = guest.goto(svc.url + "/api/v1/profiles")
    assert resp is not None and resp.status in (401, 403), resp and resp.status
    # The editor's own session was untouched by all this.
    assert api(svc.url, "/api/v1/profiles", token=auth_world["editor"])[0] == 200


@pytest.mark.e2e
def test_share_dialog_says_what_the_link_grants_under_auth_none(ui, viewer_service,
                                                                  small_profile) -> None:
    """Under XDIAG_AUTH=none (how a developer runs `xdiag serve`) a share link restricts
    nothing: the dialog says so, and never calls the link read-only."""
    page, _ = ui.new_page(viewer_service.url)
    page.goto(f"/p/{urllib.parse.quote(small_profile['id'], safe='~')}?tab=ops")
    page.get_by_test_id("share-button").click()
    page.get_by_test_id("share-create").click()
    note = page.get_by_test_id("share-grants")
    note.wait_for()
    text = note.inner_text()
    assert "without access control" in text and "read-only" not in text.lower(), text
