"""`options`: offer an Adaptive Card of choices; the pick is stored and names the next stage."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cards.options import CHOICE_INPUT, options_card
from locales import ENGLISH, filler_words, normalize, numbered, said
from locales.small_talk import guest_names, small_talk, small_talk_reply
from pipeline.markdown import escape_markdown
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
from pipeline.stages.question import SILENT_END, stale_card

#: Where the title of the picked choice is stored: beside the value, `<store_as>Title`.
TITLE_SUFFIX = "Title"
_NUMBER = re.compile(r"^\s*(?:#|no\.?|nr\.?|n°)?\s*(\d{1,3})\s*[.)]?\s*$", re.IGNORECASE)


class Choice(BaseModel):
    """One button of an options card; `value` (default: the title) is what gets stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[
        Localized,
        Field(
            description="The button's text; binds metadata with ${…}; or per language (then"
            " give a `value`)."
        ),
    ]
    value: Annotated[
        str | None,
        Field(description="What is stored when the guest picks it (default: the title)."),
    ] = None
    next: Annotated[
        str | None, Field(description="The key of the stage to go on to; blank ends the chat.")
    ] = None

    @property
    def stored_value(self) -> str:
        if self.value is not None:
            return self.value
        return self.title if isinstance(self.title, str) else next(iter(self.title.values()))

    @property
    def shown(self) -> str:
        """The title as the configuration writes it (its first language's), for messages."""
        return self.title if isinstance(self.title, str) else next(iter(self.title.values()))


class OptionsStage(StageBase):
    """Offer `text` with a button per choice (a choice list for more than six); the guest
    clicks, or types a title, a value, its number or the name of the tenant it leads to (a
    greeting, thanks or OK that names no choice gets a friendly word and the card again). The
    choice's value is stored under `store_as` (its title as `<store_as>Title`) and its `next`
    is where the chat goes."""

    waits = True

    type: Literal["options"]
    text: Annotated[
        Localized,
        Field(description="The question on the card; binds metadata with ${…}; or per language."),
    ]
    store_as: Annotated[
        str | None,
        Field(
            pattern=METADATA_KEY,
            description="The metadata key the picked choice's value is stored under (its title"
            " goes beside it, under the same key followed by 'Title').",
        ),
    ] = None
    choices: Annotated[
        list[Choice],
        Field(
            min_length=1,
            description="One button each; more than six are shown as a choice list.",
        ),
    ]

    def enter(self, context: StageContext) -> Outcome:
        return Outcome(self.prompt(context), Wait())

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        submit = guest.submit
        session = context.session
        if submit is not None and (
            submit.get("stage") != self.key or submit.get("session") != session.id
        ):
            return stale_card(context, self.prompt(context))
        choice = self._pick(context, guest)
        if choice is None and submit is None:
            metadata = session.metadata
            kind = small_talk(guest.text, names=guest_names(metadata))
            if kind is not None:
                reply = Reply(text=small_talk_reply(kind, context.texts, metadata))
                return Outcome([reply, *self.prompt(context)], Wait())
        if choice is None:
            titles = [escape_markdown(self._title(context, c)) for c in self.choices]
            unclear = context.texts.text("options.unclear", numbered=numbered(titles))
            return Outcome([Reply(text=unclear), *self.prompt(context)], Wait())
        return self._chosen(context, choice)

    def on_person_asked(
        self, context: StageContext, guest: GuestInput, agent_stages: frozenset[str]
    ) -> Outcome | None:
        # "I'd like to talk to someone" is the title of a choice, or one choice leads to agents.
        choice = self._pick(context, guest)
        if choice is None:
            ways = [c for c in self.choices if c.next in agent_stages]
            choice = ways[0] if len(ways) == 1 else None
        return None if choice is None else self._chosen(context, choice)

    def _chosen(self, context: StageContext, choice: Choice) -> Outcome:
        if self.store_as:
            context.session.metadata[self.store_as] = choice.stored_value
            context.session.metadata[self.store_as + TITLE_SUFFIX] = self._title(context, choice)
        return Outcome([], Goto(choice.next))

    def prompt(self, context: StageContext) -> list[Reply]:
        texts = context.texts
        card = options_card(
            context.render_plain(self.text),
            [(self._title(context, choice), choice.stored_value) for choice in self.choices],
            stage_key=self.key,
            session_id=context.session.id,
            placeholder=texts.text("options.placeholder"),
            choose=texts.text("options.choose"),
        )
        return [Reply(card=card)]

    def help(self, context: StageContext) -> StageHelp:
        return StageHelp(context.texts.text("options.waiting"), self.prompt(context))

    def _title(self, context: StageContext, choice: Choice) -> str:
        return context.render_plain(choice.title)

    def _pick(self, context: StageContext, guest: GuestInput) -> Choice | None:
        submit = guest.submit
        if submit is not None:
            wanted = submit.get("choice", guest.field(CHOICE_INPUT))
            return next((c for c in self.choices if c.stored_value == wanted), None)
        typed = guest.typed
        number = _NUMBER.match(typed)
        if number:
            index = int(number.group(1))
            return self.choices[index - 1] if 1 <= index <= len(self.choices) else None
        words = normalize(typed)
        if not words:
            return None
        filler = filler_words({context.language or ENGLISH, context.default_language, ENGLISH})
        exact = [c for c in self.choices if words in self._names(context, c)]
        if len(exact) == 1:
            return exact[0]
        found = [
            choice
            for choice in self.choices
            if any(said(words, name, filler) for name in self._names(context, choice))
        ]
        if len(found) == 1:
            return found[0]
        # "option 2", "number 2, please"
        digits = [word for word in words.split() if word.isdigit()]
        if len(digits) == 1 and all(w in filler or w.isdigit() for w in words.split()):
            index = int(digits[0])
            return self.choices[index - 1] if 1 <= index <= len(self.choices) else None
        return None

    def _names(self, context: StageContext, choice: Choice) -> set[str]:
        """Everything that names `choice`: its titles (every language), its value, and the
        names of the tenants it leads to."""
        names = {normalize(self._title(context, choice)), normalize(choice.stored_value)}
        if not isinstance(choice.title, str):
            names.update(normalize(title) for title in choice.title.values() if "${" not in title)
        names.update(normalize(name) for name in context.choice_names.get(choice.stored_value, ()))
        return {name for name in names if name}

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        for index, choice in enumerate(self.choices):
            yield f"choices[{index}].next", choice.next

    def texts(self) -> Iterator[tuple[str, str]]:
        yield from variants("text", self.text)
        for index, choice in enumerate(self.choices):
            yield from variants(f"choices[{index}].title", choice.title)

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        yield from stored_key_problems("store_as", self.store_as)
        seen_values: dict[str, Choice] = {}
        seen_titles: dict[str, int] = {}
        for index, choice in enumerate(self.choices):
            if not isinstance(choice.title, str) and choice.value is None:
                yield (
                    f"choices[{index}].value",
                    "a choice whose title is given per language needs a `value`: what is"
                    " stored, whichever language the guest reads",
                )
            for _, title in variants("", choice.title):
                folded = title.casefold()
                if folded in seen_titles and seen_titles[folded] != index:
                    yield (
                        f"choices[{index}].title",
                        f"'{title}' is also the title of choice {seen_titles[folded] + 1}; the"
                        " guest cannot tell them apart, and typing it picks the first",
                    )
                seen_titles.setdefault(folded, index)
            earlier = seen_values.get(choice.stored_value)
            if earlier is not None and earlier.next != choice.next:
                yield (
                    f"choices[{index}].value",
                    f"'{choice.stored_value}' is also the value of '{earlier.shown}', which goes"
                    f" to {_stage(earlier.next)}; a click on '{choice.shown}' would go there too,"
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
            yield Stored("store_as", self.store_as + TITLE_SUFFIX, None, None)


def _stage(key: str | None) -> str:
    return f"stage '{key}'" if key else "the end of the chat"
