"""The HTTP endpoint: malformed requests get 400, the health check answers, the admin command."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import RunningBot
from tests.support.config import TEST_CONFIG
from tests.support.connector import FakeConnector
from tests.support.export import Transcript, chat_export
from tests.support.ports import unused_port
from tests.support.teams import TeamsChat, choice_value

ROOT = Path(__file__).resolve().parent.parent
GREETING = "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team."


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"type": "message", ', "the body is not JSON"),
        (b"[1, 2]", "the body is not an activity (an object with a `type`)"),
        (b'{"text": "hi"}', "the body is not an activity (an object with a `type`)"),
        (b'{"type": "message", "text": "hi"}', "the activity has no serviceUrl or conversation id"),
        (
            b'{"type": "message", "serviceUrl": "http://x/", "conversation": "a:1"}',
            "the activity cannot be read",
        ),
        # A lone surrogate, escaped (ASCII) or as raw bytes (json.loads lets them through).
        (
            b'{"type": "message", "text": "a\\ud800b"}',
            "the activity holds text that is not valid Unicode",
        ),
        (
            b'{"type": "message", "text": "a\xed\xa0\x80b"}',
            "the activity holds text that is not valid Unicode",
        ),
        (b'{"type": "message", "\\udfff": 1}', "the activity holds text that is not valid Unicode"),
        (
            b'{"type": "message", "value": ' + b"[" * 64 + b"]" * 64 + b"}",
            "the activity is nested more than 64 deep",
        ),
        (
            b'{"type": "message", "value": ' + b'{"a": ' * 70 + b"1" + b"}" * 70 + b"}",
            "the activity is nested more than 64 deep",
        ),
    ],
)
async def test_malformed_requests_get_400(bot: RunningBot, body: bytes, reason: str) -> None:
    async with bot.http.post(
        bot.url, data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert await response.json() == {"error": reason}
    assert bot.connector.received == []


async def test_healthz(bot: RunningBot) -> None:
    async with bot.http.get(bot.url.replace("/api/messages", "/healthz")) as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_install_and_first_message_greet_once(bot: RunningBot) -> None:
    chat = bot.chat()
    installed = await chat.post(
        chat.activity("installationUpdate", action="add", membersAdded=None)
    )
    assert installed.status == 201
    again = await chat.install()
    assert again == []
    assert chat.received().texts().count("What do you need help with today?") == 1
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert session["metadata"]["Guest.TenantId"] == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert session["metadata"]["Guest.Timezone"] == "Europe/London"
    assert session["metadata"]["Guest.IsNew"] is True


async def test_a_message_after_the_end_opens_a_new_visit(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.install()
    options = await chat.say("VPN keeps dropping")
    await chat.submit(choice_value(options, "IT Support"))
    closing = await chat.say("Laptop")
    assert [r.text for r in closing] == [
        "Thanks, we've logged it for Laptop. An engineer will follow up in this chat."
    ]
    back = await chat.say("hello again")
    assert [r.text for r in back] == [GREETING, "What do you need help with today?"]
    helpdesk, it, back_again = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [(s["tenant"], s["state"]) for s in (helpdesk, it, back_again)] == [
        ("helpdesk", "transferred"),
        ("it", "ended"),
        ("helpdesk", "active"),
    ]
    assert it["metadata"]["Session.Status.Resolution"] == "resolved"
    assert back_again["metadata"]["Guest.IsNew"] is False


async def test_the_serve_command_and_the_sessions_command_share_one_store(
    tmp_path: Path, connector: FakeConnector
) -> None:
    """`python app.py` as `make run` starts it, configured by the environment alone, then
    `python app.py sessions` on the same store."""
    port = unused_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "CROSSDESK"))},
        "PORT": str(port),
        "CROSSDESK_CONFIG": str(TEST_CONFIG),
        "CROSSDESK_SQLITE_PATH": str(tmp_path / "crossdesk.sqlite3"),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable, "app.py", cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert server.stderr is not None
        while b"Crossdesk on http://127.0.0.1" not in (line := await server.stderr.readline()):
            assert line, "the bot exited before serving"
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as ready:
                        if ready.status == 200:
                            break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.05)  # polling for the port to open, not a race fix
            chat = TeamsChat(http, f"http://127.0.0.1:{port}/api/messages", connector)
            await chat.install()
            options = await chat.say("Printer on floor 3 is jammed")
            after = await chat.submit(choice_value(options, "IT Support"))
            assert "You're now with IT Support" in after.card_titles()
    finally:
        server.terminate()
        await server.wait()

    dump = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        "sessions",
        "--conversation",
        chat.conversation_id,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await dump.communicate()
    assert dump.returncode == 0
    sessions = json.loads(out)["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions] == [
        ("helpdesk", "transferred"),
        ("it", "active"),
    ]
    first, second = sessions
    assert set(first) >= {"id", "tenant", "state", "metadata", "flow", "transcript"}
    assert first["metadata"]["Session.TransferredTo.SessionId"] == second["id"]
    assert second["metadata"]["Session.TransferredFrom.SessionId"] == first["id"]
    assert second["metadata"]["Guest.Question"] == "Printer on floor 3 is jammed"
    # Each session's transcript holds both directions in order, cards in full.
    asked = Transcript.of(first)
    assert (
        asked.index_of("out", GREETING)
        < asked.index_of("out", "What do you need help with today?")
        < asked.index_of("in", "Printer on floor 3 is jammed")
    )
    taken_over = Transcript.of(second)
    assert taken_over.index_of("out", "card: You're now with IT Support") < taken_over.index_of(
        "out", 'Hi Megan Bowen, IT Support here. Help Desk told us: "Printer on floor 3 is jammed"'
    )
