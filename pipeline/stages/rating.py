"""`rating`: ask the guest to rate the chat, 1 to 5, with an optional comment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from cards.options import COMMENT_INPUT, RATINGS, rating_card
from locales import ENGLISH, normalize, words_in
from pipeline.stages.base import (
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
    variants,
)
from pipeline.stages.question import stale_card

RATING = "Session.Feedback.Rating"
COMMENT = "Session.Feedback.Comment"
#: "4", "4/5", "4 of 5", "4 stars", "4 - quick and friendly", "★★★★".
_TYPED = re.compile(
    r"^\s*(?P<n>[1-5])\s*(?:(?:/|of|out of|von|sur|de)\s*5)?\s*"
    r"(?:stars?|sterne?|étoiles?|etoiles?|estrellas?|points?|punkte?)?\s*[.!,:;\u2013-]*\s*"
    r"(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_STARS = re.compile(r"^\s*(?P<stars>[★⭐]{1,5})\s*(?P<rest>.*)$", re.DOTALL)


class RatingStage(StageBase):
    """Ask the guest to rate the chat from 1 to 5 (a card with a button per rating, a comment
    box and 'No thanks'; typing the number works too). The rating is stored as
    `Session.Feedback.Rating`, a comment as `Session.Feedback.Comment`; then `next`."""

    waits = True

    type: Literal["rating"]
    text: Annotated[
        Localized | None,
        Field(
            description="The question on the card; binds ${…}; absent: Crossdesk's own, in the"
            " guest's language."
        ),
    ] = None
    comment: Annotated[
        bool, Field(description="Whether the card has a box for an optional comment.")
    ] = True
    next: Annotated[
        str | None,
        Field(description="The stage to go on to once rated (or skipped); blank ends the chat."),
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        return Outcome(self.prompt(context), Wait())

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        submit = guest.submit
        if submit is not None and (
            submit.get("stage") != self.key or submit.get("session") != context.session.id
        ):
            return stale_card(context, self.prompt(context))
        if submit is not None and submit.get("skip") is True:
            return Outcome([], Goto(self.next))
        if submit is not None and submit.get("rating") in RATINGS:
            return self._rated(context, int(submit["rating"]), guest.field(COMMENT_INPUT))
        if submit is None and guest.typed:
            typed = _typed_rating(guest.typed)
            if typed is not None:
                return self._rated(context, *typed)
            languages = (context.language or ENGLISH, context.default_language, ENGLISH)
            if normalize(guest.typed) in words_in("skip", languages):
                return Outcome([], Goto(self.next))
        unclear = Reply(text=context.texts.text("rating.unclear"))
        return Outcome([unclear, *self.prompt(context)], Wait())

    def _rated(self, context: StageContext, rating: int, comment: object) -> Outcome:
        metadata = context.session.metadata
        metadata[RATING] = rating
        if isinstance(comment, str) and comment.strip():
            metadata[COMMENT] = comment.strip()
        return Outcome([], Goto(self.next))

    def prompt(self, context: StageContext) -> list[Reply]:
        texts = context.texts
        text = context.render_plain(self.text) if self.text else texts.text("rating.text")
        card = rating_card(
            text,
            stage_key=self.key,
            session_id=context.session.id,
            comment=texts.text("rating.comment") if self.comment else None,
            skip=texts.text("rating.skip"),
        )
        return [Reply(card=card)]

    def help(self, context: StageContext) -> StageHelp:
        texts = context.texts
        waiting = texts.text("rating.waiting", skip=texts.text("rating.skip"))
        return StageHelp(waiting, self.prompt(context))

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next

    def texts(self) -> Iterator[tuple[str, str]]:
        yield from variants("text", self.text)

    def stores(self) -> Iterator[Stored]:
        yield Stored("type", RATING, None, self.next)
        yield Stored("comment", COMMENT, None, self.next)


def _typed_rating(typed: str) -> tuple[int, str | None] | None:
    """A rating typed as a number (or stars), and what follows it as a comment."""
    stars = _STARS.match(typed)
    if stars:
        return len(stars.group("stars")), stars.group("rest").strip() or None
    match = _TYPED.match(typed)
    if match is None:
        return None
    return int(match.group("n")), match.group("rest").strip() or None
