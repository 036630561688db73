"""Crossdesk's own words in every language it speaks: the message catalog (no SDK).

Each language is one YAML file here (`en.yaml`, `de.yaml`, …) holding the texts Crossdesk
sends itself (help, end chat, a stale card, an unclear answer, an idle chat, replies to
greetings, errors) and the words it understands when a guest types them (commands, small
talk, polite filler). A guest's language comes from `Guest.Locale` (`de-DE` → `de`); a language
without a catalog falls back to the tenant's default language, then to English.

Texts are `str.format` templates with named fields (`{tenant}`); what fills them is data and is
never expanded again. Files are read once, on first use, by path relative to this package.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime, format_time, format_timedelta

FOLDER = Path(__file__).resolve().parent
#: The languages Crossdesk's own texts come in; English is the last resort.
LANGUAGES = ("en", "de", "fr", "es")
ENGLISH = "en"
#: Apostrophes dropped when matching words: straight, typographic, grave and acute.
_APOSTROPHES = frozenset("'\u2019`\u00b4")


class CatalogError(KeyError):
    """A text or word list the catalog does not have (a programming error, not a guest's)."""


def language_of(locale: str | None) -> str | None:
    """The language of a locale as Teams sends it (`de-DE`, `fr-CA`, `zh-Hant-TW`), in lower
    case; None for none or nonsense."""
    if not locale:
        return None
    match = re.match(r"^([A-Za-z]{2,3})(?:[-_]|$)", locale.strip())
    return match.group(1).lower() if match else None


# `normalize` of ASCII text by one `str.translate`: letters lower-cased, digits kept,
# apostrophes dropped, everything else a space (what the general path does to ASCII).
_ASCII = {
    code: (
        None
        if chr(code) in _APOSTROPHES
        else chr(code).casefold()
        if unicodedata.category(chr(code))[0] in "LN"
        else " "
    )
    for code in range(128)
}


def normalize(text: str) -> str:
    """Text as the word lists are matched: case and accents folded, apostrophes dropped
    (`I'd` → `id`), every other punctuation mark and symbol a space, spaces collapsed."""
    if text.isascii():
        return " ".join(text.translate(_ASCII).split())
    folded = unicodedata.normalize("NFKD", text.casefold())
    kept: list[str] = []
    for char in folded:
        category = unicodedata.category(char)
        if category in ("Mn", "Cf"):
            continue
        if char in _APOSTROPHES:
            continue
        kept.append(char if category[0] in "LN" else " ")
    return " ".join("".join(kept).split())


@dataclass(frozen=True, slots=True)
class Catalog:
    """One language's texts and words."""

    language: str
    entries: Mapping[str, Any]

    def text(self, key: str, /, **fields: Any) -> str:
        """The text `key` (dotted: `options.unclear`) with its `{fields}` filled in."""
        template = self._get(f"texts.{key}")
        if not isinstance(template, str):
            raise CatalogError(f"{self.language}: {key} is not a text")
        return template.format(**fields)

    def words(self, key: str) -> tuple[str, ...]:
        """The word list `key` (dotted: `commands.help`), normalized (see `normalize`)."""
        return _words(self.language, key)

    def _get(self, key: str) -> Any:
        node: Any = self.entries
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise CatalogError(f"{self.language}: no {key}")
            node = node[part]
        return node

    # dates and durations, in the guest's own way of writing them

    @property
    def locale(self) -> Locale:
        return Locale.parse(self.language)

    def date(self, moment: datetime, zone: ZoneInfo, locale: str | None = None) -> str:
        """`Monday, March 2` / `Montag, 2. März` / `lundi 2 mars` / `lunes, 2 de marzo`."""
        local = moment.astimezone(zone)
        return _date_text(local.date(), zone, locale, self.language)

    def time(self, moment: datetime, zone: ZoneInfo, locale: str | None = None) -> str:
        """`9:00 AM` (en-US), `09:00` (en-GB, de, fr, es)."""
        local = moment.astimezone(zone)
        return _time_text(local.hour, local.minute, locale, self.language)

    def duration(self, span: timedelta) -> str:
        """`8 hours`, `8 Stunden`, `8 heures`, `8 horas`."""
        return str(format_timedelta(span, locale=self.language, format="long"))


# Babel reads and applies its patterns on every call (a transfer card's "at 2:33 PM" was 2.5%
# of a transfer turn); a desk's guests see few distinct days and minutes.


@lru_cache(maxsize=512)
def _date_text(day: date, zone: ZoneInfo, locale: str | None, language: str) -> str:
    where = babel_locale(locale, language)
    skeleton = where.datetime_skeletons.get("MMMMEd")
    pattern = re.sub(r"E+", "EEEE", skeleton.pattern) if skeleton else "EEEE d MMMM"
    noon = datetime.combine(day, dt_time(12), zone)
    return str(format_datetime(noon, pattern, tzinfo=zone, locale=where))


@lru_cache(maxsize=4096)
def _time_text(hour: int, minute: int, locale: str | None, language: str) -> str:
    """The short time (hours and minutes only) of a wall clock."""
    return str(format_time(dt_time(hour, minute), "short", locale=babel_locale(locale, language)))


def babel_locale(locale: str | None, language: str) -> Locale:
    """The guest's own locale when it is of `language` (en-GB writes 09:00, en-US 9:00 AM),
    else the language's default."""
    if locale and language_of(locale) == language:
        try:
            return Locale.parse(locale.replace("-", "_"))
        except (ValueError, UnknownLocaleError):
            pass
    return Locale.parse(language)


def zone_of(name: Any) -> ZoneInfo | None:
    """The IANA time zone `name` (as Teams sends `Guest.Timezone`), or None."""
    if not isinstance(name, str) or not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@cache
def _entries(language: str) -> Mapping[str, Any]:
    loaded: Any = yaml.safe_load((FOLDER / f"{language}.yaml").read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise CatalogError(f"{language}.yaml is not a mapping")
    return loaded


@cache
def _words(language: str, key: str) -> tuple[str, ...]:
    words = Catalog(language, _entries(language))._get(f"words.{key}")
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise CatalogError(f"{language}: {key} is not a list of text (quote `no`, `yes`, …)")
    return tuple(dict.fromkeys(normalize(str(word)) for word in words if normalize(str(word))))


def catalog(*languages: str | None) -> Catalog:
    """The catalog of the first of `languages` Crossdesk speaks, else English."""
    for language in languages:
        if language in LANGUAGES:
            return Catalog(language, _entries(language))
    return Catalog(ENGLISH, _entries(ENGLISH))


def every_catalog() -> list[Catalog]:
    return [catalog(language) for language in LANGUAGES]


def words_in(key: str, languages: Iterable[str] = LANGUAGES) -> tuple[str, ...]:
    """The word list `key` of several languages at once (normalized, each word once)."""
    return _words_in(key, tuple(languages))


@cache
def _words_in(key: str, languages: tuple[str, ...]) -> tuple[str, ...]:
    # Asked on every message (commands, small talk): built once per key and languages.
    found: dict[str, None] = {}
    for language in languages:
        if language in LANGUAGES:
            found.update(dict.fromkeys(_words(language, key)))
    return tuple(found)


def said(typed: str, phrase: str, filler: Collection[str]) -> bool:
    """Whether `typed` says `phrase` (both normalized), alone or among `filler` words only:
    "I'd like HR please" says "hr"."""
    words, wanted = typed.split(), phrase.split()
    if not wanted:
        return False
    for start in range(len(words) - len(wanted) + 1):
        if words[start : start + len(wanted)] == wanted:
            rest = words[:start] + words[start + len(wanted) :]
            if all(word in filler for word in rest):
                return True
    return False


def filler_words(languages: Iterable[str]) -> frozenset[str]:
    """The polite filler of `languages`, as single words."""
    return _filler_words(frozenset(languages))


@cache
def _filler_words(languages: frozenset[str]) -> frozenset[str]:
    return frozenset(word for entry in words_in("filler", languages) for word in entry.split())


def numbered(items: Sequence[str]) -> str:
    """`1. IT Support` on a line each: a Markdown list Teams shows numbered."""
    return "\n".join(f"{index}. {item}" for index, item in enumerate(items, start=1))


__all__ = [
    "ENGLISH",
    "LANGUAGES",
    "Catalog",
    "CatalogError",
    "babel_locale",
    "catalog",
    "every_catalog",
    "filler_words",
    "language_of",
    "normalize",
    "numbered",
    "said",
    "words_in",
    "zone_of",
]
