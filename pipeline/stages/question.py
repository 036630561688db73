"""`question`: ask, wait for the guest's answer and store it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from pipeline.stages.base import (
    METADATA_KEY,
    CheckContext,
    Goto,
    GuestInput,
    Localized,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    StageHelp,
    Stored,
    Wait,
    stored_key_problems,
    variants,
)

#: The check's warning for a blank transition after the guest's answer.
SILENT_END = (
    "blank, so the chat ends without a word once the guest answers; go on to an `end` stage"
    " that says goodbye"
)


def stale_card(context: StageContext, prompt: list[Reply]) -> Outcome:
    """A click on a card of an earlier step: say so, and show where the chat is now."""
    return Outcome([Reply(text=context.texts.text("stage.stale_card")), *prompt], Wait())


class QuestionStage(StageBase):
    """Ask `text`, wait for the guest's answer and store it under the metadata key `store_as`,
    then go on to `next`. A greeting, thanks or OK is answered and the question asked again
    (`small_talk: false` takes it as the answer)."""

    waits = True

    type: Literal["question"]
    text: Annotated[
        Localized,
        Field(description="The question; binds metadata with ${…}; or per language: {en: …}."),
    ]
    store_as: Annotated[
        str,
        Field(
            pattern=METADATA_KEY,
            description="The metadata key the answer is stored under, e.g. HR.Detail.",
        ),
    ]
    small_talk: Annotated[
        bool,
        Field(
            description="true: 'hi', 'thanks', 'ok' (in English, German, French or Spanish)"
            " get a short friendly reply and the question again, and are never stored as the"
            " answer; false: every message is the answer."
        ),
    ] = True
    next: Annotated[
        str | None, Field(description="The key of the stage to go on to; blank ends the chat.")
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        return Outcome(self.prompt(context), Wait())

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        if guest.submit is not None:
            return stale_card(context, self.prompt(context))
        if not guest.typed:
            return Outcome([Reply(text=context.texts.text("stage.type_it"))], Wait())
        context.session.metadata[self.store_as] = guest.typed
        return Outcome([], Goto(self.next))

    def prompt(self, context: StageContext) -> list[Reply]:
        return [Reply(text=context.render(self.text))]

    def help(self, context: StageContext) -> StageHelp:
        return StageHelp(context.texts.text("question.waiting", question=context.render(self.text)))

    @property
    def hears_small_talk(self) -> bool:
        return self.small_talk

    @property
    def takes_opening_message(self) -> bool:
        return True

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next

    def texts(self) -> Iterator[tuple[str, str]]:
        yield from variants("text", self.text)

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        yield from stored_key_problems("store_as", self.store_as)

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if self.next is None:
            yield "next", SILENT_END

    def stores(self) -> Iterator[Stored]:
        yield Stored("store_as", self.store_as, None, self.next)
