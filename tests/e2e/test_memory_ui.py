"""The Memory tab (issue 19) in real Chromium against the real service.

cpu_small with one program's HLO proto stripped of its buffer assignment (as a runtime that
does not export it leaves it): the tab opens on the program that ran the most time (not the
first, not the one with the largest peak), draws a non-blank heap chart with its peak and the
buffers at the peak (sortable), the picker moves to another program and to the stripped one
(which says "not available because ..." and draws no chart), a buffer's instruction opens the
HLO graph at that op and its "timeline" link the trace at the op's first occurrence. The H100
capture: the allocator timeline, its peak and capacity as stock xprof's memory_profile gives
them (GPU_0_bfc: 15,074,838,272 bytes in use at the peak of 63,763,906,560, the issue's
measurement). The diff page's memory section between the two. One page, reused; ~5 s after
the two uploads.
"""

from __future__ import annotations

import gzip
import urllib.parse

import pytest
from e2e_support import SMALL, api, screenshot, upload
from support import FIXTURES, edit_hlo_protos, without_buffer_assignment

STRIPPED = "jit_broadcast_in_dim(8)"
XPROF_GPU_PEAK = 15_074_838_272  # stock xprof 2.24.2 memory_profile, GPU_0_bfc peakBytesInUse
XPROF_GPU_CAPACITY = 63_763_906_560  # ... memoryCapacity


@pytest.fixture(scope="module")
def memory_profiles(viewer_service, tmp_path_factory) -> dict[str, dict]:
    work = tmp_path_factory.mktemp("memory-ui")
    stripped = edit_hlo_protos(SMALL, work / "cpu_small.xplane.pb",
                               {STRIPPED: without_buffer_assignment})
    h100 = work / "h100.xplane.pb"
    h100.write_bytes(gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes()))
    return {"cpu": upload(viewer_service.url, stripped, "--run", "e2e-memory", "--session", "cpu"),
            "h100": upload(viewer_service.url, h100, "--run", "e2e-memory", "--session", "h100")}


def _url(pid: str, **q: str) -> str:
    return f"/p/{urllib.parse.quote(pid, safe='~')}?{urllib.parse.urlencode({'tab': 'memory', **q})}"


def _wait_heap_chart(page) -> None:
    page.wait_for_function("""() => {
        const c = document.querySelector('[data-testid=memory-heap-chart] canvas');
        return c && c.width > 0 && document.querySelector('[data-testid=memory-buffer-row]'); }""")


def _ink(page, host: str) -> dict[str, int]:
    """Pixels of the chart's canvas that are not background or grid: the drawn line, fill
    and peak marker (saturated colours; the grid and text are grey)."""
    return page.locator(f"[data-testid={host}] canvas").first.evaluate("""c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let saturated = 0, red = 0;
        for (let i = 0; i < d.length; i += 4) {
            const r = d[i], g = d[i + 1], b = d[i + 2], a = d[i + 3];
            if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 30) saturated++;
            if (a > 0 && r > 180 && g < 90 && b < 90) red++;
        }
        return {saturated, red, total: d.length / 4};
    }""")


@pytest.mark.e2e
def test_memory_tab(ui, viewer_service, memory_profiles) -> None:
    base = viewer_service.url
    pid = memory_profiles["cpu"]["id"]
    summary = api(base, f"/api/v1/profiles/{pid}/memory")[1]
    progs = {p["id"]: p for p in summary["programs"]}
    ran_most = max(summary["programs"], key=lambda p: p["ran_ns"])["id"]
    largest = max((p for p in summary["programs"] if p["available"]), key=lambda p: p["peak_heap_bytes"])["id"]
    assert ran_most == "jit_train_step(10)" != largest  # the default must not be the largest
    view = api(base, f"/api/v1/profiles/{pid}/memory/programs/{urllib.parse.quote(ran_most)}")[1]

    page, _ = ui.new_page(base)
    page.goto(_url(pid))
    _wait_heap_chart(page)

    # The program that ran the most, its numbers (exact bytes in the cards' titles).
    assert page.get_by_test_id("memory-program").input_value() == ran_most
    peak_title = page.get_by_test_id("memory-peak").get_attribute("title")
    assert f"{view['peak_heap_bytes']:,} bytes" in peak_title, peak_title
    assert f"{view['entry_parameters_bytes']:,} bytes" in page.get_by_test_id("memory-params").get_attribute("title")
    assert f"{view['maybe_live_out_bytes']:,} bytes" in page.get_by_test_id("memory-liveout").get_attribute("title")
    assert "host RAM" in page.get_by_test_id("memory-headroom").inner_text()

    # A non-blank heap chart with the peak marked, its points the API's series.
    chart = page.get_by_test_id("memory-heap-chart")
    assert int(chart.get_attribute("data-points")) == len(view["heap"]["position"]) > 0
    ink = _ink(page, "memory-heap-chart")
    assert ink["saturated"] > 0.02 * ink["total"] and ink["red"] > 10, ink

    # The buffers at the peak, largest first; the Size header sorts them the other way.
    rows = page.get_by_test_id("memory-buffer-row")
    assert rows.count() == len(view["buffers"]) == view["buffers_at_peak"]
    sizes = sorted((b["size_bytes"] for b in view["buffers"]), reverse=True)
    assert rows.first.locator("td span").first.get_attribute("title").startswith(f"{sizes[0]:,} bytes")
    page.locator("[data-testid=memory-buffers] th button", has_text="Size").click()
    assert rows.first.locator("td span").first.get_attribute("title").startswith(f"{sizes[-1]:,} bytes")
    groups = page.get_by_test_id("memory-groups-category").inner_text()
    assert all(g["key"] in groups for g in view["groups"]["by_category"]), groups
    # CPU: no allocator events, said in words.
    al = page.get_by_test_id("memory-allocators-unavailable").inner_text()
    assert al.startswith("not available because") and "CPU" in al, al
    screenshot(page, "memory-01-cpu")

    # The picker: the program with the largest peak (on CPU without a heap simulation: said
    # in words, its buffers still listed), then the stripped one (a reason, no chart).
    other = api(base, f"/api/v1/profiles/{pid}/memory/programs/{urllib.parse.quote(largest)}")[1]
    page.get_by_test_id("memory-program").select_option(largest)
    page.wait_for_function("id => new URL(location.href).searchParams.get('module') === id", arg=largest)
    page.wait_for_function(
        "b => document.querySelector('[data-testid=memory-peak]')?.title.includes(b)",
        arg=f"{other['peak_heap_bytes']:,} bytes")
    if other["heap"]["position"]:
        _wait_heap_chart(page)
    else:
        said = page.get_by_test_id("memory-heap-unavailable").inner_text()
        assert said.startswith("not available because") and said == other["heap"].get("reason", said), said
    assert rows.count() == len(other["buffers"])
    page.get_by_test_id("memory-program").select_option(STRIPPED)
    reason = page.get_by_test_id("memory-unavailable")
    reason.wait_for()
    assert progs[STRIPPED]["reason"].startswith("not available because")
    assert progs[STRIPPED]["reason"] in reason.inner_text()
    assert page.locator("[data-testid=panel-memory] [data-testid=memory-heap-chart] canvas").count() == 0
    screenshot(page, "memory-02-not-available")

    # Back to the default; a buffer's instruction opens the HLO graph at that op.
    page.get_by_test_id("memory-program").select_option(ran_most)
    _wait_heap_chart(page)
    temp = next(b for b in view["buffers"] if b["category"] == "temporary")
    row = page.locator(f"[data-testid=memory-buffer-row][data-op='{temp['instruction']}']")
    row.locator("td").first.click()  # select: its row and its live range on the chart
    page.wait_for_function("op => new URL(location.href).searchParams.get('op') === op", arg=temp["instruction"])
    assert "selected" in row.get_attribute("class")
    row.get_by_test_id("memory-buffer-hlo").click()
    page.get_by_test_id("panel-hlo").wait_for()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    # The module by name when no other program has it (as the HLO tab lists them), else by id.
    assert q["tab"] == ["hlo"] and q["module"] == [progs[ran_most]["name"]] and q["op"] == [temp["instruction"]], page.url
    page.get_by_test_id("hlo-graph-svg").wait_for(timeout=60_000)
    assert temp["instruction"] in page.get_by_test_id("hlo-highlight").inner_text()
    titles = page.locator("[data-testid=hlo-graph-svg] g.node title").evaluate_all("els => els.map(e => e.textContent)")
    assert temp["instruction"] in titles, titles
    screenshot(page, "memory-03-hlo")

    # Its "timeline" link: the trace at the op's first occurrence, the search on its name.
    page.go_back()
    _wait_heap_chart(page)
    page.locator(f"[data-testid=memory-buffer-row][data-op='{temp['instruction']}'] [data-testid=memory-buffer-trace]").click()
    page.wait_for_function("() => new URL(location.href).searchParams.get('tab') === 'trace'")
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert q["q"] == [temp["instruction"]], page.url
    event = api(base, f"/api/v1/profiles/{pid}/events/{q['sel'][0]}")[1]
    assert event["name"] == temp["instruction"] and int(q["t0"][0]) <= event["start_ns"] < int(q["t1"][0])

    # H100: the allocator timeline, peak and capacity as stock xprof's memory_profile has them.
    gpu = memory_profiles["h100"]["id"]
    page.goto(_url(gpu))
    _wait_heap_chart(page)
    page.wait_for_function("() => document.querySelector('[data-testid=memory-alloc-chart] canvas')")
    assert page.get_by_test_id("memory-allocator").input_value().startswith("GPU_0_bfc@")
    cards = page.get_by_test_id("memory-alloc-cards")
    titles = cards.locator(".card").evaluate_all("els => els.map(e => e.title)")
    assert any(t.startswith(f"{XPROF_GPU_PEAK:,} bytes") for t in titles), titles
    assert any(t.startswith(f"{XPROF_GPU_CAPACITY:,} bytes") for t in titles), titles
    href = page.get_by_test_id("memory-alloc-peak-link").get_attribute("href")
    win = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
    peak_ns = next(x for x in api(base, f"/api/v1/profiles/{gpu}/memory/allocators")[1]["allocators"]
                   if x["name"] == "GPU_0_bfc")["peak_time_ns"]
    assert win["tab"] == ["trace"] and int(win["t0"][0]) < peak_ns < int(win["t1"][0]), href
    ink = _ink(page, "memory-alloc-chart")
    assert ink["saturated"] > 0.01 * ink["total"] and ink["red"] > 10, ink
    page.get_by_test_id("memory-allocators").scroll_into_view_if_needed()
    screenshot(page, "memory-04-h100-allocators")

    # The diff page: the peak's change between the two captures' jit_train_step, and the
    # buffers that made it, largest first (A: cpu_small, B: the H100).
    md = api(base, f"/api/v1/diff/memory?a={pid}&b={gpu}")[1]
    assert md["available"] and md["delta_bytes"] == md["b_peak_bytes"] - md["a_peak_bytes"]
    page.goto(f"/diff?a={urllib.parse.quote(pid, safe='~')}&b={urllib.parse.quote(gpu, safe='~')}")
    delta = page.get_by_test_id("diff-memory-delta")
    delta.wait_for()
    assert delta.get_attribute("title") == f"{md['delta_bytes']:,} bytes"
    assert "worse" in delta.locator(".card-value").get_attribute("class")
    first = page.get_by_test_id("diff-memory-row").first
    assert first.get_attribute("data-op") == md["buffers"][0]["instruction"]
    page.get_by_test_id("diff-memory").scroll_into_view_if_needed()
    screenshot(page, "memory-05-diff")
