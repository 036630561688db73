"""Delivering an outbox below HTTP: labelled messages are updated in place later, in order;
deliveries of many chats to one conversation share its pace."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dialogs.delivery import TEAMS_LIMITS, Delivery, SendResult
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


async def test_deliveries_of_several_chats_to_one_agent_keep_to_its_pace() -> None:
    # Twenty guests' chats relay a line each to one agent at the same moment: each delivery
    # takes its slot before it waits, so together they stay under Teams' limits for that chat.
    now = 1_800_000_000.0
    waited: dict[asyncio.Task[None] | None, float] = {}
    sends: list[float] = []

    async def sleep(seconds: float) -> None:
        waited[asyncio.current_task()] = waited.get(asyncio.current_task(), 0.0) + seconds  # type: ignore[arg-type]
        await asyncio.sleep(0)

    class Timed(RecordingSender):
        async def send(self, entry: Outgoing, replacing: str | None = None) -> SendResult:
            sends.append(now + waited.get(asyncio.current_task(), 0.0))  # type: ignore[arg-type]
            return await super().send(entry, replacing)

    delivery = Delivery(Timed(), clock=lambda: now, sleep=sleep)
    chats = [HeldChat(f"a:1guest-{n}", [Outgoing(card(f"line {n}"), seq=1)]) for n in range(20)]

    await asyncio.gather(*(delivery.deliver(chat) for chat in chats))

    assert len(sends) >= 8
    for seconds, most in TEAMS_LIMITS:
        for start in sends:
            assert len([t for t in sends if start <= t < start + seconds]) <= most
    postponed = [chat for chat in chats if chat.postponed]
    assert len(postponed) == 20 - len(sends)
    assert all(chat.postponed[0].due_at > max(sends) for chat in postponed)


@dataclass
class HeldChat:
    """A chat whose outbox a delivery sends, as the store's turn holds it."""

    conversation_id: str
    outbox: list[Outgoing]
    sent: dict[str, str] = field(default_factory=dict)
    holding: bool = True
    postponed: list[Outgoing] = field(default_factory=list)

    async def settle(
        self,
        *,
        delivered: Sequence[int] = (),
        postponed: Sequence[Outgoing] = (),
        sent: Mapping[str, str] | None = None,
        release: bool,
    ) -> None:
        self.postponed.extend(postponed)
        self.holding = not release
