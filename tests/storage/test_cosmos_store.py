"""What the Cosmos DB backend does beyond the shared contract: a turn is one unit of work (three
round trips, its writes in the batch that releases the lease, nothing left by a failed turn),
a failed ETag guard at commit re-reads and re-applies, transcripts never grow one document."""

from __future__ import annotations

import asyncio

import pytest

from errors import ConflictError
from pipeline.config import EXAMPLE_CONFIG, load_directory
from pipeline.session import Session, SessionState
from pipeline.transfer import TransferPlan, plan_transfer
from storage.base import session_state_key
from storage.cosmos import CosmosStore
from tests.storage.test_contract import CHAT, said, started
from tests.support.cosmos import EMULATOR_KEY, CosmosServer


async def a_turn(store: CosmosStore, activity_id: str, text: str) -> Session:
    """What the bot does in a plain turn, through the store."""
    async with store.chat_turn(CHAT, activity_id) as claimed:
        assert claimed
        session = await store.bound_session(CHAT)
        assert session is not None
        key = session_state_key(session, "dialog")
        found = await store.read_state([key])
        session.record(said(text))
        session.metadata["Last"] = text
        await store.save_session(session)
        await store.write_state(key, {"stage": text}, found[key][1] if key in found else None)
    return session


async def test_a_turn_is_three_round_trips_and_one_batch_at_the_end(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    session = await started(cosmos_store)
    await a_turn(cosmos_store, "1:first", "first")
    await cosmos_server.reset_stats()
    await a_turn(cosmos_store, "1:second", "second")
    requests = await cosmos_server.requests(cosmos_database)
    assert requests == {"total": 3, "batch": 2, "query": 1}
    start, commit = await cosmos_server.batches(cosmos_database)
    assert [(op["operationType"], op["id"]) for op in start["operations"]] == [
        ("Create", "inbound-1:second"),
        ("Create", "lease"),
    ]
    assert [(op["operationType"], op["id"]) for op in commit["operations"]] == [
        ("Replace", f"session-{session.id}"),
        ("Create", f"log-{session.id}-0000000003"),
        ("Delete", "lease"),
    ]
    key = session_state_key(session, "dialog")
    assert (await cosmos_store.read_state([key]))[key][0] == {"stage": "second"}


async def test_a_failed_turn_leaves_nothing_behind(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    await started(cosmos_store)
    with pytest.raises(RuntimeError):
        async with cosmos_store.chat_turn(CHAT, "1:boom") as claimed:
            assert claimed
            session = await cosmos_store.bound_session(CHAT)
            assert session is not None
            session.metadata["Half"] = "done"
            session.record(said("boom"))
            await cosmos_store.save_session(session)
            await cosmos_store.write_state(session_state_key(session, "dialog"), {"x": 1}, None)
            raise RuntimeError("the pipeline failed half way")
    stored = await cosmos_store.bound_session(CHAT)
    assert stored is not None and "Half" not in stored.metadata and stored.version == 1
    assert await cosmos_store.transcript(CHAT, stored.id) == []
    assert await cosmos_store.read_state([session_state_key(stored, "dialog")]) == {}
    assert await cosmos_store.claim_activity(CHAT, "1:boom") is True, "the claim was released"
    assert await cosmos_store.read(CHAT, "lease") is None, "and the lease"


async def test_a_commit_whose_guard_fails_re_reads_and_re_applies(
    cosmos_server: CosmosServer,
    cosmos_database: str,
    cosmos_store: CosmosStore,
) -> None:
    """Another writer (not taking the lease, like a timer or an admin tool) saves the session
    while a turn holds its writes: the turn's batch fails on the ETag, re-reads, re-applies."""
    other = await CosmosStore.open(cosmos_server.url, EMULATOR_KEY, cosmos_database)
    try:
        await started(cosmos_store)
        async with cosmos_store.chat_turn(CHAT, "1:turn") as claimed:
            assert claimed
            mine = await cosmos_store.bound_session(CHAT)
            theirs = await other.bound_session(CHAT)
            assert mine is not None and theirs is not None
            mine.metadata["Mine"] = "turn"
            mine.record(said("from the turn"))
            await cosmos_store.save_session(mine)
            theirs.metadata["Theirs"] = "timer"
            await other.save_session(theirs)
        stored = await other.bound_session(CHAT)
        assert stored is not None
        assert (stored.metadata["Mine"], stored.metadata["Theirs"]) == ("turn", "timer")
        assert stored.version == 3
        assert [e.text for e in await other.transcript(CHAT, stored.id)] == ["from the turn"]
        statuses = [b["statusCodes"] for b in await cosmos_server.batches(cosmos_database)]
        assert 412 in statuses[-2], "the first commit failed on the session's ETag"
        assert all(code < 300 for code in statuses[-1])
    finally:
        await other.close()


async def test_two_turns_that_both_end_the_session_conflict_at_commit(
    cosmos_server: CosmosServer, cosmos_database: str, cosmos_store: CosmosStore
) -> None:
    other = await CosmosStore.open(cosmos_server.url, EMULATOR_KEY, cosmos_database)
    try:
        await started(cosmos_store)
        with pytest.raises(ConflictError):
            async with cosmos_store.chat_turn(CHAT, "1:turn") as claimed:
                assert claimed
                mine = await cosmos_store.bound_session(CHAT)
                theirs = await other.bound_session(CHAT)
                assert mine is not None and theirs is not None
                mine.end(SessionState.ENDED)
                await cosmos_store.save_session(mine)
                theirs.end(SessionState.ENDED)
                await other.save_session(theirs)
        assert await cosmos_store.claim_activity(CHAT, "1:turn") is True
    finally:
        await other.close()


async def test_every_save_appends_a_log_document_and_the_session_stays_small(
    cosmos_store: CosmosStore,
) -> None:
    session = await started(cosmos_store)
    sizes = []
    for n in range(30):
        session.record(said(f"message {n} " + "x" * 2000))
        await cosmos_store.save_session(session)
        document = await cosmos_store.read(CHAT, f"session-{session.id}")
        assert document is not None
        sizes.append(len(str(document)))
    assert max(sizes) - min(sizes) < 100, "the transcript does not grow the session document"
    assert len(await cosmos_store.transcript(CHAT, session.id)) == 30
    logs = await cosmos_store.query("SELECT * FROM c WHERE c.kind = 'log'", CHAT)
    assert len(logs) == 30


async def test_state_keys_and_ids_that_cosmos_would_refuse(cosmos_store: CosmosStore) -> None:
    odd_chat = "19:meeting_Zj/odd?chat#id@thread.v2"
    session = await started(cosmos_store, odd_chat)
    key = session_state_key(session, "dialog")
    etag = await cosmos_store.write_state(key, {"n": 1}, None)
    assert await cosmos_store.read_state([key]) == {key: ({"n": 1}, etag)}
    assert [s.id for s in await cosmos_store.sessions_of(odd_chat)] == [session.id]
    async with cosmos_store.chat_turn(odd_chat, "1:a/b?c#d") as claimed:
        assert claimed
    async with cosmos_store.chat_turn(odd_chat, "1:a/b?c#d") as claimed:
        assert not claimed


async def test_instances_starting_together_share_one_database(
    cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    """Each creates the database and containers if missing; all but one find them made."""
    stores = await asyncio.gather(
        *(CosmosStore.open(cosmos_server.url, EMULATOR_KEY, cosmos_database) for _ in range(4))
    )
    try:
        await started(stores[0])
        bound = await stores[3].bound_session(CHAT)
        assert bound is not None
    finally:
        for store in stores:
            await store.close()


async def test_a_transfer_batch_that_fails_on_its_last_write_writes_nothing(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    """The transfer record already exists (as if a concurrent transfer had been recorded): the
    batch fails on it after replacing the sender and creating the receiver, and Cosmos DB keeps
    none of it."""
    directory = load_directory(EXAMPLE_CONFIG)
    sending = await started(cosmos_store)
    plan = plan_transfer(directory, sending, "hr", activity_id="1:click")
    assert isinstance(plan, TransferPlan)
    await cosmos_store.chats.create_item(
        {"id": f"transfer-{sending.id}", "conversationId": CHAT, "kind": "other"}
    )
    with pytest.raises(ConflictError, match="already transferred"):
        await cosmos_store.commit_transfer(plan)
    [batch] = [
        b
        for b in await cosmos_server.batches(cosmos_database)
        if any(op["id"].startswith("transfer-") for op in b["operations"])
    ]
    assert 409 in batch["statusCodes"] and batch["operations"][0]["operationType"] == "Replace"
    [only] = await cosmos_store.sessions_of(CHAT)
    assert only.id == sending.id and only.state is SessionState.ACTIVE and only.version == 1
    assert await cosmos_store.get_session(CHAT, plan.receiving.id) is None
    bound = await cosmos_store.bound_session(CHAT)
    assert bound is not None and bound.id == sending.id
    assert plan.sending.version == sending.version, "the plan is untouched, as nothing was written"
