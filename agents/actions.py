"""What an agent does to a guest's chat, and what a chat's turn changes for an agent.

An agent's click or message in their own chat becomes an `AgentInput` for a turn of the guest's
chat (every write lands in the guest's chat, under its lease); the turn answers with replies,
and with `AgentChange`s the runtime applies to the agents' records after its commit.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class AgentVerb(enum.StrEnum):
    """What an agent asks of a guest's chat."""

    ACCEPT = "accept"
    DECLINE = "decline"
    MESSAGE = "message"
    #: The agent's resolution card: resolved or not, with notes; the chat ends.
    END = "end"
    ESCALATE = "escalate"
    TRANSFER = "transfer"
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class ChatLine:
    """A line of what was said in a chat before the agent joined: in which tenant, by whom;
    `text` escaped for Markdown (it shows as it was typed)."""

    tenant: str
    author: str
    text: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentInput:
    """An agent's action on a guest's chat. `request` is the offer an accept or a decline
    answers; `history` (for an accept) what was said in every tenant the chat passed through."""

    agent_id: str
    verb: AgentVerb
    text: str = ""
    value: Mapping[str, Any] = field(default_factory=dict)
    request: int | None = None
    history: Sequence[ChatLine] = ()


class Change(enum.StrEnum):
    """How a turn changed an agent's hold on the chat."""

    #: The agent took the chat: it is theirs, and the chat their messages go to.
    HOLD = "hold"
    #: The agent no longer holds the chat (ended, transferred, escalated, lost the race).
    RELEASE = "release"
    #: The chat was offered to the agent (hunts start with whoever waited longest).
    OFFERED = "offered"


@dataclass(frozen=True, slots=True)
class AgentChange:
    agent_id: str
    change: Change
