"""Timeline repaint cost on a profile of >= 5M events, measured in real Chromium.

The trace panel records, for every window of data it draws, `xdiag-repaint`: from the response
bytes being in memory (or a cache hit) to the end of the next painted frame (decode + index +
wait for the frame + draw), and its part `xdiag-draw` (webui/README.md, "Performance marks").
This test zooms and drags over a synthetic 5M-event profile, waits for each new window of data
to be drawn, and prints p50/p90/max of both.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.parse

import pytest
from e2e_support import (
    GUTTER_W,
    TIMELINE_URL,
    canvas,
    canvas_pixels,
    percentiles,
    screenshot,
    upload,
    wait_trace_loaded,
    wait_trace_settled,
)

EVENTS = 5_000_000

# The bound. One frame at 60 Hz is 16.7 ms on a desktop with a GPU. This box has 2 cores shared
# with the service (which answers the timeline requests at the same time), another engineer's
# jobs and Chromium's software rasteriser (--disable-gpu): there a fillRect-heavy frame of
# 50-80k slices costs 5-20 ms of raster on its own, and the measure also includes waiting for
# the next animation frame (up to 16.7 ms) and decoding/indexing the response. A median of
# 50 ms (3 frames) therefore still means "the frame right after the data arrives" with room for
# scheduling noise, while a renderer that redraws the whole trace, decodes JSON or re-sorts the
# data per frame (hundreds of ms at 5M events) fails it. The worst single repaint gets a looser
# bound because one GC pause or a burst from the other tenant can land in any frame. The draw
# itself (canvas calls for one frame) must fit in one 60 Hz frame at the median.
P50_BOUND_MS = 50.0
MAX_BOUND_MS = 250.0
DRAW_P50_BOUND_MS = 16.7


@pytest.fixture(scope="module")
def big_profile(viewer_service, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("synth") / "synth5m.xplane.pb"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "xdiag.xplane.synth", str(out), "--events", str(EVENTS)],
                   check=True, capture_output=True, timeout=300)
    t1 = time.monotonic()
    prof = upload(viewer_service.url, out, "--run", "e2e-synth", "--session", "synth5m")
    t2 = time.monotonic()
    out.unlink()  # ~200 MB; the store keeps its own copy
    print(f"synthetic profile: {prof['events']} events generated in {t1 - t0:.1f} s, "
          f"uploaded + ingested in {t2 - t1:.1f} s")
    assert prof["events"] >= EVENTS
    return prof


@pytest.mark.e2e
def test_pan_and_zoom_repaint_within_a_frame_on_5m_events(ui, viewer_service, big_profile) -> None:
    page, _ = ui.new_page(viewer_service.url)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/timeline?" in r.url else None)
    page.goto(f"/p/{urllib.parse.quote(big_profile['id'], safe='~')}?tab=trace")
    wait_trace_loaded(page, timeout=60_000)
    wait_trace_settled(page, timeout=60_000)
    box = canvas(page).bounding_box()
    area_x0 = box["x"] + GUTTER_W
    area_w = box["width"] - GUTTER_W
    y = box["y"] + 200

    def settle() -> None:
        wait_trace_settled(page, timeout=60_000)

    # Zoom in (wheel) at different places, drag (pan) both ways, zoom back out. Every action
    # that needs a new window waits for that window to be on screen before the next one.
    actions = 0
    for frac in (0.5, 0.3, 0.7, 0.5, 0.4, 0.6, 0.5):
        page.mouse.move(area_x0 + frac * area_w, y)
        with page.expect_request(TIMELINE_URL):
            for _ in range(3):
                page.mouse.wheel(0, -300)
        settle()
        actions += 1
    for dx in (-500, -500, 400, 700, -300):
        x0 = area_x0 + area_w / 2
        page.mouse.move(x0, y)
        page.mouse.down()
        page.mouse.move(x0 + dx, y, steps=6)
        page.mouse.up()
        settle()
        actions += 1
    for _ in range(4):
        page.mouse.move(area_x0 + area_w / 2, y)
        for _ in range(3):
            page.mouse.wheel(0, 300)
        settle()
        actions += 1

    entries = page.evaluate("""() => Object.fromEntries(
        ['xdiag-repaint', 'xdiag-draw', 'xdiag-decode', 'xdiag-index'].map(
            n => [n, performance.getEntriesByName(n).map(e => e.duration)]))""")
    st = wait_trace_settled(page)
    px = canvas_pixels(page)
    screenshot(page, "12-trace-5m-events")

    repaint, draw = entries["xdiag-repaint"], entries["xdiag-draw"]
    rp, dr = percentiles(repaint), percentiles(draw)
    print(f"\n5M-event timeline, {actions} pan/zoom actions, {len(requests)} timeline requests, "
          f"last frame {st['slices']} slices:")
    for name in ("xdiag-repaint", "xdiag-draw", "xdiag-decode", "xdiag-index"):
        p = percentiles(entries[name])
        print(f"  {name:14s} n={p['n']:3d}  p50={p['p50']:6.1f} ms  p90={p['p90']:6.1f} ms  "
              f"max={p['max']:6.1f} ms")
    print("  repaints (ms):", " ".join(f"{x:.1f}" for x in repaint))
    # The first load and each zoom-in fetch a new window (expect_request above): >= 8 repaints.
    assert len(repaint) >= 8, f"too few windows drawn to measure: {repaint}"
    assert len(requests) >= 8, requests
    assert px["saturated"] > 0, px
    assert rp["p50"] <= P50_BOUND_MS, rp
    assert rp["max"] <= MAX_BOUND_MS, rp
    assert dr["p50"] <= DRAW_P50_BOUND_MS, dr
