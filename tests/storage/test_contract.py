"""The store contract (`storage/base.py`), on every backend of `conftest.BACKENDS`.

A store keeps chats; everything a chat changes happens in a turn that holds the chat's lease
and commits atomically with the claim of the event that started it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from dialogs.delivery import Delivery, RetryLater, SendResult, Sent, requeue
from errors import ConflictError
from pipeline.session import (
    Direction,
    Position,
    Session,
    SessionState,
)
from pipeline.transfer import TransferRecord
from storage.base import (
    AuditEntry,
    DeadLetter,
    Outgoing,
    SessionSearch,
    Store,
    Timer,
    TurnWrites,
)
from tests.storage.chats import CHAT, NOW, REFERENCE, answer, new_session, open_chat, said
from tests.storage.conftest import Clock, OpenStore
from tests.storage.visits import visit


async def test_a_first_turn_opens_the_chat_and_the_next_turn_finds_it(store: Store) -> None:
    opened = await open_chat(store)
    assert opened.version == 1 and not opened.pending_flow
    async with store.chat_turn(CHAT, "1:next") as turn:
        assert turn is not None and turn.known
        assert turn.reference == REFERENCE
        session = turn.session
        assert session is not None and session.id == opened.id
        assert session.position == Position("welcome", "ask", "question", NOW)
        assert session.metadata["Guest.Name"] == "Megan Bowen"
        assert session.version == 1


async def test_a_turn_writes_metadata_position_flow_and_transcript(store: Store) -> None:
    opened = await open_chat(store)
    later = NOW + timedelta(minutes=1)
    async with store.chat_turn(CHAT, "1:answer") as turn:
        assert turn is not None and turn.session is not None
        session = turn.session
        session.record(said("VPN is down", later))
        session.metadata["Guest.Question"] = "VPN is down"
        session.enter("route", "options", "welcome", later)
        session.position = Position("welcome", "route", "options", later, {"tries": 1})
        await turn.commit(TurnWrites([session]))
    assert session.version == 2 and not session.pending_transcript

    history = await store.history(CHAT)
    [stored] = history.sessions
    assert stored.id == opened.id and stored.version == 2
    assert stored.metadata["Guest.Question"] == "VPN is down"
    assert stored.position == Position("welcome", "route", "options", later, {"tries": 1})
    assert stored.last_guest_at == later
    assert [s.stage_key for s in history.flows[stored.id]] == ["greet", "ask", "route"]
    assert [(e.direction, e.text) for e in history.transcripts[stored.id]] == [
        (Direction.IN, "VPN is down")
    ]
    assert history.reference == REFERENCE


async def test_a_committed_event_runs_once_across_instances_and_per_chat(
    open_store: OpenStore,
) -> None:
    one, other = await open_store(), await open_store()
    await open_chat(one)
    await answer(one, "1:same", "first")
    for store in (one, other):
        async with store.chat_turn(CHAT, "1:same") as turn:
            assert turn is None
    # Event ids are a chat's own: another chat may carry the same id.
    await open_chat(other, "1:same", chat="a:1other-chat")
    [session] = (await one.history(CHAT)).sessions
    assert session.metadata["Guest.Question"] == "first"


async def test_a_turn_that_does_not_commit_claims_and_writes_nothing(store: Store) -> None:
    await open_chat(store)
    async with store.chat_turn(CHAT, "1:left") as turn:
        assert turn is not None and turn.session is not None
        turn.session.metadata["Guest.Question"] = "never stored"
    with pytest.raises(RuntimeError):
        async with store.chat_turn(CHAT, "1:failed") as turn:
            assert turn is not None
            raise RuntimeError("the turn failed")
    # Both events run again (Teams' re-delivery), without waiting for a lease.
    async with asyncio.timeout(5):
        await answer(store, "1:left", "stored")
        await answer(store, "1:failed", "stored again")
    [session] = (await store.history(CHAT)).sessions
    assert session.metadata["Guest.Question"] == "stored again"
    assert session.version == 3


async def test_turns_of_one_chat_run_one_at_a_time_across_instances(
    open_store: OpenStore,
) -> None:
    stores = [await open_store(), await open_store()]
    await open_chat(stores[0])
    order: list[str] = []

    async def count(number: int) -> None:
        async with stores[number % 2].chat_turn(CHAT, f"1:turn-{number}") as turn:
            assert turn is not None and turn.session is not None
            session = turn.session
            order.append(f"start {number}")
            await asyncio.sleep(0)  # let the others try to start meanwhile
            session.metadata["Count"] = session.metadata.get("Count", 0) + 1
            order.append(f"end {number}")
            await turn.commit(TurnWrites([session]))

    async with asyncio.timeout(30):
        await asyncio.gather(*(count(n) for n in range(6)))
    [session] = (await stores[1].history(CHAT)).sessions
    assert session.metadata["Count"] == 6
    # No turn started while another was running: each start is followed by its own end.
    assert len(order) == 12
    assert all(order[i].replace("start", "end") == order[i + 1] for i in range(0, 12, 2))


async def test_a_turn_that_outlives_its_lease_writes_nothing(
    open_store: OpenStore, clock: Clock
) -> None:
    one, other = await open_store(), await open_store()
    await open_chat(one)
    async with one.chat_turn(CHAT, "1:slow") as slow:
        assert slow is not None and slow.session is not None
        slow.session.metadata["Guest.Question"] = "from the slow turn"
        clock.advance(31)
        taken = await answer(other, "1:quick", "from the turn that took over")
        with pytest.raises(ConflictError):
            await slow.commit(TurnWrites([slow.session]))
    [session] = (await other.history(CHAT)).sessions
    assert session.metadata["Guest.Question"] == "from the turn that took over"
    assert session.version == taken.version == 2
    # The slow turn's event was not claimed: its re-delivery runs.
    await answer(one, "1:slow", "re-delivered")


async def test_a_transfer_is_part_of_the_turns_commit(store: Store) -> None:
    sending = await open_chat(store)
    async with store.chat_turn(CHAT, "1:click") as turn:
        assert turn is not None and turn.session is not None
        session = turn.session
        session.record(said("HR"))
        session.metadata["Session.TransferredTo.TenantId"] = "hr"
        session.end(SessionState.TRANSFERRED, NOW)
        receiving = new_session("hr")
        receiving.enter("hello", "message", "intake", NOW)
        receiving.position = Position("intake", "detail", "question", NOW)
        record = TransferRecord(CHAT, sending.id, receiving.id, "helpdesk", "hr", NOW, "1:click")
        await turn.commit(
            TurnWrites([session, receiving], bound_session_id=receiving.id, transfers=[record])
        )
    async with store.chat_turn(CHAT, "1:after") as turn:
        assert turn is not None and turn.session is not None
        assert turn.session.id == receiving.id and turn.reference == REFERENCE
    history = await store.history(CHAT)
    assert [(s.tenant_id, s.state) for s in history.sessions] == [
        ("helpdesk", SessionState.TRANSFERRED),
        ("hr", SessionState.ACTIVE),
    ]
    assert history.sessions[0].position is None
    assert history.transfers == [record]
    assert [s.stage_key for s in history.flows[receiving.id]] == ["hello"]


async def test_a_session_is_transferred_once_and_a_refused_commit_writes_nothing(
    store: Store,
) -> None:
    sending = await open_chat(store)
    record = TransferRecord(CHAT, sending.id, "x", "helpdesk", "hr", NOW, None)
    async with store.chat_turn(CHAT, "1:first") as turn:
        assert turn is not None and turn.session is not None
        first = new_session("hr")
        await turn.commit(
            TurnWrites(
                [turn.session, first],
                bound_session_id=first.id,
                transfers=[TransferRecord(CHAT, sending.id, first.id, "helpdesk", "hr", NOW, None)],
            )
        )
    async with store.chat_turn(CHAT, "1:second") as turn:
        assert turn is not None and turn.session is not None
        second = new_session("legal")
        with pytest.raises(ConflictError):
            await turn.commit(
                TurnWrites([turn.session, second], bound_session_id=second.id, transfers=[record])
            )
    history = await store.history(CHAT)
    assert [s.tenant_id for s in history.sessions] == ["helpdesk", "hr"]
    assert len(history.transfers) == 1
    # Nothing of the refused turn was written, its event included.
    await answer(store, "1:second", "runs again")


async def test_live_sessions_are_the_active_ones_of_every_chat(store: Store) -> None:
    await open_chat(store, chat="a:1live")
    ended = await open_chat(store, chat="a:1ended")
    async with store.chat_turn("a:1ended", "1:bye") as turn:
        assert turn is not None and turn.session is not None
        turn.session.end(SessionState.ENDED, NOW)
        await turn.commit(TurnWrites([turn.session]))
    live = [session async for session in store.live_sessions()]
    assert [s.conversation_id for s in live] == ["a:1live"]
    assert live[0].position == Position("welcome", "ask", "question", NOW)
    async with store.chat_turn("a:1ended", "1:again") as turn:
        assert turn is not None and turn.known and turn.session is None
    assert (await store.history("a:1ended")).sessions[0].id == ended.id


async def test_a_chat_never_seen_has_no_history(store: Store) -> None:
    history = await store.history("a:1nobody")
    assert (history.sessions, history.transfers, history.reference) == ([], [], None)


async def test_a_changed_reference_is_kept(store: Store) -> None:
    await open_chat(store)
    moved = {**REFERENCE, "serviceUrl": "https://smba.trafficmanager.net/amer/"}
    async with store.chat_turn(CHAT, "1:moved") as turn:
        assert turn is not None and turn.session is not None
        await turn.commit(TurnWrites([turn.session], reference=moved))
    assert (await store.history(CHAT)).reference == moved


# searching sessions across chats (admin commands)


async def _some_visits(store: Store) -> dict[str, list[Session]]:
    """Four chats over three days: Megan's transferred to HR, Élodie's ended, Alex's and a guest
    without an email still at the Help Desk."""
    day = timedelta(days=1)
    return {
        "megan": await visit(
            store,
            "a:1megan",
            guest="Megan Bowen",
            email="MeganB@contoso.example",
            started=NOW,
            transfer_to="hr",
        ),
        "elodie": await visit(
            store,
            "a:1elodie",
            guest="Élodie Brûlé",
            email="elodie@contoso.example",
            started=NOW + day,
            end=True,
        ),
        "alex": await visit(
            store,
            "a:1alex",
            guest="Alex Wilber",
            email="alexw@contoso.example",
            started=NOW + 2 * day,
        ),
        "nobody": await visit(
            store,
            "a:1nobody",
            guest="Guest",
            email=None,
            started=NOW - day,
        ),
    }


def _ids(sessions: list[Session]) -> list[str]:
    return [session.id for session in sessions]


async def test_search_lists_sessions_of_every_chat_newest_first(store: Store) -> None:
    visits = await _some_visits(store)
    megan_hd, megan_hr = visits["megan"]
    found = await store.search_sessions(SessionSearch())
    assert _ids(found) == _ids(
        [*visits["alex"], *visits["elodie"], megan_hr, megan_hd, *visits["nobody"]]
    )
    assert found[2].metadata["Session.TransferredFrom.TenantId"] == "helpdesk"
    assert found[2].position == Position("intake", "detail", "question", NOW + timedelta(minutes=1))
    newest_two = await store.search_sessions(SessionSearch(limit=2))
    assert _ids(newest_two) == _ids([*visits["alex"], *visits["elodie"]])


async def test_search_finds_a_guest_by_part_of_the_name_or_email_in_any_case(
    store: Store,
) -> None:
    visits = await _some_visits(store)
    by_email = await store.search_sessions(SessionSearch(guest="meganb@CONTOSO"))
    assert _ids(by_email) == _ids(list(reversed(visits["megan"])))
    by_name = await store.search_sessions(SessionSearch(guest="wilber"))
    assert _ids(by_name) == _ids(visits["alex"])
    accents = await store.search_sessions(SessionSearch(guest="ÉLODIE BRÛLÉ"))
    assert _ids(accents) == _ids(visits["elodie"])
    assert await store.search_sessions(SessionSearch(guest="contoso.example.org")) == []


async def test_search_by_tenant_state_time_window_and_session_id(store: Store) -> None:
    visits = await _some_visits(store)
    megan_hd, megan_hr = visits["megan"]
    day = timedelta(days=1)
    assert _ids(await store.search_sessions(SessionSearch(tenant_id="hr"))) == [megan_hr.id]
    active = await store.search_sessions(SessionSearch(state=SessionState.ACTIVE))
    assert _ids(active) == _ids([*visits["alex"], megan_hr, *visits["nobody"]])
    transferred = SessionSearch(tenant_id="helpdesk", state=SessionState.TRANSFERRED)
    assert _ids(await store.search_sessions(transferred)) == [megan_hd.id]
    # From inclusive, before exclusive: the first day's sessions, to the second.
    window = SessionSearch(started_from=NOW, started_before=NOW + day)
    assert _ids(await store.search_sessions(window)) == [megan_hr.id, megan_hd.id]
    since = SessionSearch(started_from=NOW + day)
    assert _ids(await store.search_sessions(since)) == _ids([*visits["alex"], *visits["elodie"]])
    by_id = await store.search_sessions(SessionSearch(session=megan_hr.id[:10]))
    assert _ids(by_id) == [megan_hr.id]
    assert (await store.search_sessions(SessionSearch(session=megan_hr.id)))[0].tenant_id == "hr"


async def test_timers_are_set_moved_and_dropped_with_the_turns_commit(store: Store) -> None:
    await open_chat(store)
    async with store.chat_turn(CHAT, "1:set") as turn:
        assert turn is not None and turn.session is not None and turn.timers == []
        await turn.commit(
            TurnWrites(
                [turn.session],
                timers=[
                    Timer("offer", 1_800_000_060.0, {"name": "offer", "n": 1}),
                    Timer("give-up", 1_800_000_600.0),
                ],
            )
        )
    assert await store.due_timers(1_800_000_059.0, 10) == []
    assert await store.due_timers(1_800_000_060.0, 10) == [
        (CHAT, Timer("offer", 1_800_000_060.0, {"name": "offer", "n": 1}))
    ]
    async with store.chat_turn(CHAT, "1:move") as turn:
        assert turn is not None and turn.session is not None
        assert [t.key for t in turn.timers] == ["offer", "give-up"]
        # Moving a timer is setting its key again; dropping one goes with the same commit.
        await turn.commit(
            TurnWrites(
                [turn.session],
                timers=[Timer("offer", 1_800_000_120.0, {"name": "offer", "n": 2})],
                cancel_timers=["give-up", "offer"],
            )
        )
    assert await store.due_timers(1_800_001_000.0, 10) == [
        (CHAT, Timer("offer", 1_800_000_120.0, {"name": "offer", "n": 2}))
    ]


async def test_due_timers_come_earliest_first_across_chats_and_instances(
    open_store: OpenStore,
) -> None:
    one, other = await open_store(), await open_store()
    for chat, due in (("a:1late", 1_800_000_300.0), ("a:1early", 1_800_000_100.0)):
        await open_chat(one, chat=chat)
        async with one.chat_turn(chat, "1:timer") as turn:
            assert turn is not None and turn.session is not None
            await turn.commit(TurnWrites([turn.session], timers=[Timer("remind", due)]))
    due = await other.due_timers(1_800_001_000.0, 10)
    assert [(chat, timer.due_at) for chat, timer in due] == [
        ("a:1early", 1_800_000_100.0),
        ("a:1late", 1_800_000_300.0),
    ]
    assert [chat for chat, _ in await other.due_timers(1_800_001_000.0, 1)] == ["a:1early"]
    # A turn that does not commit leaves the timers as they were.
    with pytest.raises(RuntimeError):
        async with other.chat_turn("a:1early", None) as turn:
            assert turn is not None
            raise RuntimeError("the turn failed")
    assert len(await one.due_timers(1_800_001_000.0, 10)) == 2


async def test_the_ids_of_labelled_messages_are_kept_with_the_chat(open_store: OpenStore) -> None:
    one, other = await open_store(), await open_store()
    await open_chat(one)
    message = {"type": "message", "text": "offer", "conversation": {"id": "a:1agent"}}
    async with one.chat_turn(CHAT, "1:offer") as turn:
        assert turn is not None and turn.session is not None and turn.sent == {}
        await turn.commit(
            TurnWrites([turn.session], outbox=[Outgoing(message, label="offer:alex")])
        )
        [entry] = turn.outbox
        assert (entry.label, entry.conversation_id) == ("offer:alex", "a:1agent")
        await turn.settle(delivered=[entry.seq], sent={"offer:alex": "teams-id-7"}, release=True)
    async with other.chat_turn(CHAT, "1:later") as turn:
        assert turn is not None and turn.outbox == []
        assert turn.sent == {"offer:alex": "teams-id-7"}


async def test_an_agents_record_is_version_guarded_across_instances(open_store: OpenStore) -> None:
    one, other = await open_store(), await open_store()
    alex = await one.agent("alex")
    assert (alex.version, alex.available, alex.chats) == (0, False, ())
    alex.available, alex.conversation_id = True, "a:1alex"
    alex.reference = {"conversation": {"id": "a:1alex"}, "serviceUrl": "https://x/"}
    await one.save_agent(alex)
    assert alex.version == 1

    mine, theirs = await one.agent("alex"), await other.agent("alex")
    mine.chats = ("a:1guest-1",)
    await one.save_agent(mine)
    theirs.chats = ("a:1guest-2",)
    with pytest.raises(ConflictError):
        await other.save_agent(theirs)  # read before the other write: it must read again
    again = await other.agent("alex")
    assert (again.chats, again.available, again.version) == (("a:1guest-1",), True, 2)
    assert again.reference == alex.reference
    # Two first writes of one agent: one wins.
    first, second = await one.agent("adele"), await other.agent("adele")
    await one.save_agent(first)
    with pytest.raises(ConflictError):
        await other.save_agent(second)


def _webhook_entry(event_id: str) -> Outgoing:
    return Outgoing(
        {
            "type": "crossdesk/webhook",
            "url": "https://hooks.example/crossdesk",
            "secret": "HOOK_SECRET",
            "conversation": {"id": CHAT},
            "event": {"id": event_id, "type": "session.started"},
        }
    )


async def test_dead_letters_are_kept_once_listed_oldest_first_and_requeued(
    open_store: OpenStore,
) -> None:
    one, other = await open_store(), await open_store()
    await open_chat(one)
    await open_chat(one, "1:install-b", chat="a:1chat-b")
    later = DeadLetter("evt_b.1", "a:1chat-b", _webhook_entry("evt_b"), "HTTP 400", 200.0)
    first = DeadLetter(
        "evt_a.1", CHAT, replace(_webhook_entry("evt_a"), attempts=10), "HTTP 503", 100.0
    )
    await one.keep_dead_letter(later)
    await one.keep_dead_letter(first)
    await other.keep_dead_letter(first)  # kept again (a retried give-up): still once

    letters = await other.dead_letters()

    assert [(d.id, d.conversation_id, d.reason, d.at) for d in letters] == [
        ("evt_a.1", CHAT, "HTTP 503", 100.0),
        ("evt_b.1", "a:1chat-b", "HTTP 400", 200.0),
    ]
    assert letters[0].entry.activity == first.entry.activity
    assert letters[0].entry.attempts == 10

    await requeue(other, letters[0])

    assert [d.id for d in await one.dead_letters()] == ["evt_b.1"]
    async with one.chat_turn(CHAT, None) as turn:
        assert turn is not None
        [entry] = turn.outbox
        assert entry.activity == first.entry.activity
        assert entry.attempts == 0
    await one.drop_dead_letter(letters[0])  # dropping one that is gone changes nothing
    assert [d.id for d in await other.dead_letters()] == ["evt_b.1"]


class _Recorder:
    """A sender that records what it is given and answers as told."""

    def __init__(self, answer: SendResult) -> None:
        self.answer = answer
        self.sent: list[Outgoing] = []

    async def send(self, entry: Outgoing, replacing: str | None = None) -> SendResult:
        self.sent.append(entry)
        return self.answer


async def test_a_failing_webhook_never_holds_up_the_guests_messages(
    open_store: OpenStore, clock: Clock
) -> None:
    store = await open_store()
    await open_chat(store)
    chat_sender, hooks = _Recorder(Sent("id-1")), _Recorder(RetryLater("HTTP 503"))
    delivery = Delivery(chat_sender, clock=clock, webhooks=hooks)
    reply = {"type": "message", "text": "hi", "conversation": {"id": CHAT}}
    async with store.chat_turn(CHAT, "1:hook") as turn:
        assert turn is not None and turn.session is not None
        entries = [_webhook_entry("evt_1"), Outgoing(reply), _webhook_entry("evt_2")]
        await turn.commit(TurnWrites([turn.session], outbox=entries))
        await delivery.deliver(turn)

    assert [e.activity.get("text") for e in chat_sender.sent] == ["hi"]
    assert [e.activity["event"]["id"] for e in hooks.sent] == ["evt_1"]
    assert await store.due_chats(clock(), 10) == []
    clock.advance(3600)
    assert await store.due_chats(clock(), 10) == [CHAT]
    hooks.answer = Sent()
    async with store.chat_turn(CHAT, None) as turn:
        assert turn is not None
        assert [e.activity["event"]["id"] for e in turn.outbox] == ["evt_1", "evt_2"]
        await delivery.deliver(turn)
    assert [e.activity["event"]["id"] for e in hooks.sent] == ["evt_1", "evt_1", "evt_2"]
    assert await store.due_chats(clock() + 10**6, 10) == []


async def test_the_audit_log_keeps_every_entry_newest_first_across_instances(
    open_store: OpenStore,
) -> None:
    first, second = await open_store(), await open_store()
    entries = [
        AuditEntry(
            id=f"audit-{n}",
            at=NOW + timedelta(days=n // 2, minutes=n),
            who=f"reader{n}@contoso.example",
            who_id=f"oid-{n}",
            action="view" if n % 2 else "export",
            conversation_id=f"a:1chat-{n}",
            tenants=("hr", "legal") if n == 0 else ("hr",),
        )
        for n in range(5)
    ]
    for n, entry in enumerate(entries):
        await (first if n % 2 else second).record_audit(entry)
    newest = await second.audit_log(limit=3)
    assert [e.id for e in newest] == ["audit-4", "audit-3", "audit-2"]
    everything = await first.audit_log(limit=10)
    assert everything == list(reversed(entries))
    assert everything[-1].tenants == ("hr", "legal")
    # The audit log is no chat: the chat an entry names has no history from it.
    assert (await first.history("a:1chat-0")).sessions == []
