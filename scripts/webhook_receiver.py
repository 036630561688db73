"""An example webhook receiver: checks each event's signature, drops repeats, prints events.

    CROSSDESK_WEBHOOK_SECRET=… .venv/bin/python scripts/webhook_receiver.py   # 127.0.0.1:8087

Point a webhook at http://127.0.0.1:8087/crossdesk (with `outbound.allowed_hosts:
["127.0.0.1:8087"]` and `allow_private: true`). Events with a missing, wrong or stale signature
are answered 401; an event id seen before is answered 200 and not handled again (delivery is at
least once). Standard library and aiohttp only: copy what you need.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import time

from aiohttp import web

#: Signatures older (or newer) than this are refused: a captured request cannot be replayed.
TOLERANCE_SECONDS = 300
EVENTS = web.AppKey("events", list[dict[str, object]])


def verified(secret: str, body: bytes, header: str, now: float | None = None) -> bool:
    """Whether `Crossdesk-Signature: t=…,v1=…` signs `body` with `secret`, recently."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


def receiver_app(secret: str) -> web.Application:
    app = web.Application()
    app[EVENTS] = []
    seen: set[str] = set()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verified(secret, body, request.headers.get("Crossdesk-Signature", "")):
            return web.json_response({"error": "bad signature"}, status=401)
        event = json.loads(body)
        if event["id"] in seen:
            return web.Response(status=200)
        seen.add(event["id"])
        request.app[EVENTS].append(event)
        print(event["type"], event["session"]["tenantId"], event["session"]["id"], flush=True)
        return web.Response(status=204)

    app.router.add_post("/crossdesk", receive)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=8087)
    args = parser.parse_args()
    secret = os.environ.get("CROSSDESK_WEBHOOK_SECRET", "")
    if not secret:
        raise SystemExit("set CROSSDESK_WEBHOOK_SECRET to the secret the webhook signs with")
    web.run_app(receiver_app(secret), host="127.0.0.1", port=args.port, access_log=None)


if __name__ == "__main__":
    main()
