"""Browser tests of the console: Debian's chromium driven by Playwright against a real stack.

Playwright's own browser download cannot be reached here, so the system `chromium` package is
launched by path (`.ci/run` installs it). Without Playwright or chromium the tests skip locally
and fail under CI, like every other service fixture. The e2e stack (simulator, API, workers,
dispatchers) serves the whole module; each test gets a fresh browser context (so a fresh
sessionStorage: signed out) at 1280×800 in a fixed zone, and screenshots go to `out/console/`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import conftest as e2e
from tests.e2e.conftest import Stack
from tests.support.browser import ARGS, CHROMIUM

OPERATOR_KEY = "op-key"  # the session settings' API_KEYS (tests/conftest.py)
READ_KEY = "read-key"
ZONE = "Europe/Paris"
SHOTS = Path(__file__).resolve().parents[2] / "out" / "console"
VIEWPORT = {"width": 1280, "height": 800}


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required for the console tests under CI")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (the dev extra)")
    if not shutil.which(CHROMIUM):
        _missing(f"chromium ({CHROMIUM}; apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=list(ARGS))
        yield chromium
        chromium.close()


console_stack = e2e.stack
"""The e2e system, once per module; its API takes the session's keys (`op-key`, `read-key`)."""


@pytest.fixture
def api(console_stack: Stack) -> Iterator[httpx.Client]:
    """The API as an operator script would use it (to set up what the page then shows)."""
    auth = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    with httpx.Client(base_url=console_stack.api_url, headers=auth, timeout=30) as client:
        yield client


@pytest.fixture
def page(browser: Any, console_stack: Stack) -> Iterator[Any]:
    context = browser.new_context(
        viewport=VIEWPORT, timezone_id=ZONE, locale="en-GB", accept_downloads=True
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.goto(console_stack.api_url + "/")
    yield tab
    context.close()


def sign_in(page: Any, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """A screenshot under out/console/ (docs/console/ holds the committed copies)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
