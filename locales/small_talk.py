"""What a short message says when it says no more than hello, thanks or OK (no SDK).

A guest opens a chat with "hi", thanks the desk, answers "ok" or a 👍: none of that is a
question, an answer or a command. `small_talk` tells which of the three a message is, in any
language Crossdesk speaks (a guest's locale does not always match what they type).
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from functools import cache
from typing import Any

from locales import Catalog, normalize, words_in

#: Emoji that greet or thank; any other message made of emoji alone is an acknowledgement.
_GREETING_EMOJI = frozenset("👋🖐✋")
_THANKS_EMOJI = frozenset("🙏💐")
#: Characters that only shape an emoji (joiner, variation selectors, skin tones are `Sk`).
_SHAPING = frozenset("\u200d\ufe0e\ufe0f\u20e3")


class SmallTalk(enum.Enum):
    """The kinds of message that ask nothing."""

    GREETING = "greeting"
    THANKS = "thanks"
    OK = "ok"


def small_talk(text: str | None, *, names: Iterable[str] = ()) -> SmallTalk | None:
    """The kind of small talk `text` is, or None when it says something.

    `names` (the guest's, the bot's) may follow a greeting: "hi Megan" is still a greeting.
    """
    if not text or len(text) > 80:
        return None
    emoji = _emoji_only(text)
    if emoji is not None:
        return emoji
    typed = normalize(text)
    if not typed:
        return None
    kinds, greetings, tail = _lists()
    kind = kinds.get(typed)
    if kind is not None:
        return kind
    for greeting in greetings:
        if typed.startswith(greeting) and typed[len(greeting) : len(greeting) + 1] == " ":
            named = tail | {normalize(name) for name in names if name}
            if _only(typed[len(greeting) + 1 :], named):
                return SmallTalk.GREETING
    return None


@cache
def _lists() -> tuple[dict[str, SmallTalk], tuple[str, ...], frozenset[str]]:
    """Every language's small talk by phrase (thanks before OK before greeting, where a
    phrase is more than one), the greetings, and what may follow a greeting: built once,
    as every message is asked."""
    kinds: dict[str, SmallTalk] = {}
    for kind in (SmallTalk.THANKS, SmallTalk.OK, SmallTalk.GREETING):
        for phrase in words_in(f"small_talk.{kind.value}"):
            kinds.setdefault(phrase, kind)
    return kinds, words_in("small_talk.greeting"), frozenset(words_in("greeting_tail"))


def _only(rest: str, tail: AbstractSet[str]) -> bool:
    """Whether `rest` is made of tail words and phrases only."""
    words = rest.split()
    position = 0
    while position < len(words):
        for length in range(len(words) - position, 0, -1):
            if " ".join(words[position : position + length]) in tail:
                position += length
                break
        else:
            return False
    return True


#: The ASCII characters `_emoji_only` counts as symbols (`^` and `` ` ``).
_ASCII_SYMBOLS = "".join(c for c in map(chr, range(128)) if unicodedata.category(c) in ("So", "Sk"))


def _emoji_only(text: str) -> SmallTalk | None:
    if text.isascii():  # the general path below, for ASCII text, without a look per character
        shown = "".join(text.split())
        return SmallTalk.OK if shown and not shown.strip(_ASCII_SYMBOLS) else None
    seen = [char for char in text if not char.isspace() and char not in _SHAPING]
    if not seen or not all(unicodedata.category(char) in ("So", "Sk") for char in seen):
        return None
    if any(char in _GREETING_EMOJI for char in seen):
        return SmallTalk.GREETING
    if any(char in _THANKS_EMOJI for char in seen):
        return SmallTalk.THANKS
    return SmallTalk.OK


def guest_names(metadata: Mapping[str, Any]) -> list[str]:
    """The guest's names, which may follow a greeting ("hi Megan")."""
    return [
        str(metadata[key])
        for key in ("Guest.GivenName", "Guest.Name")
        if isinstance(metadata.get(key), str)
    ]


def small_talk_reply(kind: SmallTalk, texts: Catalog, metadata: Mapping[str, Any]) -> str:
    """A short friendly answer to small talk (what the chat waits for follows it)."""
    if kind is SmallTalk.GREETING:
        name = metadata.get("Guest.GivenName") or metadata.get("Guest.Name")
        if isinstance(name, str) and name.strip():
            return texts.text("small_talk.greeting", name=name.strip())
        return texts.text("small_talk.greeting_anonymous")
    return texts.text(f"small_talk.{kind.value}")
