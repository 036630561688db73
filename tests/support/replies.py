"""What the bot sent, found by what it says or shows, never by position.

`Replies` is the list of activities the bot sent to one chat (in one turn, or all of them), in
the order the channel received them. Its finders return the reply or card that says or shows
something and, when nothing matches, fail with a list of everything that was received, so a
failing test shows the conversation. Where a test is about order it says so with `index_of`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass
class Received:
    """One activity the bot sent to the channel."""

    conversation_id: str
    reply_to: str | None
    activity: dict[str, Any]
    authorization: str | None

    @property
    def text(self) -> str | None:
        return self.activity.get("text")

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The Adaptive Cards attached, as JSON."""
        return [
            a["content"]
            for a in self.activity.get("attachments") or []
            if a.get("contentType") == ADAPTIVE_CARD
        ]


def _elements(elements: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every element of a card body, containers' items and columns included, in reading order."""
    for element in elements:
        yield element
        yield from _elements(element.get("items", []))
        for column in element.get("columns", []):
            yield from _elements(column.get("items", []))


@dataclass(frozen=True)
class Card:
    """One Adaptive Card the bot sent, read by what it shows."""

    content: dict[str, Any]
    #: The activity that carried it (for `Replies.index_of`), if it came as a reply.
    reply: Received | None = field(default=None, compare=False, repr=False)

    @property
    def texts(self) -> list[str]:
        """The text of every TextBlock, in reading order."""
        return [e["text"] for e in _elements(self.content.get("body", [])) if "text" in e]

    @property
    def title(self) -> str:
        """Its first TextBlock's text (what the guest reads first), or "" if it has none."""
        return next(iter(self.texts), "")

    def shows(self, part: str) -> bool:
        """Whether any of its TextBlocks contains `part`."""
        return any(part in text for text in self.texts)

    @property
    def facts(self) -> dict[str, str]:
        """Its FactSets' facts, title → value."""
        return {
            fact["title"]: fact["value"]
            for element in _elements(self.content.get("body", []))
            if element.get("type") == "FactSet"
            for fact in element.get("facts", [])
        }

    def fact(self, title: str) -> str:
        """The value of the fact titled `title`."""
        if title not in self.facts:
            raise AssertionError(f"no fact {title!r} on card {self.title!r}: {self.facts}")
        return self.facts[title]

    @property
    def buttons(self) -> list[str]:
        """Its buttons' titles, in order."""
        return [action.get("title", "") for action in self.content.get("actions", [])]

    def button(self, title: str) -> dict[str, Any]:
        """The data the button titled `title` submits (what a click sends back)."""
        for action in self.content.get("actions", []):
            if action.get("title") == title:
                return dict(action["data"])
        raise AssertionError(f"no button {title!r} on card {self.title!r}: {self.buttons}")

    def describe(self) -> str:
        """Its title and buttons, for failure messages."""
        shown = f"card {self.title!r}"
        if self.buttons:
            shown += f" buttons {self.buttons}"
        return shown


class Replies(list[Received]):
    """Activities the bot sent to one chat, in the order the channel received them."""

    def texts(self) -> list[str]:
        """The text of each reply that has text, in order."""
        return [r.text for r in self if r.text is not None]

    def cards(self) -> list[Card]:
        """Every Adaptive Card sent, in order."""
        return [Card(content, reply) for reply in self for content in reply.cards]

    def card_titles(self) -> list[str]:
        """The title of every card sent, in order."""
        return [card.title for card in self.cards()]

    def saying(self, text: str) -> Received:
        """The first reply whose text is exactly `text`."""
        return self._first(lambda r: r.text == text, f"saying {text!r}")

    def text_starting(self, prefix: str) -> Received:
        """The first reply whose text starts with `prefix`."""
        return self._first(
            lambda r: r.text is not None and r.text.startswith(prefix), f"starting {prefix!r}"
        )

    def text_containing(self, part: str) -> Received:
        """The first reply whose text contains `part`."""
        return self._first(lambda r: r.text is not None and part in r.text, f"containing {part!r}")

    def card_titled(self, title: str) -> Card:
        """The first card whose title (first TextBlock) is exactly `title`."""
        for card in self.cards():
            if card.title == title:
                return card
        raise AssertionError(f"no card titled {title!r}; received:\n{self.describe()}")

    def card_showing(self, part: str) -> Card:
        """The first card with a TextBlock that contains `part`."""
        for card in self.cards():
            if card.shows(part):
                return card
        raise AssertionError(f"no card showing {part!r}; received:\n{self.describe()}")

    def only_card(self) -> Card:
        """The one card sent; fails if there is none or more than one."""
        cards = self.cards()
        if len(cards) != 1:
            raise AssertionError(f"{len(cards)} cards, not one; received:\n{self.describe()}")
        return cards[0]

    def choice_value(self, title: str) -> dict[str, Any]:
        """What clicking the button titled `title` submits, from the last card offering it."""
        for card in reversed(self.cards()):
            if title in card.buttons:
                return card.button(title)
        raise AssertionError(f"no button {title!r}; received:\n{self.describe()}")

    def index_of(self, item: Received | Card) -> int:
        """Where a reply (or the reply carrying a card) came, to assert order explicitly:
        `replies.index_of(card) < replies.index_of(greeting)`."""
        reply = item.reply if isinstance(item, Card) else item
        for index, candidate in enumerate(self):
            if candidate is reply:
                return index
        shown = item.describe() if isinstance(item, Card) else repr(item.text or item.activity)
        raise AssertionError(f"{shown} is not among these replies:\n{self.describe()}")

    def after(self, earlier: Replies) -> Replies:
        """What arrived after `earlier`, an earlier look at the same chat."""
        assert self[: len(earlier)] == earlier, "`earlier` is not what this chat received first"
        return Replies(self[len(earlier) :])

    def lines(self) -> list[str]:
        """What was sent, as a session's transcript shows it (`Transcript.said("out")`): each
        text, and "card: <title>" for each card."""
        return [
            line
            for reply in self
            for line in ([reply.text] if reply.text is not None else [])
            + [f"card: {Card(content).title}" for content in reply.cards]
        ]

    def describe(self) -> str:
        """One line per reply: its text, or its cards' titles and buttons."""
        lines = []
        for reply in self:
            shown = [repr(reply.text)] if reply.text is not None else []
            shown += [Card(content, reply).describe() for content in reply.cards]
            lines.append("  " + (", ".join(shown) or repr(reply.activity)))
        return "\n".join(lines) or "  (nothing)"

    def _first(self, matches: Callable[[Received], bool], what: str) -> Received:
        for reply in self:
            if matches(reply):
                return reply
        raise AssertionError(f"no reply {what}; received:\n{self.describe()}")


def as_teams_shows(markdown: str) -> str:
    """What Teams shows for a message's Markdown text, as far as escapes go: a backslash before
    punctuation shows the punctuation, and `&lt;` `&gt;` `&amp;` show `<` `>` `&` (so a guest's
    own `<b>` or `\\_notes\\_`, escaped by Crossdesk, shows exactly as they typed it)."""
    import html
    import re

    unescaped = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
    return html.unescape(unescaped)
