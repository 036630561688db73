"""`message`: send text and/or an Adaptive Card, then go on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from pipeline.stages.base import (
    CheckContext,
    Goto,
    Localized,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    variants,
)


class MessageStage(StageBase):
    """Send `text` and/or the card `card` (a template file), then go on to `next` (blank ends
    the chat)."""

    type: Literal["message"]
    text: Annotated[
        Localized | None,
        Field(
            description="The message; binds metadata with ${…}, e.g. ${Guest.Name}; or per"
            " language: {en: …, de: …}."
        ),
    ] = None
    card: Annotated[
        Localized | None,
        Field(
            description="An Adaptive Card template (a JSON file next to the configuration), or"
            " one per language."
        ),
    ] = None
    next: Annotated[
        str | None, Field(description="The key of the stage to go on to; blank ends the chat.")
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        text = context.render(self.text) if self.text else None
        card = context.card(self.card) if self.card else None
        return Outcome([Reply(text=text, card=card)], Goto(self.next))

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next

    def templates(self) -> Iterator[tuple[str, str]]:
        yield from variants("card", self.card)

    def texts(self) -> Iterator[tuple[str, str]]:
        yield from variants("text", self.text)

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if not (self.text or self.card):
            yield "text", "a message stage needs text or a card"
