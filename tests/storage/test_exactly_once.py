"""Exactly once, over HTTP with the real app: a turn Crossdesk starts itself (no Teams activity)
runs once across two instances sharing a store, on SQLite and on Cosmos DB; and on SQLite a turn
is one transaction, so a failed commit followed by Teams' re-delivery stores the message and
the flow step once."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from app import RUNTIME, STORE, Settings
from dialogs import Wake
from storage.export import conversation_export
from storage.sqlite import SqliteStore
from tests.conftest import RunningBot, StartBot
from tests.support.cosmos import EMULATOR_KEY, CosmosServer
from tests.support.teams import TeamsChat


@pytest.fixture(params=["sqlite", "cosmos"])
async def two_instances(
    request: pytest.FixtureRequest, start_bot: StartBot
) -> tuple[RunningBot, RunningBot]:
    """Two Crossdesk apps over one store, as two instances behind a load balancer."""
    if request.param == "sqlite":
        return await start_bot(sqlite="shared.sqlite3"), await start_bot(sqlite="shared.sqlite3")
    server: CosmosServer = request.getfixturevalue("cosmos_server")
    settings = Settings(
        storage="cosmos",
        cosmos_endpoint=server.url,
        cosmos_key=EMULATOR_KEY,
        cosmos_database=request.getfixturevalue("cosmos_database"),
    )
    return await start_bot(settings), await start_bot(settings)


async def test_a_proactive_turn_runs_once_across_instances_and_sends_to_the_stored_chat(
    two_instances: tuple[RunningBot, RunningBot],
) -> None:
    one, other = two_instances
    chat = one.chat()
    await chat.install()
    chat.bot_url = other.url
    await chat.say("My parental leave request is stuck")
    before = len(one.connector.of(chat.conversation_id))

    # A reminder timer fires on both instances at once, with the same event id.
    ran = await asyncio.gather(
        *(
            bot.app[RUNTIME].run_unprompted(
                chat.conversation_id, Wake(), event_id="crossdesk:reminder:7"
            )
            for bot in (one, other, one, other)
        )
    )
    assert sorted(ran) == [False, False, False, True]

    sent = one.connector.of(chat.conversation_id)[before:]
    assert len(sent) == 1
    [reminder] = sent
    assert reminder.reply_to is None, "a new message in the chat, not a reply to an activity"
    assert [a["title"] for a in reminder.cards[0]["actions"]] == ["IT Support", "HR", "Legal"]
    export = await conversation_export(one.store, chat.conversation_id)
    [session] = export["sessions"]
    shown = [e for e in session["transcript"] if e["direction"] == "out" and e["attachments"]]
    assert len(shown) == 2, "the options card: once when asked, once more as the reminder"


async def test_a_turn_whose_commit_fails_stores_the_redelivered_message_once(
    start_bot: StartBot,
) -> None:
    bot = await start_bot(sqlite="crossdesk.sqlite3")
    chat: TeamsChat = bot.chat()
    await chat.install()
    # The disk fails on the turn's last statement (the claim of the activity): SQLite rolls
    # back the whole commit.
    store = bot.app[STORE]
    assert isinstance(store, SqliteStore)
    database = store.path
    fault = sqlite3.connect(database)
    fault.execute(
        "CREATE TRIGGER disk_full BEFORE INSERT ON claims BEGIN SELECT RAISE(ABORT, 'disk'); END"
    )
    fault.commit()
    message = chat.activity("message", text="My parental leave request is stuck")
    failed = await chat.post(message)
    # Nothing of the turn was kept: the channel is told so (it re-delivers), the guest too.
    assert failed.status == 503
    assert chat.received().texts()[-1] == (
        "Sorry, something went wrong on our side. If no answer follows, please send your"
        " message again."
    )
    export = await conversation_export(bot.store, chat.conversation_id)
    [session] = export["sessions"]
    assert "Guest.Question" not in session["metadata"]
    assert [e["text"] for e in session["transcript"] if e["direction"] == "in"] == []

    fault.execute("DROP TRIGGER disk_full")
    fault.commit()
    fault.close()
    redelivered = await chat.post(message)
    assert redelivered.status == 201
    again = await chat.post(message)
    assert again.status == 201

    export = await conversation_export(bot.store, chat.conversation_id)
    [session] = export["sessions"]
    assert session["metadata"]["Guest.Question"] == "My parental leave request is stuck"
    assert [e["text"] for e in session["transcript"] if e["direction"] == "in"] == [
        "My parental leave request is stuck"
    ]
    assert [step["stage"] for step in session["flow"]] == ["greet", "ask", "route"]
