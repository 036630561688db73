"""The Microsoft 365 Agents SDK echo (microsoft-agents-hosting-aiohttp 1.9), as its samples build
it, in the benchmark's `agents` virtual environment (`bench/peers/__init__.py` builds it).

`python -m bench.peers.agents_echo` with that environment's Python: an `AgentApplication` on
`MemoryStorage`, `CloudAdapter` with an `MsalConnectionManager` from the environment's
configuration (none: auth off, as the samples run locally), `jwt_authorization_middleware` and
`start_agent_process` on aiohttp; the handler echoes every message. Serves on 127.0.0.1 by the
protocol of `bench/lifecycle.py`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from aiohttp import web
from microsoft_agents.activity import load_configuration_from_env
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import (
    CloudAdapter,
    jwt_authorization_middleware,
    start_agent_process,
)
from microsoft_agents.hosting.core import (
    AgentApplication,
    Authorization,
    MemoryStorage,
    TurnContext,
    TurnState,
)

from bench.lifecycle import CallbackTimes, stopped

#: The samples' service connection, with no app id: anonymous requests in, no token out.
AUTH_OFF = {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true"}


def echo_app() -> web.Application:
    """The samples' echo agent on the samples' aiohttp entry point."""
    config = load_configuration_from_env({**AUTH_OFF, **os.environ})
    storage = MemoryStorage()
    connections = MsalConnectionManager(**config)
    adapter = CloudAdapter(connection_manager=connections)
    authorization = Authorization(storage, connections, **config)
    agent = AgentApplication[TurnState](
        storage=storage, adapter=adapter, authorization=authorization, **config
    )

    @agent.activity("message")
    async def on_message(context: TurnContext, _state: TurnState) -> None:
        await context.send_activity(f"Echo: {context.activity.text}")

    async def entry_point(request: web.Request) -> web.Response:
        response: web.Response = await start_agent_process(request, agent, adapter)
        return response

    app = web.Application(middlewares=[jwt_authorization_middleware])
    app.router.add_post("/api/messages", entry_point)
    app["agent_configuration"] = connections.get_default_connection_configuration()
    return app


async def serve(callbacks: CallbackTimes) -> None:
    runner = web.AppRunner(echo_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    callbacks.announce(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    try:
        await stopped()
    finally:
        await runner.cleanup()
        print(callbacks.report(), flush=True)


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    # With no app id (auth off) this logger warns on every turn; with one it is silent.
    logging.getLogger("microsoft_agents.hosting.core.connector.client.user_token_client").setLevel(
        logging.ERROR
    )
    callbacks = CallbackTimes()
    callbacks.install(callbacks="--no-callback-times" not in sys.argv[1:])
    asyncio.run(serve(callbacks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
