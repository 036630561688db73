"""The Live page in a real browser: a guest's turn through the Teams endpoint shows up without a
reload; the page passes axe and keeps its accessibility tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from storage.reports import LIVE_CHATS
from tests.ops.browser.support import (
    axe_violations,
    matches_aria_snapshot,
    pretty,
    screenshot,
    sign_in,
)
from tests.ops.conftest import StartOps
from tests.storage.test_reports import active_chats
from tests.support.teams import choice_value

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class StepClock:
    """The app's time: moves only when a test says so."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


async def test_a_guest_s_turn_appears_live_without_a_reload(
    start_ops: StartOps, page: Page
) -> None:
    clock = StepClock()
    ops = await start_ops(clock=clock)
    ops.provider.clock = clock
    await sign_in(page, ops.base, "Hana Hr")
    # The tiles sit in a polite live region (their changes are announced); the table does not.
    announced = page.locator("[aria-live=polite]")
    await expect(announced).to_have_count(1)
    hr = announced.get_by_role("article", name="Human Resources")
    await expect(hr.get_by_role("definition").first).to_have_text("0")
    await expect(page.get_by_text("No active chats.")).to_be_visible()
    assert await page.get_by_role("article", name="Legal").count() == 0

    chat = ops.chat(conversation_id="a:1live-chat")
    await chat.install()
    clock.now += timedelta(minutes=1)
    options = await chat.say("My payslip is wrong")
    clock.now += timedelta(minutes=1)
    await chat.submit(choice_value(options, "HR"))

    table = page.get_by_role("table", name="1 active chat, latest activity first")
    await expect(table).to_be_visible()
    await expect(table.get_by_role("row").nth(1)).to_contain_text("Human Resources")
    await expect(table.get_by_role("row").nth(1)).to_contain_text("Help Desk")
    await expect(hr.get_by_role("definition").first).to_have_text("1")
    await expect(hr.get_by_text("Transfers in today")).to_be_visible()
    await expect(announced.get_by_role("table")).to_have_count(0)
    await expect(page.locator("[aria-live] table, table [aria-live]")).to_have_count(0)

    await matches_aria_snapshot(page, "live", {})
    assert (found := await axe_violations(page)) == [], pretty(found)
    await screenshot(page, "live")


async def test_a_busy_desk_lists_its_latest_chats_and_links_to_the_rest(
    start_ops: StartOps, page: Page
) -> None:
    clock = StepClock()
    ops = await start_ops(clock=clock)
    ops.provider.clock = clock
    await active_chats(ops.bot.store, "hr", [n / 60 for n in range(LIVE_CHATS + 3)])
    await sign_in(page, ops.base, "Hana Hr")
    await expect(
        page.get_by_text("Showing the 200 most recently active of 203 active chats.")
    ).to_be_visible()
    table = page.get_by_role(
        "table", name="The 200 most recently active of 203 active chats, latest activity first"
    )
    await expect(table.get_by_role("row")).to_have_count(1 + LIVE_CHATS)
    await page.get_by_role("link", name="All 203 in chat history").click()
    await expect(page).to_have_url(f"{ops.base}/ops/chats?state=active")
    await expect(page.get_by_role("heading", name="Chat history", level=1)).to_be_visible()
    await page.go_back()
    assert (found := await axe_violations(page)) == [], pretty(found)
