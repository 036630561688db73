"""What keeps a turn cheap is in force: clients built once, one kept-alive connection, tokens
and signing keys fetched once and off the event loop, no slow callback, no garbage cycles.

Speed itself is measured in bench/, never asserted here.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.dialogs import DialogContext
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from botframework.connector.token_api.aio import TokenApiClient
from msrest.universal_http.requests import ClientRetryPolicy

from app import ADAPTER, AUTH, STORE, Settings, settle_garbage_collector
from bots.signing_keys import channel_metadata_url
from tests.conftest import RunningBot
from tests.support.identity import APP_ID, FakeIdentity
from tests.support.teams import TeamsChat, choice_value

#: A callback running longer than this blocks every other chat: none of a turn's may.
SLOW_CALLBACK = 0.010


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

    await bot.app[ADAPTER].continue_conversation(reference, notify, bot_app_id="")
    assert bot.connector.of(chat.conversation_id)[-1].text == "An engineer picked up your request."
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


class OnCpuClock:
    """`time.monotonic()` less the time the OS kept this thread waiting for a CPU.

    asyncio's debug mode times each callback with the loop's clock. On a shared 2-core machine
    other processes preempt the bot mid-callback, and wall time would report that as blocking;
    this clock stands still while the thread waits in the run queue (Linux schedstat), and
    keeps counting time spent running or blocked in a system call, which is what blocks the
    other chats.
    """

    def __init__(self) -> None:
        self._schedstat = os.open("/proc/thread-self/schedstat", os.O_RDONLY)

    def __call__(self) -> float:
        waited_ns = int(os.pread(self._schedstat, 64, 0).split()[1])
        return time.monotonic() - waited_ns / 1e9

    def close(self) -> None:
        os.close(self._schedstat)


@contextmanager
def watching_the_loop() -> Iterator[None]:
    """asyncio's debug mode on the running loop, reporting callbacks over `SLOW_CALLBACK`."""
    loop = asyncio.get_running_loop()
    clock = OnCpuClock()
    loop.time = clock  # type: ignore[method-assign]
    loop.slow_callback_duration = SLOW_CALLBACK
    loop.set_debug(True)
    try:
        yield
    finally:
        loop.set_debug(False)
        del loop.time
        clock.close()


def slow_reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "asyncio" and record.getMessage().startswith("Executing")
    ]


async def test_no_turn_blocks_the_event_loop(
    secured: RunningBot, identity: FakeIdentity, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio's debug mode logs every callback that runs longer than `SLOW_CALLBACK`: with
    auth on, from the very first turn (credentials, token, connector client) through plain
    turns, a transfer and ten concurrent chats, not one of the bot's may."""
    caplog.set_level(logging.WARNING, logger="asyncio")
    chat = signed_chat(secured, identity)
    others = [signed_chat(secured, identity) for _ in range(10)]  # signed before watching
    threshold = gc.get_threshold()
    await settle_garbage_collector(secured.app)  # as `python app.py` runs
    try:
        with watching_the_loop():
            await chat.install()
            options = await chat.say("My laptop will not start")
            await chat.submit(choice_value(options, "IT Support"))
            await chat.say("The laptop")
            await asyncio.gather(*(a_conversation(other, 3) for other in others))
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    assert len(secured.connector.received) > 50
    assert slow_reports(caplog) == []


async def test_the_slow_callback_check_catches_a_blocking_turn(
    bot: RunningBot, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncio")
    store = bot.app[STORE]
    original = store.bound_session

    async def blocking(conversation_id: str) -> Any:
        time.sleep(SLOW_CALLBACK * 3)  # noqa: ASYNC251 (the blocking call under test)
        return await original(conversation_id)

    monkeypatch.setattr(store, "bound_session", blocking)
    with watching_the_loop():
        await bot.chat().install()
    assert len(slow_reports(caplog)) == 1


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
    # The SDK's send hooks and dialog state manager made every turn a reference cycle, freed
    # only by the cyclic collector; now reference counting frees a turn as it ends.
    assert not kinds & {TurnContext, DialogContext}
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

    create_app(Settings(sqlite_path=tmp_path / "x.sqlite3"))
    stock_safe_codes = [i for i in range(500) if i != 408] + [501, 505]
    assert isinstance(ClientRetryPolicy.safe_codes, frozenset)
    assert ClientRetryPolicy().policy.status_forcelist == [
        i for i in range(999) if i not in stock_safe_codes
    ]


def test_the_app_is_wired_to_the_caching_edge(tmp_path: Path) -> None:
    from app import create_app
    from bots.adapter import CrossdeskAdapter
    from bots.connector import CachingBotFrameworkAuthentication

    app: web.Application = create_app(Settings(sqlite_path=tmp_path / "x.sqlite3"))
    assert isinstance(app[AUTH], CachingBotFrameworkAuthentication)
    assert isinstance(app[ADAPTER], CrossdeskAdapter)
