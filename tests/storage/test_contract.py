"""The `SessionStore` contract, run against every backend (SQLite and Cosmos DB).

Each test gets a fresh store (`store`), or opens several instances over the same data
(`open_store`), as separate Crossdesk processes would.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import pytest

from errors import ConflictError, StorageError
from pipeline.config import EXAMPLE_CONFIG, Directory, load_directory
from pipeline.session import Direction, Session, SessionState, TranscriptEntry
from pipeline.transfer import TransferPlan, plan_transfer
from storage import cosmos_documents, sqlite
from storage.base import SessionStore, session_state_key
from tests.storage.conftest import OpenStore

CHAT = "a:1WqgcXnL8dQ5rBf-chat"
LINKS = ("SessionId", "TenantId", "TenantName")


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(EXAMPLE_CONFIG)


def new_session(chat: str = CHAT, metadata: dict[str, Any] | None = None) -> Session:
    return Session.open(
        conversation_id=chat,
        tenant_id="helpdesk",
        tenant_name="Help Desk",
        metadata={"Guest.Name": "Megan Bowen", **(metadata or {})},
    )


async def started(
    store: SessionStore, chat: str = CHAT, metadata: dict[str, Any] | None = None
) -> Session:
    session = new_session(chat, metadata)
    await store.start_session(session, {"conversation": {"id": chat}})
    return session


def planned(directory: Directory, session: Session, target: str = "hr") -> TransferPlan:
    plan = plan_transfer(directory, session, target, activity_id="1:click")
    assert isinstance(plan, TransferPlan)
    return plan


def said(text: str) -> TranscriptEntry:
    return TranscriptEntry(Direction.IN, datetime.now(UTC), text=text, activity_id=f"1:{text}")


# claims


async def test_an_activity_is_claimed_once_per_chat(store: SessionStore) -> None:
    assert await store.claim_activity(CHAT, "1:abc") is True
    assert await store.claim_activity(CHAT, "1:abc") is False
    assert await store.claim_activity("a:1other", "1:abc") is True
    await store.release_activity(CHAT, "1:abc")
    assert await store.claim_activity(CHAT, "1:abc") is True
    # Teams' ids may hold anything, including what Cosmos DB ids may not.
    odd = "1:a/b\\c?d#" + "x" * 300
    assert await store.claim_activity(CHAT, odd) is True
    assert await store.claim_activity(CHAT, odd) is False


async def test_a_claim_holds_across_instances(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    assert await first.claim_activity(CHAT, "1:abc") is True
    assert await second.claim_activity(CHAT, "1:abc") is False


# sessions and bindings


async def test_start_binds_the_chat_and_a_new_start_rebinds_it(store: SessionStore) -> None:
    assert await store.bound_session(CHAT) is None
    first = await started(store)
    assert first.version == 1
    bound = await store.bound_session(CHAT)
    assert bound is not None
    assert (bound.id, bound.tenant_id, bound.state, bound.version) == (
        first.id,
        "helpdesk",
        SessionState.ACTIVE,
        1,
    )
    assert bound.metadata == first.metadata
    assert bound.started_at == first.started_at

    first.end(SessionState.ENDED)
    await store.save_session(first)
    second = await started(store)
    bound = await store.bound_session(CHAT)
    assert bound is not None and bound.id == second.id
    assert [s.id for s in await store.sessions_of(CHAT)] == [first.id, second.id]
    assert await store.sessions_of("a:1nobody") == []


async def test_save_writes_metadata_state_flow_and_transcript(store: SessionStore) -> None:
    session = await started(store)
    session.metadata["Guest.Question"] = "Payslip?"
    session.enter("ask", "question", "welcome")
    session.record(said("Payslip?"))
    await store.save_session(session)
    assert session.version == 2
    assert session.pending_flow == [] and session.pending_transcript == []

    session.enter("route", "options", "welcome")
    session.record(said("HR"))
    session.end(SessionState.ENDED)
    await store.save_session(session)

    stored = await store.get_session(CHAT, session.id)
    assert stored is not None
    assert stored.version == 3 == session.version
    assert stored.metadata == session.metadata
    assert stored.state is SessionState.ENDED and stored.ended_at == session.ended_at
    assert [s.stage_key for s in await store.flow(CHAT, session.id)] == ["ask", "route"]
    transcript = await store.transcript(CHAT, session.id)
    assert [(e.direction, e.text, e.activity_id) for e in transcript] == [
        (Direction.IN, "Payslip?", "1:Payslip?"),
        (Direction.IN, "HR", "1:HR"),
    ]


async def test_get_session_needs_the_right_chat(store: SessionStore) -> None:
    session = await started(store)
    assert await store.get_session("a:1other", session.id) is None
    assert await store.get_session(CHAT, "no-such-session") is None
    assert await store.flow(CHAT, "no-such-session") == []
    assert await store.transcript(CHAT, "no-such-session") == []


async def test_a_stale_save_re_applies_its_changes_over_the_other_writers(
    open_store: OpenStore,
) -> None:
    first, second = await open_store(), await open_store()
    await started(first, metadata={"Guest.Question": "Payslip?", "Guest.Locale": "en-US"})
    mine = await first.bound_session(CHAT)
    theirs = await second.bound_session(CHAT)
    assert mine is not None and theirs is not None

    theirs.metadata["HR.Detail"] = "leave"
    theirs.metadata["Guest.Question"] = "Payslip, urgently"
    theirs.record(said("urgently"))
    await second.save_session(theirs)

    mine.metadata["IT.Device"] = "laptop"
    del mine.metadata["Guest.Locale"]
    mine.record(said("laptop"))
    await first.save_session(mine)  # stale: re-read and re-applied, not refused or blind

    stored = await second.get_session(CHAT, mine.id)
    assert stored is not None
    assert stored.metadata["HR.Detail"] == "leave"
    assert stored.metadata["Guest.Question"] == "Payslip, urgently"
    assert stored.metadata["IT.Device"] == "laptop"
    assert "Guest.Locale" not in stored.metadata
    assert stored.version == 3 == mine.version
    assert mine.metadata == stored.metadata, "the stale copy now holds the merged session"
    assert [e.text for e in await second.transcript(CHAT, mine.id)] == ["urgently", "laptop"]


async def test_two_writers_ending_one_session_conflict(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    await started(first)
    mine = await first.bound_session(CHAT)
    theirs = await second.bound_session(CHAT)
    assert mine is not None and theirs is not None
    theirs.metadata["Session.Status.Resolution"] = "resolved"
    theirs.end(SessionState.ENDED)
    await second.save_session(theirs)

    mine.metadata["IT.Device"] = "laptop"
    mine.record(said("laptop"))
    mine.end(SessionState.ENDED)
    with pytest.raises(ConflictError):
        await first.save_session(mine)
    stored = await first.get_session(CHAT, mine.id)
    assert stored is not None and "IT.Device" not in stored.metadata
    assert stored.metadata["Session.Status.Resolution"] == "resolved"
    assert await first.transcript(CHAT, mine.id) == []


async def test_saving_a_session_that_does_not_exist_conflicts(store: SessionStore) -> None:
    with pytest.raises(ConflictError):
        await store.save_session(new_session())


# transfers


async def test_a_transfer_writes_both_sessions_the_binding_and_the_record(
    store: SessionStore, directory: Directory
) -> None:
    sending = await started(store, metadata={"Guest.Question": "Payslip?"})
    sending.record(said("HR"))
    plan = planned(directory, sending)
    await store.commit_transfer(plan)

    assert plan.sending.version == 2 and plan.receiving.version == 1
    assert plan.sending.pending_transcript == []
    bound = await store.bound_session(CHAT)
    assert bound is not None and bound.id == plan.receiving.id and bound.tenant_id == "hr"
    old, new = await store.sessions_of(CHAT)
    assert (old.id, old.state, new.id, new.state) == (
        sending.id,
        SessionState.TRANSFERRED,
        plan.receiving.id,
        SessionState.ACTIVE,
    )
    assert [old.metadata[f"Session.TransferredTo.{k}"] for k in LINKS] == [
        new.id,
        "hr",
        "Human Resources",
    ]
    assert [new.metadata[f"Session.TransferredFrom.{k}"] for k in LINKS] == [
        old.id,
        "helpdesk",
        "Help Desk",
    ]
    assert new.metadata["Guest.Question"] == "Payslip?"
    assert [e.text for e in await store.transcript(CHAT, sending.id)] == ["HR"]
    [record] = await store.transfers_of(CHAT)
    assert (record.from_session_id, record.to_session_id, record.activity_id) == (
        old.id,
        new.id,
        "1:click",
    )
    assert (record.from_tenant_id, record.to_tenant_id) == ("helpdesk", "hr")


async def test_a_transferred_session_is_not_transferred_again_and_nothing_is_written(
    store: SessionStore, directory: Directory
) -> None:
    sending = await started(store)
    await store.commit_transfer(planned(directory, sending, "hr"))
    again = planned(directory, sending, "legal")
    with pytest.raises(ConflictError):
        await store.commit_transfer(again)
    assert [s.tenant_id for s in await store.sessions_of(CHAT)] == ["helpdesk", "hr"]
    assert await store.get_session(CHAT, again.receiving.id) is None
    assert len(await store.transfers_of(CHAT)) == 1
    bound = await store.bound_session(CHAT)
    assert bound is not None and bound.tenant_id == "hr"
    old = await store.get_session(CHAT, sending.id)
    assert old is not None and old.metadata["Session.TransferredTo.TenantId"] == "hr"


async def test_a_transfer_from_a_stale_copy_keeps_the_other_writers_change(
    open_store: OpenStore, directory: Directory
) -> None:
    first, second = await open_store(), await open_store()
    await started(first)
    mine = await first.bound_session(CHAT)
    theirs = await second.bound_session(CHAT)
    assert mine is not None and theirs is not None
    theirs.metadata["Guest.Email"] = "megan@example.com"
    await second.save_session(theirs)

    plan = planned(directory, mine)
    await first.commit_transfer(plan)
    old, new = await second.sessions_of(CHAT)
    assert old.state is SessionState.TRANSFERRED
    assert old.metadata["Guest.Email"] == new.metadata["Guest.Email"] == "megan@example.com"


async def test_a_chain_of_transfers_is_linked_both_ways_and_ordered(
    store: SessionStore, directory: Directory
) -> None:
    helpdesk = await started(store)
    to_hr = planned(directory, helpdesk, "hr")
    await store.commit_transfer(to_hr)
    to_legal = planned(directory, to_hr.receiving, "legal")
    await store.commit_transfer(to_legal)
    a, b, c = await store.sessions_of(CHAT)
    assert [a.tenant_id, b.tenant_id, c.tenant_id] == ["helpdesk", "hr", "legal"]
    assert b.metadata["Session.TransferredFrom.SessionId"] == a.id
    assert b.metadata["Session.TransferredTo.SessionId"] == c.id
    assert [(r.from_tenant_id, r.to_tenant_id) for r in await store.transfers_of(CHAT)] == [
        ("helpdesk", "hr"),
        ("hr", "legal"),
    ]


# state documents


async def test_state_documents_are_etag_guarded(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    key = "msteams/conversations/a:1chat/odd?#key"
    assert await first.read_state([key, "absent"]) == {}
    etag = await first.write_state(key, {"n": 1}, None)
    assert await second.read_state([key]) == {key: ({"n": 1}, etag)}
    newer = await second.write_state(key, {"n": 2}, etag)
    assert newer != etag
    with pytest.raises(ConflictError):
        await first.write_state(key, {"n": 3}, etag)
    await first.write_state(key, {"n": 4}, "*")
    assert (await second.read_state([key]))[key][0] == {"n": 4}
    await second.delete_state([key, "absent"])
    assert await first.read_state([key]) == {}
    with pytest.raises(ConflictError):
        await first.write_state(key, {"n": 5}, newer)


async def test_session_state_lives_with_its_session(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    session = await started(first)
    key = session_state_key(session, "dialog")
    assert await first.read_state([key]) == {}
    etag = await first.write_state(key, {"stack": ["greet"]}, None)
    assert await second.read_state([key]) == {key: ({"stack": ["greet"]}, etag)}

    # Saving the session (even a stale copy of it) keeps the state another instance wrote.
    stale = await second.bound_session(CHAT)
    assert stale is not None
    newer = await first.write_state(key, {"stack": ["ask"]}, etag)
    stale.metadata["Guest.Question"] = "Payslip?"
    await second.save_session(stale)
    assert (await second.read_state([key]))[key] == ({"stack": ["ask"]}, newer)

    with pytest.raises(ConflictError):
        await second.write_state(key, {"stack": ["route"]}, etag)
    await second.delete_state([key])
    assert await first.read_state([key]) == {}
    with pytest.raises(StorageError):
        await first.write_state(session_state_key(new_session(), "dialog"), {}, None)


# chat turns


async def test_a_turn_claims_its_activity_once_across_instances(open_store: OpenStore) -> None:
    first, second = await open_store(), await open_store()
    async with first.chat_turn(CHAT, "1:msg") as claimed:
        assert claimed
        # A re-delivery to another instance while the turn runs: refused at once, no waiting.
        async with asyncio.timeout(5), second.chat_turn(CHAT, "1:msg") as again:
            assert not again
        await first.start_session(new_session(), None)
    async with second.chat_turn(CHAT, "1:msg") as again:
        assert not again
    assert await second.bound_session(CHAT) is not None


async def test_a_failed_turn_releases_its_claim_and_the_chat(store: SessionStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.chat_turn(CHAT, "1:msg") as claimed:
            assert claimed
            raise RuntimeError("the pipeline failed")
    async with asyncio.timeout(5), store.chat_turn(CHAT, "1:msg") as claimed:
        assert claimed, "Teams' re-delivery of a failed turn runs"


async def test_turns_of_one_chat_run_one_at_a_time_across_instances(
    open_store: OpenStore,
) -> None:
    """Ten turns over two instances, each reading, changing and saving the session: every
    turn sees the one before it, so none loses another's update."""
    instances = [await open_store(), await open_store()]
    await started(instances[0], metadata={"Turns": []})
    inside: list[int] = []

    async def turn(number: int) -> None:
        store = instances[number % 2]
        async with store.chat_turn(CHAT, f"1:turn-{number}") as claimed:
            assert claimed
            inside.append(number)
            assert len(inside) == 1, f"turns {inside} ran at once"
            session = await store.bound_session(CHAT)
            assert session is not None
            key = session_state_key(session, "dialog")
            found = await store.read_state([key])
            counter = found[key][0]["n"] if key in found else 0
            session.metadata["Turns"] = [*session.metadata["Turns"], number]
            session.record(said(f"turn {number}"))
            await store.save_session(session)
            await store.write_state(key, {"n": counter + 1}, found[key][1] if found else None)
            inside.remove(number)

    await asyncio.gather(*(turn(number) for number in range(10)))
    session = await instances[1].bound_session(CHAT)
    assert session is not None
    assert sorted(session.metadata["Turns"]) == list(range(10))
    assert session.version == 11
    transcript = await instances[0].transcript(CHAT, session.id)
    assert sorted(e.text or "" for e in transcript) == sorted(f"turn {n}" for n in range(10))
    key = session_state_key(session, "dialog")
    assert (await instances[0].read_state([key]))[key][0] == {"n": 10}


async def test_a_turn_that_outlives_its_lease_loses_no_update(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A turn stuck past its lease: the next turn takes the chat over, and when the slow turn
    finally saves, its change is re-applied on top instead of overwriting."""
    monkeypatch.setattr(sqlite, "LEASE_SECONDS", 0.3)
    monkeypatch.setattr(cosmos_documents, "LEASE_SECONDS", 0.3)
    slow_store, fast_store = await open_store(), await open_store()
    await started(slow_store)
    async with AsyncExitStack() as slow:
        assert await slow.enter_async_context(slow_store.chat_turn(CHAT, "1:slow"))
        slow_session = await slow_store.bound_session(CHAT)
        assert slow_session is not None
        async with asyncio.timeout(10), fast_store.chat_turn(CHAT, "1:fast") as claimed:
            assert claimed
            fast_session = await fast_store.bound_session(CHAT)
            assert fast_session is not None
            fast_session.metadata["Fast"] = "yes"
            await fast_store.save_session(fast_session)
        slow_session.metadata["Slow"] = "yes"
        await slow_store.save_session(slow_session)
    stored = await fast_store.bound_session(CHAT)
    assert stored is not None
    assert (stored.metadata["Fast"], stored.metadata["Slow"]) == ("yes", "yes")
    assert "took over a lease whose turn ran for more than" in caplog.text
