"""The Bot Framework endpoint: `POST /api/messages`, as an aiohttp sub-application.

Crossdesk answers the channel itself rather than through the SDK's `CloudAdapter.process`, and
no request can make it answer 500:

- 413 for a body over 1 MiB, 415 for a compressed body or a charset other than UTF-8, 400 for a
  body that is not a JSON activity (nested more than `MAX_DEPTH` deep, text that is not valid
  Unicode, no `serviceUrl` or conversation id, ids with control characters), all before
  authentication runs;
- 401 for any authentication failure (the SDK answers 500 to most of them);
- invoke bodies returned as they are (the SDK serializes them twice); the SDK's 501 for an
  invoke Crossdesk does not handle stays;
- 503 for a turn that failed (logged once; the guest is told for a message): it committed
  nothing and claimed nothing, so the channel's re-delivery runs it again.

The sub-application owns the outbound side too: the adapter, the kept-alive connector session
and the signing keys, started and stopped with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from azure.core.exceptions import DeserializationError as AzureDeserializationError
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication
from botbuilder.schema import ActivityTypes
from msrest.exceptions import DeserializationError

from bots.edge.adapter import CrossdeskAdapter
from bots.edge.connector import (
    CachingBotFrameworkAuthentication,
    ChannelHttp,
    make_retry_policy_linear,
)
from bots.edge.credentials import CachedCredentialFactory
from bots.edge.signing_keys import SigningKeys, channel_metadata_url
from bots.edge.wire import activity_from_json, warm_up
from bots.teams import CrossdeskBot
from locales import catalog, language_of

log = logging.getLogger(__name__)

#: The Teams activity handler, which the composition root creates once the store is open.
BOT = web.AppKey("bot", CrossdeskBot)


@dataclass(frozen=True)
class ChannelSettings:
    """Who the bot is to the Bot Framework, and where its authentication endpoints are."""

    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    #: Endpoint overrides for the SDK's authentication (tests point these at local servers).
    auth_endpoints: Mapping[str, str] = field(default_factory=dict)

    def sdk_configuration(self) -> object:
        """The attribute bag `ConfigurationBotFrameworkAuthentication` reads."""
        bag = argparse.Namespace(
            APP_ID=self.app_id,
            APP_PASSWORD=self.app_password,
            APP_TYPE=self.app_type,
            APP_TENANTID=self.app_tenant_id,
        )
        for name, value in self.auth_endpoints.items():
            setattr(bag, name, value)
        return bag


class TeamsEndpoint:
    """The channel side of the bot: authentication, the adapter and `/messages`."""

    def __init__(self, channel: ChannelSettings) -> None:
        self.app_id = channel.app_id
        # Managed identities keep the SDK's own factory; app secrets get the token-caching one.
        credentials = (
            None
            if channel.app_type.lower() == "userassignedmsi"
            else CachedCredentialFactory(
                channel.app_id, channel.app_password, channel.app_tenant_id
            )
        )
        # Connector and token clients are built once and reused, replies go out on kept-alive
        # connections (bots/edge/connector.py); the SDK builds new ones for every activity.
        make_retry_policy_linear()
        self._http = ChannelHttp()
        self.authentication = CachingBotFrameworkAuthentication(
            ConfigurationBotFrameworkAuthentication(
                channel.sdk_configuration(), credentials_factory=credentials
            ),
            self._http,
        )
        self.adapter = CrossdeskAdapter(self.authentication)
        self.adapter.on_turn_error = _on_turn_error
        # With auth on, the channel's signing keys are fetched before serving, off the loop.
        self._signing_keys = (
            SigningKeys([channel_metadata_url(dict(channel.auth_endpoints))])
            if channel.app_id
            else None
        )

    def app(self) -> web.Application:
        """The sub-application to mount at `/api`."""
        app = web.Application()
        app.cleanup_ctx.append(self._channel)
        app.router.add_post("/messages", self.messages)
        return app

    async def _channel(self, app: web.Application) -> AsyncIterator[None]:
        await self._http.start()
        await asyncio.to_thread(warm_up)
        if self._signing_keys is not None:
            await self._signing_keys.start()
        yield
        if self._signing_keys is not None:
            await self._signing_keys.stop()
        await self._http.close()

    async def messages(self, request: web.Request) -> web.Response:
        """The Bot Framework endpoint (see the module's docstring for its answers)."""
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            return _answer(415, f"the body must not be encoded ({encoding})")
        charset = request.charset
        if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
            return _answer(415, f"the body must be UTF-8, not {charset}")
        raw = await request.read()  # over client_max_size: aiohttp answers 413
        try:
            body = json.loads(raw)
        except RecursionError:
            return _answer(400, "the body is nested too deeply")
        except ValueError:
            return _answer(400, "the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _answer(400, "the body is not an activity (an object with a `type`)")
        problem = None if _plainly_readable(raw) else _unreadable(body)
        if problem:
            return _answer(400, problem)
        try:
            activity = activity_from_json(body)
        except (DeserializationError, TypeError, ValueError, AttributeError, RecursionError):
            return _answer(400, "the activity cannot be read")
        conversation = activity.conversation
        if not activity.service_url or conversation is None or not conversation.id:
            return _answer(400, "the activity has no serviceUrl or conversation id")
        for name, value in (
            ("conversation id", conversation.id),
            ("activity id", activity.id),
            ("serviceUrl", activity.service_url),
        ):
            if value is not None and not _plain_id(value):
                return _answer(400, f"the activity's {name} is not a plain string")
        if not str(activity.service_url).lower().startswith(("https://", "http://")):
            return _answer(400, "the activity's serviceUrl is not an http(s) URL")

        try:
            authenticated = await self.authentication.authenticate_request(
                activity, request.headers.get("Authorization", "")
            )
        except Exception as error:
            log.warning(
                "rejected an activity: authentication failed (%s: %s)",
                type(error).__name__,
                error,
            )
            return web.json_response({"error": "unauthorized"}, status=401)

        try:
            response = await self.adapter.process_activity(
                authenticated, activity, request.config_dict[BOT].on_turn
            )
        except UnreadableValue:
            return _answer(400, "the activity's value cannot be read")
        except TurnFailed:
            return _answer(503, "the turn failed; nothing of it was kept, send it again")
        except Exception as error:
            # Raised by the SDK outside the turn (building the turn's clients, its answer).
            log.error("activity %s failed outside its turn", activity.id, exc_info=error)
            return _answer(503, "the activity could not be handled; send it again")
        if response is None:
            return web.Response(status=201)
        payload: Any = response.body
        if hasattr(payload, "serialize"):
            payload = payload.serialize()
        if payload is None:
            return web.Response(status=response.status)
        return web.json_response(payload, status=response.status)


#: Nesting deeper than any activity Teams sends (a card's data included) is refused with 400
#: before it can exhaust the parsers' recursion.
MAX_DEPTH = 64
#: Longer than any id Teams uses; a longer one is refused with 400.
_MAX_ID = 2048
_CONTROL = frozenset(chr(code) for code in (*range(32), 127))


class TurnFailed(Exception):
    """A turn raised; it was logged and the guest told, the channel gets 503."""


class UnreadableValue(Exception):
    """The SDK could not read a part of the activity it needed (an invoke's value): 400."""


def _answer(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _plainly_readable(raw: bytes) -> bool:
    """Whether a body that parsed as JSON surely passes `_unreadable`, by a look at its bytes:
    ASCII without escapes holds no lone surrogate (`json.loads` decodes bytes with
    `surrogatepass`, so any other body may), and can nest no deeper than it has brackets."""
    return raw.isascii() and b"\\u" not in raw and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH


def _unreadable(body: Any) -> str | None:
    """Why the parsed body cannot be an activity: nested deeper than `MAX_DEPTH`, or text
    with a lone surrogate (JSON escapes can encode one; no Unicode text contains it)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"the activity is nested more than {MAX_DEPTH} deep"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and not _unicode(key):
                    return "the activity holds text that is not valid Unicode"
                stack.append((item, depth + 1))
        elif isinstance(value, str) and not _unicode(value):
            return "the activity holds text that is not valid Unicode"
    return None


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _MAX_ID and not _CONTROL.intersection(value)


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    """The one path of a failed turn: log it once, tell the guest of a message, answer 503
    (400 when the SDK could not read the activity's value: the input, not the turn, is bad)."""
    if isinstance(error, DeserializationError | AzureDeserializationError):
        log.warning(
            "activity %s refused: the SDK cannot read its value (%s)",
            context.activity.id,
            type(error).__name__,
        )
        raise UnreadableValue from error
    log.error(
        "turn failed for activity %s (%s)",
        context.activity.id,
        type(error).__name__,
        exc_info=error,
    )
    if context.activity.type == ActivityTypes.message:
        try:
            texts = catalog(language_of(context.activity.locale))
            await context.send_activity(texts.text("chat.failed"))
        except Exception as failure:
            log.warning(
                "the guest could not be told that the turn failed (%s)", type(failure).__name__
            )
    raise TurnFailed from error
