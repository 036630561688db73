"""What every stage type has: its settings model, what it does, and what it tells the runtime.

A stage type is a pydantic model (its settings, validated from the YAML) with the behaviour as
methods. The runtime (`dialogs/`) calls `enter` when a pipeline reaches the stage and, for a
stage that waits, `on_input` with the guest's next message; the stage answers with replies and
where to go next (`Wait`, `Goto`, `Finish`, `Transfer`). Stages never touch the SDK or storage:
what they change is the session's metadata, and what they keep while waiting is `Wait.keep`.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from agents.actions import AgentChange, AgentInput
from agents.roster import Roster
from cards import CompiledTemplate, expand_text, nest
from cards.options import SUBMIT_KEY
from cards.template import split_bindings
from errors import PipelineError
from locales import Catalog, catalog, language_of, zone_of
from pipeline.calls import Call, CallResult
from pipeline.markdown import escape_markdown
from pipeline.session import Session

if TYPE_CHECKING:
    from pipeline.hours import BusinessHours

SLUG = r"^[a-z0-9][a-z0-9_-]*$"
METADATA_KEY = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
LANGUAGE = r"^[a-z]{2,3}$"
#: Metadata only Crossdesk itself writes; a stage may not store the guest's answers there.
PROTECTED_METADATA = ("Session.",)

#: A language code as configuration texts are keyed by it: `en`, `de`, `fr`, `es`, …
Language = Annotated[str, StringConstraints(pattern=LANGUAGE)]
#: A text (or a card template's file name) in one language, or per language:
#: `{en: "Hi", de: "Hallo"}`; a guest gets theirs, else the tenant's default language's.
Localized = str | dict[Language, str]


def variants(field_name: str, value: Localized | None) -> Iterator[tuple[str, str]]:
    """(field, text) for each language of a localized setting: `text`, or `text.de`, …"""
    if value is None:
        return
    if isinstance(value, str):
        yield field_name, value
    else:
        for language, text in value.items():
            yield f"{field_name}.{language}", text


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

    @property
    def typed(self) -> str:
        """The typed text without surrounding white space ("" for a click)."""
        return (self.text or "").strip()

    def field(self, name: str) -> Any:
        """An input field of the card the guest submitted (inputs arrive beside the button's
        data), or None."""
        return self.value.get(name) if self.value is not None else None


@dataclass(frozen=True, slots=True)
class Reply:
    """One message to the guest (or, with `agent`, to that agent's chat): text, an Adaptive
    Card, or both.

    With `label` the message's id is kept under that label in the guest's chat; with
    `replaces` the message updates the one sent under that label in place. `author` names who
    wrote a message the bot relays (`agent:<id>`); an `internal` reply is a note: kept in the
    transcript, sent to nobody.
    """

    text: str | None = None
    card: dict[str, Any] | None = None
    agent: str | None = None
    label: str | None = None
    replaces: str | None = None
    author: str | None = None
    internal: bool = False
    #: A typing indicator (no text, no card): the guest sees the bot is at work.
    typing: bool = False


@dataclass(frozen=True, slots=True)
class Wait:
    """Stay at this stage until the guest answers; `keep` is what the stage needs then."""

    keep: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Goto:
    """Go on at stage `key` of the same pipeline; `None` ends the chat."""

    key: str | None


@dataclass(frozen=True, slots=True)
class Finish:
    """End the chat here with a resolution (`Session.Status.Resolution`)."""

    resolution: str


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the chat to `tenant_id`'s primary pipeline, sending a card from `template`.

    If the transfer cannot be made, the guest is told `failure_text` and the chat goes on at
    `on_failure` (`None` ends it)."""

    tenant_id: str
    template: str
    on_failure: str | None
    failure_text: str


#: Where a chat goes after a stage; the runtime handles every kind (`assert_never`).
Next = Wait | Goto | Finish | Transfer


@dataclass(frozen=True, slots=True)
class After:
    """A timer a waiting stage sets: in `seconds`, `on_timer` is called with `name` and `data`.
    Setting a name again moves it; a stage's timers end when the chat leaves the stage."""

    name: str
    seconds: float
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What entering a stage, or feeding it the guest's input, came to; `timers` are set
    when the stage waits."""

    replies: Sequence[Reply] = ()
    next: Next = field(default_factory=Wait)
    timers: Sequence[After] = ()
    #: What the turn changed for agents (applied to their records after the commit).
    agents: Sequence[AgentChange] = ()


@dataclass(frozen=True, slots=True)
class StageHelp:
    """What `help` shows at a stage: what it waits for, and replies to show again."""

    waiting_for: str
    replies: Sequence[Reply] = ()


@dataclass(slots=True)
class StageContext:
    """What a stage sees of the chat while it runs."""

    #: The configuration's card templates, by file name.
    templates: Mapping[str, CompiledTemplate]
    tenant_id: str
    pipeline: str
    key: str
    session: Session
    now: datetime
    #: What the stage kept when it last waited (`Wait.keep`); empty when it is entered.
    kept: Mapping[str, Any] = field(default_factory=dict)
    #: The tenant's default language (its texts fall back to it; so does the catalog).
    default_language: str = "en"
    #: Tenant names by id, for texts that name another tenant.
    tenant_names: Mapping[str, str] = field(default_factory=dict)
    #: Business hours of the tenants that have them, by tenant id.
    hours: Mapping[str, BusinessHours] = field(default_factory=dict)
    #: For an options stage: the names of the tenants each choice (by value) leads to, which
    #: a guest may type instead of the choice's title.
    choice_names: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: The tenant's agents as stored now, for a stage that `uses_agents` and waits.
    roster: Roster | None = None

    @property
    def name(self) -> str:
        """`tenant/pipeline/stage`, for logs and template warnings."""
        return f"{self.tenant_id}/{self.pipeline}/{self.key}"

    @property
    def language(self) -> str | None:
        """The guest's language, from `Guest.Locale` (`de-DE` → `de`)."""
        return language_of(self.session.metadata.get("Guest.Locale"))

    @property
    def texts(self) -> Catalog:
        """Crossdesk's own texts in the guest's language (else the tenant's, else English)."""
        return catalog(self.language, self.default_language)

    def pick(self, value: Localized) -> str:
        """A localized setting in the guest's language, else the tenant's default language."""
        if isinstance(value, str):
            return value
        for language in (self.language, self.default_language):
            if language is not None and language in value:
                return value[language]
        return next(iter(value.values()))

    def data(self, flat: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What texts and cards bind: the session's metadata (or `flat`) and, when Teams told
        the guest's time zone, `Guest.LocalTime` and `Guest.LocalDate` as the guest writes
        them."""
        data = dict(self.session.metadata if flat is None else flat)
        zone = zone_of(data.get("Guest.Timezone"))
        if zone is not None:
            locale = data.get("Guest.Locale")
            texts = self.texts
            data["Guest.LocalTime"] = texts.time(self.now, zone, locale)
            data["Guest.LocalDate"] = texts.date(self.now, zone, locale)
        return data

    def render(self, text: Localized) -> str:
        """A message: `${…}` bound to the session's metadata, each value escaped for Teams'
        Markdown so that what the guest typed shows as typed (guest text stays data)."""
        source = self.pick(text)
        if "${" not in source:
            return source
        data = nest(self.data())
        return "".join(
            part
            if isinstance(part, str)
            else escape_markdown(
                str(
                    expand_text(
                        "${" + part.text + "}", data, name=self.name, as_text=True, now=self.now
                    )
                )
            )
            for part in split_bindings(source)
        )

    def render_plain(self, text: Localized) -> str:
        """`${…}` bound as plain text: for card text, ids and values, not Markdown messages."""
        rendered: str = expand_text(
            self.pick(text), nest(self.data()), name=self.name, as_text=True, now=self.now
        )
        return rendered

    def evaluate(self, text: str) -> Any:
        """Like `render`, but a text that is exactly one `${…}` keeps its value's JSON type."""
        return expand_text(text, nest(self.data()), name=self.name, now=self.now)

    def card(self, template: Localized, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """A card from one of the configuration's templates (the guest's language's), bound to
        `data` (flat metadata; default: the session's)."""
        name = self.template_name(template)
        card: dict[str, Any] = self.templates[name].expand(nest(self.data(data)), now=self.now)
        return card

    def template_name(self, template: Localized) -> str:
        """The template file a guest gets: the one for their language, or `X.de.json` beside a
        plain `X.json` when that variant exists."""
        name = self.pick(template)
        for language in (self.language, self.default_language):
            variant = language_variant(name, language)
            if variant is not None and variant in self.templates:
                return variant
        return name


def language_variant(name: str, language: str | None) -> str | None:
    """`transfer.de.json` for `transfer.json` and `de`."""
    if not language or not name.endswith(".json") or re.search(r"\.[a-z]{2,3}\.json$", name):
        return None
    return f"{name[: -len('.json')]}.{language}.json"


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a stage's own configuration checks may look at: every tenant id, the tenant the
    stage belongs to, the disabled tenants, and whom each tenant accepts transfers from (None:
    anyone)."""

    tenant_ids: Sequence[str]
    tenant_id: str = ""
    disabled: frozenset[str] = frozenset()
    accepts_from: Mapping[str, frozenset[str] | None] = field(default_factory=dict)
    #: The tenants that have business hours.
    with_hours: frozenset[str] = frozenset()
    #: This tenant's agent lists by name ("": the tenant's own `agents`).
    agent_lists: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Hosts (`name` or `name:port`) requests and webhooks may reach (`outbound.allowed_hosts`).
    allowed_hosts: frozenset[str] = frozenset()
    #: The environment Crossdesk starts with, where `${env:NAME}` secrets must be set.
    environment: Mapping[str, str] = field(default_factory=dict)

    def refusal(self, target: str) -> str | None:
        """Why a transfer from this stage's tenant to `target` (a tenant id) can never be made
        while this configuration runs, or None when it can."""
        if target == self.tenant_id:
            return "the chat is already with this tenant, so the transfer always fails"
        return None

    def doubt(self, target: str) -> str | None:
        """Why a transfer to `target` fails for as long as the tenants stay as configured (a
        disabled tenant, or one that accepts no transfers from here), or None."""
        if target in self.disabled:
            return f"tenant '{target}' is disabled, so the transfer fails until it is enabled"
        accepted = self.accepts_from.get(target)
        if accepted is not None and self.tenant_id not in accepted:
            return (
                f"tenant '{target}' accepts transfers only from {', '.join(sorted(accepted))},"
                " so the transfer always fails"
            )
        return None


@dataclass(frozen=True, slots=True)
class Stored:
    """A metadata key a stage writes: the setting that says so, the key, the value when it is
    known from the configuration (None: the guest's answer or a computed value), and the stage
    the chat goes to once it is stored."""

    field: str
    key: str
    value: str | None
    then: str | None


class StageBase(BaseModel):
    """Settings and behaviour of one stage type; subclasses live one per module here.

    A subclass declares `type: Literal["…"]` (its name in the YAML), its settings as fields,
    and implements `enter`; a stage that waits for the guest sets `waits = True` and implements
    `on_input`, `prompt` and `help`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Whether the pipeline can wait at this stage for the guest's input.
    waits: ClassVar[bool] = False
    #: Whether the stage works with agents: while the chat waits here, turns see the tenant's
    #: agents (`StageContext.roster`) and agents' actions (`on_agent`).
    uses_agents: ClassVar[bool] = False
    #: Whether the stage waits for a request to another system rather than for the guest (a
    #: pipeline must not go round through it without waiting for the guest).
    calls_out: ClassVar[bool] = False

    key: Annotated[
        str,
        Field(
            pattern=SLUG,
            description="The stage's name in its pipeline (lower-case letters, digits, '-' and"
            " '_'); transitions name it.",
        ),
    ]

    @property
    def type_name(self) -> str:
        """The stage's `type` as written in the configuration."""
        name: str = getattr(self, "type")  # noqa: B009 (each subclass declares its own Literal)
        return name

    @abstractmethod
    def enter(self, context: StageContext) -> Outcome:
        """What happens when the pipeline reaches this stage."""

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        """The guest's message or click while the pipeline waits here."""
        raise PipelineError(f"stage {context.name} of type {self.type_name} does not wait")

    def on_timer(self, context: StageContext, name: str, data: Mapping[str, Any]) -> Outcome:
        """A timer the stage set (`After`) came due while the chat still waits here."""
        return Outcome([], Wait(context.kept))

    def call(self, context: StageContext, timer: str) -> Call | None:
        """The request the runtime makes before the stage's timer `timer` fires (None: none);
        what it came to goes to `on_result` instead of `on_timer`."""
        return None

    def on_result(self, context: StageContext, result: CallResult) -> Outcome:
        """What the request of `call` came to, while the chat still waits here."""
        return Outcome([], Wait(context.kept))

    def on_agent(self, context: StageContext, action: AgentInput) -> Outcome:
        """An agent's action on the chat while it waits here (only stages that `uses_agents`
        get one that changes anything)."""
        return Outcome(
            [Reply(text="That chat has moved on: nothing to do there.", agent=action.agent_id)],
            Wait(context.kept),
        )

    def agents_needed(self, kept: Mapping[str, Any]) -> Collection[str] | None:
        """Which of the tenant's agents a turn at this stage reads (with what the stage kept
        while waiting); None: all of them. Only stages that `uses_agents` are asked."""
        return None

    def on_person_asked(
        self, context: StageContext, guest: GuestInput, agent_stages: frozenset[str]
    ) -> Outcome | None:
        """The guest asked for a person ("talk to someone") while the chat waits here. A stage
        that offers a way to one (`agent_stages`: the keys of this pipeline's stages that work
        with agents) takes it; `None`: the runtime says this chat has no one to put them
        through to."""
        return None

    def on_guest_leaving(self, context: StageContext) -> Outcome:
        """The guest ends the chat (or starts over) while it waits here: what to say to others
        and, with `Goto`, a stage to go on at instead of ending (`Wait`: just end)."""
        return Outcome()

    def prompt(self, context: StageContext) -> list[Reply]:
        """What the stage shows again when the guest needs to see where the chat stands."""
        return []

    def help(self, context: StageContext) -> StageHelp:
        """What `help` says the stage waits for."""
        return StageHelp(context.texts.text("stage.waiting"))

    @property
    def hears_small_talk(self) -> bool:
        """Whether a greeting, thanks or OK typed while the chat waits here gets a friendly
        reply and the prompt again, rather than going to `on_input`."""
        return False

    @property
    def takes_opening_message(self) -> bool:
        """Whether the message that opened a chat answers this stage when the new chat first
        waits here (a question: yes; a card of choices: no, it is kept in the transcript)."""
        return False

    # configuration: what the generic checks need, and the type's own checks

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        """(field, stage key) for every transition; `None` ends the chat."""
        return iter(())

    def templates(self) -> Iterator[tuple[str, str]]:
        """(field, template file) for every card template the stage sends."""
        return iter(())

    def texts(self) -> Iterator[tuple[str, str]]:
        """(field, text) for every setting that binds metadata with `${…}`."""
        return iter(())

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        """(field, problem) for what only this stage type knows to be wrong."""
        return iter(())

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        """(field, warning) for what the runtime handles but is most likely a mistake."""
        return iter(())

    def stores(self) -> Iterator[Stored]:
        """Every metadata key the stage writes (with the value, when known in advance)."""
        return iter(())


def stored_key_problems(field_name: str, key: str | None) -> Iterator[tuple[str, str]]:
    """A stage may store the guest's answers anywhere but under `Session.*`."""
    if key is not None and key.startswith(PROTECTED_METADATA):
        yield field_name, "Session.* keys are kept by Crossdesk itself"
