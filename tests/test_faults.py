"""The fault suite: nothing lost, nothing doubled, no half transfer, no 5xx for any request.

- a Bot Connector that answers 429 / 412 / 500 / 502 or answers slowly, at random, for a third
  of the bot's sends: every reply a turn committed reaches the chat once, in order;
- `python app.py` killed with SIGKILL at random points of many turns and transfers (while it
  looks a guest up before its commit, while it delivers after its commit), restarted, and
  each unanswered activity re-delivered as Teams does: every message stored once, every reply
  delivered once, every transfer whole;
- a seeded fuzzer of malformed and mutated activities: never a 5xx, the bot healthy after.

`make test` runs a quick, seeded subset; `CROSSDESK_FAULT_SCALE=10 make test` (or any number)
runs that many times more chats, kills and fuzzed requests. Figures: README, "Reliability".
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from app import RUNTIME, STORE, SWEEPER
from storage.export import conversation_export
from storage.sqlite import SqliteStore
from tests.conftest import RunningBot, StartBot
from tests.support.config import TEST_CONFIG
from tests.support.connector import FakeConnector
from tests.support.desk import EpochClock
from tests.support.ports import unused_port
from tests.support.teams import BOT, TeamsChat, guest

REPO = Path(__file__).resolve().parent.parent
SCALE = max(1, int(os.environ.get("CROSSDESK_FAULT_SCALE", "1")))
SEED = int(os.environ.get("CROSSDESK_FAULT_SEED", "20261203"))

#: A chat's typed steps: the question, HR (a transfer), HR's question, the close.
STEPS = ("My payslip shows the wrong bank account", "HR", "Pay, since October", "That's all")


def shown(item: dict[str, Any]) -> str:
    """A message as the guest sees it: its text, or its card's first text block."""
    for attachment in item.get("attachments") or []:
        body = (attachment.get("content") or {}).get("body") or [{}]
        return f"card: {body[0].get('text', '')}"
    return str(item.get("text"))


async def check_chat(store: Any, connector: FakeConnector, chat: TeamsChat) -> None:
    """What the store says the chat said and received is exactly what reached it, in order."""
    export = await conversation_export(store, chat.conversation_id)
    sessions = export["sessions"]
    said = [e["text"] for s in sessions for e in s["transcript"] if e["direction"] == "in"]
    assert said == list(STEPS), f"{chat.conversation_id}: every message stored once: {said}"
    committed = [shown(e) for s in sessions for e in s["transcript"] if e["direction"] == "out"]
    delivered = [shown(r.activity) for r in connector.of(chat.conversation_id)]
    assert delivered == committed, f"{chat.conversation_id}: each reply once, in order"
    assert [(s["tenant"], s["state"]) for s in sessions] == [
        ("helpdesk", "transferred"),
        ("hr", "ended"),
    ]
    helpdesk, hr = sessions
    assert helpdesk["metadata"]["Session.TransferredTo.SessionId"] == hr["id"]
    assert hr["metadata"]["Session.TransferredFrom.SessionId"] == helpdesk["id"]
    assert [(t["from"], t["to"]) for t in export["transfers"]] == [(helpdesk["id"], hr["id"])]
    assert hr["metadata"]["Guest.Question"] == STEPS[0]


# a connector that fails a third of the sends


async def test_connector_faults_deliver_every_reply_once_and_in_order(
    start_bot: StartBot, connector: FakeConnector
) -> None:
    rng = random.Random(SEED)
    faults: Counter[str] = Counter()

    async def unreliable(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        if kind != "send" or rng.random() >= 0.3:
            return None
        fault = rng.choice(["429", "412", "500", "502", "slow"])
        faults[fault] += 1
        if fault == "slow":
            await asyncio.sleep(0.05)
            return None
        headers = {"Retry-After": "1"} if fault == "429" else {}
        error = {"error": {"code": "Throttled" if fault == "429" else "ServiceError"}}
        return web.json_response(error, status=int(fault), headers=headers)

    bot = await start_bot()
    # Waits the delivery asks for pass on a clock of their own, not the test's wall time.
    clock = EpochClock()
    delivery = bot.app[RUNTIME].delivery
    delivery.clock, delivery.sleep = clock, clock.sleep
    connector.intercept = unreliable
    chats = [bot.chat(who=guest(f"Guest {n}", f"29:1guest-{n}")) for n in range(8 * SCALE)]

    async def converse(chat: TeamsChat) -> None:
        await chat.install()
        for text in STEPS:
            await chat.say(text)

    await asyncio.gather(*(converse(chat) for chat in chats))
    # What waited longer than a turn waits is the sweeper's, when it is due.
    store, sweeper = bot.app[STORE], bot.app[SWEEPER]
    while await store.due_chats(clock.now + 24 * 3600, 10_000):
        clock.now += 60
        await sweeper.sweep()

    assert set(faults) == {"429", "412", "500", "502", "slow"}, faults
    for chat in chats:
        await check_chat(store, connector, chat)


# SIGKILL at random points


class BotProcess:
    """`python app.py` on a SQLite file, restarted on the same port after each kill."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}/api/messages"
        self.log = tmp_path / "bot.log"
        self.env = {
            **os.environ,
            "CROSSDESK_CONFIG": str(TEST_CONFIG),
            "CROSSDESK_SQLITE_PATH": str(tmp_path / "crossdesk.sqlite3"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "MicrosoftAppId": "",
            "LOG_LEVEL": "WARNING",
            # A dead process's lease is taken over after a second, not five.
            "CROSSDESK_LEASE_SECONDS": "1",
            # Left-over messages go out when Teams re-delivers (the path under test), not when a
            # sweep happens to run.
            "CROSSDESK_SWEEP_SECONDS": "0",
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "app.py", cwd=REPO, env=self.env, stdout=output, stderr=output
            )
        self.starts += 1
        healthz = self.url.replace("/api/messages", "/healthz")
        async with asyncio.timeout(60):
            while True:  # a readiness probe: the app imports the SDK before it listens
                if self.process.returncode is not None:
                    raise RuntimeError(f"the bot exited: {self.log.read_text()[-3000:]}")
                try:
                    async with http.get(healthz) as ready:
                        if ready.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def test_sigkill_at_random_points_loses_nothing_doubles_nothing_halves_no_transfer(
    tmp_path: Path, connector: FakeConnector
) -> None:
    rng = random.Random(SEED)
    chats_count = 6 * SCALE
    # Sends and look-ups the chats will cause: about 8 sends and 1 look-up each.
    plan = sorted(rng.sample(range(1, 9 * chats_count), 5 * SCALE))
    kills: Counter[str] = Counter()
    requests = 0
    bot = BotProcess(tmp_path)
    killed = asyncio.Event()

    async def killing(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        nonlocal requests
        requests += 1
        if plan and requests >= plan[0]:
            plan.pop(0)
            kills["before its commit" if kind == "member" else "while delivering"] += 1
            bot.kill()
            killed.set()
            return web.Response(status=503)  # nobody reads it: the bot is gone
        return None

    connector.intercept = killing
    async with aiohttp.ClientSession() as http:
        await bot.start(http)

        async def deliver(chat: TeamsChat, activity: dict[str, Any]) -> None:
            """Post until answered 2xx, restarting the bot when it died: Teams re-delivers."""
            while True:
                try:
                    response = await chat.post(activity)
                except aiohttp.ClientError:
                    response = None
                if response is not None and response.status < 300:
                    return
                assert response is None or response.status == 503, response.status
                if killed.is_set():
                    assert bot.process is not None
                    await bot.process.wait()
                    killed.clear()
                    await bot.start(http)

        chats = []
        try:
            for n in range(chats_count):
                chat = TeamsChat(http, bot.url, connector, who=guest(f"G{n}", f"29:1g{n}"))
                chats.append(chat)
                await deliver(
                    chat, chat.activity("conversationUpdate", membersAdded=[BOT, chat.who])
                )
                for text in STEPS:
                    await deliver(chat, chat.activity("message", text=text, textFormat="plain"))
        finally:
            await bot.stop()

    assert sum(kills.values()) == 5 * SCALE and bot.starts == 1 + 5 * SCALE, kills
    store = SqliteStore(tmp_path / "crossdesk.sqlite3")
    try:
        for chat in chats:
            await check_chat(store, connector, chat)
        assert await store.due_chats(float("inf"), 10) == [], "nothing left to deliver"
    finally:
        await store.close()


# the fuzzer


def _mutations(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON value of the kinds that break parsers and ids."""
    kinds = ["none", "bool", "int", "float", "text", "hostile", "list", "dict", "deep"]
    kind = rng.choice(kinds if depth < 3 else kinds[:6])
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.choice([0, -1, 2**63, -(2**70), rng.randint(-1000, 1000)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e308, 3.14])
    if kind == "text":
        return "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 40)))
    if kind == "hostile":
        return rng.choice(
            [
                "\ud800",
                "a\udfffb",
                "line\nbreak",
                "\x00nul",
                "${Session.SessionId}",
                "x" * rng.randint(3000, 70_000),
                "<b>bold</b>",
                "\u202eevil",
            ]
        )
    if kind == "list":
        return [_mutations(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == "dict":
        return {f"k{n}": _mutations(rng, depth + 1) for n in range(rng.randint(0, 4))}
    nested: Any = "bottom"
    for _ in range(rng.randint(40, 900)):
        nested = [nested] if rng.random() < 0.5 else {"n": nested}
    return nested


def _mutate(rng: random.Random, activity: dict[str, Any]) -> dict[str, Any]:
    """`activity` with a few fields removed, replaced or added at random; the serviceUrl stays
    the fake connector's or becomes malformed (a well-formed URL elsewhere is another test)."""
    mutated = json.loads(json.dumps(activity))
    for _ in range(rng.randint(1, 4)):
        target = mutated
        path = rng.choice(
            [
                ["type"], ["id"], ["text"], ["value"], ["from"], ["from", "id"],
                ["conversation"], ["conversation", "id"], ["recipient"], ["channelId"],
                ["channelData"], ["channelData", "tenant"], ["entities"], ["attachments"],
                ["membersAdded"], ["name"], ["locale"], ["timestamp"], ["serviceUrl"],
                ["value", "action"], ["value", "crossdesk"], ["extra"],
            ]
        )  # fmt: skip
        for step in path[:-1]:
            if not isinstance(target.get(step), dict):
                target[step] = {}
            target = target[step]
        if path == ["serviceUrl"]:
            target["serviceUrl"] = rng.choice([None, 7, "", "ftp://x", "not a url", "http://\n"])
        elif rng.random() < 0.3:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = _mutations(rng)
    return mutated


def _encode(rng: random.Random, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body as bytes, sometimes broken, with headers that are sometimes wrong."""
    raw = json.dumps(body).encode()
    roll = rng.random()
    if roll < 0.05:
        raw = raw[: rng.randint(0, len(raw))]
    elif roll < 0.1:
        spot = rng.randrange(len(raw))
        raw = raw[:spot] + bytes([rng.randrange(256)]) + raw[spot + 1 :]
    elif roll < 0.12:
        raw = b"\xef\xbb\xbf" + raw
    elif roll < 0.14:
        raw = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
    elif roll < 0.16:
        depth = rng.randint(1000, 50_000)  # deeper than Python's own parser recursion
        raw = b'{"type": "message", "value": ' + b"[" * depth + b"]" * depth + b"}"
    headers = {"Content-Type": "application/json"}
    header_roll = rng.random()
    if header_roll < 0.05:
        headers["Content-Type"] = rng.choice(
            [
                "application/json; charset=latin-1",
                "application/json; charset=nonsense",
                "text/plain",
                "application/json; charset=UTF-8",
            ]
        )
    elif header_roll < 0.08:
        headers["Content-Encoding"] = rng.choice(["gzip", "br", "deflate", "identity"])
    return raw, headers


async def test_malformed_and_mutated_activities_never_get_a_5xx(bot: RunningBot) -> None:
    rng = random.Random(SEED)
    clock = EpochClock()
    delivery = bot.app[RUNTIME].delivery
    delivery.clock, delivery.sleep = clock, clock.sleep
    chat = bot.chat()
    kinds: list[Callable[[], dict[str, Any]]] = [
        lambda: chat.activity("message", text="hello"),
        lambda: chat.activity("message", value={"crossdesk": {"choice": "hr"}}),
        lambda: chat.activity("conversationUpdate", membersAdded=[BOT, chat.who]),
        lambda: chat.activity("installationUpdate", action="add"),
        lambda: chat.activity(
            "invoke",
            name="adaptiveCard/action",
            value={"action": {"type": "Action.Execute", "data": {}}},
        ),
        lambda: chat.activity("invoke", name="composeExtension/query", value={}),
        lambda: chat.activity("typing"),
    ]
    statuses: Counter[int] = Counter()
    for number in range(2000 * SCALE):
        if number % 50 == 0:
            chat = bot.chat()  # fresh chats now and then, so install paths run too
        body = _mutate(rng, rng.choice(kinds)())
        raw, headers = _encode(rng, body)
        async with bot.http.post(bot.url, data=raw, headers=headers) as response:
            await response.read()
            statuses[response.status] += 1
            if response.status == 501:
                # The SDK's answer to an invoke Crossdesk does not handle (README: reliability).
                sent = json.loads(raw)
                assert sent["type"] == "invoke" and sent.get("name") != "adaptiveCard/action"
                continue
            assert response.status < 500, (number, response.status, raw[:300])
    assert sum(statuses.values()) == 2000 * SCALE
    assert statuses[201] > 100 and statuses[400] > 100, statuses

    healthy = bot.chat()
    await healthy.install()
    options = await healthy.say("Is the bot still well?")
    assert options.card_titled("Thanks. Which team should take this?")
