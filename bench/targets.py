"""The bots the benchmark compares, each served in its own process on 127.0.0.1.

`python -m bench.targets KIND [--config PATH] [--sqlite PATH]` binds a free port, prints
`listening <port>` on stdout and serves until SIGTERM, SIGINT or the end of its stdin (so it
never outlives the benchmark that started it): `bench/lifecycle.py`.

- `floor`: a raw aiohttp handler that parses the activity and posts the reply with one
  keep-alive session: the least any bot can do per turn.
- `limit`: the floor plus state, the least a stateful bot can do: the same, with the turn's
  three writes (claim the activity, the chat's state, a transcript line) in one SQLite
  transaction on a WAL file, as Crossdesk's store keeps it.
- `limit-delivered`: the limit bot with the delivery guarantee Crossdesk keeps (a reply is
  neither lost nor sent twice across a crash): the reply is written to an outbox in the turn's
  transaction, and deleted in a second one once its POST was answered.
- `sdk`: a bare botbuilder 4.17.1 echo bot exactly as the samples build it (stock `CloudAdapter`,
  `ActivityHandler`, `adapter.process`).
- `agents`, `teams`: the Microsoft 365 Agents SDK and Teams SDK v2 echoes (`bench/peers/`): this
  process builds their virtual environment if needed, then hands over to its Python.
- `crossdesk`: Crossdesk as `python app.py` serves it (app factory, garbage collector settled
  after start-up, logging at `LOG_LEVEL` or INFO, aiohttp's access log only with
  `CROSSDESK_ACCESS_LOG=on`), with a benchmark configuration and a SQLite store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from bench.lifecycle import CallbackTimes, stopped
from bench.peers import PEERS, PeerUnavailable

KINDS = ("floor", "limit", "limit-delivered", "sdk", *PEERS, "crossdesk")


def _echo(activity: dict[str, object]) -> tuple[str, dict[str, object]]:
    """The URL and body of an echo reply to a message activity."""
    conversation = activity["conversation"]
    assert isinstance(conversation, dict)
    reply = {
        "type": "message",
        "text": f"Echo: {activity.get('text')}",
        "from": activity.get("recipient"),
        "recipient": activity.get("from"),
        "conversation": conversation,
        "replyToId": activity["id"],
    }
    url = (
        f"{str(activity['serviceUrl']).rstrip('/')}/v3/conversations/"
        f"{quote(conversation['id'], safe='')}/activities/{quote(str(activity['id']), safe='')}"
    )
    return url, reply


HTTP = web.AppKey("http", aiohttp.ClientSession)


async def _kept_alive(app: web.Application) -> AsyncIterator[None]:
    app[HTTP] = aiohttp.ClientSession()
    yield
    await app[HTTP].close()


def floor_app() -> web.Application:
    """Parse the activity, post an echo reply on a kept-alive session, answer 201."""
    app = web.Application()

    async def messages(request: web.Request) -> web.Response:
        activity = await request.json()
        if activity.get("type") == "message":
            url, reply = _echo(activity)
            async with request.app[HTTP].post(url, json=reply) as response:
                await response.read()
        return web.Response(status=201)

    app.cleanup_ctx.append(_kept_alive)
    app.router.add_post("/api/messages", messages)
    return app


LIMIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (activity_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chats (
    conversation_id TEXT PRIMARY KEY, turns INTEGER NOT NULL, state TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transcript (
    conversation_id TEXT NOT NULL, at REAL NOT NULL, direction TEXT NOT NULL, text TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL, url TEXT NOT NULL, reply TEXT NOT NULL
);
"""


def limit_app(sqlite: Path, *, delivered: bool = False) -> web.Application:
    """The floor with a stateful turn: claim the activity id, write the chat's state and a
    transcript line in one transaction (WAL, synchronous=NORMAL, on the event loop, as
    Crossdesk's SQLite store does), post the reply on a kept-alive session, answer 201.

    `delivered`: the reply is written to the outbox in that transaction too, and deleted in
    a second one once its POST was answered (what a restart would send again, until then).
    """
    app = web.Application()
    db = sqlite3.connect(sqlite, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(LIMIT_SCHEMA)

    async def close(app: web.Application) -> None:
        db.close()

    async def messages(request: web.Request) -> web.Response:
        activity = await request.json()
        conversation_id = activity["conversation"]["id"]
        text = activity.get("text")
        state = json.dumps({"waiting_at": "ask", "answer": text}, separators=(",", ":"))
        message = activity.get("type") == "message"
        url, reply = _echo(activity) if message else ("", {})
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("INSERT INTO claims VALUES (?)", (activity["id"],))
            db.execute(
                "INSERT INTO chats VALUES (?, 1, ?) ON CONFLICT (conversation_id)"
                " DO UPDATE SET turns = turns + 1, state = excluded.state",
                (conversation_id, state),
            )
            db.execute(
                "INSERT INTO transcript VALUES (?, ?, 'in', ?)",
                (conversation_id, time.time(), text),
            )
            if delivered and message:
                pending = db.execute(
                    "INSERT INTO outbox (conversation_id, url, reply) VALUES (?, ?, ?)",
                    (conversation_id, url, json.dumps(reply, separators=(",", ":"))),
                ).lastrowid
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        if message:
            async with request.app[HTTP].post(url, json=reply) as response:
                await response.read()
            if delivered:
                db.execute("BEGIN IMMEDIATE")
                db.execute("DELETE FROM outbox WHERE id = ?", (pending,))
                db.execute("COMMIT")
        return web.Response(status=201)

    app.cleanup_ctx.append(_kept_alive)
    app.on_cleanup.append(close)
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


class StatementCounts:
    """Every SQLite statement the bot runs, by its first word (BEGIN, SELECT, INSERT, …), from
    `sqlite3.connect`'s trace callback: a benchmark-only wrapper of the connections the bot
    opens after `install`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def install(self) -> None:
        connect = sqlite3.connect
        counts = self.counts

        def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            db: sqlite3.Connection = connect(*args, **kwargs)
            db.set_trace_callback(lambda sql: counts.update((sql.split(None, 1)[0].upper(),)))
            return db

        sqlite3.connect = traced  # type: ignore[assignment]

    def report(self) -> str:
        return f"statements {json.dumps(dict(self.counts))}"


def hand_over(kind: str, *flags: str) -> None:
    """Become the peer `kind`: its environment's Python serving its module (same process id,
    so the benchmark measures it as it started it); exit 3 with the reason if the environment
    cannot be built."""
    peer = PEERS[kind]
    try:
        python = peer.environment.ensure()
    except PeerUnavailable as error:
        print(f"peer unavailable: {error}", file=sys.stderr, flush=True)
        sys.exit(3)
    os.execv(python, [str(python), "-m", peer.module, *flags])


async def serve(
    app: web.Application, callbacks: CallbackTimes, *, access_log: bool = False
) -> None:
    """Serve `app` on a free loopback port until told to stop (`bench/lifecycle.py`); then
    print how long its event-loop callbacks ran. `access_log`: aiohttp's default access log,
    one line per request when logging is at INFO, as `web.run_app` (and `python app.py`) has
    it."""
    runner = web.AppRunner(app) if access_log else web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    callbacks.announce(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    try:
        await stopped()
    finally:
        await runner.cleanup()
        print(callbacks.report(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.targets", description=__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--config", type=Path, help="the Crossdesk configuration")
    parser.add_argument(
        "--sqlite", type=Path, help="the SQLite file (crossdesk, limit, limit-delivered)"
    )
    parser.add_argument(
        "--no-callback-times",
        dest="callback_times",
        action="store_false",
        help="leave the event loop's callbacks untimed (under a profiler)",
    )
    parser.add_argument(
        "--count-statements",
        action="store_true",
        help="count the SQLite statements the bot runs (printed as it stops)",
    )
    args = parser.parse_args(argv)
    statements = StatementCounts()
    if args.count_statements:
        statements.install()
    if args.kind in PEERS:
        hand_over(args.kind, *([] if args.callback_times else ["--no-callback-times"]))
    access_log = False
    if args.kind == "crossdesk":
        if args.config is None or args.sqlite is None:
            parser.error("crossdesk needs --config and --sqlite")
        from app import Settings, configure_logging

        configure_logging(os.environ.get("LOG_LEVEL", "INFO"), serving=True)  # as `python app.py`
        app = crossdesk_app(args.config, args.sqlite)

        access_log = Settings.from_env().access_log  # as `python app.py` decides
    else:
        logging.basicConfig(level=logging.WARNING)
        if args.kind == "floor":
            app = floor_app()
        elif args.kind == "sdk":
            app = sdk_app()
        else:
            if args.sqlite is None:
                parser.error(f"{args.kind} needs --sqlite")
            app = limit_app(args.sqlite, delivered=args.kind == "limit-delivered")
    callbacks = CallbackTimes()
    callbacks.install(callbacks=args.callback_times)
    asyncio.run(serve(app, callbacks, access_log=access_log))
    if args.count_statements:
        print(statements.report(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
