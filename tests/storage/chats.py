"""Turns written straight through a store, for the contract and backend tests."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.session import Direction, Position, Session, TranscriptEntry
from storage.base import Store, TurnWrites

CHAT = "a:1chat-contract"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REFERENCE = {
    "bot": {"id": "28:bot"},
    "conversation": {"id": CHAT},
    "channelId": "msteams",
    "serviceUrl": "https://smba.trafficmanager.net/emea/",
}


def said(text: str, at: datetime = NOW) -> TranscriptEntry:
    return TranscriptEntry(Direction.IN, at, text=text)


def new_session(tenant: str = "helpdesk", conversation_id: str = CHAT) -> Session:
    return Session.open(
        conversation_id=conversation_id,
        tenant_id=tenant,
        tenant_name=tenant.title(),
        metadata={"Guest.Name": "Megan Bowen"},
        now=NOW,
    )


async def open_chat(store: Store, event_id: str = "1:install", chat: str = CHAT) -> Session:
    """A first turn: open a session, enter a stage, wait there; bind the chat to it."""
    async with store.chat_turn(chat, event_id) as turn:
        assert turn is not None and turn.session is None and not turn.known
        session = new_session(conversation_id=chat)
        session.enter("greet", "message", "welcome", NOW)
        session.enter("ask", "question", "welcome", NOW)
        session.position = Position("welcome", "ask", "question", NOW)
        await turn.commit(TurnWrites([session], bound_session_id=session.id, reference=REFERENCE))
    return session


async def answer(store: Store, event_id: str, text: str, chat: str = CHAT) -> Session:
    """A plain turn: the guest answers at the waiting stage."""
    async with store.chat_turn(chat, event_id) as turn:
        assert turn is not None and turn.session is not None
        session = turn.session
        session.record(said(text))
        session.metadata["Guest.Question"] = text
        await turn.commit(TurnWrites([session]))
    return session
