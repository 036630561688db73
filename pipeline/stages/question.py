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
    Outcome,
    Reply,
    StageBase,
    StageContext,
    StageHelp,
    Stored,
    Wait,
    stored_key_problems,
)

TYPE_IT = "Please type your answer as a message."
STALE_CARD = "That card is from an earlier step; here is where we are now."
#: The check's warning for a blank transition after the guest's answer.
SILENT_END = (
    "blank, so the chat ends without a word once the guest answers; go on to an `end` stage"
    " that says goodbye"
)


class QuestionStage(StageBase):
    """Ask `text`, wait for the guest's answer and store it under the metadata key `store_as`,
    then go on to `next`."""

    waits = True

    type: Literal["question"]
    text: Annotated[str, Field(description="The question; binds metadata with ${…}.")]
    store_as: Annotated[
        str,
        Field(
            pattern=METADATA_KEY,
            description="The metadata key the answer is stored under, e.g. HR.Detail.",
        ),
    ]
    next: Annotated[
        str | None, Field(description="The key of the stage to go on to; blank ends the chat.")
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        return Outcome(self.prompt(context), Wait())

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        if guest.submit is not None:
            return Outcome([Reply(text=STALE_CARD), *self.prompt(context)], Wait())
        if not guest.typed:
            return Outcome([Reply(text=TYPE_IT)], Wait())
        context.session.metadata[self.store_as] = guest.typed
        return Outcome([], Goto(self.next))

    def prompt(self, context: StageContext) -> list[Reply]:
        return [Reply(text=context.render(self.text))]

    def help(self, context: StageContext) -> StageHelp:
        return StageHelp(f"I'm waiting for your answer to: {context.render(self.text)}")

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next

    def texts(self) -> Iterator[tuple[str, str]]:
        yield "text", self.text

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        yield from stored_key_problems("store_as", self.store_as)

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if self.next is None:
            yield "next", SILENT_END

    def stores(self) -> Iterator[Stored]:
        yield Stored("store_as", self.store_as, None, self.next)
