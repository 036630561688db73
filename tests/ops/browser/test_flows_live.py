"""The last hour's transfer map in a real browser: a transfer made through the Teams endpoint
shows up in the map's table and chart without a reload."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Page, expect

from tests.ops.browser.support import axe_violations, pretty, sign_in
from tests.ops.browser.test_live_page import StepClock
from tests.ops.conftest import StartOps
from tests.support.teams import choice_value


async def test_the_last_hour_s_map_draws_a_new_transfer_without_a_reload(
    start_ops: StartOps, page: Page
) -> None:
    clock = StepClock()
    ops = await start_ops(clock=clock)
    ops.provider.clock = clock
    await sign_in(page, ops.base, "Ada Admin", "/ops/flows?period=hour")
    await expect(page.get_by_text("No transfers in this period.")).to_be_visible()
    assert await page.locator("[data-chart] svg").count() == 0

    chat = ops.chat(conversation_id="a:1flows-chat")
    await chat.install()
    clock.now += timedelta(minutes=1)
    options = await chat.say("My payslip is wrong")
    clock.now += timedelta(minutes=1)
    await chat.submit(choice_value(options, "HR"))
    clock.now += timedelta(seconds=30)

    table = page.get_by_role("table", name="Transfers between departments, by hop")
    row = table.get_by_role("row").nth(1)
    await expect(row).to_contain_text("Help Desk (hop 0)")
    await expect(row).to_contain_text("Human Resources (hop 1)")
    await expect(page.get_by_text("1 transfers between departments")).to_be_visible()
    await expect(page.locator("[data-chart]")).to_have_attribute("data-rendered", "1")
    assert page.url.endswith("/ops/flows?period=hour"), "no reload, no navigation"
    assert (found := await axe_violations(page)) == [], pretty(found)
