"""The Teams app package: manifest (schema v1.17) and the two icons, zipped for sideloading.

The manifest is filled from a template with the bot's Entra app id, the version, the valid
domains and the configuration's `teams_app` (names, descriptions, developer, accent colour,
icons), then checked against Microsoft's official v1.17 JSON schema (shipped in
`manifest/schema/`, from the MIT npm package `@microsoft/app-manifest`) and the icon rules.
A package with any problem is refused, one message per problem; `branding_problems` runs the
same checks for `crossdesk check`, naming the configuration's fields.
"""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from PIL import Image, UnidentifiedImageError

from errors import CrossdeskError
from pipeline.config import TeamsApp

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "manifest.template.json"
SCHEMA = HERE / "schema" / "MicrosoftTeams.v1.17.schema.json"
COLOR_ICON = HERE / "color.png"
OUTLINE_ICON = HERE / "outline.png"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_APP_ID_NAMESPACE = uuid.UUID("5b1c3c57-2f7e-4c2b-9a0e-6d1c7c1e0a11")


class PackageError(CrossdeskError):
    """The package would not sideload; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def teams_app_id(bot_id: str) -> str:
    """A stable Teams app id for a bot, so a rebuilt package updates the sideloaded app."""
    return str(uuid.uuid5(_APP_ID_NAMESPACE, bot_id.lower()))


def build_manifest(
    bot_id: str, version: str, valid_domains: Iterable[str], app: TeamsApp | None = None
) -> dict[str, Any]:
    """The manifest for this bot, from the template and the configuration's `teams_app`."""
    app = app or TeamsApp()
    manifest: dict[str, Any] = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    manifest["id"] = teams_app_id(bot_id)
    manifest["version"] = version
    manifest["validDomains"] = sorted(set(valid_domains))
    manifest["name"] = {"short": app.short_name, "full": app.full_name}
    manifest["description"] = {"short": app.short_description, "full": app.full_description}
    manifest["developer"] = {
        "name": app.developer.name,
        "websiteUrl": app.developer.website_url,
        "privacyUrl": app.developer.privacy_url,
        "termsOfUseUrl": app.developer.terms_of_use_url,
    }
    manifest["accentColor"] = app.accent_color
    for bot in manifest["bots"]:
        bot["botId"] = bot_id
    return manifest


#: Where each branded manifest field comes from in the configuration.
BRANDED_FIELDS = {
    "$.name.short": "teams_app.short_name",
    "$.name.full": "teams_app.full_name",
    "$.description.short": "teams_app.short_description",
    "$.description.full": "teams_app.full_description",
    "$.developer.name": "teams_app.developer.name",
    "$.developer.websiteUrl": "teams_app.developer.website_url",
    "$.developer.privacyUrl": "teams_app.developer.privacy_url",
    "$.developer.termsOfUseUrl": "teams_app.developer.terms_of_use_url",
    "$.accentColor": "teams_app.accent_color",
}


def _in_words(error: Any) -> str:
    """A schema error on a branded field as an admin reads it."""
    value = error.instance
    if error.validator == "maxLength" and isinstance(value, str):
        return f"is {len(value)} characters long; Teams allows at most {error.validator_value}"
    if error.validator == "pattern" and str(error.validator_value).startswith("^#"):
        return f"{value!r} is not a colour written as # and six hex digits, e.g. #2E5AAC"
    if error.validator == "pattern":
        return f"{value!r} is not a web address starting with https://"
    return str(error.message)


def app_icons(app: TeamsApp, config_dir: Path) -> tuple[bytes | None, bytes | None, list[str]]:
    """The color and outline icons `app` names (relative to the configuration's folder), or
    Crossdesk's own; None with a problem when a named file cannot be read."""
    problems: list[str] = []
    icons: list[bytes | None] = []
    for field, name, default in (
        ("teams_app.color_icon", app.color_icon, COLOR_ICON),
        ("teams_app.outline_icon", app.outline_icon, OUTLINE_ICON),
    ):
        file = config_dir / name if name else default
        try:
            icons.append(file.read_bytes())
        except OSError as error:
            icons.append(None)
            problems.append(f"{field}: cannot read '{name}' ({file}): {error.strerror}")
    return icons[0], icons[1], problems


def branding_problems(app: TeamsApp, config_dir: Path) -> list[tuple[str, str]]:
    """(configuration field, problem) for a `teams_app` that would make the package refused."""
    found: list[tuple[str, str]] = []
    manifest = build_manifest("00000000-0000-0000-0000-000000000000", "1.0.0", [], app)
    for error in sorted(_validator().iter_errors(manifest), key=lambda e: list(e.path)):
        field = BRANDED_FIELDS.get(_path(error.absolute_path))
        if field is not None:
            found.append((field, _in_words(error)))
    color, outline, unreadable = app_icons(app, config_dir)
    for problem in unreadable:
        field, message = problem.split(": ", 1)
        found.append((field, message))
    if color is not None and outline is not None:
        for problem in icon_problems(color, outline):
            name, message = problem.split(": ", 1)
            field = "teams_app.color_icon" if name == "color.png" else "teams_app.outline_icon"
            found.append((field, message))
    return found


@cache
def _validator() -> Draft4Validator:
    return Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def manifest_problems(manifest: Any) -> list[str]:
    """Schema violations, each with its JSON path, plus the rules the schema cannot express."""
    problems = [
        f"manifest.json {_path(error.absolute_path)}: {error.message}"
        for error in sorted(_validator().iter_errors(manifest), key=lambda e: list(e.path))
    ]
    if isinstance(manifest, dict):
        for index, bot in enumerate(manifest.get("bots") or []):
            bot_id = bot.get("botId") if isinstance(bot, dict) else None
            if not isinstance(bot_id, str) or not _GUID.match(bot_id):
                problems.append(
                    f"manifest.json $.bots[{index}].botId: {bot_id!r} is not the bot's Entra app"
                    " id (a GUID); set MicrosoftAppId"
                )
    return problems


def _path(parts: Iterable[Any]) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def icon_problems(color_png: bytes, outline_png: bytes) -> list[str]:
    """Teams' icon rules: color 192x192; outline 32x32, white on fully transparent."""
    problems: list[str] = []
    color = _image("color.png", color_png, problems)
    if color is not None and color.size != (192, 192):
        problems.append(f"color.png: must be 192x192 pixels, is {color.size[0]}x{color.size[1]}")
    outline = _image("outline.png", outline_png, problems)
    if outline is not None:
        if outline.size != (32, 32):
            problems.append(
                f"outline.png: must be 32x32 pixels, is {outline.size[0]}x{outline.size[1]}"
            )
        if "A" not in outline.getbands() and outline.info.get("transparency") is None:
            problems.append("outline.png: must have a transparent background (no alpha channel)")
        else:
            raw = outline.convert("RGBA").tobytes()
            pixels = [tuple(raw[i : i + 4]) for i in range(0, len(raw), 4)]
            coloured = sum(1 for r, g, b, a in pixels if a > 0 and (r, g, b) != (255, 255, 255))
            if coloured:
                problems.append(
                    f"outline.png: must be white on fully transparent; {coloured} pixels are"
                    " neither white nor fully transparent"
                )
            if all(a == 0 for *_, a in pixels):
                problems.append("outline.png: is fully transparent; the outline must be white")
    return problems


def _image(name: str, data: bytes, problems: list[str]) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError):
        problems.append(f"{name}: not a readable image")
        return None
    if image.format != "PNG":
        problems.append(f"{name}: must be a PNG, is {image.format}")
    return image


def write_package(
    out: Path,
    manifest: dict[str, Any],
    color_png: bytes | None = None,
    outline_png: bytes | None = None,
) -> None:
    """Check everything, then write the zip with the three files at its root."""
    color_png = COLOR_ICON.read_bytes() if color_png is None else color_png
    outline_png = OUTLINE_ICON.read_bytes() if outline_png is None else outline_png
    problems = manifest_problems(manifest) + icon_problems(color_png, outline_png)
    if problems:
        raise PackageError(problems)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
        package.writestr("color.png", color_png)
        package.writestr("outline.png", outline_png)
