"""Who can take a waiting chat now: the agents of a list, with what Crossdesk knows of each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.model import Agent


@dataclass(frozen=True, slots=True)
class AgentState:
    """An agent as configured, and as last stored: available in Crossdesk or away, reachable
    (they opened a chat with the bot, so Crossdesk can write to them), the chats they hold."""

    agent: Agent
    available: bool = False
    reachable: bool = False
    chats: tuple[str, ...] = ()
    #: The conversation reference of the agent's chat with the bot, once they opened it.
    reference: Mapping[str, Any] | None = None
    #: When a chat was last offered to them (epoch seconds).
    last_offered: float = 0.0

    @property
    def id(self) -> str:
        return self.agent.id

    @property
    def free(self) -> int:
        """How many more chats the agent can hold."""
        return max(0, self.agent.max_chats - len(self.chats))

    def holds(self, conversation_id: str) -> bool:
        return conversation_id in self.chats

    def eligible(self, conversation_id: str) -> bool:
        """Whether to offer the chat to the agent: available, reachable, with room for one
        more chat (or holding this one already)."""
        return self.available and self.reachable and (self.free > 0 or self.holds(conversation_id))


@dataclass(frozen=True, slots=True)
class Roster:
    """The agents a stage can offer a chat to, in the list's order; `lists` names the tenant's
    lists of them (see `on`)."""

    agents: Sequence[AgentState]
    lists: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def on(self, list_name: str) -> Roster:
        """The agents of one of the tenant's lists."""
        ids = self.lists.get(list_name, ())
        return Roster([state for agent_id in ids if (state := self.get(agent_id)) is not None])

    def eligible(self, conversation_id: str, *, besides: Iterable[str] = ()) -> list[AgentState]:
        """The agents to offer the chat to now, not counting those in `besides`."""
        skipped = set(besides)
        return [
            state
            for state in self.agents
            if state.id not in skipped and state.eligible(conversation_id)
        ]

    def get(self, agent_id: str) -> AgentState | None:
        return next((state for state in self.agents if state.id == agent_id), None)

    @property
    def anyone(self) -> bool:
        """Whether the list has an agent Crossdesk could ever reach."""
        return any(state.reachable for state in self.agents)
