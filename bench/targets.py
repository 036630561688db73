"""The three bots the benchmark compares, each served in its own process on 127.0.0.1.

`python -m bench.targets floor|sdk|crossdesk [--config PATH] [--sqlite PATH]` binds a free port,
prints `listening <port>` on stdout and serves until SIGTERM, SIGINT or the end of its stdin (so
it never outlives the benchmark that started it).

- `floor`: a raw aiohttp handler that parses the activity and posts the reply with one
  keep-alive session: the least any bot can do per turn.
- `sdk`: a bare botbuilder 4.17.1 echo bot exactly as the samples build it (stock `CloudAdapter`,
  `ActivityHandler`, `adapter.process`): what a user would pick instead of Crossdesk.
- `crossdesk`: Crossdesk as `python app.py` serves it (app factory, garbage collector settled
  after start-up), with a benchmark configuration and a SQLite store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiohttp import web


def floor_app() -> web.Application:
    """Parse the activity, post an echo reply on a kept-alive session, answer 201."""
    app = web.Application()
    http = web.AppKey("http", aiohttp.ClientSession)

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[http] = aiohttp.ClientSession()
        yield
        await app[http].close()

    async def messages(request: web.Request) -> web.Response:
        activity = await request.json()
        if activity.get("type") == "message":
            conversation = activity["conversation"]
            reply = {
                "type": "message",
                "text": f"Echo: {activity.get('text')}",
                "from": activity.get("recipient"),
                "recipient": activity.get("from"),
                "conversation": conversation,
                "replyToId": activity["id"],
            }
            url = (
                f"{activity['serviceUrl'].rstrip('/')}/v3/conversations/"
                f"{quote(conversation['id'], safe='')}/activities/{quote(activity['id'], safe='')}"
            )
            async with request.app[http].post(url, json=reply) as response:
                await response.read()
        return web.Response(status=201)

    app.cleanup_ctx.append(session)
    app.router.add_post("/api/messages", messages)
    return app


def sdk_app() -> web.Application:
    """The botbuilder 4.17.1 echo sample: stock adapter, stock handler, auth off."""
    from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
    from botbuilder.integration.aiohttp import (
        CloudAdapter,
        ConfigurationBotFrameworkAuthentication,
    )
    from botbuilder.schema import Activity

    class EchoBot(ActivityHandler):  # type: ignore[misc]
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            activity: Activity = turn_context.activity
            await turn_context.send_activity(MessageFactory.text(f"Echo: {activity.text}"))

    config = argparse.Namespace(APP_ID="", APP_PASSWORD="", APP_TYPE="MultiTenant", APP_TENANTID="")
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response: web.Response = await adapter.process(request, bot)
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


def crossdesk_app(config: Path, sqlite: Path) -> web.Application:
    """Crossdesk as `python app.py` serves it, auth off, on the given configuration."""
    from app import Settings, create_app, settle_garbage_collector

    # Each benchmark chat sends as fast as the bot answers, far over Teams' limits for one
    # conversation (7 messages a second, 60 in 30 s) that Crossdesk otherwise keeps to.
    app = create_app(Settings(config_path=config, sqlite_path=sqlite, pacing=False))
    app.on_startup.append(settle_garbage_collector)  # as `python app.py` does
    return app


class CallbackTimes:
    """How long each event-loop callback ran: while one runs, every other chat waits.

    Each callback is timed on the wall clock and on this thread's CPU clock, which stands
    still while the OS runs other processes, so a busy machine does not pass for blocking.
    A benchmark-only wrapper around asyncio's `Handle._run`; Crossdesk itself never does this.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def install(self) -> None:
        original = asyncio.events.Handle._run
        wall, cpu = self.wall, self.cpu

        def timed(handle: asyncio.events.Handle) -> None:
            started, used = time.perf_counter(), time.thread_time()
            original(handle)
            wall.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - used)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]

    def report(self) -> str:
        """`callbacks {"cpu_p99": s, "cpu_max": s, "wall_max": s, "over_10ms": n, ...}`."""

        def p99(values: list[float]) -> float:
            ordered = sorted(values) or [0.0]
            return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

        figures = {
            "count": len(self.cpu),
            "cpu_p99": p99(self.cpu),
            "cpu_max": max(self.cpu, default=0.0),
            "wall_max": max(self.wall, default=0.0),
            "cpu_over_10ms": sum(1 for value in self.cpu if value > 0.010),
        }
        return f"callbacks {json.dumps(figures)}"


async def serve(app: web.Application, callbacks: CallbackTimes) -> None:
    """Serve `app` on a free loopback port until told to stop; then print how long its
    event-loop callbacks ran (`CallbackTimes`)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"listening {port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    # The end of stdin means the benchmark that started this process is gone.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    watch = asyncio.ensure_future(reader.read())
    watch.add_done_callback(lambda _: stop.set())
    try:
        await stop.wait()
    finally:
        watch.cancel()
        await runner.cleanup()
        print(callbacks.report(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.targets", description=__doc__)
    parser.add_argument("kind", choices=["floor", "sdk", "crossdesk"])
    parser.add_argument("--config", type=Path, help="the Crossdesk configuration")
    parser.add_argument("--sqlite", type=Path, help="the Crossdesk SQLite file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.kind == "floor":
        app = floor_app()
    elif args.kind == "sdk":
        app = sdk_app()
    else:
        if args.config is None or args.sqlite is None:
            parser.error("crossdesk needs --config and --sqlite")
        app = crossdesk_app(args.config, args.sqlite)
    callbacks = CallbackTimes()
    callbacks.install()
    asyncio.run(serve(app, callbacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
