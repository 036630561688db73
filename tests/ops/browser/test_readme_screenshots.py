"""The transfer map of a busy morning in a real browser: several flows, a loop (Help Desk →
HR → Help Desk) and refused transfers, drawn and listed in words. Its screenshot is the one in
the README (test-screenshots/readme-flows.png; copy it to docs/ops/flows.png after a change)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from playwright.async_api import Page, expect

from app import Settings
from ops.settings import OpsSettings, SignInMode
from storage.sqlite import SqliteStore
from tests.conftest import StartBot
from tests.ops.browser.support import axe_violations, pretty, screenshot, sign_in
from tests.ops.conftest import PERSONAS, ROLES, _dev_provider
from tests.storage.test_reports import NOW, Morning, seed
from tests.support.desk import Desk, desk


class FixedClock:
    def __call__(self) -> Any:
        return NOW


async def busy_morning(folder: Path) -> None:
    """The reports' seeded morning, and three more chats: two to Legal through HR, one more
    back to the Help Desk."""
    store = SqliteStore(folder / "morning.sqlite3")
    morning: Morning = await seed(store, folder)

    def say(text: str) -> Callable[[Desk], Any]:
        return lambda chat: chat.say(text)

    def click(title: str) -> Callable[[Desk], Any]:
        return lambda chat: chat.click(title)

    for name, start in (("legal-1", 3), ("legal-2", 23)):
        await morning.play(
            name, start, say("My contract"), click("HR"), say("A clause"), click("A legal question")
        )
    await morning.play(
        "loop-2", 33, say("My badge"), click("HR"), say("Not HR"), click("Back to the Help Desk")
    )
    await store.close()


async def test_the_transfer_map_shows_flows_a_loop_and_refusals(
    start_bot: StartBot, tmp_path: Path, page: Page
) -> None:
    await busy_morning(tmp_path)
    config = desk()
    config["idle_timeout"] = "30m"
    config["ops"] = {"roles": ROLES, "dev_personas": PERSONAS}
    path = tmp_path / "ops-morning.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    clock = FixedClock()
    bot = await start_bot(
        Settings(ops=OpsSettings(SignInMode.DEV)),
        config=path,
        sqlite="morning.sqlite3",
        clock=clock,
    )
    _dev_provider(bot).clock = clock
    base = bot.url.removesuffix("/api/messages")

    await page.set_viewport_size({"width": 1100, "height": 900})
    await sign_in(page, base, "Ada Admin", "/ops/flows?period=hour")
    await expect(page.locator("[data-chart='flows-data']")).to_have_attribute("data-rendered", "1")
    links = page.get_by_role("table", name="Transfers between departments, by hop")
    loop = links.get_by_role("row", name="Human Resources (hop 1) Help Desk (hop 2)")
    await expect(loop.get_by_role("cell")).to_have_text(
        ["Help Desk (hop 2)", "2", "loop", "Chats from Human Resources to Help Desk"]
    )
    to_legal = links.get_by_role("row", name="Human Resources (hop 1) Legal (hop 2)")
    await expect(to_legal.get_by_role("cell").nth(1)).to_have_text("2")
    refused = page.get_by_role("table", name="Refused transfers")
    await expect(refused.get_by_role("row").nth(2).get_by_role("cell")).to_have_text(
        ["Legal", "1", "tenant 'legal' accepts no transfers from 'helpdesk'"]
    )
    assert (found := await axe_violations(page)) == [], pretty(found)
    await screenshot(page, "readme-flows")
