"""A small local ticket system for trying the example configuration's IT path.

    .venv/bin/python scripts/ticket_system.py          # http://127.0.0.1:8086

`POST /api/tickets` with a JSON body files a ticket and answers
`{"result": {"number": "INC0001001", "url": "http://127.0.0.1:8086/tickets/INC0001001"}}`
(201); a request repeating an `Idempotency-Key` gets the ticket it filed before, not a second
one. `GET /tickets/NUMBER` shows a ticket. With `TICKET_SYSTEM_TOKEN` set, requests must carry
`Authorization: Bearer <token>`. Tickets live in memory; it serves loopback only.
"""

from __future__ import annotations

import argparse
import hmac
import os
from typing import Any

from aiohttp import web

TICKETS = web.AppKey("tickets", dict[str, dict[str, Any]])
KEYS = web.AppKey("keys", dict[str, str])


def ticket_app(token: str = "") -> web.Application:
    """The ticket system as an aiohttp application (tests and the script share it)."""
    app = web.Application()
    app[TICKETS] = {}
    app[KEYS] = {}

    def authorized(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return not token or hmac.compare_digest(given, f"Bearer {token}")

    async def file(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        try:
            fields = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(fields, dict):
            return web.json_response({"error": "the body is not a JSON object"}, status=400)
        tickets, keys = request.app[TICKETS], request.app[KEYS]
        key = request.headers.get("Idempotency-Key")
        number = keys.get(key) if key else None
        status = 200
        if number is None:
            number = f"INC{1001 + len(tickets):07d}"
            tickets[number] = {"number": number, **fields}
            if key:
                keys[key] = number
            status = 201
        url = f"{request.scheme}://{request.host}/tickets/{number}"
        return web.json_response({"result": {"number": number, "url": url}}, status=status)

    async def show(request: web.Request) -> web.Response:
        ticket = request.app[TICKETS].get(request.match_info["number"])
        if ticket is None:
            return web.json_response({"error": "no such ticket"}, status=404)
        return web.json_response(ticket)

    app.router.add_post("/api/tickets", file)
    app.router.add_get("/tickets/{number}", show)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8086)
    args = parser.parse_args()
    app = ticket_app(os.environ.get("TICKET_SYSTEM_TOKEN", ""))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None)


if __name__ == "__main__":
    main()
