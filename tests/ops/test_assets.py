"""The operations view's scripts are the ones package-lock.json pins, served by Crossdesk itself
under a Content-Security-Policy that allows nothing from elsewhere and no inline script."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ops.assets import ROOT, VENDOR, VENDORED
from tests.ops.conftest import RunningOps


def test_each_vendored_file_is_byte_for_byte_the_one_npm_installed() -> None:
    for name, source in VENDORED.items():
        installed = ROOT / source
        assert installed.is_file(), f"{source} missing: run `npm ci`"
        assert (VENDOR / name).read_bytes() == installed.read_bytes(), (
            f"ops/static/vendor/{name} differs from {source}: run `make assets` and commit"
        )


def test_the_vendored_libraries_are_pinned_exactly_in_the_lock_file() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for library in ("htmx.org", "echarts"):
        pinned = package["dependencies"][library]
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"{library}: {pinned!r} is not exact"
        assert lock["packages"][f"node_modules/{library}"]["version"] == pinned
        installed = json.loads((ROOT / "node_modules" / library / "package.json").read_text())
        assert installed["version"] == pinned


def test_templates_carry_no_inline_script_and_nothing_from_elsewhere() -> None:
    for template in (Path(ROOT) / "ops" / "templates").glob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, f"{template.name}: {tag}"
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), template.name
        assert not re.search(r"\son[a-z]+=", text), f"{template.name}: inline event handler"


async def test_the_app_serves_the_vendored_files_to_anyone_without_storing_pages(
    ops: RunningOps,
) -> None:
    browser = ops.browser()
    for name in ("htmx.min.js", "hx-sse.min.js", "echarts.min.js"):
        async with browser.http.get(browser.url(f"/ops/static/vendor/{name}")) as response:
            assert response.status == 200, name
            assert await response.read() == (VENDOR / name).read_bytes()
            assert response.headers["Content-Type"] in ("text/javascript", "application/javascript")
            assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
            assert response.headers["Cache-Control"] == "no-cache"
    response, _ = await browser.get("/ops/static/vendor/jquery.js")
    assert response.status == 404
