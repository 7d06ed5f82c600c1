"""Helpers for the browser tests: Chromium, page watching, the timeline canvas, artifacts.

The timeline's contract with these tests is `webui/e2e-notes.md` (data-testid names and the
canvas' data-* attributes).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from support import FIXTURES, ROOT, run_cli

CHROMIUM = Path(os.environ.get("XDIAG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
ARTIFACTS = ROOT / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 900}

# Canvas geometry (webui/src/render/timeline-layout.ts): track names in the first 220 px, a 28 px
# time axis, then a 24 px host header, a 20 px "Devices" header, and each track: 3 px padding +
# 18 px per depth. So the first device track's depth-0 row spans y = 75..93 on the canvas.
GUTTER_W = 220
AXIS_H = 28
FIRST_DEVICE_ROW_Y = AXIS_H + 24 + 20 + 3 + 9

TIMELINE_URL = "**/api/v1/profiles/*/timeline?*"
SMALL = FIXTURES / "cpu_small.xplane.pb"  # a real 8-device CPU capture


@dataclass
class PageWatch:
    """Console errors and uncaught page errors of one page, for the test's verdict."""

    name: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow_console(self, pattern: str) -> None:
        """A console error the test provokes on purpose (e.g. an expected 403)."""
        self.allowed.append(re.compile(pattern))

    def attach(self, page) -> None:
        page.on("console", lambda m: self.console_errors.append(f"{m.text} @ {m.location.get('url', '')}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))

    def unexpected_console(self) -> list[str]:
        return [m for m in self.console_errors if not any(p.search(m) for p in self.allowed)]


def screenshot(page, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def canvas(page):
    return page.get_by_test_id("timeline-canvas")


def canvas_state(page) -> dict[str, str]:
    """The canvas' data-* attributes without the prefix (`req-start`, `t0`, ...): what the last
    frame drew and which data it used."""
    return canvas(page).evaluate("""c => Object.fromEntries(c.getAttributeNames()
        .filter(n => n.startsWith('data-')).map(n => [n.slice(5), c.getAttribute(n)]))""")


def wait_trace_loaded(page, timeout: float = 30_000) -> dict[str, str]:
    page.wait_for_function(
        """() => { const c = document.querySelector('[data-testid=timeline-canvas]');
                   return c && c.dataset.loaded === '1' && Number(c.dataset.slices) > 0; }""",
        timeout=timeout)
    return canvas_state(page)


def wait_trace_settled(page, timeout: float = 30_000) -> dict[str, str]:
    """Wait until the data on screen is the window the view wants (no request outstanding)."""
    page.wait_for_function(
        """() => { const d = document.querySelector('[data-testid=timeline-canvas]')?.dataset;
                   return d && d.loaded === '1' && d.planStart === d.reqStart
                          && d.planEnd === d.reqEnd; }""",
        timeout=timeout)
    return canvas_state(page)


def canvas_pixels(page) -> dict[str, int]:
    """Colour statistics of the slice area (right of the track names, below the axis).

    `saturated` counts pixels whose channels differ by more than 30: the slice palette
    (webui/src/lib/color.ts) is; the background, grid, step bands and headers are near-grey.
    """
    return canvas(page).evaluate(f"""c => {{
        const dpr = c.width / c.getBoundingClientRect().width;
        const x0 = Math.ceil({GUTTER_W} * dpr), y0 = Math.ceil({AXIS_H} * dpr);
        const d = c.getContext('2d').getImageData(x0, y0, c.width - x0, c.height - y0).data;
        const colours = new Set();
        let saturated = 0;
        for (let i = 0; i < d.length; i += 4) {{
            const r = d[i], g = d[i + 1], b = d[i + 2];
            colours.add((r << 16) | (g << 8) | b);
            if (Math.max(r, g, b) - Math.min(r, g, b) > 30) saturated++;
        }}
        return {{distinct: colours.size, saturated, total: d.length / 4}};
    }}""")


def timeline_query(url: str) -> dict[str, int]:
    """start_ns / end_ns / width of a timeline request URL."""
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return {k: int(float(q[k][0])) for k in ("start_ns", "end_ns", "width")}


def slice_x(page, start_ns: float, dur_ns: float) -> float:
    """Page x of the middle of a slice in the current view."""
    st = canvas_state(page)
    box = canvas(page).bounding_box()
    t0, t1 = float(st["t0"]), float(st["t1"])
    area = box["width"] - GUTTER_W
    return box["x"] + GUTTER_W + (start_ns + dur_ns / 2 - t0) / (t1 - t0) * area


def api(base: str, path: str, token: str | None = None, cookie: str | None = None):
    """GET a JSON endpoint; returns (status, body)."""
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body.decode(errors="replace")


def percentiles(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)

    def q(p: float) -> float:
        return s[min(len(s) - 1, round(p * (len(s) - 1)))]

    return {"n": len(s), "p50": q(0.5), "p90": q(0.9), "max": s[-1]}


def upload(server: str, path: Path, *extra: str, env: dict | None = None) -> dict:
    """`xdiag upload --json`; the CLI returns once the profile is ingested."""
    res = run_cli("upload", str(path), "--json", "--server", server, *extra, env=env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "ready", out
    return out
