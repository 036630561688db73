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
from tests.support.config import desk_config, write_config

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
    # Guests' commands, then agents' (Teams shows at most 10 in a list).
    assert titles == [
        "help",
        "start over",
        "end chat",
        "available",
        "away",
        "chats",
        "switch",
        "transfer",
        "escalate",
        "note",
    ]
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


# branding from the configuration's teams_app


def branded(tmp_path: Path) -> Path:
    """The tests' configuration branded for Contoso, with its own icons next to it."""
    icons = tmp_path / "icons"
    icons.mkdir()
    (icons / "color.png").write_bytes(png((192, 192), (200, 30, 60, 255)))
    outline = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    outline.paste((255, 255, 255, 255), (8, 8, 24, 24))
    out = io.BytesIO()
    outline.save(out, "PNG")
    (icons / "outline.png").write_bytes(out.getvalue())
    config = desk_config()
    config["teams_app"] = {
        "short_name": "Contoso Help",
        "full_name": "Contoso employee help desk",
        "short_description": "IT, HR and Legal in one chat.",
        "full_description": "Ask Contoso's help desk anything; we pass your chat on.",
        "developer": {
            "name": "Contoso IT",
            "website_url": "https://intranet.contoso.example/help",
            "privacy_url": "https://intranet.contoso.example/privacy",
            "terms_of_use_url": "https://intranet.contoso.example/terms",
        },
        "accent_color": "#C81E3C",
        "color_icon": "icons/color.png",
        "outline_icon": "icons/outline.png",
    }
    return write_config(tmp_path, config)


def package(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "app.py", "manifest", "--config", str(config), "--out", str(out)],
        env={**os.environ, "MicrosoftAppId": BOT_ID},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def test_the_package_is_branded_from_the_configuration(tmp_path: Path) -> None:
    config = branded(tmp_path)
    result = package(config, tmp_path / "contoso.zip")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"('Contoso Help', bot {BOT_ID})")
    with zipfile.ZipFile(tmp_path / "contoso.zip") as zipped:
        manifest = json.loads(zipped.read("manifest.json"))
        assert zipped.read("color.png") == (tmp_path / "icons" / "color.png").read_bytes()
        assert zipped.read("outline.png") == (tmp_path / "icons" / "outline.png").read_bytes()
    assert manifest["name"] == {"short": "Contoso Help", "full": "Contoso employee help desk"}
    assert manifest["description"] == {
        "short": "IT, HR and Legal in one chat.",
        "full": "Ask Contoso's help desk anything; we pass your chat on.",
    }
    assert manifest["developer"] == {
        "name": "Contoso IT",
        "websiteUrl": "https://intranet.contoso.example/help",
        "privacyUrl": "https://intranet.contoso.example/privacy",
        "termsOfUseUrl": "https://intranet.contoso.example/terms",
    }
    assert manifest["accentColor"] == "#C81E3C"
    assert microsoft_validator(manifest, tmp_path) == []


def test_bad_branding_is_refused_naming_the_configurations_field(tmp_path: Path) -> None:
    config = desk_config()
    config["teams_app"] = {"accent_color": "crimson", "color_icon": "missing.png"}
    path = write_config(tmp_path, config)
    result = package(path, tmp_path / "x.zip")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == f"Cannot build the package: {path} has errors (crossdesk check):"
    assert any(
        "field 'teams_app.accent_color': 'crimson' is not a colour written as # and six hex"
        " digits, e.g. #2E5AAC" in line
        for line in lines
    )
    assert any("field 'teams_app.color_icon': cannot read 'missing.png'" in line for line in lines)
    assert not (tmp_path / "x.zip").exists()


def test_the_default_links_point_to_files_the_repository_ships() -> None:
    developer = build_manifest(BOT_ID, "1.0.0", [])["developer"]
    for key, file in (("privacyUrl", "PRIVACY.md"), ("termsOfUseUrl", "LICENSE")):
        assert developer[key].endswith(f"/blob/main/{file}")
        assert (ROOT / file).is_file()
    assert "no telemetry" in (ROOT / "PRIVACY.md").read_text(encoding="utf-8")
