"""Webhooks over HTTP with Teams-shaped activities, against a receiver on 127.0.0.1: each
session event arrives once, in order, signed; events wait out a receiver that is down across a
restart of the bot; what the bot gives up on is a dead letter the CLI lists and replays.

Delivery time is a clock the test moves; the sweeper runs when a test runs it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import RUNTIME, SWEEPER, main
from integrations.webhooks import SIGNATURE_HEADER, sign, verify
from tests.conftest import RunningBot, StartBot
from tests.support.config import write_config
from tests.support.export import chat_export
from tests.support.http_service import Answer, HttpService
from tests.support.teams import TeamsChat, choice_value

SECRET = "whsec-5b2f-never-to-be-logged"


def hooks_config(receiver: str) -> dict[str, Any]:
    """A front door that asks and hands the chat to IT, which says goodbye."""
    host = receiver.split("//", 1)[1].split("/", 1)[0]
    return {
        "front_door": "desk",
        "outbound": {"allowed_hosts": [host], "allow_private": True},
        "webhooks": [
            {
                "url": f"{receiver}/hooks/crossdesk",
                "secret": "${env:HOOK_SECRET}",
                "metadata": ["Guest.Question", "Desk.Team"],
            }
        ],
        "tenants": [
            {
                "id": "desk",
                "name": "Help Desk",
                "primary_pipeline": "main",
                "pipelines": {
                    "main": {
                        "stages": [
                            {
                                "key": "ask",
                                "type": "question",
                                "text": "What's wrong?",
                                "store_as": "Guest.Question",
                                "next": "route",
                            },
                            {
                                "key": "route",
                                "type": "options",
                                "text": "Which team?",
                                "store_as": "Desk.Team",
                                "choices": [{"title": "IT", "value": "it", "next": "move"}],
                            },
                            {
                                "key": "move",
                                "type": "tenant_transfer",
                                "tenant": "${Desk.Team}",
                                "template": "transfer.json",
                            },
                        ]
                    }
                },
            },
            {
                "id": "it",
                "name": "IT Support",
                "primary_pipeline": "main",
                "pipelines": {
                    "main": {
                        "stages": [
                            {"key": "bye", "type": "end", "text": "IT here: it's sorted. Bye."}
                        ]
                    }
                },
            },
        ],
    }


class Epoch:
    """Epoch seconds for the bot's deliveries, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)


@pytest.fixture
async def receiver() -> AsyncIterator[HttpService]:
    service = HttpService(Answer(204))
    await service.start()
    yield service
    await service.stop()


async def hooked_bot(
    start_bot: StartBot, tmp_path: Path, receiver_url: str, epoch: Epoch, sqlite: str
) -> RunningBot:
    config = write_config(tmp_path, hooks_config(receiver_url))
    bot = await start_bot(config=config, sqlite=sqlite)
    bot.app[RUNTIME].delivery.clock = epoch
    return bot


async def transferred_chat(chat: TeamsChat) -> None:
    """The guest asks, picks IT, and IT ends the chat."""
    await chat.say("hello")
    options = await chat.say("My VPN is down")
    await chat.submit(choice_value(options, "IT"))


def events_of(service: HttpService) -> list[dict[str, Any]]:
    return [request.json() for request in service.requests]


async def test_each_session_event_arrives_once_in_order_signed(
    start_bot: StartBot, tmp_path: Path, receiver: HttpService
) -> None:
    bot = await hooked_bot(start_bot, tmp_path, receiver.url, Epoch(), "hooks.sqlite3")
    chat = bot.chat()

    await transferred_chat(chat)

    events = events_of(receiver)
    assert [(e["type"], e["session"]["tenantId"]) for e in events] == [
        ("session.started", "desk"),
        ("session.transferred", "desk"),
        ("session.started", "it"),
        ("session.ended", "it"),
    ]
    assert len({e["id"] for e in events}) == 4
    desk, it = (await chat_export(bot, chat.conversation_id))["sessions"]
    moved = events[1]
    assert moved["schema"] == "crossdesk.session-event/1"
    assert moved["conversationId"] == chat.conversation_id
    assert moved["session"]["id"] == desk["id"]
    assert moved["transferredTo"] == {
        "sessionId": it["id"],
        "tenantId": "it",
        "tenantName": "IT Support",
    }
    assert events[3]["transferredFrom"]["sessionId"] == desk["id"]
    assert events[3]["session"]["resolution"] == "resolved"
    # Only the allow-listed metadata leaves Crossdesk.
    assert moved["metadata"] == {"Guest.Question": "My VPN is down", "Desk.Team": "it"}
    for request in receiver.requests:
        header = request.headers[SIGNATURE_HEADER]
        assert verify(SECRET, request.body, header)
        # A receiver with another secret, or a body changed on the way, can tell.
        assert not verify("another-secret", request.body, header)
        assert not verify(SECRET, request.body.replace(b"desk", b"dusk"), header)


async def test_a_re_delivered_activity_sends_no_event_twice(
    start_bot: StartBot, tmp_path: Path, receiver: HttpService
) -> None:
    bot = await hooked_bot(start_bot, tmp_path, receiver.url, Epoch(), "hooks.sqlite3")
    chat = bot.chat()
    await chat.say("hello")
    question = chat.activity("message", text="Printer jammed", textFormat="plain")

    await chat.post(question)
    await chat.post(question)  # Teams re-delivers it

    assert [e["type"] for e in events_of(receiver)] == ["session.started"]


async def test_events_wait_for_a_receiver_that_is_down_across_a_restart_of_the_bot(
    start_bot: StartBot, tmp_path: Path
) -> None:
    receiver = HttpService(Answer(204))
    await receiver.start()
    port = receiver.port
    await receiver.stop()  # down from the start
    epoch = Epoch()
    first = await hooked_bot(start_bot, tmp_path, f"http://127.0.0.1:{port}", epoch, "hooks.db")
    chat = first.chat()

    replies = await transferred_chat_replies(chat)

    assert replies, "the guest's replies do not wait for the webhook receiver"
    # The bot restarts (a new instance on the same store, nothing in memory), the receiver
    # comes back, and time passes.
    second = await hooked_bot(start_bot, tmp_path, f"http://127.0.0.1:{port}", epoch, "hooks.db")
    back = HttpService(Answer(204))
    await back.start(port)
    try:
        epoch.now += 3600
        await second.app[SWEEPER].sweep()
        assert [e["type"] for e in events_of(back)] == [
            "session.started",
            "session.transferred",
            "session.started",
            "session.ended",
        ]
        await second.app[SWEEPER].sweep()
        assert len(back.requests) == 4, "delivered once each"
    finally:
        await back.stop()


async def transferred_chat_replies(chat: TeamsChat) -> list[str]:
    await transferred_chat(chat)
    return [text for text in chat.received().texts() if "Bye" in text]


async def test_a_refused_event_is_a_dead_letter_the_cli_lists_and_replays(
    start_bot: StartBot,
    tmp_path: Path,
    receiver: HttpService,
    capsys: pytest.CaptureFixture[str],
) -> None:
    epoch = Epoch()
    bot = await hooked_bot(start_bot, tmp_path, receiver.url, epoch, "hooks.sqlite3")
    receiver.answer(Answer(400, {"error": "unknown tenant"}))
    chat = bot.chat()

    await chat.say("hello")

    capsys.readouterr()
    database = str(tmp_path / "hooks.sqlite3")
    listed = await asyncio.to_thread(main, ["webhooks", "dead", "--json", "--sqlite", database])
    assert listed == 0
    (letter,) = json.loads(capsys.readouterr().out)
    assert letter["type"] == "session.started"
    assert letter["reason"] == "HTTP 400"
    assert letter["conversationId"] == chat.conversation_id
    assert SECRET not in json.dumps(letter)

    replayed = await asyncio.to_thread(
        main, ["webhooks", "replay", letter["id"], "--sqlite", database]
    )
    assert replayed == 0
    assert "1 event queued again" in capsys.readouterr().out
    await bot.app[SWEEPER].sweep()

    first, again = receiver.requests
    assert first.json()["id"] == again.json()["id"], "the same event, for the receiver to dedupe"
    assert verify(SECRET, again.body, again.headers[SIGNATURE_HEADER])
    await asyncio.to_thread(main, ["webhooks", "dead", "--json", "--sqlite", database])
    assert json.loads(capsys.readouterr().out) == []


async def test_a_webhook_that_keeps_failing_becomes_a_dead_letter_after_backing_off(
    start_bot: StartBot, tmp_path: Path, receiver: HttpService
) -> None:
    epoch = Epoch()
    bot = await hooked_bot(start_bot, tmp_path, receiver.url, epoch, "hooks.sqlite3")
    receiver.default = Answer(503)
    chat = bot.chat()
    await chat.say("hello")
    assert len(receiver.requests) == 1

    for _ in range(20):
        epoch.now += 3600
        await bot.app[SWEEPER].sweep()

    assert len(receiver.requests) == 10
    (letter,) = await bot.store.dead_letters()
    assert letter.reason == "HTTP 503, 10 attempts"
    assert await bot.store.due_chats(epoch.now, 10) == []


def _script(name: str) -> Any:
    path = Path(__file__).resolve().parent.parent / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_receiver_example_takes_signed_events_and_refuses_a_wrong_signature(
    start_bot: StartBot, tmp_path: Path
) -> None:
    example = _script("webhook_receiver")
    app = example.receiver_app(SECRET)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        config = hooks_config(f"http://127.0.0.1:{port}")
        config["webhooks"][0]["url"] = f"http://127.0.0.1:{port}/crossdesk"
        bot = await start_bot(config=write_config(tmp_path, config))
        await transferred_chat(bot.chat())

        received = app[example.EVENTS]
        assert [e["type"] for e in received] == [
            "session.started",
            "session.transferred",
            "session.started",
            "session.ended",
        ]
        body = json.dumps(received[0]).encode()
        forged = sign("not-the-secret", body, int(time.time()))
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"http://127.0.0.1:{port}/crossdesk",
                data=body,
                headers={SIGNATURE_HEADER: forged},
            ) as answer:
                assert answer.status == 401
            stale = sign(SECRET, body, int(time.time()) - 3600)
            async with http.post(
                f"http://127.0.0.1:{port}/crossdesk", data=body, headers={SIGNATURE_HEADER: stale}
            ) as answer:
                assert answer.status == 401
        assert len(received) == 4
    finally:
        await runner.cleanup()
