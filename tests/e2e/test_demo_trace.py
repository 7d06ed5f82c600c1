"""The demo trainer's trace in real Chromium, as `make run` shows it: a capture of the MoE
trainer at `--sleep-ms 100` with asynchronous dispatch (8 CPU devices).

- Ops that merely overlap on a device (run on two threads) take lanes, not a 30-row
  staircase: the first screen shows at least 6 of the 8 device tracks.
- The step bands cover the device work (not the ~10 ms host dispatch in front of it).
- A search for a JAX named scope (`experts`) lands on a highlighted op under that scope.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.parse

import pytest
from e2e_support import api, screenshot, upload
from support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_profile(viewer_service, tmp_path_factory: pytest.TempPathFactory) -> dict:
    log_dir = tmp_path_factory.mktemp("demo") / "log"
    subprocess.run([sys.executable, "-m", "trainer.train", "--steps", "8", "--sleep-ms", "100",
                    "--trace-dir", str(log_dir), "--trace-first-step", "5",
                    "--trace-num-steps", "3"], check=True, timeout=600, cwd=ROOT,
                   capture_output=True)
    (xplane,) = log_dir.glob("plugins/profile/*/*.xplane.pb")
    return upload(viewer_service.url, xplane, "--run", "demo")


def _open(ui, viewer_service, p: dict):
    page, _ = ui.new_page(viewer_service.url)
    page.goto(f"/p/{urllib.parse.quote(p['id'], safe='~')}?tab=trace")
    page.wait_for_function("""() => { const d = document.querySelector(
        '[data-testid=timeline-canvas]')?.dataset; return d && d.loaded === '1'
        && d.planStart === d.reqStart && d.planEnd === d.reqEnd && d.onScreenTracks; }""")
    return page


def _state(page) -> dict:
    return page.get_by_test_id("timeline-canvas").evaluate("c => ({...c.dataset})")


def test_first_screen_shows_most_device_tracks(ui, viewer_service, demo_profile) -> None:
    page = _open(ui, viewer_service, demo_profile)
    tracks = api(viewer_service.url, f"/api/v1/profiles/{demo_profile['id']}/tracks")[1]["tracks"]
    devices = {t["id"] for t in tracks if t["kind"] == "xla_ops"}
    shown = {int(x) for x in _state(page)["onScreenTracks"].split(",") if x}
    print(f"{len(shown & devices)} of {len(devices)} device tracks on the first screen")
    assert len(devices) == 8 and len(shown & devices) >= 6
    screenshot(page, "demo-first-screen")


def test_step_bands_cover_the_device_work(ui, viewer_service, demo_profile) -> None:
    page = _open(ui, viewer_service, demo_profile)
    steps = api(viewer_service.url, f"/api/v1/profiles/{demo_profile['id']}/steps")[1]["steps"]
    bands = [tuple(map(int, b.split(":"))) for b in _state(page)["stepBands"].split(",") if b]
    assert len(bands) == len(steps) >= 2
    for (a, b), s in zip(bands, steps, strict=True):
        assert s["device_start_ns"] is not None and a <= s["device_start_ns"]
        assert s["device_end_ns"] <= b
        # The host's dispatch is a small part in front: the band is not the annotation.
        assert s["host_dur_ns"] < 0.5 * (b - a)


def test_search_for_a_named_scope_lands_on_a_highlighted_op(ui, viewer_service,
                                                            demo_profile) -> None:
    page = _open(ui, viewer_service, demo_profile)
    pid = demo_profile["id"]
    found = api(viewer_service.url, f"/api/v1/profiles/{pid}/search?q=experts&limit=5")[1]
    first = found["matches"][0]
    assert "experts" not in first["name"] and "experts" in first["scope"]
    box = page.get_by_test_id("trace-search")
    box.fill("experts")
    box.press("Enter")
    page.wait_for_function(f"""() => {{ const d = document.querySelector(
        '[data-testid=timeline-canvas]')?.dataset; return d && d.selId === '{first['id']}'
        && d.planStart === d.reqStart && d.selX0 !== undefined; }}""")
    st = _state(page)
    x0, x1, area = float(st["selX0"]), float(st["selX1"]), float(st["areaWidth"])
    assert abs((x0 + x1) / 2 - area / 2) <= 2 and x1 - x0 >= 100, (x0, x1, area)
    page.wait_for_function(
        "t => document.querySelector('[data-testid=details-title]')?.textContent === t",
        arg=first["name"])
    # The details name the scope that matched.
    page.get_by_role("cell", name=first["scope"], exact=True).wait_for()
    screenshot(page, "demo-search-experts")
