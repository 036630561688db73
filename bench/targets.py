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

    app = create_app(Settings(config_path=config, sqlite_path=sqlite))
    app.on_startup.append(settle_garbage_collector)  # as `python app.py` does
    return app


class LoopLag:
    """How late the event loop runs a timer due every `INTERVAL`: while a callback runs, every
    other chat waits, so the lateness is how long the bot blocked its event loop."""

    INTERVAL = 0.005

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.INTERVAL
            await asyncio.sleep(self.INTERVAL)
            self.samples.append(max(0.0, loop.time() - due))

    def report(self) -> str:
        """`loop-lag {"p99": seconds, "max": seconds, "samples": n}`, one line."""
        ordered = sorted(self.samples) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        figures = {"p99": p99, "max": ordered[-1], "samples": len(self.samples)}
        return f"loop-lag {json.dumps(figures)}"


async def serve(app: web.Application) -> None:
    """Serve `app` on a free loopback port until told to stop; then print how late the event
    loop ran (`LoopLag`)."""
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
    lag = LoopLag()
    probe = asyncio.ensure_future(lag.watch())
    try:
        await stop.wait()
    finally:
        probe.cancel()
        watch.cancel()
        await runner.cleanup()
        print(lag.report(), flush=True)


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
    asyncio.run(serve(app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
