"""A help desk with agents over HTTP: the bot on the agents' configuration, guests and agents in
their own Teams chats with it, and the bot's clock in the test's hands (timers fire when the
test runs them, never on the wall clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app import RUNTIME
from dialogs import Runtime
from tests.support.connector import FakeConnector
from tests.support.replies import Card, Replies
from tests.support.teams import TeamsChat, guest

#: The agents tests' configuration (its agents' Entra ids are those `guest()` gives them).
AGENTS_CONFIG = Path(__file__).resolve().parent.parent / "config" / "agents.yaml"


class BotClock:
    """The bot's clock: a fixed moment the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Agent:
    """An agent's personal chat with the bot."""

    chat: TeamsChat
    name: str

    @property
    def received(self) -> Replies:
        return self.chat.received()

    async def install(self) -> Replies:
        return await self.chat.install()

    async def say(self, text: str) -> Replies:
        return await self.chat.say(text)

    async def click(self, card: Card, title: str, **inputs: Any) -> Replies:
        """Click a button of a card the bot sent (with the card's inputs filled in)."""
        return await self.chat.submit({**card.button(title), **inputs})

    def offers(self) -> list[Card]:
        """The offer cards the agent got, newest last."""
        return [c for c in self.received.cards() if "Accept" in c.buttons]

    def offer(self) -> Card:
        offers = self.offers()
        assert offers, f"{self.name} was offered nothing; received:\n{self.received.describe()}"
        return offers[-1]

    def current(self, card: Card, connector: FakeConnector) -> Card:
        """A card as the agent sees it now (after updates in place)."""
        assert card.reply is not None
        activity_id = card.reply.activity["id"]
        latest = connector.latest(activity_id)
        return Card(latest["attachments"][0]["content"])

    async def accept(self) -> Replies:
        return await self.click(self.offer(), "Accept")


def person(name: str) -> dict[str, Any]:
    """A Teams user (the Entra object id the agents' configuration lists for that name)."""
    return guest(name, "29:1" + name.split()[0].lower())


@dataclass
class Desk:
    """The bot and the people in the test."""

    bot: Any
    clock: BotClock
    agents: dict[str, Agent] = field(default_factory=dict)

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.bot.app[RUNTIME]
        return runtime

    @property
    def connector(self) -> FakeConnector:
        connector: FakeConnector = self.bot.connector
        return connector

    def agent(self, name: str) -> Agent:
        if name not in self.agents:
            first = name.split()[0].lower()
            chat = self.bot.chat(who=person(name), conversation_id=f"a:1{first}-chat")
            self.agents[name] = Agent(chat, name)
        return self.agents[name]

    async def available(self, *names: str) -> None:
        """Agents who opened the app and said they take chats."""
        for name in names:
            agent = self.agent(name)
            await agent.install()
            await agent.say("available")

    def guest(self, name: str = "Megan Bowen", chat: str | None = None) -> TeamsChat:
        first = name.split()[0].lower()
        return self.bot.chat(who=person(name), conversation_id=chat or f"a:1{first}-guest")

    async def to(
        self, guest: TeamsChat, team: str, question: str = "My payslip is wrong"
    ) -> Replies:
        """A guest who asks and picks a team; what the bot sent them from then on."""
        await guest.install()
        await guest.say(question)
        return await guest.submit(guest.received().choice_value(team))

    async def tick(self, seconds: float) -> int:
        """Time passes; the timers due by then fire (how many)."""
        self.clock.advance(seconds)
        return await self.runtime.fire_due_timers()

    async def chat_metadata(self, conversation_id: str) -> dict[str, Any]:
        """The metadata of the chat's latest session."""
        history = await self.runtime.store.history(conversation_id)
        return dict(history.sessions[-1].metadata)
