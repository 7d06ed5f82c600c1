"""The trace in real Chromium: page open -> first timeline frame painted, and a zoom ->
the frame with its new window painted, on a profile served by `xdiag serve`.

    python -m bench.browser FILE      (make bench runs it through bench/run.py)

Headless Debian Chromium with software rendering (`--disable-gpu`: no GPU on this VM,
Skia rasterises on the CPU), a 1400 x 900 window, a fresh browser context (no cache) per
page open. The page's own performance marks (webui/src/views/trace/repaint-marks.ts)
say when a frame with data was painted: `xdiag-repaint` ends at the end of the first
painted frame after a window's bytes arrived. Times are from the page's navigation start
(`performance.timeOrigin`) and from the `performance.now()` just before the zoom's wheel
events (the loader's 40 ms debounce, the request, decode, index and draw all count).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
VIEWPORT = {"width": 1400, "height": 900}
GUTTER_W = 220  # track names (webui/src/render/timeline-layout.ts)

FIRST_FRAME_JS = """() => {
  const r = performance.getEntriesByName('xdiag-repaint');
  const c = document.querySelector('[data-testid=timeline-canvas]');
  if (!r.length || !c || c.dataset.loaded !== '1') return null;
  const nav = performance.getEntriesByType('navigation')[0];
  return {painted_ms: r[0].startTime + r[0].duration, repaint_ms: r[0].duration,
          response_end_ms: nav ? nav.responseEnd : null, slices: Number(c.dataset.slices)};
}"""


def _repaints(page: Any) -> int:
    return page.evaluate("() => performance.getEntriesByName('xdiag-repaint').length")


def measure(base: str, pid: str, opens: int = 3, zooms: int = 6) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    url = f"{base}/p/{urllib.parse.quote(pid, safe='~')}?tab=trace"
    out: dict[str, Any] = {"opens": [], "zooms": [], "renderer": "software (--disable-gpu)"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(opens):
                ctx = browser.new_context(viewport=VIEWPORT)
                page = ctx.new_page()
                t = time.perf_counter()
                page.goto(url)
                page.wait_for_function(FIRST_FRAME_JS, timeout=120_000, polling=10)
                wall = time.perf_counter() - t
                first = page.evaluate(FIRST_FRAME_JS)
                out["opens"].append({**first, "wall_s": wall})
                ctx.close()
            ctx = browser.new_context(viewport=VIEWPORT)
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function(FIRST_FRAME_JS, timeout=120_000, polling=10)
            box = page.get_by_test_id("timeline-canvas").bounding_box()
            x = box["x"] + GUTTER_W + 0.37 * (box["width"] - GUTTER_W)
            page.mouse.move(x, box["y"] + 150)
            for _ in range(zooms):
                n = _repaints(page)
                t0 = page.evaluate("() => performance.now()")
                for _ in range(3):
                    page.mouse.wheel(0, -240)
                page.wait_for_function(
                    f"() => performance.getEntriesByName('xdiag-repaint').length > {n}",
                    timeout=60_000, polling=5)
                page.wait_for_timeout(150)  # the window the zoom settles on
                entries = page.evaluate(
                    "() => performance.getEntriesByName('xdiag-repaint')"
                    ".map(e => [e.startTime, e.duration])")
                new = entries[n:]
                end = max(s + d for s, d in new)
                out["zooms"].append({"zoom_to_repaint_ms": end - t0,
                                     "repaint_ms": [d for _, d in new]})
            ctx.close()
        finally:
            browser.close()
    painted = [o["painted_ms"] for o in out["opens"]]
    out["first_frame_ms_median"] = statistics.median(painted)
    out["zoom_to_repaint_ms_median"] = statistics.median(
        z["zoom_to_repaint_ms"] for z in out["zooms"])
    return out


def run(path: Path) -> dict[str, Any]:
    """A fresh `xdiag serve` and store; `xdiag upload --wait` of the file; then Chromium."""
    from bench.userpath import Server, env

    work = Path(tempfile.mkdtemp(prefix="bench-browser-"))
    server = Server(work / "store")
    try:
        up = subprocess.run([sys.executable, "-m", "xdiag", "upload", str(path), "--wait",
                             "--json", "--server", server.url, "--run", "bench",
                             "--session", "browser"], cwd=ROOT, env=env(),
                            capture_output=True, text=True, timeout=900)
        if up.returncode != 0:
            raise RuntimeError(f"upload failed: {up.stderr[-2000:]}")
        rec = json.loads(up.stdout)
        out = measure(server.url, rec["id"])
        out["events"], out["file"] = rec["events"], path.name
        return out
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1])), indent=1))
