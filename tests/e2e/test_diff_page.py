"""The diff page in real Chromium on two real captures of different length: the baseline is
the 5-step CPU fixture, the candidate the same capture slowed down 1.53x and cut after 2
steps (raw totals would call it faster). The numbers are checked against sums over the raw
files read by jax.profiler.ProfileData, the C++ reference parser."""

from __future__ import annotations

import collections
import re
import urllib.parse
from pathlib import Path

import pytest
from e2e_support import SMALL, api, screenshot, upload
from xplane_edit import slowed_copy

SLOWER = 1.53
KEEP_STEPS = 2


def oracle(path: Path) -> tuple[int, dict[str, float]]:
    """(steps, self ns of each op summed over devices) read with ProfileData: the device
    ops of this capture do not nest, so self time is duration."""
    from jax.profiler import ProfileData

    steps, ops = 0, collections.defaultdict(float)
    for plane in ProfileData.from_file(str(path)).planes:
        for line in plane.lines:
            for ev in line.events:
                st = dict(ev.stats)
                steps += "step_num" in st
                if "hlo_op" in st and "device_ordinal" in st:
                    ops[str(st["hlo_op"])] += ev.duration_ns
    return steps, ops


@pytest.mark.e2e
def test_diff_of_a_slower_shorter_capture_is_red_per_step(ui, viewer_service, small_profile,
                                                         tmp_path: Path) -> None:
    slow = slowed_copy(SMALL, tmp_path / "slow.xplane.pb", SLOWER, KEEP_STEPS)
    cand = upload(viewer_service.url, slow, "--run", "e2e-small", "--session", "slower-b")
    base = small_profile  # uploaded first: the older one
    steps_a, ops_a = oracle(SMALL)
    steps_b, ops_b = oracle(slow)
    assert (steps_a, steps_b) == (5, KEEP_STEPS)

    d = api(viewer_service.url, "/api/v1/diff?" + urllib.parse.urlencode(
        {"a": base["id"], "b": cand["id"]}))[1]
    assert d["normalization"]["kind"] == "per_step" and d["time"] == "self_ns"
    assert (d["normalization"]["a_divisor"], d["normalization"]["b_divisor"]) == (steps_a, steps_b)
    rows = {r["op"]: r for r in d["ops"]}
    assert set(rows) == set(ops_a) & set(ops_b)
    slower_ops = []
    for op, r in rows.items():
        occ = r["a_occurrences"] + r["b_occurrences"]  # ingest rounds each event to whole ns
        assert r["a_ns"] == pytest.approx(ops_a[op] / steps_a, abs=occ), op
        assert r["b_ns"] == pytest.approx(ops_b[op] / steps_b, abs=occ), op
        if ops_b[op] / steps_b > 1.05 * ops_a[op] / steps_a:
            slower_ops.append(op)
    raw_total = sum(ops_b.values()) / sum(ops_a.values()) - 1
    per_step = (sum(ops_b.values()) / steps_b) / (sum(ops_a.values()) / steps_a) - 1
    print(f"op self time B vs A: raw totals {raw_total:+.1%}, per step {per_step:+.1%}; "
          f"API {d['totals']['delta_pct']:+.1f}%; step time {d['steps']['delta_pct']:+.1f}%")
    assert raw_total < 0 < per_step  # the trap of the issue: raw totals call B faster
    assert d["totals"]["delta_pct"] == pytest.approx(per_step * 100, abs=0.1)
    assert d["steps"]["delta_pct"] > 0
    assert slower_ops

    # The user ticks the newer profile first: the older one still becomes the baseline A.
    page, _ = ui.new_page(viewer_service.url)
    page.goto("/")
    for pid in (cand["id"], base["id"]):
        page.locator(f"[data-testid=profile-row][data-id='{pid}'] [data-testid=profile-select]").check()
    page.get_by_test_id("diff-button").click()
    page.wait_for_url(re.compile(r"/diff\?"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert (q["a"], q["b"]) == ([base["id"]], [cand["id"]])
    page.get_by_test_id("diff-table").wait_for()

    step = page.get_by_test_id("diff-step-delta").locator(".card-value")
    assert step.inner_text().startswith("+") and "worse" in step.get_attribute("class")
    total = page.get_by_test_id("diff-total-delta").locator(".card-value")
    assert "worse" in total.get_attribute("class")
    note = page.get_by_test_id("diff-normalization").inner_text()
    assert "self time" in note and "per step" in note and f"A: {steps_a}, B: {steps_b}" in note, note
    for op in slower_ops:
        row = page.locator(f"[data-testid=diff-row][data-op='{op}']")
        for cell in ("diff-delta", "diff-pct"):
            c = row.get_by_test_id(cell)
            assert c.inner_text().startswith("+") and c.get_attribute("class") == "worse", (op, cell)
    # Every coloured cell agrees with its sign: red is +, green is -.
    cells = page.locator("[data-testid=diff-delta], [data-testid=diff-pct]").evaluate_all(
        "els => els.map(e => [e.className, e.textContent])")
    assert all((cls == "worse") == txt.startswith("+") and (cls == "better") == txt.startswith("-")
               for cls, txt in cells), cells
    colours = page.evaluate("""() => ['worse', 'better'].map(c => {
        const e = document.createElement('span'); e.className = c; document.body.append(e);
        const rgb = getComputedStyle(e).color.match(/\\d+/g).map(Number); e.remove(); return rgb; })""")
    (rr, rg, _), (gr, gg, _) = colours
    assert rr > rg and gg > gr, colours  # red for slower, green for faster

    # An op name opens that op in B's op profile.
    link = page.locator(f"[data-testid=diff-row][data-op='{slower_ops[0]}'] [data-testid=diff-op-link]")
    href = link.get_attribute("href")
    assert urllib.parse.quote(cand["id"], safe="~") in href and "tab=ops" in href, href
    screenshot(page, "10-diff-slower", full_page=True)
    link.click()
    page.get_by_test_id("panel-ops").wait_for()
    page.locator(f"[data-testid=op-row][data-op='{slower_ops[0]}'].selected").wait_for()
