"""Browser tests: our app served on 127.0.0.1 from a thread, driven by Debian's Chromium through
Playwright, on a fresh migrated SQLite database, fake Redis with inline jobs and the in-memory
Label Studio fake (the fixtures of tests/conftest.py).

Outside bin/test a missing Chromium, Playwright or editor bundle skips these tests with the
reason; under bin/test (QIANLING_REQUIRE_INTEGRATION=1) it fails them, so CI cannot pass by
skipping. A failed test leaves a screenshot in .run/screenshots/<test>.png.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from accounts.models import Role
from config import ROOT
from tests.conftest import PASSWORD
from vendor import DEFAULT_EDITOR_DIR, EDITOR_FILES

CHROMIUM = Path(os.environ.get("QIANLING_CHROMIUM") or "/usr/bin/chromium")
SCREENSHOTS = ROOT / ".run" / "screenshots"
# Headless, and kept from reaching any host but ours (update checks, accounts, fonts).
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--no-first-run", "--disable-sync",
               "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9"]
TIMEOUT_MS = 20_000


def _unavailable(reason: str) -> None:
    if os.environ.get("QIANLING_REQUIRE_INTEGRATION") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed: run bin/setup")
    if not CHROMIUM.exists():
        _unavailable(f"no Chromium at {CHROMIUM}: run bin/setup (Debian package chromium)")
    if not all((DEFAULT_EDITOR_DIR / name).is_file() for name in EDITOR_FILES.values()):
        _unavailable(f"the Label Studio editor is not installed under {DEFAULT_EDITOR_DIR}: run bin/setup")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:  # one line per asset would bury a failure's log
        pass


@pytest.fixture
def live_server(app, fake_ls):
    """The app on a free port of 127.0.0.1, one thread per request, for the length of a test."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser context on the live server; screenshots itself if the test fails."""
    context = browser.new_context(base_url=live_server, locale="zh-CN", viewport={"width": 1440, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.errors = []  # uncaught script errors: every test checks there were none
    page.on("pageerror", lambda err: page.errors.append(str(err)))
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        context.close()


# Users come from the `api_as` fixture, so they share one username sequence with the ones a test
# makes through it (tests/conftest.py is imported twice, as `conftest` and `tests.conftest`, and
# each copy counts from 1).
@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[0]


def sign_in(page, user) -> None:
    """Sign `user` in through the login form, as a person would."""
    page.goto("/accounts/login")
    page.get_by_label("用户名 / Username").fill(user.username)
    page.get_by_label("密码 / Password").fill(PASSWORD)
    page.get_by_role("button", name="登录 / Sign in").click()
    page.wait_for_url("**/home")


@pytest.fixture
def manager_page(page, manager):
    """The page, signed in as a manager."""
    sign_in(page, manager)
    return page


@pytest.fixture
def annotator(api_as):
    return api_as(Role.ANNOTATOR)[0]


@pytest.fixture
def annotator_page(page, annotator):
    """The page, signed in as an annotator."""
    sign_in(page, annotator)
    return page
