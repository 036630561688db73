"""Chat history, a journey, reports and the transfer map in a real browser: what a manager
sees, charts drawn from the page's own data, each page keyboard-reachable, passing axe and
keeping its accessibility tree."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Page, expect

from tests.ops.browser.support import (
    axe_violations,
    matches_aria_snapshot,
    pretty,
    screenshot,
    sign_in,
)
from tests.ops.browser.test_live_page import StepClock
from tests.ops.conftest import RunningOps, StartOps
from tests.support.teams import choice_value


async def played(start_ops: StartOps) -> tuple[RunningOps, StepClock]:
    """Help Desk → Human Resources → Legal, a minute a step, at a fixed time."""
    clock = StepClock()
    ops = await start_ops(clock=clock)
    ops.provider.clock = clock
    chat = ops.chat(conversation_id="a:1journey")
    await chat.install()
    clock.now += timedelta(minutes=1)
    options = await chat.say("My payslip is wrong")
    clock.now += timedelta(minutes=1)
    hr = await chat.submit(choice_value(options, "HR"))
    assert hr.texts()
    clock.now += timedelta(minutes=2)
    more = await chat.say("Overtime for March is missing")
    clock.now += timedelta(minutes=1)
    await chat.submit(choice_value(more, "I also have a legal question"))
    clock.now += timedelta(minutes=1)
    await chat.say("Is my contract's overtime clause legal")
    clock.now += timedelta(minutes=5)
    return ops, clock


async def check(page: Page, name: str) -> None:
    await matches_aria_snapshot(page, name, {})
    assert (found := await axe_violations(page)) == [], pretty(found)
    await screenshot(page, name)


async def test_a_manager_finds_the_chat_and_follows_its_journey(
    start_ops: StartOps, page: Page
) -> None:
    ops, _ = await played(start_ops)
    await sign_in(page, ops.base, "Hana Hr", "/ops/chats")
    table = page.get_by_role("table", name="Sessions, newest first (1 on this page)")
    await expect(table.get_by_role("row").nth(1)).to_contain_text("Human Resources")
    await check(page, "history")

    await page.keyboard.press("Tab")
    link = page.get_by_role("link", name="Journey of the session started 2026-03-02 10:02")
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Journey of a chat")
    await expect(
        page.get_by_text("handled by Help Desk 10:00:00\N{EN DASH}10:02:00")
    ).to_be_visible()
    await expect(page.get_by_text("handled by Legal 10:05:00\N{EN DASH}")).to_be_visible()
    await expect(page.get_by_role("table", name="Stages in Human Resources")).to_be_visible()
    assert "payslip" not in await page.content()
    await check(page, "journey")


async def test_reports_and_the_transfer_map_draw_charts_with_their_tables(
    start_ops: StartOps, page: Page
) -> None:
    ops, _ = await played(start_ops)
    await sign_in(page, ops.base, "Ada Admin", "/ops/reports")
    by_day = page.locator("[data-chart='by-day-data']")
    await expect(by_day).to_have_attribute("data-rendered", "1")
    await expect(page.get_by_role("table", name="Outcomes (the chart's data)")).to_contain_text(
        "transferred"
    )
    await check(page, "reports")

    await page.get_by_role("link", name="Transfer map").click()
    await page.get_by_role("link", name="Last hour").click()
    flows = page.locator("[data-chart='flows-data']")
    await expect(flows).to_have_attribute("data-rendered", "1")
    links = page.get_by_role("table", name="Transfers between departments, by hop")
    await expect(links.get_by_role("row")).to_have_count(3)
    await check(page, "flows")
    await links.get_by_role("link", name="Chats from Human Resources to Legal").click()
    await expect(
        page.get_by_role("table", name="Sessions, newest first (1 on this page)")
    ).to_contain_text("Legal")
