"""A real browser for the operations view's tests: Debian's Chromium driven headless by
Playwright, every request off loopback aborted and recorded (a page must need nothing from
elsewhere), sign-in through the real provider page, axe-core from node_modules, ARIA snapshots
kept under tests/ops/snapshots/ and screenshots left for review in a git-ignored folder."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Request, Route, expect

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path(os.environ.get("CROSSDESK_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
SCREENSHOTS = ROOT / "test-screenshots"
#: Set to 1 to write the ARIA snapshots afresh instead of comparing with them.
UPDATE = os.environ.get("CROSSDESK_UPDATE_SNAPSHOTS") == "1"


def missing_chromium() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.is_file():
        return (
            f"Chromium not found at {CHROMIUM}: install Debian's `chromium` package"
            " (apt-get install chromium) or point CROSSDESK_CHROMIUM at a Chromium binary"
        )
    if not AXE.is_file():
        return f"{AXE.relative_to(ROOT)} missing: run `npm ci`"
    return None


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Offline:
    """Every request a page tried to make off this machine (each one aborted)."""

    attempted: list[str] = field(default_factory=list)

    async def route(self, route: Route, request: Request) -> None:
        if _loopback(request.url):
            await route.continue_()
        else:
            self.attempted.append(request.url)
            await route.abort("blockedbyclient")


async def offline_context(browser: Browser, offline: Offline) -> BrowserContext:
    # The local provider's certificate is its own; Crossdesk itself is plain HTTP on loopback.
    context = await browser.new_context(
        ignore_https_errors=True, locale="en-US", reduced_motion="reduce"
    )
    await context.route("**/*", offline.route)
    return context


async def sign_in(page: Page, base: str, persona: str, path: str = "/ops/") -> None:
    """Open `path`, sign in as `persona` on the provider's page, and land back on `path`."""
    await page.goto(f"{base}{path}")
    await page.get_by_role("button", name=persona, exact=True).click()
    await page.wait_for_url(re.compile(re.escape(base) + re.escape(path.split("?")[0])))


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """What axe-core finds against WCAG 2.1 A and AA on the page as it is now."""
    # Evaluated through the browser's debugging protocol: the page's CSP forbids inline script,
    # and the test must not loosen it.
    await page.evaluate(AXE.read_text() + "\n;undefined")
    found: list[dict[str, Any]] = await page.evaluate(
        """async () => {
            const result = await axe.run(document, {
                runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            });
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ")),
            }));
        }"""
    )
    return found


async def matches_aria_snapshot(page: Page, name: str, scrub: dict[str, str]) -> None:
    """The accessibility tree of the page's main content is the one kept as `name` (with each
    text of `scrub` replaced by its stand-in: ids and times that change from run to run)."""
    tree = await page.locator("body").aria_snapshot()
    for text, stand_in in scrub.items():
        tree = tree.replace(text, stand_in)
    kept = SNAPSHOTS / f"{name}.yaml"
    if UPDATE or not kept.exists():
        if not UPDATE:
            raise AssertionError(
                f"no ARIA snapshot {kept.relative_to(ROOT)}: run with CROSSDESK_UPDATE_SNAPSHOTS=1"
                f" to write it, review it, and commit it. The tree now:\n{tree}"
            )
        SNAPSHOTS.mkdir(exist_ok=True)
        kept.write_text(tree + "\n")
        return
    expected = kept.read_text().rstrip("\n")
    assert tree == expected, (
        f"the page's accessibility tree differs from {kept.relative_to(ROOT)}"
        " (CROSSDESK_UPDATE_SNAPSHOTS=1 rewrites it):\n" + tree
    )


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG for a person to look at (no pixel comparison)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def pretty(found: list[dict[str, Any]]) -> str:
    return json.dumps(found, indent=2)


__all__ = [
    "Offline",
    "axe_violations",
    "expect",
    "matches_aria_snapshot",
    "missing_chromium",
    "offline_context",
    "pretty",
    "screenshot",
    "sign_in",
]
