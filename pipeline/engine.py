"""What each stage type does, as pure functions from (stage, session, guest input) to a step.

The dialog runtime (`dialogs/`) sends the replies, stores where the pipeline waits and performs
transfers; nothing here touches the SDK or storage.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cards import expand_text, nest
from cards.options import SUBMIT_KEY, options_card
from pipeline.config import (
    Choice,
    Directory,
    EndStage,
    MessageStage,
    OptionsStage,
    QuestionStage,
    StageRef,
    TenantTransferStage,
)
from pipeline.session import Session


@dataclass(frozen=True, slots=True)
class GuestInput:
    """What the guest sent: typed text, or the data of a card button (`Action.Submit`/`Execute`)."""

    text: str | None = None
    value: Mapping[str, Any] | None = None

    @property
    def submit(self) -> Mapping[str, Any] | None:
        """Crossdesk's own card-submit payload, if this input is a click on one of our cards."""
        if self.value is None:
            return None
        payload = self.value.get(SUBMIT_KEY)
        return payload if isinstance(payload, Mapping) else None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the guest: text, an Adaptive Card, or both."""

    text: str | None = None
    card: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Stay at this stage until the guest answers."""


@dataclass(frozen=True, slots=True)
class Goto:
    """Go on at stage `key`; `None` ends the chat."""

    key: str | None


@dataclass(frozen=True, slots=True)
class Finish:
    """End the chat here with a resolution."""

    resolution: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Perform the tenant transfer of this stage to the (already resolved) tenant id."""

    stage: TenantTransferStage
    target_tenant_id: str


Next = Wait | Goto | Finish | Transfer


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of entering or resuming a stage."""

    replies: list[Reply] = field(default_factory=list)
    next: Next = field(default_factory=Wait)


def render(text: str, session: Session, name: str) -> str:
    """Bind `${…}` in a stage's text to the session's metadata."""
    text_value: str = expand_text(text, nest(session.metadata), name=name, as_text=True)
    return text_value


def enter(ref: StageRef, session: Session, directory: Directory) -> Step:
    """Run a stage as the pipeline reaches it."""
    stage = ref.stage
    name = f"{ref.tenant.id}/{ref.pipeline}/{stage.key}"
    match stage:
        case MessageStage():
            replies = []
            text = render(stage.text, session, name) if stage.text else None
            card = (
                directory.template(stage.card).expand(nest(session.metadata))
                if stage.card
                else None
            )
            replies.append(Reply(text=text, card=card))
            return Step(replies, Goto(stage.next))
        case QuestionStage() | OptionsStage():
            return Step(prompt(ref, session), Wait())
        case TenantTransferStage():
            target = render(stage.tenant, session, name).strip()
            return Step([], Transfer(stage, target))
        case EndStage():
            replies = [Reply(text=render(stage.text, session, name))] if stage.text else []
            return Step(replies, Finish(stage.resolution))
    raise AssertionError(f"unhandled stage type {stage!r}")


def resume(ref: StageRef, session: Session, guest: GuestInput) -> Step:
    """Feed the guest's input to the stage the pipeline waits at."""
    stage = ref.stage
    name = f"{ref.tenant.id}/{ref.pipeline}/{stage.key}"
    if isinstance(stage, QuestionStage):
        answer = (guest.text or "").strip()
        if guest.submit is not None:
            return Step([Reply(text=STALE_CARD), *prompt(ref, session)], Wait())
        if not answer:
            return Step([Reply(text=_type_it)], Wait())
        session.metadata[stage.store_as] = answer
        return Step([], Goto(stage.next))
    if isinstance(stage, OptionsStage):
        submit = guest.submit
        if submit is not None and (
            submit.get("stage") != stage.key or submit.get("session") != session.id
        ):
            return Step([Reply(text=STALE_CARD), *prompt(ref, session)], Wait())
        choice = _pick(stage.choices, guest)
        if choice is None:
            titles = [c.title for c in stage.choices]
            listed = ", ".join(titles[:-1]) + (" or " if len(titles) > 1 else "") + titles[-1]
            return Step(
                [
                    Reply(text=f"Please pick one of the options: {listed}."),
                    _options_reply(stage, session, name),
                ]
            )
        if stage.store_as:
            session.metadata[stage.store_as] = choice.stored_value
        return Step([], Goto(choice.next))
    raise AssertionError(f"stage {stage.key} of type {stage.type} does not wait for input")


_type_it = "Please type your answer as a message."
STALE_CARD = "That card is from an earlier step; here is where we are now."


def prompt(ref: StageRef, session: Session) -> list[Reply]:
    """What a waiting stage shows the guest: its question, or its options card."""
    stage = ref.stage
    name = f"{ref.tenant.id}/{ref.pipeline}/{stage.key}"
    if isinstance(stage, QuestionStage):
        return [Reply(text=render(stage.text, session, name))]
    if isinstance(stage, OptionsStage):
        return [_options_reply(stage, session, name)]
    return []


def _options_reply(stage: OptionsStage, session: Session, name: str) -> Reply:
    text = render(stage.text, session, name)
    choices = [(choice.title, choice.stored_value) for choice in stage.choices]
    return Reply(card=options_card(text, choices, stage_key=stage.key, session_id=session.id))


def _pick(choices: list[Choice], guest: GuestInput) -> Choice | None:
    submit = guest.submit
    if submit is not None:
        wanted = submit.get("choice")
        return next((c for c in choices if c.stored_value == wanted), None)
    typed = (guest.text or "").strip().casefold()
    if not typed:
        return None
    if typed.isdigit() and 1 <= int(typed) <= len(choices):
        return choices[int(typed) - 1]
    for choice in choices:
        if typed in (choice.title.casefold(), choice.stored_value.casefold()):
            return choice
    return None


class Command(enum.Enum):
    """What a guest can type at any stage (also listed in the Teams app's command menu)."""

    HELP = "help"
    END_CHAT = "end chat"


def command_of(guest: GuestInput | None) -> Command | None:
    """The command the guest typed, if the whole message is one (case and punctuation aside)."""
    if guest is None or guest.text is None:
        return None
    typed = " ".join(guest.text.casefold().strip(" \t\n.!?/").split())
    return next((command for command in Command if command.value == typed), None)


def help_step(ref: StageRef, session: Session) -> Step:
    """Where the guest is, what the stage waits for, and how to leave; the choices again."""
    name = f"{ref.tenant.id}/{ref.pipeline}/{ref.stage.key}"
    stage = ref.stage
    if isinstance(stage, QuestionStage):
        waiting = f"I'm waiting for your answer to: {render(stage.text, session, name)}"
    elif isinstance(stage, OptionsStage):
        waiting = "Pick one of the options below, or type its name."
    else:
        waiting = "Send a message to go on."
    text = (
        f"You're chatting with {ref.tenant.name}. {waiting}"
        " Type 'end chat' at any time to close this chat."
    )
    options = prompt(ref, session) if isinstance(stage, OptionsStage) else []
    return Step([Reply(text=text), *options], Wait())
