"""Fixtures of the browser tests: Crossdesk with `/ops` on 127.0.0.1 (tests/ops/conftest.py)
and a headless Chromium that can reach nothing but loopback. Every test here is marked
`browser`; without Chromium they fail, saying what to install, rather than skip."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.ops.browser.support import CHROMIUM, Offline, missing_chromium, offline_context


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ops/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    problem = missing_chromium()
    if problem:
        pytest.fail(problem, pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        await browser.close()


@pytest.fixture
def offline() -> Offline:
    return Offline()


@pytest.fixture
async def page(chromium: Browser, offline: Offline) -> AsyncIterator[Page]:
    """A page in a browser of its own; after the test, no request left loopback."""
    context = await offline_context(chromium, offline)
    yield await context.new_page()
    await context.close()
    assert offline.attempted == [], f"the page tried to leave this machine: {offline.attempted}"
