"""The viewer on a real GPU capture (tests/fixtures/h100_trainer.xplane.pb.gz, one H100):
overview with steps and MFU, a nonblank trace of CUDA streams, kernels in the op profile,
the roofline, and modules that did not run in the capture."""

from __future__ import annotations

import gzip
import urllib.parse

import pytest
from e2e_support import FIXTURES, api, canvas_pixels, screenshot, upload, wait_trace_settled


@pytest.fixture(scope="module")
def gpu_profile(viewer_service, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("gpu") / "h100.xplane.pb"
    path.write_bytes(gzip.decompress((FIXTURES / "h100_trainer.xplane.pb.gz").read_bytes()))
    return upload(viewer_service.url, path, "--run", "e2e-gpu", "--session", "h100")


def _url(p: dict, tab: str) -> str:
    return f"/p/{urllib.parse.quote(p['id'], safe='~')}?tab={tab}"


@pytest.mark.e2e
def test_gpu_profile_overview_trace_ops_roofline_hlo(ui, viewer_service, gpu_profile) -> None:
    pid = gpu_profile["id"]
    page, _ = ui.new_page(viewer_service.url)

    page.goto(_url(gpu_profile, "overview"))
    page.get_by_test_id("steps-chart").wait_for()
    shown = page.get_by_test_id("overview-mfu").inner_text()
    # The oracle: each complete step's FLOPs over its time at an H100's dense bf16 peak
    # (989 TFLOP/s, NVIDIA's figure), averaged; the trainer's own analytic MFU was ~0.20
    # (the job declared no model FLOPs in this capture, so the HLO's FLOPs count).
    steps = api(viewer_service.url, f"/api/v1/profiles/{pid}/steps")[1]
    done = [s for s in steps["steps"] if s["complete"]]
    want = sum(s["flops"] / (s["dur_ns"] * 1e-9 * 989e12 * s["devices"]) for s in done) / len(done)
    assert 0.05 < want < 0.5 and steps["summary"]["mfu"] == pytest.approx(want, rel=1e-6)
    assert f"{want * 100:.1f}%" in shown, (shown, want)
    screenshot(page, "gpu-01-overview")

    page.goto(_url(gpu_profile, "trace"))
    st = wait_trace_settled(page)
    assert int(st["slices"]) > 0
    px = canvas_pixels(page)
    assert px["distinct"] > 1 and px["saturated"] > 0.005 * px["total"], px
    screenshot(page, "gpu-02-trace")

    ops = api(viewer_service.url, f"/api/v1/profiles/{pid}/ops")[1]["ops"]
    page.goto(_url(gpu_profile, "ops"))
    page.get_by_test_id("ops-table").wait_for()
    page.get_by_role("button", name="Expand all").click()
    top = max(ops, key=lambda o: o["total_ns"])["op"]
    page.locator(f"[data-testid=op-row][data-op='{top}']").first.wait_for()
    screenshot(page, "gpu-03-ops")

    page.goto(_url(gpu_profile, "roofline"))
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=roofline-chart]')?.dataset.points) > 0")
    screenshot(page, "gpu-04-roofline")

    page.goto(_url(gpu_profile, "hlo"))
    page.get_by_test_id("hlo-module-list").wait_for()
    listing = page.get_by_test_id("hlo-module-list").inner_text()
    assert "jit_train_step" in listing and "did not run in this capture" in listing, listing
    screenshot(page, "gpu-05-hlo")
