"""Webhooks: how session events (`integrations/events.py`) are signed and posted.

A turn that starts, connects, transfers or ends a session puts one outbox entry per event and
subscribed webhook into the chat's outbox, in the same commit as everything else it did
(`events`); the delivery posts them in order per chat, on a lane of their own so that a
receiver that is down never holds up the guest's replies, retried with back-off, and records
what it gives up on as a dead letter an admin can replay (`crossdesk webhooks`).

Signing: `Crossdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
webhook's secret (from the environment, read at each attempt: never stored). A receiver checks
the signature and that `t` is recent (`verify`), and drops an event id it has seen.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import aiohttp

from dialogs.delivery import RetryLater, SendResult, Sent, Undeliverable
from integrations.http import OutboundClient, Refused
from storage.base import Outgoing

SIGNATURE_HEADER = "Crossdesk-Signature"
#: How long a receiver accepts a signature after its timestamp (seconds).
TOLERANCE_SECONDS = 300
#: Seconds one post may take.
POST_TIMEOUT = 10.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Crossdesk-Signature` header for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance` seconds of `now` (what a
    receiver checks; the README's receiver example does the same in a few lines)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


class WebhookSender:
    """Posts webhook outbox entries through the outbound client (its policy, no redirects to
    other hosts), signed with the secret the entry names, read from the environment now."""

    def __init__(self, client: OutboundClient, *, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    async def send(self, entry: Outgoing, replacing: str | None = None) -> SendResult:
        activity = entry.activity
        secret = self.client.environment.get(str(activity.get("secret")))
        if not secret:
            return Undeliverable(f"${{env:{activity.get('secret')}}} is not set")
        event = activity.get("event") or {}
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(secret, body, int(self.clock())),
            "Crossdesk-Event-Id": str(event.get("id")),
            "Crossdesk-Event-Type": str(event.get("type")),
        }
        try:
            async with asyncio.timeout(POST_TIMEOUT):
                answer = await self.client.send("POST", str(activity["url"]), headers, body)
        except Refused as refused:
            return Undeliverable(f"refused: {refused}")
        except TimeoutError:
            return RetryLater(f"no answer within {POST_TIMEOUT:g} s")
        except aiohttp.ClientError as failure:
            return RetryLater(f"cannot connect ({type(failure).__name__})")
        if 200 <= answer.status < 300:
            return Sent()
        if answer.status in (408, 429) or answer.status >= 500:
            return RetryLater(f"HTTP {answer.status}", answer.retry_after)
        return Undeliverable(f"HTTP {answer.status}")
