"""What the Cosmos DB backend does beyond the shared contract: a turn is three round trips
(lease, read, one batch that commits and releases), a transfer turn too; a turn that fails
leaves nothing behind; a refused batch writes nothing; transcripts never grow one document;
documents of the first release still read."""

from __future__ import annotations

import asyncio

import pytest

from errors import ConflictError
from pipeline.session import Position, SessionState
from pipeline.transfer import TransferRecord
from storage.base import TurnWrites
from storage.cosmos import CosmosStore
from tests.storage.chats import CHAT, NOW, answer, new_session, open_chat, said
from tests.support.cosmos import EMULATOR_KEY, CosmosServer


async def test_a_plain_turn_is_three_round_trips_with_one_batch_at_the_end(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    session = await open_chat(cosmos_store)
    await cosmos_server.reset_stats()
    await answer(cosmos_store, "1:second", "second")
    requests = await cosmos_server.requests(cosmos_database)
    assert requests == {"total": 3, "post-items": 1, "query": 1, "batch": 1}
    [commit] = await cosmos_server.batches(cosmos_database)
    assert [(op["operationType"], op["id"]) for op in commit["operations"]] == [
        ("Replace", f"session-{session.id}"),
        ("Create", f"log-{session.id}-0000000002"),
        ("Create", "inbound-1:second"),
        ("Delete", "lease"),
    ]


async def test_a_transfer_turn_is_three_round_trips_too(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    sending = await open_chat(cosmos_store)
    await cosmos_server.reset_stats()
    async with cosmos_store.chat_turn(CHAT, "1:click") as turn:
        assert turn is not None and turn.session is not None
        turn.session.end(SessionState.TRANSFERRED, NOW)
        receiving = new_session("hr")
        receiving.enter("hello", "message", "intake", NOW)
        record = TransferRecord(CHAT, sending.id, receiving.id, "helpdesk", "hr", NOW, "1:click")
        await turn.commit(
            TurnWrites([turn.session, receiving], bound_session_id=receiving.id, transfers=[record])
        )
    assert (await cosmos_server.requests(cosmos_database))["total"] == 3
    [commit] = await cosmos_server.batches(cosmos_database)
    assert [(op["operationType"], op["id"]) for op in commit["operations"]] == [
        ("Replace", f"session-{sending.id}"),
        ("Create", f"session-{receiving.id}"),
        ("Create", f"log-{receiving.id}-0000000001"),
        ("Create", f"transfer-{sending.id}"),
        ("Replace", "head"),
        ("Create", "inbound-1:click"),
        ("Delete", "lease"),
    ]


async def test_a_failed_turn_leaves_nothing_behind(cosmos_store: CosmosStore) -> None:
    await open_chat(cosmos_store)
    with pytest.raises(RuntimeError):
        async with cosmos_store.chat_turn(CHAT, "1:boom") as turn:
            assert turn is not None
            raise RuntimeError("the pipeline failed half way")
    assert await cosmos_store.read(CHAT, "lease") is None
    assert await cosmos_store.read(CHAT, "inbound-1:boom") is None
    await answer(cosmos_store, "1:boom", "re-delivered")


async def test_a_batch_refused_on_its_last_writes_writes_nothing(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    """The transfer record exists already (as if a concurrent transfer had been recorded): the
    batch fails on it after replacing the sender and creating the receiver, and Cosmos DB keeps
    none of it."""
    sending = await open_chat(cosmos_store)
    await cosmos_store.chats.create_item(
        {"id": f"transfer-{sending.id}", "conversationId": CHAT, "kind": "other"}
    )
    async with cosmos_store.chat_turn(CHAT, "1:click") as turn:
        assert turn is not None and turn.session is not None
        turn.session.end(SessionState.TRANSFERRED, NOW)
        receiving = new_session("hr")
        record = TransferRecord(CHAT, sending.id, receiving.id, "helpdesk", "hr", NOW, None)
        with pytest.raises(ConflictError, match="exists already"):
            await turn.commit(
                TurnWrites(
                    [turn.session, receiving], bound_session_id=receiving.id, transfers=[record]
                )
            )
    [batch] = [
        b
        for b in await cosmos_server.batches(cosmos_database)
        if any(op["id"].startswith("transfer-") for op in b["operations"])
    ]
    assert 409 in batch["statusCodes"] and batch["operations"][0]["operationType"] == "Replace"
    history = await cosmos_store.history(CHAT)
    [only] = history.sessions
    assert (only.id, only.state, only.version) == (sending.id, SessionState.ACTIVE, 1)
    assert await cosmos_store.read(CHAT, "lease") is None


async def test_every_turn_appends_a_log_document_and_the_session_stays_small(
    cosmos_store: CosmosStore,
) -> None:
    session = await open_chat(cosmos_store)
    sizes = []
    for n in range(30):
        async with cosmos_store.chat_turn(CHAT, f"1:{n}") as turn:
            assert turn is not None and turn.session is not None
            turn.session.record(said(f"message {n} " + "x" * 2000))
            await turn.commit(TurnWrites([turn.session]))
        document = await cosmos_store.read(CHAT, f"session-{session.id}")
        assert document is not None
        sizes.append(len(str(document)))
    assert max(sizes) - min(sizes) < 100, "the transcript does not grow the session document"
    assert len((await cosmos_store.history(CHAT)).transcripts[session.id]) == 30


async def test_ids_that_cosmos_would_refuse(cosmos_store: CosmosStore) -> None:
    odd_chat = "19:meeting_Zj/odd?chat#id@thread.v2"
    session = await open_chat(cosmos_store, "1:a/b?c#d", chat=odd_chat)
    assert [s.id for s in (await cosmos_store.history(odd_chat)).sessions] == [session.id]
    async with cosmos_store.chat_turn(odd_chat, "1:a/b?c#d") as turn:
        assert turn is None


async def test_instances_starting_together_share_one_database(
    cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    """Each creates the database and container if missing; all but one find them made."""
    stores = await asyncio.gather(
        *(CosmosStore.open(cosmos_server.url, EMULATOR_KEY, cosmos_database) for _ in range(4))
    )
    try:
        opened = await open_chat(stores[0])
        async with stores[3].chat_turn(CHAT, None) as turn:
            assert turn is not None and turn.session is not None
            assert turn.session.id == opened.id
    finally:
        for store in stores:
            await store.close()


async def test_a_session_of_the_first_release_resumes_where_its_dialog_waited(
    cosmos_store: CosmosStore,
) -> None:
    """The first release kept a session's position in its dialog stack (`botState.dialog`)."""
    await cosmos_store.chats.create_item(
        {
            "id": "head",
            "conversationId": CHAT,
            "kind": "head",
            "sessionId": "s1",
            "reference": {"conversation": {"id": CHAT}},
            "sessions": 1,
            "transfers": 0,
        }
    )
    await cosmos_store.chats.create_item(
        {
            "id": "session-s1",
            "conversationId": CHAT,
            "kind": "session",
            "sessionId": "s1",
            "seq": 1,
            "tenantId": "hr",
            "state": "active",
            "startedAt": NOW.isoformat(),
            "endedAt": None,
            "hops": 1,
            "version": 4,
            "metadata": {"Guest.Name": "Megan Bowen"},
            "botState": {
                "dialog": {
                    "version": 3,
                    "document": {
                        "stack": {
                            "$dialogState": [
                                {"id": "pipeline:hr:intake", "state": {"stage": "detail"}}
                            ]
                        }
                    },
                }
            },
        }
    )
    async with cosmos_store.chat_turn(CHAT, "1:after-upgrade") as turn:
        assert turn is not None and turn.session is not None
        assert turn.session.position == Position("intake", "detail", "", NOW)
        turn.session.metadata["HR.Detail"] = "Pay"
        await turn.commit(TurnWrites([turn.session]))
    document = await cosmos_store.read(CHAT, "session-s1")
    assert document is not None and "botState" not in document
    assert document["position"]["stage"] == "detail" and document["version"] == 5
