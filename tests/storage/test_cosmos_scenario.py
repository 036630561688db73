"""The seed's scenario on Cosmos DB storage, then its documents read back with the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy, CosmosClient

from app import Settings
from storage.cosmos_documents import CHATS
from tests.conftest import RunningBot, StartBot
from tests.storage.scenario import check_export, help_desk_to_hr
from tests.support.cosmos import EMULATOR_KEY, CosmosServer
from tests.support.export import chat_export
from tests.support.replies import Replies


@pytest.fixture
async def cosmos_bot(
    start_bot: StartBot, cosmos_server: CosmosServer, cosmos_database: str
) -> RunningBot:
    return await start_bot(
        Settings(
            storage="cosmos",
            cosmos_endpoint=cosmos_server.url,
            cosmos_key=EMULATOR_KEY,
            cosmos_database=cosmos_database,
        )
    )


@pytest.fixture
async def chats(cosmos_server: CosmosServer, cosmos_database: str) -> AsyncIterator[ContainerProxy]:
    """The `chats` container, straight through the SDK (not through Crossdesk's store)."""
    async with CosmosClient(
        cosmos_server.url, credential=EMULATOR_KEY, enable_endpoint_discovery=False
    ) as client:
        yield client.get_database_client(cosmos_database).get_container_client(CHATS)


async def test_the_scenario_on_cosmos_and_its_documents(
    cosmos_bot: RunningBot, cosmos_server: CosmosServer, cosmos_database: str, chats: ContainerProxy
) -> None:
    chat = cosmos_bot.chat()
    round_trips: dict[str, int] = {}
    replies: dict[str, int] = {}
    seen = 0

    async def count(step: str, received: Replies) -> None:
        nonlocal seen
        total = (await cosmos_server.requests(cosmos_database))["total"]
        round_trips[step], seen = total - seen, total
        replies[step] = len(received)

    seen = (await cosmos_server.requests(cosmos_database))["total"]
    await help_desk_to_hr(chat, [cosmos_bot.url], count)
    helpdesk, hr = check_export(await chat_export(cosmos_bot, chat.conversation_id))
    # Every turn, the transfer's too: take the lease, read the chat, commit in one batch; then
    # one write per reply delivered, recording it before the next is sent.
    assert replies == {"install": 2, "question": 1, "transfer": 3, "detail": 1, "close": 1}
    assert round_trips == {step: 3 + count for step, count in replies.items()}

    documents: list[dict[str, Any]] = [
        doc
        async for doc in chats.query_items("SELECT * FROM c", partition_key=chat.conversation_id)
    ]
    by_id = {doc["id"]: doc for doc in documents}
    assert {doc["conversationId"] for doc in documents} == {chat.conversation_id}
    sending, receiving = by_id[f"session-{helpdesk['id']}"], by_id[f"session-{hr['id']}"]
    for key, value in (
        ("SessionId", hr["id"]),
        ("TenantId", "hr"),
        ("TenantName", "Human Resources"),
    ):
        assert sending["metadata"][f"Session.TransferredTo.{key}"] == value
    for key, value in (
        ("SessionId", helpdesk["id"]),
        ("TenantId", "helpdesk"),
        ("TenantName", "Help Desk"),
    ):
        assert receiving["metadata"][f"Session.TransferredFrom.{key}"] == value
    assert (sending["state"], receiving["state"]) == ("transferred", "ended")
    # Both ended, so neither waits anywhere; transcripts live in log documents.
    assert "transcript" not in sending
    assert (sending["position"], receiving["position"]) == (None, None)
    head = by_id["head"]
    assert (head["sessionId"], head["sessions"], head["transfers"]) == (hr["id"], 2, 1)
    assert head["reference"]["conversation"]["id"] == chat.conversation_id
    transfer = by_id[f"transfer-{helpdesk['id']}"]
    assert (transfer["fromSessionId"], transfer["toSessionId"]) == (helpdesk["id"], hr["id"])
    kinds = sorted(doc["kind"] for doc in documents)
    assert kinds.count("inbound") == 5 and "lease" not in kinds
    logs = [doc for doc in documents if doc["kind"] == "log"]
    assert sum(len(doc["transcript"]) for doc in logs) == len(helpdesk["transcript"]) + len(
        hr["transcript"]
    )

    batches = await cosmos_server.batches(cosmos_database)
    assert all(b["partitionKey"] == [chat.conversation_id] for b in batches)
    with_transfer = [
        b for b in batches if any(op["id"].startswith("transfer-") for op in b["operations"])
    ]
    assert len(with_transfer) == 1, "one batch per transfer"
    [batch] = with_transfer
    assert {(op["operationType"], op["id"]) for op in batch["operations"]} >= {
        ("Replace", sending["id"]),
        ("Create", receiving["id"]),
        ("Replace", "head"),
        ("Create", transfer["id"]),
    }
    assert all(status < 300 for status in batch["statusCodes"])
    created = [
        op["id"] for b in batches for op in b["operations"] if op["operationType"] == "Create"
    ]
    assert created.count(receiving["id"]) == 1
