"""The Teams SDK v2 echo (microsoft-teams-apps 2.1), as its samples build it, in the benchmark's
`teams` virtual environment (`bench/peers/__init__.py` builds it).

`python -m bench.peers.teams_echo` with that environment's Python: an `App` whose `on_message`
handler echoes, served by the SDK's own hosting (its `FastAPIAdapter` on uvicorn, at uvicorn's
log level `app.start()` uses: an access-log line per request). Two settings differ from a
sample's: no credentials, with `dangerously_allow_unauthenticated_requests` (auth off, as the
other bots here), and a `server_factory` that serves on a socket bound to 127.0.0.1 (the
default binds every interface) on a free port. Serves by the protocol of `bench/lifecycle.py`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import uvicorn
from fastapi import FastAPI
from microsoft_teams.api import MessageActivity
from microsoft_teams.apps import ActivityContext, App, FastAPIAdapter

from bench.lifecycle import CallbackTimes, stopped


def echo_app(listener: socket.socket) -> App:
    def server(fastapi: FastAPI) -> uvicorn.Server:
        return uvicorn.Server(uvicorn.Config(app=fastapi, fd=listener.fileno(), log_level="info"))

    app = App(
        dangerously_allow_unauthenticated_requests=True,
        http_server_adapter=FastAPIAdapter(server_factory=server),
    )

    @app.on_message
    async def on_message(ctx: ActivityContext[MessageActivity]) -> None:
        await ctx.send(f"Echo: {ctx.activity.text}")

    return app


async def serve(callbacks: CallbackTimes) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    app = echo_app(listener)
    port = listener.getsockname()[1]
    serving = asyncio.ensure_future(app.start(port))
    callbacks.announce(port)
    try:
        await stopped()
    finally:
        await app.stop()
        await asyncio.wait_for(serving, 10)
        listener.close()
        print(callbacks.report(), flush=True)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    callbacks = CallbackTimes()
    callbacks.install(callbacks="--no-callback-times" not in sys.argv[1:])
    asyncio.run(serve(callbacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
