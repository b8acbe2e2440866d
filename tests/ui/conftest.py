"""A real headless Chromium (Debian's) driven by Playwright, against the live server.

Chromium missing (or Playwright not installed) skips the browser tests outside CI and
fails them under CI=true. Every page may only load from the server itself: any other
request is aborted and fails the test (the UI works offline, with no CDN), and so does a
console error (e.g. a Content-Security-Policy violation).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.app import LiveServer
from tests.support.procs import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Route

CHROMIUM = Path(os.environ.get("LDAPKEEPER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts" / "ui"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright, one per test session."""
    if not CHROMIUM.exists():
        skip_or_fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
    except Exception as exc:  # noqa: BLE001 - any launch failure is "no browser here"
        playwright.stop()
        skip_or_fail(f"Chromium did not start: {type(exc).__name__}: {exc}")
    yield browser
    browser.close()
    playwright.stop()


@dataclass
class BrowserProblems:
    """What went wrong in the browser while a test ran."""

    foreign_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@dataclass
class Ui:
    """A browser tab on the live server, and where its screenshots go."""

    page: Page
    server: LiveServer
    problems: BrowserProblems

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def ui(chromium: Browser, live_server: LiveServer) -> Iterator[Ui]:
    """A fresh browser context (no cookies) with one page on the live server."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1360, "height": 900}, locale="en-US"
    )
    context.set_default_timeout(20_000)
    problems = BrowserProblems()

    def only_this_server(route: Route) -> None:
        if route.request.url.startswith(live_server.url + "/"):
            route.continue_()
        else:
            problems.foreign_requests.append(route.request.url)
            route.abort()

    def on_console(message: ConsoleMessage) -> None:
        # A refused form (400/422) is an expected answer, not a browser problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.console_errors.append(message.text)

    context.route("**/*", only_this_server)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.console_errors.append(str(error)))
    yield Ui(page, live_server, problems)
    context.close()
    assert problems.foreign_requests == [], "the UI must not load anything from elsewhere"
    assert problems.console_errors == [], "the browser reported errors"
