"""The web viewer in real Chromium against a real `xdiag serve`, on a real 8-device CPU capture
(tests/fixtures/cpu_small.xplane.pb): profiles list, overview, trace (pixels, zoom, search,
click -> details), op profile, HLO graph, roofline and diff. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from e2e_support import (
    FIRST_DEVICE_ROW_Y,
    GUTTER_W,
    SMALL,
    TIMELINE_URL,
    api,
    canvas,
    canvas_pixels,
    canvas_state,
    screenshot,
    slice_x,
    timeline_query,
    upload,
    wait_trace_loaded,
    wait_trace_settled,
)


def profile_url(p: dict, **view) -> str:
    q = urllib.parse.urlencode(view)
    return f"/p/{urllib.parse.quote(p['id'], safe='~')}" + (f"?{q}" if q else "")


def open_trace(ui, svc, p: dict, **view):
    page, watch = ui.new_page(svc.url)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/timeline?" in r.url else None)
    page.goto(profile_url(p, tab="trace", **view))
    wait_trace_loaded(page)
    return page, watch, requests


@pytest.mark.e2e
def test_profiles_list_opens_a_captured_profile_with_nonblank_timeline(ui, viewer_service,
                                                                       small_profile) -> None:
    page, _ = ui.new_page(viewer_service.url)
    page.goto("/")
    row = page.locator(f"[data-testid=profile-row][data-id='{small_profile['id']}']")
    row.wait_for()
    assert "ready" in row.inner_text()
    screenshot(page, "01-profiles")

    row.get_by_test_id("profile-link").click()
    page.wait_for_url(re.compile(r"/p/"))
    page.get_by_test_id("panel-overview").wait_for()
    page.get_by_test_id("top-ops").wait_for()
    page.get_by_test_id("steps-chart").wait_for()
    steps = page.get_by_test_id("overview-steps").inner_text()
    n_steps = len(api(viewer_service.url, f"/api/v1/profiles/{small_profile['id']}/steps")[1]["steps"])
    assert str(n_steps) in steps, steps
    screenshot(page, "02-overview")

    page.get_by_test_id("tab-trace").click()
    assert page.get_by_test_id("tab-trace").get_attribute("aria-selected") == "true"
    st = wait_trace_settled(page)
    assert int(st["slices"]) > 0
    # The pixels, not just the counters: slice colours cover part of the slice area.
    px = canvas_pixels(page)
    print(f"trace canvas: {st['slices']} slices drawn, pixels {px}")
    assert px["distinct"] > 1, px
    assert px["saturated"] > 0.005 * px["total"], px
    screenshot(page, "03-trace")


@pytest.mark.e2e
def test_wheel_zoom_requests_a_narrower_window(ui, viewer_service, small_profile) -> None:
    page, _, requests = open_trace(ui, viewer_service, small_profile)
    before = wait_trace_settled(page)
    full = (int(before["req-start"]), int(before["req-end"]))
    span0 = int(before["t1"]) - int(before["t0"])
    first = [timeline_query(u) for u in requests]
    assert first and (first[-1]["start_ns"], first[-1]["end_ns"]) == full

    box = canvas(page).bounding_box()
    x = box["x"] + GUTTER_W + 0.6 * (box["width"] - GUTTER_W)  # slice area, right of the names
    page.mouse.move(x, box["y"] + 200)
    with page.expect_request(TIMELINE_URL) as zoom_req:
        for _ in range(6):
            page.mouse.wheel(0, -300)
            page.wait_for_timeout(60)
    after = wait_trace_settled(page)
    span1 = int(after["t1"]) - int(after["t0"])
    assert span1 < span0 / 5, (span0, span1)
    # The anchor (60 % of the way across) stays put while zooming in around it.
    anchor0 = int(before["t0"]) + 0.6 * span0
    assert int(after["t0"]) <= anchor0 <= int(after["t1"])

    # What was asked for over the wire: a narrower, aligned window around the new view.
    zq = timeline_query(zoom_req.value.url)
    last = timeline_query(requests[-1])
    print(f"zoom: view {span0} -> {span1} ns; requests {[timeline_query(u) for u in requests]}")
    assert (zq["start_ns"], zq["end_ns"], zq["width"]) != (first[-1]["start_ns"], first[-1]["end_ns"],
                                                           first[-1]["width"])
    assert last["end_ns"] - last["start_ns"] < full[1] - full[0]
    assert last["start_ns"] <= int(after["t0"]) and int(after["t1"]) <= last["end_ns"]
    # The data on screen is the last response, and the canvas says so.
    assert (int(after["req-start"]), int(after["req-end"])) == (last["start_ns"], last["end_ns"])
    assert int(after["slices"]) > 0

    # Zooming back out (wheel down) widens the view again.
    for _ in range(6):
        page.mouse.wheel(0, 300)
        page.wait_for_timeout(60)
    out = wait_trace_settled(page)
    assert int(out["t1"]) - int(out["t0"]) > span1 * 5


def match_in_later_half(base: str, pid: str) -> tuple[str, int, dict, int]:
    """Through the search API: a query and the first of its matches that lies in the later half
    of the profile, preferring the fewest matches before it (Enter presses to reach it).
    Returns (query, index of that match, the match, total matches)."""
    end = api(base, f"/api/v1/profiles/{pid}/tracks")[1]["end_ns"]
    tl = api(base, f"/api/v1/profiles/{pid}/timeline?start_ns=0&end_ns={end}&width=4096&format=json")[1]
    best: tuple[str, int, dict, int] | None = None
    for name in sorted({s["name"] for s in tl["slices"]}):
        r = api(base, f"/api/v1/profiles/{pid}/search?" + urllib.parse.urlencode({"q": name, "limit": 100}))[1]
        later = [i for i, m in enumerate(r["matches"]) if m["start_ns"] > end / 2]
        if later and (best is None or later[0] < best[1]):
            best = (name, later[0], r["matches"][later[0]], r["total"])
    assert best is not None, "no event in the later half of the profile"
    return best


@pytest.mark.e2e
def test_search_steps_to_a_match_later_in_the_trace(ui, viewer_service, small_profile) -> None:
    pid = small_profile["id"]
    name, index, match, total = match_in_later_half(viewer_service.url, pid)
    end = api(viewer_service.url, f"/api/v1/profiles/{pid}/tracks")[1]["end_ns"]
    # Start zoomed in on the first 10 %: the match is far outside the visible window.
    t1 = end // 10
    print(f"search {name!r}: match {index + 1} of {total} at {match['start_ns']} ns "
          f"(profile {end} ns); initial view [0, {t1}]")
    page, _, _ = open_trace(ui, viewer_service, small_profile, t0=0, t1=t1)
    assert int(canvas_state(page)["t1"]) < match["start_ns"]

    box = page.get_by_test_id("trace-search")
    box.fill(name)
    for i in range(index + 1):  # Enter = next match, across the whole profile
        box.press("Enter")
        page.wait_for_function(
            "s => document.querySelector('[data-testid=search-status]').textContent === s",
            arg=f"{i + 1} of {total}")
    page.wait_for_function(
        f"""() => {{ const d = document.querySelector('[data-testid=timeline-canvas]').dataset;
                    return Number(d.t0) <= {match['start_ns']}
                           && {match['start_ns'] + match['dur_ns']} <= Number(d.t1); }}""")
    page.get_by_test_id("details-panel").wait_for()
    page.wait_for_function(
        "t => document.querySelector('[data-testid=details-title]')?.textContent === t", arg=match["name"])
    page.wait_for_function(f"() => location.search.includes('sel={match['id']}')")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert q["q"] == [name], page.url
    # The match's track is drawn once the view has settled there (a frame drawn while the
    # details panel resizes the canvas may show none, so wait for it, do not sample).
    page.wait_for_function(
        f"""() => {{ const d = document.querySelector('[data-testid=timeline-canvas]').dataset;
                    return d.loaded === '1' && d.planStart === d.reqStart
                           && d.planEnd === d.reqEnd && Number(d.slices) > 0
                           && Number(d.t0) > {t1 // 2}; }}""")
    screenshot(page, "04-trace-search")


@pytest.mark.e2e
def test_click_on_a_device_slice_opens_details_with_links(ui, viewer_service, small_profile) -> None:
    pid = small_profile["id"]
    page, _, _ = open_trace(ui, viewer_service, small_profile)
    st = wait_trace_settled(page)
    tracks = api(viewer_service.url, f"/api/v1/profiles/{pid}/tracks")[1]["tracks"]
    dev0 = tracks[0]
    assert dev0["group"] == "device", "FIRST_DEVICE_ROW_Y assumes the host starts with devices"
    tl = api(viewer_service.url, f"/api/v1/profiles/{pid}/timeline?start_ns={st['req-start']}"
             f"&end_ns={st['req-end']}&width={st['req-width']}&format=json")[1]
    row = [s for s in tl["slices"] if s["track"] == dev0["id"] and s["depth"] == 0]
    target = max(row, key=lambda s: s["dur_ns"])
    x = slice_x(page, target["start_ns"], target["dur_ns"])
    y = canvas(page).bounding_box()["y"] + FIRST_DEVICE_ROW_Y
    page.mouse.move(x, y)
    page.get_by_test_id("timeline-tooltip").wait_for()
    assert target["name"] in page.get_by_test_id("timeline-tooltip").inner_text()
    page.mouse.click(x, y)

    panel = page.get_by_test_id("details-panel")
    panel.wait_for()
    page.wait_for_function(
        "t => document.querySelector('[data-testid=details-title]')?.textContent === t", arg=target["name"])
    stats = page.get_by_test_id("details-stats").inner_text()
    event = api(viewer_service.url, f"/api/v1/profiles/{pid}/events/{target['id']}")[1]
    assert "hlo_op" in stats and str(event["stats"]["hlo_op"]) in stats, stats
    assert f"sel={target['id']}" in page.url
    op_link = page.get_by_test_id("details-op-link")
    hlo_link = page.get_by_test_id("details-hlo-link")
    assert "tab=ops" in op_link.get_attribute("href") and "tab=hlo" in hlo_link.get_attribute("href")
    screenshot(page, "05-trace-details")

    # Op profile link: the op's row is shown and selected.
    op_link.click()
    page.get_by_test_id("panel-ops").wait_for()
    sel = page.locator(f"[data-testid=op-row][data-op='{event['hlo']['op']}'].selected")
    sel.wait_for()
    screenshot(page, "06-ops")

    # HLO link: the module text with the op highlighted and its neighbourhood graph.
    page.go_back()
    page.get_by_test_id("details-hlo-link").click()
    page.get_by_test_id("panel-hlo").wait_for()
    page.get_by_test_id("hlo-graph-svg").wait_for(timeout=60_000)
    assert event["hlo"]["op"] in page.get_by_test_id("hlo-highlight").inner_text()
    titles = page.locator("[data-testid=hlo-graph-svg] g.node title").evaluate_all(
        "els => els.map(e => e.textContent)")
    assert event["hlo"]["op"] in titles, titles
    # Every node's label fits inside its box (Graphviz measured the font the browser draws).
    fits = page.locator("[data-testid=hlo-graph-svg] g.node").evaluate_all("""nodes => nodes.map(g => ({
        node: g.querySelector('title').textContent,
        box: g.querySelector('path, polygon, ellipse').getBBox().width,
        text: Math.max(...[...g.querySelectorAll('text')].map(t => t.getBBox().width))}))""")
    print("HLO node widths (box, widest label line):", [(f["node"], round(f["box"]), round(f["text"]))
                                                        for f in fits])
    assert all(f["text"] <= f["box"] for f in fits), fits
    screenshot(page, "07-hlo")


@pytest.mark.e2e
def test_roofline_shows_points(ui, viewer_service, small_profile) -> None:
    pid = small_profile["id"]
    roof = api(viewer_service.url, f"/api/v1/profiles/{pid}/roofline")[1]
    page, _ = ui.new_page(viewer_service.url)
    page.goto(profile_url(small_profile, tab="roofline"))
    chart = page.get_by_test_id("roofline-chart")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=roofline-chart]')?.dataset.points) > 0")
    points = int(chart.get_attribute("data-points"))
    plottable = [o for o in roof["ops"] if o["flops"] > 0 and o["bytes"] > 0]
    print(f"roofline: {points} points drawn, {len(plottable)} of {len(roof['ops'])} ops plottable")
    assert 0 < points <= len(roof["ops"])
    assert page.get_by_test_id("roofline-row").count() == len(roof["ops"])
    screenshot(page, "08-roofline")


@pytest.mark.e2e
def test_diff_of_two_profiles(ui, viewer_service, small_profile) -> None:
    other = upload(viewer_service.url, SMALL, "--run", "e2e-small", "--session", "capture-b")
    a, b = small_profile["id"], other["id"]
    diff = api(viewer_service.url, "/api/v1/diff?" + urllib.parse.urlencode({"a": a, "b": b}))[1]
    page, _ = ui.new_page(viewer_service.url)
    page.goto("/diff?" + urllib.parse.urlencode({"a": a, "b": b}))
    page.get_by_test_id("diff-table").wait_for()
    assert page.get_by_test_id("diff-row").count() == len(diff["ops"]) > 0
    assert "0.0%" in page.get_by_test_id("diff-step-delta").inner_text()
    screenshot(page, "09-diff")
