"""Delivering an outbox below HTTP: labelled messages are updated in place later, in order."""

from __future__ import annotations

from pathlib import Path

from dialogs.delivery import Delivery
from storage.base import Outgoing, TurnWrites
from storage.sqlite import SqliteStore
from tests.storage.chats import CHAT, open_chat
from tests.support.desk import EpochClock, RecordingSender

AGENT_CHAT = {"id": "a:1agent-alex"}


def card(text: str) -> dict[str, object]:
    return {"type": "message", "conversation": AGENT_CHAT, "serviceUrl": "https://x/", "text": text}


async def test_a_labelled_message_is_later_updated_in_place(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    sender, clock = RecordingSender(), EpochClock()
    delivery = Delivery(sender, clock=clock, sleep=clock.sleep)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:offer") as turn:
            assert turn is not None and turn.session is not None
            offer = Outgoing(card("A guest is waiting. Accept?"), label="offer:alex")
            await turn.commit(TurnWrites([turn.session], outbox=[offer]))
            await delivery.deliver(turn)
        async with store.chat_turn(CHAT, "1:taken") as turn:
            assert turn is not None and turn.session is not None
            taken = Outgoing(card("Taken by Adele"), replaces="offer:alex")
            unrelated = Outgoing(card("You're now available"))
            await turn.commit(TurnWrites([turn.session], outbox=[taken, unrelated]))
            await delivery.deliver(turn)
        assert [e.activity["text"] for e in sender.sent] == [
            "A guest is waiting. Accept?",
            "You're now available",
        ]
        [(replaced, update)] = sender.updates
        assert replaced == "sent-1" and update.activity["text"] == "Taken by Adele"
    finally:
        await store.close()


async def test_an_update_of_a_message_never_sent_goes_out_as_a_new_one(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    sender, clock = RecordingSender(), EpochClock()
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:taken") as turn:
            assert turn is not None and turn.session is not None
            taken = Outgoing(card("Taken by Adele"), replaces="offer:nobody")
            await turn.commit(TurnWrites([turn.session], outbox=[taken]))
            await Delivery(sender, clock=clock, sleep=clock.sleep).deliver(turn)
        assert [e.activity["text"] for e in sender.sent] == ["Taken by Adele"]
        assert sender.updates == []
    finally:
        await store.close()
