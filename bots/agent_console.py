"""An agent's own chat with the bot: what they type and click, as actions on guests' chats.

Everything an agent does to a guest's chat (accept, decline, a message, end, escalate,
transfer, a note) runs as a turn of the guest's chat (`Runtime.run_unprompted` with an
`AgentAction`), exactly once per Teams activity. What concerns the agent alone (available,
away, the chats they hold, which one they answer, help) changes their record and is answered in
their chat, also once (`Runtime.tell`). An accept reserves the chat on the agent's record first,
so an agent never holds more than their `max_chats`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from agents import console
from agents.actions import AgentInput, AgentVerb
from agents.model import Agent
from cards.options import SUBMIT_KEY
from dialogs import AgentAction, Runtime
from pipeline.stages.base import Reply

log = logging.getLogger(__name__)

#: Card buttons of an agent's chat: `{"crossdesk": {"agent": <verb>, "chat": <conversation>}}`.
_CARD_VERBS = {
    "accept": AgentVerb.ACCEPT,
    "decline": AgentVerb.DECLINE,
    "end": AgentVerb.END,
    "escalate": AgentVerb.ESCALATE,
}
_ON_A_CHAT = {
    console.Command.ESCALATE: AgentVerb.ESCALATE,
    console.Command.TRANSFER: AgentVerb.TRANSFER,
    console.Command.NOTE: AgentVerb.NOTE,
}


class AgentConsole:
    """Handles what configured agents send from their own chat with the bot."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.book = runtime.agents

    async def opened(
        self, agent: Agent, reference: Mapping[str, Any], event_id: str | None
    ) -> None:
        """The agent added the app (or opened the chat): Crossdesk can reach them here now."""
        record = await self.book.remember(agent.id, reference)
        state = "available" if record.available else "away"
        await self._tell(
            agent,
            reference,
            event_id,
            Reply(
                card=_status_card(
                    agent,
                    record.available,
                    f"Hi {_given(agent)}, you're an"
                    f" agent for {self._teams(agent)}. You're {state}.",
                )
            ),
        )

    async def message(
        self,
        agent: Agent,
        reference: Mapping[str, Any],
        event_id: str | None,
        text: str | None,
        value: Mapping[str, Any] | None,
    ) -> None:
        """A message or a card click in the agent's chat."""
        await self.book.remember(agent.id, reference)
        payload = (value or {}).get(SUBMIT_KEY)
        if isinstance(payload, Mapping) and isinstance(payload.get("agent"), str):
            await self._clicked(agent, reference, event_id, payload, value or {})
            return
        typed = console.read(text)
        command = typed.command
        match command:
            case console.Command.AVAILABLE | console.Command.AWAY:
                await self._availability(agent, reference, event_id, command)
            case console.Command.HELP:
                await self._tell(agent, reference, event_id, Reply(text=console.HELP))
            case console.Command.CHATS:
                await self._chats(agent, reference, event_id)
            case console.Command.SWITCH:
                record = await self.book.record(agent.id)
                chosen = console.switch(record.chats, typed.argument)
                if chosen.conversation_id is None:
                    await self._tell(agent, reference, event_id, Reply(text=chosen.problem))
                    return
                await self.book.set_focus(agent.id, chosen.conversation_id)
                who = await self._guest(chosen.conversation_id)
                await self._tell(agent, reference, event_id, Reply(text=f"Now answering {who}."))
            case console.Command.END:
                chat = await self._focus(agent, reference, event_id)
                if chat is not None:
                    card = _resolution_card(chat, await self._guest(chat))
                    await self._tell(agent, reference, event_id, Reply(card=card))
            case console.Command.ESCALATE | console.Command.TRANSFER | console.Command.NOTE:
                chat = await self._focus(agent, reference, event_id)
                if chat is not None:
                    if command is console.Command.NOTE and not typed.argument:
                        hint = "Type the note after the word: 'note customer prefers email'."
                        await self._tell(agent, reference, event_id, Reply(text=hint))
                        return
                    action = AgentInput(agent.id, _ON_A_CHAT[command], text=typed.argument)
                    await self._act(chat, action, reference, event_id)
            case None:
                if not typed.argument:
                    hint = "Only text reaches the guest; type your message."
                    await self._tell(agent, reference, event_id, Reply(text=hint))
                    return
                chat = await self._focus(agent, reference, event_id)
                if chat is not None:
                    action = AgentInput(agent.id, AgentVerb.MESSAGE, text=typed.argument)
                    await self._act(chat, action, reference, event_id)

    async def _clicked(
        self,
        agent: Agent,
        reference: Mapping[str, Any],
        event_id: str | None,
        payload: Mapping[str, Any],
        value: Mapping[str, Any],
    ) -> None:
        kind = str(payload["agent"])
        if kind in ("available", "away"):
            command = console.Command.AVAILABLE if kind == "available" else console.Command.AWAY
            await self._availability(agent, reference, event_id, command)
            return
        verb, chat = _CARD_VERBS.get(kind), payload.get("chat")
        if kind == "resolve" and isinstance(chat, str) and chat:
            card = _resolution_card(chat, await self._guest(chat))
            await self._tell(agent, reference, event_id, Reply(card=card))
            return
        if verb is None or not isinstance(chat, str) or not chat:
            await self._tell(agent, reference, event_id, Reply(text="That button is out of date."))
            return
        request = payload.get("request")
        details = {**value, **payload}
        action = AgentInput(
            agent.id,
            verb,
            value={k: v for k, v in details.items() if k != SUBMIT_KEY},
            request=request if isinstance(request, int) else None,
        )
        if verb is not AgentVerb.ACCEPT:
            await self._act(chat, action, reference, event_id)
            return
        reserved = await self.book.reserve(agent.id, chat)
        if reserved is None:
            full = (
                f"You already hold {agent.max_chats} chat{'s' if agent.max_chats > 1 else ''},"
                " as many as you take at once: end one, then accept."
            )
            await self._tell(agent, reference, event_id, Reply(text=full))
            # A hunt that waits on them goes on to the next agent now, not at the timeout.
            passed = replace(action, verb=AgentVerb.DECLINE, value={**action.value, "full": True})
            await self._act(chat, passed, reference, event_id)
            return
        ran = await self._act(chat, action, reference, event_id)
        if not ran and reserved:
            # A re-delivered click whose first run decided already: keep what it decided.
            await self.book.release(agent.id, chat)

    async def _act(
        self,
        chat: str,
        action: AgentInput,
        reference: Mapping[str, Any],
        event_id: str | None,
    ) -> bool:
        # The agent's event id, claimed in the guest's chat: a re-delivery changes nothing.
        return await self.runtime.run_unprompted(
            chat,
            AgentAction(action, reference),
            event_id=f"agent:{event_id or uuid.uuid4().hex}",
        )

    async def _availability(
        self,
        agent: Agent,
        reference: Mapping[str, Any],
        event_id: str | None,
        command: console.Command,
    ) -> None:
        available = command is console.Command.AVAILABLE
        record = await self.book.set_available(agent.id, available)
        if available:
            text = "You're available: new chats will be offered to you here."
        else:
            held = len(record.chats)
            text = "You're away: no new chats will be offered to you." + (
                f" The {held} chat{'s' if held > 1 else ''} you hold stay yours." if held else ""
            )
        await self._tell(
            agent, reference, event_id, Reply(card=_status_card(agent, available, text))
        )

    async def _chats(
        self, agent: Agent, reference: Mapping[str, Any], event_id: str | None
    ) -> None:
        record = await self.book.record(agent.id)
        if not record.chats:
            await self._tell(agent, reference, event_id, Reply(text="You hold no chats now."))
            return
        lines = []
        for number, chat in enumerate(record.chats, 1):
            mark = (
                " (answering)"
                if chat == console.focus(record.chats, record.focus).conversation_id
                else ""
            )
            lines.append(f"{number}. {await self._guest(chat)}{mark}")
        text = "Your chats:\n\n" + "\n".join(lines) + "\n\nType 'switch N' to answer another one."
        await self._tell(agent, reference, event_id, Reply(text=text))

    async def _focus(
        self, agent: Agent, reference: Mapping[str, Any], event_id: str | None
    ) -> str | None:
        record = await self.book.record(agent.id)
        focus = console.focus(record.chats, record.focus)
        if focus.conversation_id is None:
            await self._tell(agent, reference, event_id, Reply(text=focus.problem))
        return focus.conversation_id

    async def _guest(self, chat: str) -> str:
        """Who a chat is with, as the agent knows it: 'Megan Bowen (Human Resources)'."""
        history = await self.runtime.store.history(chat)
        live = [s for s in history.sessions if s.is_active] or list(history.sessions[-1:])
        if not live:
            return "a chat that ended"
        metadata = live[-1].metadata
        name = metadata.get("Guest.Name") or "a guest"
        return f"{name} ({metadata.get('Session.TenantName', live[-1].tenant_id)})"

    def _teams(self, agent: Agent) -> str:
        config = self.runtime.config
        names = sorted(
            config.tenants[t].name
            for t in self.book.directory.tenants_of(agent.id)
            if t in config.tenants
        )
        return ", ".join(names) or "no team yet"

    async def _tell(
        self,
        agent: Agent,
        reference: Mapping[str, Any],
        event_id: str | None,
        reply: Reply,
    ) -> None:
        conversation = str((reference.get("conversation") or {}).get("id") or "")
        await self.runtime.tell(conversation, reference, [reply], event_id=event_id)


def _given(agent: Agent) -> str:
    return agent.name.split()[0]


def _status_card(agent: Agent, available: bool, text: str) -> dict[str, Any]:
    """What the agent is told about their availability, with the button to change it."""
    other = "away" if available else "available"
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        "actions": [
            {
                "type": "Action.Submit",
                "title": "Go away" if available else "I'm available",
                "data": {SUBMIT_KEY: {"agent": other}},
            }
        ],
    }


def _resolution_card(chat: str, guest: str) -> dict[str, Any]:
    """The agent's `end`: was it resolved, and notes for the record."""
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [
            {
                "type": "TextBlock",
                "text": f"End the chat with {guest}",
                "weight": "Bolder",
                "wrap": True,
            },
            {
                "type": "Input.ChoiceSet",
                "id": "resolved",
                "label": "Resolved?",
                "value": "yes",
                "style": "expanded",
                "choices": [
                    {"title": "Yes, resolved", "value": "yes"},
                    {"title": "No, not resolved", "value": "no"},
                ],
            },
            {
                "type": "Input.Text",
                "id": "notes",
                "label": "Notes (for colleagues; the guest doesn't see them)",
                "isMultiline": True,
            },
        ],
        "actions": [
            {
                "type": "Action.Submit",
                "title": "End chat",
                "data": {SUBMIT_KEY: {"agent": "end", "chat": chat}},
            }
        ],
    }
