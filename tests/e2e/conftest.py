"""Fixtures of the browser tests: one Chromium per session, one watched context per page,
one `xdiag serve` (local store) shared by the viewer, capture and performance tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from e2e_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    SMALL,
    VIEWPORT,
    PageWatch,
    screenshot,
    upload,
)
from support import ROOT, Service


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium "
                    "(or set XDIAG_CHROMIUM)")
    if not (ROOT / "webui" / "dist" / "index.html").is_file():
        pytest.fail("webui/dist is not built: run `cd webui && npm run build` (make test does)")
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("failed-*.png"):  # from an earlier run
        old.unlink()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class UI:
    """Opens watched pages; every page's console and page errors are checked after the test."""

    def __init__(self, browser, name: str) -> None:
        self.browser = browser
        self.name = name
        self.contexts: list = []
        self.watches: list[tuple[PageWatch, object]] = []

    def new_page(self, base_url: str | None = None, label: str = "page"):
        """A page in a FRESH browser context (no cookies, no storage)."""
        ctx = self.browser.new_context(viewport=VIEWPORT, base_url=base_url)
        ctx.set_default_timeout(30_000)
        self.contexts.append(ctx)
        page = ctx.new_page()
        watch = PageWatch(f"{self.name}[{label}]")
        watch.attach(page)
        self.watches.append((watch, page))
        return page, watch

    def close(self, failed: bool) -> None:
        for i, (_watch, page) in enumerate(self.watches):
            if failed and not page.is_closed():
                try:
                    screenshot(page, f"failed-{self.name}-{i}")
                except Exception as e:  # the page may be gone with the failure
                    print(f"no failure screenshot: {e}")
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def ui(browser, request) -> Iterator[UI]:
    u = UI(browser, request.node.name.replace("/", "_"))
    yield u
    rep = getattr(request.node, "rep_call", None)
    u.close(failed=bool(rep and rep.failed))
    problems = []
    for watch, _ in u.watches:
        for m in watch.console_errors:
            print(f"console error in {watch.name}: {m}")
        if watch.page_errors:
            problems.append(f"page errors in {watch.name}: {watch.page_errors}")
        if watch.unexpected_console():
            problems.append(f"console errors in {watch.name}: {watch.unexpected_console()}")
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture(scope="session")
def viewer_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service with a local store for the viewer, capture and performance tests."""
    work = tmp_path_factory.mktemp("e2e-viewer")
    svc = Service(str(work / "store"), work)
    yield svc
    svc.stop()
    shutil.rmtree(work / "store", ignore_errors=True)  # up to ~0.5 GB with the big profile


@pytest.fixture(scope="session")
def small_profile(viewer_service: Service) -> dict:
    """tests/fixtures/cpu_small.xplane.pb: a real 8-device CPU capture, uploaded and ingested."""
    return upload(viewer_service.url, SMALL, "--run", "e2e-small", "--session", "capture-a")
