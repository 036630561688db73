"""The `http_request` stage over HTTP with Teams-shaped activities, against a ticket system on
127.0.0.1: the ticket number lands in metadata and in the next card, throttling is waited out,
a timeout or a refusal follows `on_failure`, and secrets stay out of logs and the export.

The bot's waits between attempts go to a recorder (`OutboundClient.sleep`), never to the clock.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from app import OUTBOUND
from pipeline.config import EXAMPLE_CONFIG, check_config
from tests.conftest import RunningBot, StartBot
from tests.support.config import stage, write_config
from tests.support.export import chat_export
from tests.support.http_service import Answer, HttpService
from tests.support.teams import TeamsChat, choice_value
from tests.test_scenario import TUESDAY_MORNING

TOKEN = "tk-3c1d0a9e-never-to-be-seen"
FILED = {"result": {"number": "INC0010042", "url": "https://tickets.example/INC0010042"}}


def ticket_config(url: str, **stage: Any) -> dict[str, Any]:
    """IT files a ticket: ask, POST it to `url`, show the ticket card or say it failed."""
    host = url.split("//", 1)[1].split("/", 1)[0]
    return {
        "front_door": "it",
        "outbound": {"allowed_hosts": [host], "allow_private": True},
        "tenants": [
            {
                "id": "it",
                "name": "IT Support",
                "primary_pipeline": "main",
                "pipelines": {
                    "main": {
                        "stages": [
                            {
                                "key": "ask",
                                "type": "question",
                                "text": "What's wrong?",
                                "store_as": "Guest.Question",
                                "next": "file",
                            },
                            {
                                "key": "file",
                                "type": "http_request",
                                "method": "POST",
                                "url": url,
                                "headers": {"Authorization": "Bearer ${env:TICKET_TOKEN}"},
                                "body": {
                                    "short_description": "${Guest.Question}",
                                    "caller": "${Guest.Name}",
                                    "urgency": 2,
                                },
                                "timeout": 5,
                                "store": {
                                    "Ticket.Number": "${result.number}",
                                    "Ticket.Url": "${result.url}",
                                },
                                "next": "filed",
                                "on_failure": "not_filed",
                                **stage,
                            },
                            {
                                "key": "filed",
                                "type": "message",
                                "card": "ticket.json",
                                "next": "done",
                            },
                            {
                                "key": "not_filed",
                                "type": "message",
                                "text": "I couldn't file a ticket (${Request.Reason}).",
                                "next": "done",
                            },
                            {"key": "done", "type": "end", "text": "Bye."},
                        ]
                    }
                },
            }
        ],
    }


@pytest.fixture
async def tickets() -> AsyncIterator[HttpService]:
    service = HttpService(Answer(201, FILED))
    await service.start()
    yield service
    await service.stop()


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKET_TOKEN", TOKEN)


class Waits(list[float]):
    """The bot's waits between attempts, recorded instead of slept."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def bot_for(
    start_bot: StartBot, tmp_path: Path, url: str, **stage: Any
) -> tuple[RunningBot, Waits]:
    bot = await start_bot(config=write_config(tmp_path, ticket_config(url, **stage)))
    waits = Waits()
    bot.app[OUTBOUND].sleep = waits
    return bot, waits


async def metadata_of(bot: RunningBot, chat: TeamsChat) -> dict[str, Any]:
    export = await chat_export(bot, chat.conversation_id)
    metadata: dict[str, Any] = export["sessions"][-1]["metadata"]
    return metadata


async def test_the_ticket_number_lands_in_metadata_and_in_the_next_card(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, _ = await bot_for(start_bot, tmp_path, f"{tickets.url}/api/now/table/incident")
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("My laptop won't start")

    card = shown.card_titled("Ticket INC0010042 is filed")
    assert card.fact("Ticket") == "INC0010042"
    assert card.fact("Your request") == "My laptop won't start"
    # The guest saw the bot at work before the answer came.
    kinds = [reply.activity["type"] for reply in shown]
    assert kinds.index("typing") < shown.index_of(card)
    (request,) = tickets.requests
    assert request.method == "POST"
    assert request.path == "/api/now/table/incident"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {
        "short_description": "My laptop won't start",
        "caller": "Megan Bowen",
        "urgency": 2,
    }
    assert request.headers["Idempotency-Key"]
    metadata = await metadata_of(bot, chat)
    assert metadata["Ticket.Number"] == "INC0010042"
    assert metadata["Ticket.Url"] == "https://tickets.example/INC0010042"
    assert metadata["Request.Status"] == 201


async def test_throttling_is_waited_out_as_retry_after_asks_with_the_same_idempotency_key(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, waits = await bot_for(start_bot, tmp_path, f"{tickets.url}/tickets")
    tickets.answer(Answer(429, {"error": "slow down"}, {"Retry-After": "7"}))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("The printer is on fire")

    assert shown.card_titled("Ticket INC0010042 is filed")
    assert waits == [7.0]
    first, second = tickets.requests
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


async def test_a_post_that_fails_with_a_server_error_is_not_sent_twice(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, waits = await bot_for(start_bot, tmp_path, f"{tickets.url}/tickets")
    tickets.answer(Answer(500, {"error": "database is down: guest data follows"}))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("VPN is down")

    assert shown.text_containing("I couldn't file a ticket (HTTP 500)")
    assert len(tickets.requests) == 1
    assert waits == []
    metadata = await metadata_of(bot, chat)
    assert metadata["Request.Status"] == 500
    assert "Ticket.Number" not in metadata


async def test_an_idempotent_request_is_retried_a_bounded_number_of_times(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, waits = await bot_for(
        start_bot, tmp_path, f"{tickets.url}/tickets/42", method="PUT", retries=2
    )
    tickets.answer(Answer(503), Answer(502), Answer(504), Answer(201, FILED))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("Update my ticket")

    assert shown.text_containing("I couldn't file a ticket (HTTP 504)")
    assert len(tickets.requests) == 3
    assert len(waits) == 2


async def test_a_timeout_follows_on_failure_and_says_why(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, _ = await bot_for(start_bot, tmp_path, f"{tickets.url}/tickets", timeout=0.2)
    tickets.answer(Answer(hang=True))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("My screen is black")

    assert shown.text_containing("I couldn't file a ticket (no answer within 0.2 s)")
    assert shown.saying("Bye.")
    metadata = await metadata_of(bot, chat)
    assert metadata["Request.Status"] == 0
    assert metadata["Request.Reason"] == "no answer within 0.2 s"


async def test_an_answer_without_the_ticket_number_follows_on_failure(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, _ = await bot_for(start_bot, tmp_path, f"{tickets.url}/tickets")
    tickets.answer(Answer(200, {"result": {"state": "queued"}}))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("Teams crashes")

    assert shown.text_containing(
        "I couldn't file a ticket (the answer has no Ticket.Number, Ticket.Url)"
    )


async def test_a_redirect_to_another_host_is_refused(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    elsewhere = HttpService(Answer(201, FILED))
    await elsewhere.start()
    try:
        bot, _ = await bot_for(start_bot, tmp_path, f"{tickets.url}/tickets")
        tickets.answer(Answer(307, headers={"Location": f"http://localhost:{elsewhere.port}/"}))
        chat = bot.chat()
        await chat.say("hello")

        shown = await chat.say("Outlook is slow")

        assert shown.text_containing("refused: redirect to another host")
        assert elsewhere.requests == []
    finally:
        await elsewhere.stop()


async def test_a_redirect_on_the_same_host_is_followed(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService
) -> None:
    bot, _ = await bot_for(start_bot, tmp_path, f"{tickets.url}/old/tickets")
    tickets.answer(Answer(308, headers={"Location": "/v2/tickets"}))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("Outlook is slow")

    assert shown.card_titled("Ticket INC0010042 is filed")
    assert [r.path for r in tickets.requests] == ["/old/tickets", "/v2/tickets"]
    assert tickets.requests[1].method == "POST"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_private_address_is_refused_unless_allowed(
    start_bot: StartBot, tmp_path: Path, tickets: HttpService, host: str
) -> None:
    url = f"http://{host}:{tickets.port}/tickets"
    config = ticket_config(url)
    config["outbound"] = {"allowed_hosts": [f"{host}:{tickets.port}"]}
    bot = await start_bot(config=write_config(tmp_path, config))
    chat = bot.chat()
    await chat.say("hello")

    shown = await chat.say("Wi-Fi keeps dropping")

    reply = shown.text_containing("I couldn't file a ticket (refused: address 127.0.0.1")
    assert "is not public" in (reply.text or "")
    assert tickets.requests == []


def test_check_refuses_a_host_that_is_not_allowed_and_a_secret_that_is_not_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TICKET_TOKEN")
    config = ticket_config("https://tickets.contoso.example/api/tickets")
    config["outbound"] = {"allowed_hosts": ["contoso.service-now.com"]}
    path = write_config(tmp_path, config)

    report = check_config(path)

    found = [str(finding) for finding in report.errors]
    assert any(
        "tenant 'it', stage 'file', field 'url'" in line
        and "host 'tickets.contoso.example' is not in outbound.allowed_hosts" in line
        for line in found
    ), found
    assert any(
        "tenant 'it', stage 'file', field 'headers.Authorization'" in line
        and "${env:TICKET_TOKEN} is not set" in line
        for line in found
    ), found


def test_check_refuses_a_secret_in_the_body_and_a_mapping_that_cannot_be_parsed(
    tmp_path: Path,
) -> None:
    config = ticket_config(
        "http://127.0.0.1:9/tickets",
        body={"token": "${env:TICKET_TOKEN}"},
        store={"Ticket.Number": "${result.number"},
    )
    report = check_config(write_config(tmp_path, config))

    found = [str(finding) for finding in report.errors]
    assert any("field 'body.token'" in line and "belong in headers" in line for line in found)
    assert any("field 'store[\"Ticket.Number\"]'" in line for line in found), found


async def test_secrets_never_appear_in_logs_or_the_sessions_export(
    start_bot: StartBot,
    tmp_path: Path,
    tickets: HttpService,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot, _ = await bot_for(start_bot, tmp_path, f"{tickets.url}/tickets")
    tickets.answer(Answer(429, headers={"Retry-After": "1"}), Answer(500))
    chat = bot.chat()
    with caplog.at_level(logging.DEBUG):
        await chat.say("hello")
        await chat.say("Password reset please")
        chat2 = bot.chat()
        await chat2.say("hello")
        await chat2.say("And another one")

    assert tickets.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in caplog.text
    assert "Password reset please" not in caplog.text
    for each in (chat, chat2):
        export = await chat_export(bot, each.conversation_id)
        assert TOKEN not in json.dumps(export)


def _ticket_system() -> Any:
    """scripts/ticket_system.py, the example's local ticket system (a script, not a package)."""
    path = Path(__file__).resolve().parent.parent / "scripts" / "ticket_system.py"
    spec = importlib.util.spec_from_file_location("ticket_system", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("running", [True, False], ids=["running", "absent"])
async def test_the_example_files_an_it_ticket_with_the_local_ticket_system_or_says_it_could_not(
    start_bot: StartBot, tmp_path: Path, running: bool
) -> None:
    """config/example.yaml's IT path, with scripts/ticket_system.py on a free port (or absent):
    the example is free to change, so this reads titles from it and asserts little wording."""
    runner = web.AppRunner(_ticket_system().ticket_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if not running:
        await runner.cleanup()
    try:
        example: dict[str, Any] = yaml.safe_load(EXAMPLE_CONFIG.read_text())
        example["outbound"]["allowed_hosts"] = [f"127.0.0.1:{port}"]
        filing = stage(example, "it", "file_ticket")
        filing["url"] = filing["url"].replace(":8086", f":{port}")
        choices = stage(example, "helpdesk", "route")["choices"]
        it_title = next(c["title"] for c in choices if c["value"] == "it")
        bot = await start_bot(config=write_config(tmp_path, example), clock=lambda: TUESDAY_MORNING)
        chat = bot.chat()
        await chat.install()
        options = await chat.say("My laptop won't start")
        await chat.submit(choice_value(options, it_title))

        shown = await chat.say("ThinkPad X1")

        metadata = (await chat_export(bot, chat.conversation_id))["sessions"][-1]["metadata"]
        if running:
            number = metadata["Ticket.Number"]
            assert shown.card_showing(number)
            assert metadata["Ticket.Url"].endswith(f"/tickets/{number}")
        else:
            assert "Ticket.Number" not in metadata
            assert metadata["Request.Reason"].startswith("cannot connect")
            assert shown.text_containing("ticket_system.py")
    finally:
        if running:
            await runner.cleanup()
