"""The Bot Framework endpoint: `POST /api/messages`, as an aiohttp sub-application.

Crossdesk answers the channel itself rather than through the SDK's `CloudAdapter.process`:
400 for a body that is not an activity, 401 for any authentication failure (the SDK answers
500 to most of them), invoke bodies returned as they are (the SDK serializes them twice). The
sub-application owns the outbound side too: the adapter, the kept-alive connector session and
the signing keys, started and stopped with it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
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
        """The Bot Framework endpoint: 400 for a malformed activity, 401 for failed auth."""
        try:
            body = await request.json()
        except ValueError:
            return _bad_request("the body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return _bad_request("the body is not an activity (an object with a `type`)")
        try:
            activity = activity_from_json(body)
        except (DeserializationError, TypeError, ValueError, AttributeError):
            return _bad_request("the activity cannot be read")
        conversation = activity.conversation
        if not activity.service_url or conversation is None or not conversation.id:
            return _bad_request("the activity has no serviceUrl or conversation id")

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

        response = await self.adapter.process_activity(
            authenticated, activity, request.config_dict[BOT].on_turn
        )
        if response is None:
            return web.Response(status=201)
        payload: Any = response.body
        if hasattr(payload, "serialize"):
            payload = payload.serialize()
        if payload is None:
            return web.Response(status=response.status)
        return web.json_response(payload, status=response.status)


def _bad_request(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    log.error(
        "turn failed for activity %s (%s)",
        context.activity.id,
        type(error).__name__,
        exc_info=error,
    )
    if context.activity.type == ActivityTypes.message:
        await context.send_activity(
            "Sorry, something went wrong on our side. Please send your message again."
        )
