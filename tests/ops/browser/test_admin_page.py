"""The Admin page in a real browser: an admin reaches it from the navigation, reads who may
transfer to whom and who read which transcript, and the page passes axe and keeps its
accessibility tree."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.ops.browser.support import sign_in
from tests.ops.browser.test_pages_in_browser import check, played
from tests.ops.conftest import StartOps


async def test_an_admin_reads_the_transfer_matrix_and_the_audit_log(
    start_ops: StartOps, page: Page
) -> None:
    ops, _ = await played(start_ops)
    rita = ops.browser()
    await rita.sign_in("Rita Reader")
    status, _ = await rita.json("/ops/api/v1/conversations/a:1journey")
    assert status == 200

    await sign_in(page, ops.base, "Ada Admin", "/ops/")
    await (
        page.get_by_role("navigation", name="Operations").get_by_role("link", name="Admin").click()
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text("Admin")

    matrix = page.get_by_role("table", name="Transfers accepted: rows receive, columns send")
    legal = matrix.get_by_role("row", name="Legal", exact=False).last
    await expect(legal.get_by_role("cell")).to_have_text(
        ["accepted", "refused", "accepted", "\N{EN DASH}"]
    )

    audit = page.get_by_role("table", name="Transcript views and exports, newest first (page 1)")
    await expect(audit.get_by_role("row").nth(1).get_by_role("cell")).to_contain_text(
        ["2026-03-02 10:11", "rita@contoso.example", "view", "Human Resources", "Journey"]
    )
    await check(page, "admin")
