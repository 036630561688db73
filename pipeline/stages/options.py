"""`options`: offer an Adaptive Card of choices; the pick is stored and names the next stage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cards.options import options_card
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
from pipeline.stages.question import SILENT_END, STALE_CARD

#: Teams shows at most six buttons on a card (web and desktop; mobile folds the rest away).
MAX_CHOICES = 6


class Choice(BaseModel):
    """One button of an options card; `value` (default: the title) is what gets stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1, description="The button's text.")]
    value: Annotated[
        str | None,
        Field(description="What is stored when the guest picks it (default: the title)."),
    ] = None
    next: Annotated[
        str | None, Field(description="The key of the stage to go on to; blank ends the chat.")
    ] = None

    @property
    def stored_value(self) -> str:
        return self.value if self.value is not None else self.title


class OptionsStage(StageBase):
    """Offer `text` with a button per choice; the guest clicks or types a title, a value or its
    number. The choice's value is stored under `store_as` and its `next` is where the chat
    goes."""

    waits = True

    type: Literal["options"]
    text: Annotated[str, Field(description="The question on the card; binds metadata with ${…}.")]
    store_as: Annotated[
        str | None,
        Field(
            pattern=METADATA_KEY,
            description="The metadata key the picked choice's value is stored under.",
        ),
    ] = None
    choices: Annotated[
        list[Choice],
        Field(min_length=1, description="One button each; Teams shows at most six."),
    ]

    def enter(self, context: StageContext) -> Outcome:
        return Outcome(self.prompt(context), Wait())

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        submit = guest.submit
        session = context.session
        if submit is not None and (
            submit.get("stage") != self.key or submit.get("session") != session.id
        ):
            return Outcome([Reply(text=STALE_CARD), *self.prompt(context)], Wait())
        choice = self._pick(guest)
        if choice is None:
            titles = [c.title for c in self.choices]
            listed = ", ".join(titles[:-1]) + (" or " if len(titles) > 1 else "") + titles[-1]
            return Outcome(
                [Reply(text=f"Please pick one of the options: {listed}."), *self.prompt(context)],
                Wait(),
            )
        if self.store_as:
            session.metadata[self.store_as] = choice.stored_value
        return Outcome([], Goto(choice.next))

    def prompt(self, context: StageContext) -> list[Reply]:
        choices = [(choice.title, choice.stored_value) for choice in self.choices]
        card = options_card(
            context.render(self.text), choices, stage_key=self.key, session_id=context.session.id
        )
        return [Reply(card=card)]

    def help(self, context: StageContext) -> StageHelp:
        return StageHelp("Pick one of the options below, or type its name.", self.prompt(context))

    def _pick(self, guest: GuestInput) -> Choice | None:
        submit = guest.submit
        if submit is not None:
            wanted = submit.get("choice")
            return next((c for c in self.choices if c.stored_value == wanted), None)
        typed = guest.typed.casefold()
        if not typed:
            return None
        if typed.isdigit() and 1 <= int(typed) <= len(self.choices):
            return self.choices[int(typed) - 1]
        for choice in self.choices:
            if typed in (choice.title.casefold(), choice.stored_value.casefold()):
                return choice
        return None

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        for index, choice in enumerate(self.choices):
            yield f"choices[{index}].next", choice.next

    def texts(self) -> Iterator[tuple[str, str]]:
        yield "text", self.text

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        yield from stored_key_problems("store_as", self.store_as)
        if len(self.choices) > MAX_CHOICES:
            yield (
                "choices",
                f"{len(self.choices)} choices, but Teams shows at most {MAX_CHOICES} buttons on a"
                " card and hides the rest; split them over two options stages",
            )
        seen_values: dict[str, Choice] = {}
        seen_titles: dict[str, int] = {}
        for index, choice in enumerate(self.choices):
            title = choice.title.casefold()
            if title in seen_titles:
                yield (
                    f"choices[{index}].title",
                    f"'{choice.title}' is also the title of choice {seen_titles[title] + 1}; the"
                    " guest cannot tell them apart, and typing it picks the first",
                )
            seen_titles.setdefault(title, index)
            earlier = seen_values.get(choice.stored_value)
            if earlier is not None and earlier.next != choice.next:
                yield (
                    f"choices[{index}].value",
                    f"'{choice.stored_value}' is also the value of '{earlier.title}', which goes"
                    f" to {_stage(earlier.next)}; a click on '{choice.title}' would go there too,"
                    f" never to {_stage(choice.next)}: give each choice its own value",
                )
            seen_values.setdefault(choice.stored_value, choice)

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        for index, choice in enumerate(self.choices):
            if choice.next is None:
                yield f"choices[{index}].next", SILENT_END.replace("answers", "picks it")

    def stores(self) -> Iterator[Stored]:
        if self.store_as is not None:
            for index, choice in enumerate(self.choices):
                field = (
                    f"choices[{index}].value"
                    if choice.value is not None
                    else f"choices[{index}].title"
                )
                yield Stored(field, self.store_as, choice.stored_value, choice.next)


def _stage(key: str | None) -> str:
    return f"stage '{key}'" if key else "the end of the chat"
