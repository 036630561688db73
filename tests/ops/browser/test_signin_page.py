"""Signing in to the operations view in a real browser: the provider's page, its answer posted
back, and a page that needs nothing from elsewhere and passes axe."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.ops.browser.support import (
    axe_violations,
    matches_aria_snapshot,
    pretty,
    screenshot,
    sign_in,
)
from tests.ops.conftest import RunningOps


async def test_a_person_signs_in_through_the_provider_page_and_sees_their_access(
    ops: RunningOps, page: Page
) -> None:
    await sign_in(page, ops.base, "Rita Reader", "/ops/me")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your access")
    await expect(
        page.get_by_text("Signed in as Rita Reader (rita@contoso.example).")
    ).to_be_visible()
    await expect(page.get_by_role("definition").nth(1)).to_have_text("Human Resources")
    await matches_aria_snapshot(page, "your-access", {})
    assert (found := await axe_violations(page)) == [], pretty(found)
    assert (await screenshot(page, "your-access")).stat().st_size > 0

    await page.get_by_role("button", name="Sign out").click()
    await page.get_by_role("link", name="Back to Crossdesk").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Signed out")
    await page.goto(f"{ops.base}/ops/me")
    await expect(page.get_by_role("button", name="Rita Reader", exact=True)).to_be_visible()
