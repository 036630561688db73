"""What keeps a turn cheap is in force: clients built once, one kept-alive connection, tokens
and signing keys fetched once and off the event loop, no garbage cycles.

Speed itself, and how long a turn blocks the event loop, are measured in bench/, never
asserted here.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from botframework.connector.token_api.aio import TokenApiClient
from msrest.universal_http.requests import ClientRetryPolicy

from app import ENDPOINT, Settings, settle_garbage_collector
from bots.edge.signing_keys import channel_metadata_url
from locales import LANGUAGES, _entries
from tests.conftest import RunningBot, StartBot
from tests.support.config import TEST_CONFIG
from tests.support.identity import APP_ID, FakeIdentity
from tests.support.teams import TeamsChat, choice_value


def signed_chat(bot: RunningBot, identity: FakeIdentity) -> TeamsChat:
    chat = bot.chat()
    chat.headers = {"Authorization": f"Bearer {identity.mint(APP_ID, bot.connector.url)}"}
    return chat


@pytest.fixture
def constructions(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many connector clients, token clients and msrest retry policies get built."""
    built: Counter[str] = Counter()
    for cls in (ConnectorClient, TokenApiClient, ClientRetryPolicy):
        original = cls.__init__

        def counting(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> None:
            built[type(self).__name__] += 1
            __original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    return built


async def a_conversation(chat: TeamsChat, messages: int) -> None:
    await chat.install()
    for number in range(messages):
        replies = await chat.say(f"question {number}")
        assert replies, "every message is answered"


async def test_connector_and_token_clients_are_built_once_not_per_activity(
    bot: RunningBot, constructions: Counter[str]
) -> None:
    # The stock CloudAdapter builds one ConnectorClient and one TokenApiClient per activity,
    # each with a ClientRetryPolicy (the quadratic list): 2 x 12 of each here.
    await asyncio.gather(*(a_conversation(bot.chat(), 5) for _ in range(2)))
    assert constructions == {"ConnectorClient": 1, "TokenApiClient": 1, "ClientRetryPolicy": 2}

    # A proactive message (continue_conversation, no audience) reuses the same client too.
    chat = bot.chat()
    await chat.install()
    reference = TurnContext.get_conversation_reference(
        Activity().deserialize(chat.activity("message", text="hello"))
    )

    async def notify(context: TurnContext) -> None:
        await context.send_activity("An engineer picked up your request.")

    await bot.app[ENDPOINT].adapter.continue_conversation(reference, notify, bot_app_id="")
    assert "An engineer picked up your request." in chat.received().texts()
    assert constructions == {"ConnectorClient": 1, "TokenApiClient": 1, "ClientRetryPolicy": 2}


async def test_replies_reuse_one_kept_alive_connection_to_the_connector(bot: RunningBot) -> None:
    await a_conversation(bot.chat(), 10)
    # 11 activities, a reply or more to each, a member look-up: all on one TCP connection.
    assert len(bot.connector.received) > 11
    assert len(bot.connector.connections) == 1

    # A burst of concurrent chats may open a few more; afterwards they are reused, not renewed.
    await asyncio.gather(*(a_conversation(bot.chat(), 2) for _ in range(8)))
    opened = len(bot.connector.connections)
    assert opened <= 1 + 8
    await a_conversation(bot.chat(), 10)
    assert len(bot.connector.connections) == opened


async def test_with_auth_on_the_token_and_the_signing_keys_are_fetched_once(
    secured: RunningBot, identity: FakeIdentity, constructions: Counter[str]
) -> None:
    # The keys were fetched while the app started, before any activity arrived.
    metadata = JwtTokenExtractor.metadataCache[channel_metadata_url(identity.sdk_endpoints())]
    assert metadata.keys and metadata.keys[0]["kid"] == identity.kid

    await asyncio.gather(*(a_conversation(signed_chat(secured, identity), 3) for _ in range(5)))
    assert identity.token_requests == 1
    assert {r.authorization for r in secured.connector.received} == {"Bearer outbound-token-1"}
    assert constructions == {"ConnectorClient": 1, "TokenApiClient": 1, "ClientRetryPolicy": 2}
    assert len(secured.connector.connections) <= 5


async def test_a_finished_turn_leaves_no_garbage_cycle(bot: RunningBot) -> None:
    await a_conversation(bot.chat(), 1)  # first turn: clients, caches
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        chat = bot.chat()
        options = await chat.install() and await chat.say("My laptop will not start")
        await chat.submit(choice_value(options, "IT Support"))
        await chat.say("The laptop")
        gc.collect()
        kinds = {type(item) for item in gc.garbage}
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    # The SDK's send hooks made every turn a reference cycle, freed only by the cyclic
    # collector; now reference counting frees a turn as it ends.
    assert not any(issubclass(kind, TurnContext) for kind in kinds)


async def test_the_serving_process_freezes_start_up_objects(bot: RunningBot) -> None:
    before = gc.get_threshold()
    try:
        await settle_garbage_collector(bot.app)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] > before[0]
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_msrest_retry_policies_are_built_in_linear_time_with_the_same_codes(
    tmp_path: Path,
) -> None:
    from app import create_app

    create_app(Settings(config_path=TEST_CONFIG, sqlite_path=tmp_path / "x.sqlite3"))
    stock_safe_codes = [i for i in range(500) if i != 408] + [501, 505]
    assert isinstance(ClientRetryPolicy.safe_codes, frozenset)
    assert ClientRetryPolicy().policy.status_forcelist == [
        i for i in range(999) if i not in stock_safe_codes
    ]


def test_the_app_is_wired_to_the_caching_edge(tmp_path: Path) -> None:
    from app import create_app
    from bots.edge.adapter import CrossdeskAdapter
    from bots.edge.connector import CachingBotFrameworkAuthentication

    app: web.Application = create_app(
        Settings(config_path=TEST_CONFIG, sqlite_path=tmp_path / "x.sqlite3")
    )
    assert isinstance(app[ENDPOINT].authentication, CachingBotFrameworkAuthentication)
    assert isinstance(app[ENDPOINT].adapter, CrossdeskAdapter)


async def test_the_message_catalogs_are_read_at_start_up_not_in_the_first_turn(
    start_bot: StartBot,
) -> None:
    """Reading the four catalogs' YAML took about 40 ms of the first guest's turn, on the event
    loop; the app reads them (and builds the word lists) as it starts, in a worker thread."""
    _entries.cache_clear()
    await start_bot()
    assert _entries.cache_info().currsize == len(LANGUAGES)
