"""The load generator: N concurrent Teams personal chats against one bot, in its own process.

`python -m bench.loadgen --bot URL --pid PID --chats N ...` serves a lean fake Bot Connector on
127.0.0.1 (the activities' `serviceUrl`), runs every chat as a closed loop (install, then
`--turns` messages, then a new chat; with `--time-install` the install is a timed turn too)
and prints one JSON object with what it measured:

- per timed turn, the time from the POST to the last expected reply reaching the connector;
- throughput (timed turns completed inside the measuring window, per second);
- the bot's CPU time over the window (from /proc/PID/stat, all its threads) per timed turn;
- the bot's RSS, sampled against the number of finished chats;
- HTTP status codes, errors, and the TCP connections the bot opened to the connector.

The window opens once every chat has finished a timed turn (the warm-up), so that a slow bot is
measured in its steady state, not while the first installs queue. It is kept lean: it reads
reply bodies without parsing them and builds each activity from a per-chat template.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
#: A turn whose replies take longer than this counts as an error (Teams re-delivers at ~15 s).
REPLY_TIMEOUT = 30.0
DIRECTORY_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:crossdesk-bot", "name": "Crossdesk"}
#: Agents' personal chats with the bot (relay chats): this prefix and the agent's number.
AGENT_CHAT = "a:1agent"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text(encoding="ascii").split()[1]) * _PAGE


@dataclass(slots=True)
class Pending:
    """The replies one turn waits for."""

    expected: int
    arrived: int = 0
    done_at: float = 0.0
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Connector:
    """The fake Bot Connector: counts replies per conversation and the connections they use."""

    def __init__(self) -> None:
        self.waiting: dict[str, Pending] = {}
        #: The bot's end of each connection it opened (address, port): an object's id() would
        #: be reused once a closed connection is freed, undercounting bots that open one a turn.
        self.connections: set[tuple[str, int]] = set()
        self.replies = 0
        self.unexpected = 0
        #: Offers to agents, by the guest's conversation they offer (relay chats).
        self.offers: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}
        self.url = ""
        self._runner: web.ServerRunner | None = None

    async def start(self) -> None:
        self._runner = web.ServerRunner(web.Server(self._handle), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.BaseRequest) -> web.Response:
        if request.transport is not None:
            peer = request.transport.get_extra_info("peername")
            if peer is not None:
                self.connections.add((peer[0], peer[1]))
        parts = request.path.split("/")
        # /v3/conversations/{conversation}/activities[/{replyTo}] or .../members/{member}
        if len(parts) < 5 or parts[2] != "conversations":
            return web.Response(status=404)
        conversation = parts[3]
        if request.method == "GET" and parts[4] == "members":
            member = {
                "id": parts[5] if len(parts) > 5 else "",
                "name": "Megan Bowen",
                "givenName": "Megan",
                "surname": "Bowen",
                "email": "megan@example.com",
                "userPrincipalName": "megan@example.com",
                "tenantId": DIRECTORY_TENANT,
            }
            return web.json_response(member)
        body = await request.read()
        self.replies += 1
        if conversation.startswith(AGENT_CHAT):
            if b'"accept"' in body:
                self.offered(conversation, body)
                return web.json_response({"id": uuid.uuid4().hex}, status=201)
            if request.method == "PUT":  # an offer updated in place ("Taken", "Accepted")
                return web.json_response({"id": parts[5] if len(parts) > 5 else ""})
        pending = self.waiting.get(conversation)
        if pending is None:
            self.unexpected += 1
        else:
            pending.arrived += 1
            if pending.arrived == pending.expected:
                pending.done_at = time.perf_counter()
                if not pending.done.done():
                    pending.done.set_result(None)
        return web.json_response({"id": uuid.uuid4().hex}, status=201)

    def offered(self, agent_conversation: str, body: bytes) -> None:
        """An offer card reached an agent: the Accept button's data, for the chat it offers."""
        card = json.loads(body)["attachments"][0]["content"]
        for action in card.get("actions", ()):
            data = action.get("data", {}).get("crossdesk", {})
            if data.get("agent") == "accept":
                offers = self.offers.get(data["chat"])
                if offers is not None:
                    offers.put_nowait((agent_conversation, data))
                    return
        self.unexpected += 1


@dataclass
class Plan:
    """What to run: against which bot, how many chats, how long, what each turn expects."""

    bot: str
    pid: int
    chats: int
    duration: float
    warmup_min: float
    warmup_max: float
    turns: int
    install_replies: int
    turn_replies: int
    #: Whether a chat's install counts as a timed turn (a mix of fresh chats) or not (long chats).
    time_install: bool = False
    #: Relay chats: each chat is connected to a human agent (one per chat), then its messages
    #: go alternately from the guest to the agent and back, one reply each.
    relay: bool = False
    #: Replies to the guest when they end a relay chat.
    end_replies: int = 1


@dataclass
class Results:
    """Everything measured, turned into the JSON line the benchmark reads."""

    latencies: list[float] = field(default_factory=list)
    http_latencies: list[float] = field(default_factory=list)
    completed_in_window: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    chats_finished: int = 0
    rss: list[tuple[int, int]] = field(default_factory=list)


class LoadGenerator:
    """Runs the chats of one plan and measures them."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.connector = Connector()
        self.results = Results()
        self.window: tuple[float, float] = (float("inf"), float("inf"))
        self.stopping = False
        self.warmed: set[int] = set()
        self.all_warm = asyncio.Event()
        #: Agents' personal chats by conversation id (relay chats).
        self.agents: dict[str, dict[str, Any]] = {}

    def activity(self, chat: dict[str, Any], kind: str, **fields: Any) -> bytes:
        now = time.time()
        stamp = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
        )
        body = {**chat, "type": kind, "id": f"1:{uuid.uuid4().hex}", "timestamp": stamp, **fields}
        return json.dumps(body, separators=(",", ":")).encode()

    def new_chat(self, index: int) -> dict[str, Any]:
        # A new guest per chat: a chat slot's next chat is someone else's, so nothing the bot
        # keeps per user (a member look-up cache) passes for free in fresh chats.
        who = {
            "id": f"29:1{uuid.uuid4().hex}",
            "name": "Megan Bowen",
            "aadObjectId": str(uuid.uuid4()),
        }
        return {
            "serviceUrl": self.connector.url,
            "channelId": "msteams",
            "from": who,
            "conversation": {
                "conversationType": "personal",
                "tenantId": DIRECTORY_TENANT,
                "id": f"a:1{uuid.uuid4().hex}",
            },
            "recipient": BOT,
            "locale": "en-US",
            "entities": [
                {"type": "clientInfo", "locale": "en-US", "platform": "Web", "timezone": "UTC"}
            ],
            "channelData": {"tenant": {"id": DIRECTORY_TENANT}},
        }

    async def turn(
        self, http: aiohttp.ClientSession, conversation: str, body: bytes, expected: int
    ) -> tuple[float, float, float] | None:
        """Post one activity; (start, HTTP answered, last reply) or None if it failed."""
        return await self.post(http, body, {conversation: expected})

    async def post(
        self, http: aiohttp.ClientSession, body: bytes, expected: dict[str, int], step: str = ""
    ) -> tuple[float, float, float] | None:
        """Post one activity whose replies go to the chats in `expected` (that many to each);
        (start, HTTP answered, last reply) or None if it failed."""
        waiting = {c: Pending(n) for c, n in expected.items() if n}
        self.connector.waiting.update(waiting)
        start = time.perf_counter()
        try:
            async with http.post(
                self.plan.bot, data=body, headers={"Content-Type": "application/json"}
            ) as response:
                await response.read()
                status = response.status
            answered = time.perf_counter()
            self.results.statuses[status] += 1
            if status not in (200, 201, 202):
                self.results.errors[f"HTTP {status}"] += 1
                return None
            if waiting:
                await asyncio.wait_for(
                    asyncio.gather(*(p.done for p in waiting.values())), REPLY_TIMEOUT
                )
            return start, answered, max((p.done_at for p in waiting.values()), default=answered)
        except TimeoutError:
            self.results.errors[f"reply timeout{step}"] += 1
            return None
        except aiohttp.ClientError as error:
            self.results.errors[type(error).__name__] += 1
            return None
        finally:
            for conversation in waiting:
                del self.connector.waiting[conversation]

    async def chat_loop(self, http: aiohttp.ClientSession, index: int) -> None:
        while not self.stopping:
            chat = self.new_chat(index)
            conversation = chat["conversation"]["id"]
            install = self.activity(chat, "conversationUpdate", membersAdded=[BOT, chat["from"]])
            timing = await self.turn(http, conversation, install, self.plan.install_replies)
            if timing is None:
                continue
            if self.plan.time_install:
                self.record(index, *timing)
            for number in range(self.plan.turns):
                if self.stopping:
                    return
                body = self.activity(chat, "message", text=f"question {number}", textFormat="plain")
                timing = await self.turn(http, conversation, body, self.plan.turn_replies)
                if timing is None:
                    continue
                self.record(index, *timing)
            self.results.chats_finished += 1

    def agent_chat(self, number: int) -> dict[str, Any]:
        """Agent `number`'s personal chat with the bot (the relay configuration's agents)."""
        chat = self.new_chat(number)
        chat["from"] = {
            "id": f"29:1agent{number:03d}",
            "name": f"Agent {number:03d}",
            "aadObjectId": f"00000000-0000-4000-8000-{number:012d}",
        }
        chat["conversation"]["id"] = f"{AGENT_CHAT}{number:03d}"
        return chat

    async def agents_available(self, http: aiohttp.ClientSession) -> None:
        """Every agent says "available" (one card back each) before the first chat starts."""
        for number in range(1, self.plan.chats + 1):
            chat = self.agent_chat(number)
            self.agents[chat["conversation"]["id"]] = chat
            body = self.activity(chat, "message", text="available", textFormat="plain")
            if await self.post(http, body, {chat["conversation"]["id"]: 1}) is None:
                raise RuntimeError(f"agent {number} could not be made available")

    async def relay_loop(self, http: aiohttp.ClientSession, index: int) -> None:
        """Relay chats: the install puts the guest in the queue (a waiting card), the offer
        reaches one agent, who accepts (both told); then timed messages alternate guest → agent
        and agent → guest; then the guest ends the chat (the agent is told) and a new one starts."""
        while not self.stopping:
            chat = self.new_chat(index)
            guest = chat["conversation"]["id"]
            offers = self.connector.offers[guest] = asyncio.Queue()
            try:
                install = self.activity(
                    chat, "conversationUpdate", membersAdded=[BOT, chat["from"]]
                )
                if (
                    await self.post(http, install, {guest: self.plan.install_replies}, " (install)")
                    is None
                ):
                    continue
                agent = await self.connect(http, guest, offers)
            finally:
                del self.connector.offers[guest]
            if agent is None:
                continue
            for number in range(self.plan.turns):
                if self.stopping:
                    return
                by_guest = number % 2 == 0
                text = f"{'question' if by_guest else 'answer'} {number}"
                body = self.activity(chat if by_guest else self.agents[agent], "message", text=text)
                to = agent if by_guest else guest
                timing = await self.post(http, body, {to: 1}, " (relay)")
                if timing is not None:
                    self.record(index, *timing)
            end = self.activity(chat, "message", text="end chat")
            await self.post(http, end, {agent: 1, guest: self.plan.end_replies}, " (end)")
            self.results.chats_finished += 1

    async def connect(
        self,
        http: aiohttp.ClientSession,
        guest: str,
        offers: asyncio.Queue[tuple[str, dict[str, Any]]],
    ) -> str | None:
        """Accept the offers the guest's chat brings until one agent joins (the guest is told);
        an agent who got two chats at once and is full passes the second on to the next agent.
        The agent's chat, or None."""
        while True:
            try:
                agent, data = await asyncio.wait_for(offers.get(), REPLY_TIMEOUT)
            except TimeoutError:
                self.results.errors["no offer"] += 1
                return None
            joined = self.connector.waiting[guest] = Pending(1)
            # What the agent is told (joined, or full and the offer card updated) is not
            # waited for; an agent who is full may be in another chat's turn, which keeps it.
            mine = agent not in self.connector.waiting
            if mine:
                self.connector.waiting[agent] = Pending(0)
            try:
                accept = self.activity(self.agents[agent], "message", value={"crossdesk": data})
                async with http.post(
                    self.plan.bot, data=accept, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    self.results.statuses[response.status] += 1
                passed = asyncio.ensure_future(offers.get())
                await asyncio.wait(
                    (joined.done, passed), timeout=REPLY_TIMEOUT, return_when="FIRST_COMPLETED"
                )
                if joined.done.done():
                    passed.cancel()
                    return agent
                if not passed.done():
                    passed.cancel()
                    self.results.errors["reply timeout (accept)"] += 1
                    return None
                offers.put_nowait(passed.result())
            finally:
                del self.connector.waiting[guest]
                if mine:
                    del self.connector.waiting[agent]

    def record(self, index: int, start: float, answered: float, done: float) -> None:
        opened, closed = self.window
        end = max(answered, done)
        if opened <= start < closed:
            self.results.latencies.append(done - start)
            self.results.http_latencies.append(answered - start)
        if opened <= end <= closed:
            self.results.completed_in_window += 1
        if index not in self.warmed:
            self.warmed.add(index)
            if len(self.warmed) == self.plan.chats:
                self.all_warm.set()

    async def sample_rss(self) -> None:
        while True:
            self.results.rss.append((self.results.chats_finished, rss_bytes(self.plan.pid)))
            await asyncio.sleep(0.25)

    async def run(self) -> dict[str, Any]:
        plan = self.plan
        await self.connector.start()
        own_cpu = resource.getrusage(resource.RUSAGE_SELF)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        if plan.relay:
            await self.agents_available(http)
        loop = self.relay_loop if plan.relay else self.chat_loop
        chats = [asyncio.ensure_future(loop(http, i)) for i in range(plan.chats)]
        sampler: asyncio.Future[None] | None = None
        try:
            began = time.perf_counter()
            await asyncio.sleep(plan.warmup_min)
            remaining = plan.warmup_max - (time.perf_counter() - began)
            try:
                await asyncio.wait_for(self.all_warm.wait(), max(remaining, 0.0))
            except TimeoutError:
                self.results.errors["warm-up incomplete"] += 1
            cpu_before, chats_before = cpu_seconds(plan.pid), self.results.chats_finished
            opened = time.perf_counter()
            self.window = (opened, opened + plan.duration)
            sampler = asyncio.ensure_future(self.sample_rss())
            await asyncio.sleep(plan.duration)
            cpu = cpu_seconds(plan.pid) - cpu_before
            rss = rss_bytes(plan.pid)
            chats_in_window = self.results.chats_finished - chats_before
            self.stopping = True
            # Turns that started inside the window finish before the chats stop (bounded).
            _, late = await asyncio.wait(chats, timeout=REPLY_TIMEOUT + 5)
            for task in late:
                task.cancel()
            if late:
                self.results.errors["chats cancelled at the end"] += len(late)
        finally:
            self.stopping = True
            if sampler is not None:
                sampler.cancel()
            for task in chats:
                task.cancel()
            await asyncio.gather(*chats, return_exceptions=True)
            await http.close()
            await self.connector.stop()
        used = resource.getrusage(resource.RUSAGE_SELF)
        completed = self.results.completed_in_window
        return {
            "latencies": self.results.latencies,
            "http_latencies": self.results.http_latencies,
            "throughput": completed / plan.duration,
            "completed": completed,
            "bot_cpu_per_turn": cpu / completed if completed else None,
            "bot_cpu_share": cpu / plan.duration,
            "rss": rss,
            "rss_samples": self.results.rss,
            "chats_finished_in_window": chats_in_window,
            "statuses": {str(k): v for k, v in self.results.statuses.items()},
            "errors": dict(self.results.errors),
            "connector_connections": len(self.connector.connections),
            "connector_replies": self.connector.replies,
            "unexpected_replies": self.connector.unexpected,
            "loadgen_cpu": used.ru_utime + used.ru_stime - own_cpu.ru_utime - own_cpu.ru_stime,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    parser.add_argument("--bot", required=True, help="the bot's /api/messages URL")
    parser.add_argument("--pid", type=int, required=True, help="the bot's process id")
    parser.add_argument("--chats", type=int, required=True)
    parser.add_argument("--duration", type=float, default=5.0, help="measuring window, seconds")
    parser.add_argument("--warmup-min", type=float, default=0.5)
    parser.add_argument("--warmup-max", type=float, default=30.0)
    parser.add_argument("--turns", type=int, default=20, help="timed messages per chat")
    parser.add_argument("--install-replies", type=int, default=0)
    parser.add_argument("--turn-replies", type=int, default=1)
    parser.add_argument(
        "--time-install", action="store_true", help="count each chat's install as a timed turn"
    )
    parser.add_argument(
        "--relay",
        action="store_true",
        help="relay chats: each connected to an agent of bench/config/relay.yaml",
    )
    parser.add_argument("--end-replies", type=int, default=1, help="replies to a relay chat's end")
    args = parser.parse_args(argv)
    plan = Plan(
        bot=args.bot,
        pid=args.pid,
        chats=args.chats,
        duration=args.duration,
        warmup_min=args.warmup_min,
        warmup_max=args.warmup_max,
        turns=args.turns,
        install_replies=args.install_replies,
        turn_replies=args.turn_replies,
        time_install=args.time_install,
        relay=args.relay,
        end_replies=args.end_replies,
    )
    result = asyncio.run(LoadGenerator(plan).run())
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
