"""The message catalog: every language has every text with the same fields, and the words a
guest types are understood in each."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dialogs.conversation import Command, command_of
from locales import LANGUAGES, catalog, every_catalog, language_of, normalize
from locales.small_talk import SmallTalk, small_talk

ENGLISH = catalog("en")


def texts_of(entries: Any, prefix: str = "") -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in entries.items():
        if isinstance(value, dict):
            found.update(texts_of(value, f"{prefix}{key}."))
        else:
            found[prefix + key] = value
    return found


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_text_with_the_same_fields(language: str) -> None:
    english = texts_of(ENGLISH.entries["texts"])
    other = texts_of(catalog(language).entries["texts"])
    assert set(other) == set(english)
    for key, text in english.items():
        assert fields(other[key]) == fields(text), key
        assert other[key].strip() and (language == "en" or other[key] != text or "{" in text), key


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_every_word_list(language: str) -> None:
    words = catalog(language).entries["words"]
    assert set(texts_of(words)) == set(texts_of(ENGLISH.entries["words"]))
    lists = [*texts_of(words).values()]
    # Each a list of text (YAML reads an unquoted `no` as false).
    assert all(isinstance(word, str) for words in lists for word in words)


@pytest.mark.parametrize(
    ("language", "quoted"),
    [
        ("en", "'end chat'"),
        ("de", "„Chat beenden“"),
        ("fr", "« terminer »"),
        ("es", "«terminar chat»"),
    ],
)
def test_help_names_a_command_that_works_in_its_language(language: str, quoted: str) -> None:
    assert quoted in catalog(language).text("chat.help", tenant="X", waiting_for="")
    assert command_of(quoted.strip("'„“« »"), language) is Command.END_CHAT


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("de-DE", "de"),
        ("fr-CA", "fr"),
        ("es", "es"),
        ("zh-Hant-TW", "zh"),
        ("", None),
        (None, None),
    ],
)
def test_the_language_of_a_teams_locale(locale: str | None, language: str | None) -> None:
    assert language_of(locale) == language


def test_normalize_folds_case_accents_and_punctuation() -> None:
    assert normalize("  I'd like HR, PLEASE!! ") == "id like hr please"
    assert normalize("Gebäude­management") == normalize("gebaudemanagement")
    assert normalize("¿Qué tal?") == "que tal"


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("hey team", SmallTalk.GREETING),
        ("Bonjour à tous", SmallTalk.GREETING),
        ("Thank you so much!!", SmallTalk.THANKS),
        ("Vielen Dank", SmallTalk.THANKS),
        ("vale", SmallTalk.OK),
        ("🙏", SmallTalk.THANKS),
        ("😀👍🏽", SmallTalk.OK),
        ("hi, my VPN is down", None),
        ("ok so my laptop broke", None),
        ("", None),
    ],
)
def test_small_talk(typed: str, kind: SmallTalk | None) -> None:
    assert small_talk(typed) is kind


@pytest.mark.parametrize(
    ("typed", "locale", "command"),
    [
        ("HELP!", "en-US", Command.HELP),
        ("ayuda", "es-ES", Command.HELP),
        ("Terminer la conversation", "fr-FR", Command.END_CHAT),
        ("von vorne", "de-DE", Command.START_OVER),
        ("start over", "de-DE", Command.START_OVER),
        ("Can I speak to someone please?", "en-GB", Command.HUMAN),
        ("the printer won't stop", "en-US", None),
        ("cancel my subscription", "en-US", None),
        ("ayuda", "en-US", None),
    ],
)
def test_commands(typed: str, locale: str, command: Command | None) -> None:
    assert command_of(typed, locale) is command


def test_dates_times_and_durations_as_each_language_writes_them() -> None:
    from zoneinfo import ZoneInfo

    moment = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")
    written = {
        texts.language: (texts.date(moment, berlin), texts.time(moment, berlin))
        for texts in every_catalog()
    }
    assert written == {
        "en": ("Monday, December 7", "9:00\u202fAM"),
        "de": ("Montag, 7. Dezember", "09:00"),
        "fr": ("lundi 7 décembre", "09:00"),
        "es": ("lunes, 7 de diciembre", "9:00"),
    }
    assert ENGLISH.time(moment, berlin, "en-GB") == "09:00"
    assert catalog("de").duration(timedelta(hours=8)) == "8 Stunden"
