"""Times the trace shows at every zoom level, in real Chromium on real captures: axis labels of
a 2 µs window 1.02 s into a capture, start and end of a 1.9 µs op, and a search hit centred,
readable and highlighted. Every number is read back and checked against the API's ns."""

from __future__ import annotations

import gzip
import itertools
import re
import urllib.parse
from pathlib import Path

import pytest
from e2e_support import AXIS_H, FIXTURES, GUTTER_W, SMALL, api, canvas, screenshot, upload
from xplane_edit import slowed_copy

UNIT_NS = {"s": 1e9, "ms": 1e6, "µs": 1e3, "ns": 1.0}


def parse_time(text: str) -> float:
    """"1.020 49 s" (narrow no-break spaces between digit groups) -> ns."""
    m = re.fullmatch(r"\+?([-\d.\u202f ]+?) ?(s|ms|µs|ns)", text.strip())
    assert m, text
    return float(m.group(1).replace("\u202f", "").replace(" ", "")) * UNIT_NS[m.group(2)]


def profile_url(p: dict, **view) -> str:
    return f"/p/{urllib.parse.quote(p['id'], safe='~')}?" + urllib.parse.urlencode({"tab": "trace", **view})


def settled(page, extra: str = "true") -> dict:
    page.wait_for_function(f"""() => {{ const d = document.querySelector('[data-testid=timeline-canvas]')?.dataset;
        return d && d.loaded === '1' && d.planStart === d.reqStart && d.planEnd === d.reqEnd && ({extra}); }}""")
    return canvas(page).evaluate("c => ({...c.dataset})")


@pytest.fixture(scope="module")
def long_profile(viewer_service, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The CPU fixture 20x slower: 1.24 s long, so a window can sit 1.02 s in."""
    path = slowed_copy(SMALL, tmp_path_factory.mktemp("long") / "long.xplane.pb", 20.0)
    return upload(viewer_service.url, path, "--run", "e2e-small", "--session", "twenty-x")


@pytest.mark.e2e
def test_axis_of_a_2us_window_one_second_in_has_short_distinct_labels(ui, viewer_service,
                                                                      long_profile) -> None:
    end = api(viewer_service.url, f"/api/v1/profiles/{long_profile['id']}/tracks")[1]["end_ns"]
    assert end > 1_030_000_000
    t0 = 1_020_496_200
    page, _ = ui.new_page(viewer_service.url)
    page.goto(profile_url(long_profile, t0=t0, t1=t0 + 2020))
    st = settled(page)
    assert (int(st["t0"]), int(st["t1"])) == (t0, t0 + 2020)
    labels, caption = st["tickLabels"].split("|"), st["axisCaption"]
    print(f"axis of [{t0}, {t0 + 2020}] ns: {caption!r} {labels}")
    assert len(labels) >= 4 and len(set(labels)) == len(labels), labels
    for label in labels:
        assert len(label) <= 8 and not re.search(r"\d{5}", label), label
    # Offsets from the origin in the corner: origin + label is each tick, inside the window,
    # one step apart.
    assert caption.endswith(" +"), caption
    origin = round(parse_time(caption[:-2]))
    ticks = [round(origin + parse_time(label)) for label in labels]
    assert all(t0 <= t <= t0 + 2020 for t in ticks), (origin, ticks)
    steps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1, steps
    # The window label tells start from end: "1.020 496 20 - 1.020 498 22 s (2.02 µs)".
    text = page.get_by_test_id("timeline-window").inner_text()
    m = re.fullmatch(r"(.+) \u2013 (.+) (s|ms|µs|ns) \((.+)\)", text)
    assert m, text
    a, b = (parse_time(f"{m.group(i)} {m.group(3)}") for i in (1, 2))
    assert abs(a - t0) <= 10 and abs(b - (t0 + 2020)) <= 10, text
    screenshot(page, "11-trace-2us-axis")


@pytest.mark.e2e
def test_details_of_a_2us_op_tell_start_from_end(ui, viewer_service, small_profile) -> None:
    pid = small_profile["id"]
    hit = api(viewer_service.url, f"/api/v1/profiles/{pid}/search?q=wrapped_multiply&limit=1")[1]
    m = hit["matches"][0]
    assert m["dur_ns"] < 3000
    page, _ = ui.new_page(viewer_service.url)
    page.goto(profile_url(small_profile, t0=m["start_ns"] - 300, t1=m["start_ns"] + 1720, sel=m["id"]))
    settled(page)
    kv = page.get_by_test_id("details-kv")
    kv.wait_for()
    cell = {k: kv.locator(f"tr[data-key='{k}'] td").inner_text() for k in ("Start", "End", "Duration", "Row")}
    print("details:", cell)
    assert cell["Start"] != cell["End"]
    assert parse_time(cell["Start"]) == pytest.approx(m["start_ns"], abs=0.5)
    assert parse_time(cell["End"]) == pytest.approx(m["start_ns"] + m["dur_ns"], abs=0.5)
    assert parse_time(cell["Duration"]) == pytest.approx(m["dur_ns"], rel=1e-3)
    assert cell["Row"] == "1" and kv.locator("tr[data-key='Depth']").count() == 0
    screenshot(page, "12-trace-details-tiny-op")


@pytest.mark.e2e
def test_details_of_a_gpu_kernel_name_its_lane_not_a_depth(ui, viewer_service,
                                                           tmp_path: Path) -> None:
    """On a CUDA stream kernels overlap without nesting: their rows are lanes."""
    path = tmp_path / "h100.xplane.pb"
    path.write_bytes(gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes()))
    gpu = upload(viewer_service.url, path, "--run", "e2e-gpu", "--session", "h100-lanes")
    base = f"/api/v1/profiles/{gpu['id']}"
    tracks = api(viewer_service.url, f"{base}/tracks")[1]
    lanes = {t["id"] for t in tracks["tracks"] if t.get("lanes")}
    assert lanes
    tl = api(viewer_service.url, f"{base}/timeline?start_ns=0&end_ns={tracks['end_ns']}"
             f"&width=4096&format=json")[1]
    kernel = max((x for x in tl["slices"] if x["track"] in lanes), key=lambda x: x["depth"])
    page, _ = ui.new_page(viewer_service.url)
    page.goto(profile_url(gpu, t0=kernel["start_ns"], t1=kernel["start_ns"] + kernel["dur_ns"],
                          sel=kernel["id"]))
    row = page.get_by_test_id("details-kv").locator("tr[data-key='Row'] td")
    row.wait_for()
    assert row.inner_text() == f"lane {kernel['depth'] + 1}"


@pytest.mark.e2e
def test_search_hit_is_centred_readable_and_highlighted(ui, viewer_service, small_profile) -> None:
    pid = small_profile["id"]
    q = "wrapped_multiply"
    found = api(viewer_service.url, f"/api/v1/profiles/{pid}/search?q={q}&limit=100")[1]
    first, second = found["matches"][:2]
    page, _ = ui.new_page(viewer_service.url)
    page.goto(profile_url(small_profile))
    full = settled(page)
    area = float(full["areaWidth"])
    assert first["dur_ns"] * area / (int(full["t1"]) - int(full["t0"])) < 1  # sub-pixel now

    box = page.get_by_test_id("trace-search")
    box.fill(q)
    box.press("Enter")
    st = settled(page, f"d.selId === '{first['id']}'")
    x0, x1, area = float(st["selX0"]), float(st["selX1"]), float(st["areaWidth"])
    print(f"hit {first['id']} ({first['dur_ns']} ns) drawn at {x0}..{x1} of {area} px")
    assert abs((x0 + x1) / 2 - area / 2) <= 2, (x0, x1, area)
    assert x1 - x0 >= 100  # zoomed to a readable width (READABLE_PX = 120)
    page.wait_for_function(
        "t => document.querySelector('[data-testid=details-title]')?.textContent === t", arg=q)
    # Highlighted: the accent marker under the axis at the hit's centre, in pixels.
    rgb = page.evaluate("""() => { const e = document.createElement('span');
        e.style.color = getComputedStyle(document.documentElement).getPropertyValue('--accent');
        document.body.append(e); const c = getComputedStyle(e).color; e.remove();
        return c.match(/\\d+/g).slice(0, 3).map(Number); }""")
    px = canvas(page).evaluate(f"""c => {{ const dpr = c.width / c.getBoundingClientRect().width;
        return [...c.getContext('2d').getImageData(Math.round(({GUTTER_W} + {(x0 + x1) / 2}) * dpr),
            Math.round(({AXIS_H} - 2.5) * dpr), 1, 1).data].slice(0, 3); }}""")
    assert all(abs(a - b) <= 12 for a, b in zip(px, rgb, strict=True)), (px, rgb)
    screenshot(page, "13-trace-search-hit")

    # The result list: every loaded match, none of them an "end:" marker; a click jumps.
    page.get_by_test_id("search-results-toggle").click()
    items = page.get_by_test_id("search-result")
    assert items.count() == len(found["matches"])
    names = items.locator(".hit-name").all_inner_texts()
    assert not any(n.startswith("end:") for n in names) and set(names) == {q}
    items.nth(1).click()
    st = settled(page, f"d.selId === '{second['id']}'")
    assert abs((float(st["selX0"]) + float(st["selX1"])) / 2 - float(st["areaWidth"]) / 2) <= 2
    assert page.get_by_test_id("search-status").inner_text() == f"2 of {found['total']}"


@pytest.mark.e2e
def test_search_results_show_a_named_scope_when_the_server_sends_one(ui, viewer_service,
                                                                     small_profile) -> None:
    """The server will add `scope` (the op's named scope from the HLO metadata); the list
    shows it beside the name. Until then the answer is completed in the browser."""
    page, _ = ui.new_page(viewer_service.url)

    def with_scope(route) -> None:
        body = route.fetch().json()
        for m in body["matches"]:
            m["scope"] = "jit(train_step)/moe/experts"
        route.fulfill(json=body)

    page.route("**/api/v1/profiles/*/search?*", with_scope)
    page.goto(profile_url(small_profile))
    settled(page)
    box = page.get_by_test_id("trace-search")
    box.fill("wrapped_multiply")
    box.press("Enter")
    page.get_by_test_id("search-results-toggle").wait_for()
    page.get_by_test_id("search-results-toggle").click()
    scope = page.get_by_test_id("search-result-scope").first
    assert scope.inner_text() == "jit(train_step)/moe/experts"


def test_parse_time_reads_what_the_ui_writes() -> None:
    assert parse_time("1.020\u202f49 s +"[:-2]) == pytest.approx(1_020_490_000)
    assert parse_time("+6.2 µs") == pytest.approx(6200)
    assert parse_time("122.004\u202f310 ms") == pytest.approx(122_004_310)
