"""The rules of a conversation around the pipeline: what a guest types that is not an answer,
chats that went idle, and messages after a chat ended (no SDK).

- **Commands** (`help`, `end chat`, `start over`, and asking for a person) are matched whole,
  in any case, without punctuation and polite filler ("please end the chat"), in the guest's
  language and in English (the Teams app's command menu is English).
- **Idle**: a chat whose guest has written nothing for its tenant's `idle_timeout` is closed
  as `abandoned` by the sweeper's idle check (`Runtime.close_idle_chats`, once a minute) or at
  the guest's next message, whichever comes first; that message starts a new chat and is used
  there.
- **After an end**: a thanks, an OK or an emoji soon after a chat ended is acknowledged and
  starts nothing; a click on a card of the ended chat is told so; anything else starts a new
  chat and is used there.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from locales import (
    ENGLISH,
    Catalog,
    every_catalog,
    filler_words,
    language_of,
    normalize,
    said,
    words_in,
)
from locales.small_talk import SmallTalk, guest_names, small_talk
from pipeline.session import Session

#: How long after a chat ended a thanks or an OK is taken as said to that chat.
AFTER_END_WINDOW = timedelta(minutes=30)
#: `Session.Status.Resolution` of a chat closed for want of messages from the guest.
ABANDONED = "abandoned"


class Command(enum.Enum):
    """What a guest can type at any stage (help, end chat and start over are also listed in
    the Teams app's command menu)."""

    HELP = "help"
    END_CHAT = "end chat"
    START_OVER = "start over"
    HUMAN = "human"


def warm_up() -> None:
    """Read the message catalogs and build the word lists every message is checked against
    (commands, filler, small talk): what the first guest's turn would otherwise do on the
    event loop, about 40 ms of YAML; and Babel's locale data for the times and dates texts
    show, 20 to 30 ms at a locale's first use. Call once at start-up, in a worker thread."""
    moment = datetime(2026, 1, 1, 9, tzinfo=UTC)
    small_talk("hi there")  # the small-talk lists of every language at once
    for texts in every_catalog():
        command_of("please help me", texts.language)
        for locale in (None, *_REGIONS.get(texts.language, ())):
            texts.time(moment, _UTC_ZONE, locale)
            texts.date(moment, _UTC_ZONE, locale)


#: The guests' locales whose Babel data is read at start-up (others at their first use).
_REGIONS = {
    "en": ("en-US", "en-GB"),
    "de": ("de-DE", "de-AT", "de-CH"),
    "fr": ("fr-FR", "fr-CA"),
    "es": ("es-ES", "es-MX"),
}
_UTC_ZONE = ZoneInfo("UTC")


def command_of(text: str | None, locale: str | None) -> Command | None:
    """The command a message is, if the whole message is one (in the guest's language or in
    English; case, punctuation and polite filler aside)."""
    if not text or len(text) > 80:
        return None
    typed = normalize(text)
    if not typed:
        return None
    languages = tuple(dict.fromkeys((language_of(locale) or ENGLISH, ENGLISH)))
    exact = _commands_by_phrase(languages).get(typed)
    if exact is not None:
        return exact
    filler = filler_words(languages)
    # A command said among filler has no other word: most messages fail here at once.
    if not set(typed.split()) - filler <= _command_words(languages):
        return None
    for command in Command:
        phrases = words_in(f"commands.{command.name.lower()}", languages)
        if any(said(typed, phrase, filler) for phrase in phrases):
            return command
    return None


@cache
def _commands_by_phrase(languages: tuple[str, ...]) -> dict[str, Command]:
    """Each command phrase of `languages` and its command (the first command that lists it)."""
    table: dict[str, Command] = {}
    for command in Command:
        for phrase in words_in(f"commands.{command.name.lower()}", languages):
            table.setdefault(phrase, command)
    return table


@cache
def _command_words(languages: tuple[str, ...]) -> frozenset[str]:
    """Every word of every command of `languages`."""
    return frozenset(
        word
        for command in Command
        for phrase in words_in(f"commands.{command.name.lower()}", languages)
        for word in phrase.split()
    )


def guest_small_talk(text: str | None, metadata: Mapping[str, Any]) -> SmallTalk | None:
    """What kind of small talk a guest's message is (their own name may follow a greeting)."""
    return small_talk(text, names=guest_names(metadata))


def last_heard(session: Session) -> datetime:
    """When the guest last wrote to the session, or, if never, when it last moved on."""
    if session.last_guest_at is not None:
        return session.last_guest_at
    position = session.position
    return position.since if position is not None else session.started_at


def went_idle(session: Session, timeout: timedelta, now: datetime) -> datetime | None:
    """When an active session went idle (its guest silent for `timeout`), or None."""
    since = last_heard(session) + timeout
    return since if session.is_active and now >= since else None


def acknowledged_after_end(kind: SmallTalk | None, ended: Session | None, now: datetime) -> bool:
    """Whether a message is a thanks or an OK (or an emoji) soon after `ended` ended (a chat
    closed for want of messages was not ended by anyone to thank)."""
    return (
        kind in (SmallTalk.THANKS, SmallTalk.OK)
        and ended is not None
        and ended.ended_at is not None
        and not ended.is_active
        and ended.metadata.get("Session.Status.Resolution") != ABANDONED
        and now - ended.ended_at <= AFTER_END_WINDOW
    )


def after_end_reply(kind: SmallTalk, texts: Catalog) -> str:
    return texts.text("chat.after_end_thanks" if kind is SmallTalk.THANKS else "chat.after_end_ok")
