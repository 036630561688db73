"""The Teams app package: built, checked against the official schema and icon rules, refused
when broken."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from manifest.package import (
    SCHEMA,
    PackageError,
    build_manifest,
    icon_problems,
    manifest_problems,
    write_package,
)

ROOT = Path(__file__).resolve().parent.parent
BOT_ID = "5f3b2a9c-1d4e-4f6a-8b7c-0a1b2c3d4e5f"
NODE_SCHEMA = (
    ROOT / "node_modules/@microsoft/app-manifest/build/json-schemas/teams/v1.17"
    "/MicrosoftTeams.schema.json"
)


def microsoft_validator(manifest: dict[str, Any], tmp_path: Path) -> list[str]:
    file = tmp_path / "manifest.json"
    file.write_text(json.dumps(manifest))
    result = subprocess.run(
        ["node", str(ROOT / "tests/support/validate_manifest.js"), str(file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    errors: list[str] = json.loads(result.stdout)
    return errors


def png(size: tuple[int, int], colour: tuple[int, ...], mode: str = "RGBA") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def test_shipped_schema_is_microsofts() -> None:
    assert json.loads(SCHEMA.read_text()) == json.loads(NODE_SCHEMA.read_text())


def test_the_command_writes_a_package_microsoft_accepts(tmp_path: Path) -> None:
    out = tmp_path / "crossdesk.zip"
    result = subprocess.run(
        [sys.executable, "app.py", "manifest", "--out", str(out), "--domain", "bot.contoso.com"],
        env={**os.environ, "MicrosoftAppId": BOT_ID},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        assert icon_problems(package.read("color.png"), package.read("outline.png")) == []
    assert manifest["manifestVersion"] == "1.17"
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["bots"][0]["scopes"] == ["personal"]
    titles = [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    assert titles == ["help", "start over", "end chat"]
    assert manifest["validDomains"] == ["bot.contoso.com"]
    assert manifest["id"] != BOT_ID and manifest["id"] == build_manifest(BOT_ID, "1", [])["id"]
    assert microsoft_validator(manifest, tmp_path) == []
    assert manifest_problems(manifest) == []


def test_a_broken_manifest_is_refused_like_microsoft_refuses_it(tmp_path: Path) -> None:
    manifest = build_manifest(BOT_ID, "1.0.0", [])
    manifest["accentColor"] = "blue"
    del manifest["developer"]["privacyUrl"]
    manifest["bots"][0]["scopes"] = ["everywhere"]
    ours = manifest_problems(manifest)
    theirs = microsoft_validator(manifest, tmp_path)
    assert len(ours) == len(theirs) == 3
    assert ours[0] == "manifest.json $.accentColor: 'blue' does not match '^#[0-9a-fA-F]{6}$'"
    assert any("$.bots[0].scopes[0]" in p for p in ours)
    assert any("'privacyUrl' is a required property" in p for p in ours)
    with pytest.raises(PackageError) as refused:
        write_package(tmp_path / "bad.zip", manifest)
    assert refused.value.problems == ours
    assert not (tmp_path / "bad.zip").exists()


def test_a_bot_id_that_is_not_a_guid_is_refused() -> None:
    manifest = build_manifest("not-a-guid", "1.0.0", [])
    assert manifest_problems(manifest)[-1] == (
        "manifest.json $.bots[0].botId: 'not-a-guid' is not the bot's Entra app id (a GUID);"
        " set MicrosoftAppId"
    )


@pytest.mark.parametrize(
    ("color", "outline", "problems"),
    [
        (
            png((96, 96), (46, 90, 172, 255)),
            png((32, 32), (0, 0, 0, 0)),
            [
                "color.png: must be 192x192 pixels, is 96x96",
                "outline.png: is fully transparent; the outline must be white",
            ],
        ),
        (
            png((192, 192), (46, 90, 172, 255)),
            png((32, 32), (46, 90, 172, 255)),
            [
                "outline.png: must be white on fully transparent; 1024 pixels are neither white"
                " nor fully transparent"
            ],
        ),
        (
            png((192, 192), (46, 90, 172, 255)),
            png((48, 48), (255, 255, 255), mode="RGB"),
            [
                "outline.png: must be 32x32 pixels, is 48x48",
                "outline.png: must have a transparent background (no alpha channel)",
            ],
        ),
        (b"GIF89a", png((32, 32), (255, 255, 255, 255)), ["color.png: not a readable image"]),
    ],
)
def test_bad_icons_are_refused(color: bytes, outline: bytes, problems: list[str]) -> None:
    assert icon_problems(color, outline) == problems


def test_without_an_app_id_the_command_says_what_to_set(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MicrosoftAppId"}
    result = subprocess.run(
        [sys.executable, "app.py", "manifest", "--out", str(tmp_path / "x.zip")],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "set MicrosoftAppId" in result.stderr
