"""Posting outbox entries to the Bot Connector, and reading its answers as the runtime needs.

Each entry is posted once per attempt through the kept connector client of its service URL
(`bots/edge/connector.py`: kept-alive connections, the bot's cached token) as the SDK's
`send_to_conversation` / `reply_to_activity` post it, straight from its JSON: without the SDK's
turn context (its per-send deep copies and hooks) or a model built to be serialized back.

The Bot Connector's answers map to what the delivery does: 429 waits as long as Retry-After
asks; 412, 500, 502, 503 and 504 are retried with back-off (a 5xx may hide a message that was
delivered: the delivery is at least once there); 400 and 403 will not change (the bot was
blocked or removed) and are given up. A 1:1 chat Teams no longer has (404: its history was
deleted) is created again and the message posted there; so is a chat with an agent who never
wrote to the bot (no conversation yet).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from botframework.connector import models
from botframework.connector.auth import AuthenticationConstants, ClaimsIdentity
from msrest.exceptions import ClientRequestError

from bots.edge.connector import CachingBotFrameworkAuthentication
from dialogs.delivery import RetryLater, SendResult, Sent, Undeliverable
from storage.base import Outgoing

log = logging.getLogger(__name__)

#: Answers worth another attempt (Teams' guidance: 412, 429, 502 and 504; 500 and 503 too).
_TRANSIENT = frozenset({408, 412, 429, 500, 502, 503, 504})


class ConnectorSender:
    """The runtime's `Sender`: posts an entry to the conversation its activity names."""

    def __init__(self, authentication: CachingBotFrameworkAuthentication, app_id: str) -> None:
        claims = ClaimsIdentity(
            {
                AuthenticationConstants.AUDIENCE_CLAIM: app_id,
                AuthenticationConstants.APP_ID_CLAIM: app_id,
            },
            True,
        )
        self._connectors = authentication.create_connector_factory(claims)

    async def send(self, entry: Outgoing, replacing: str | None = None) -> SendResult:
        activity = dict(entry.activity)
        conversation_id, created = entry.conversation_id, None
        try:
            client = await self._connectors.create(str(activity["serviceUrl"]), None)
            if replacing:
                answer = await client.conversations.put_activity(
                    conversation_id, replacing, activity
                )
                return Sent(getattr(answer, "id", None))
            if not conversation_id:
                # A chat with someone who never wrote to the bot: Teams creates it.
                created = conversation_id = await _create(client, activity)
            try:
                answer = await client.conversations.post_activity(
                    conversation_id, entry.reply_to, _to(activity, conversation_id)
                )
            except models.ErrorResponseException as error:
                if _status(error.response) != 404 or created or not _recipient(activity):
                    raise
                # The chat is gone (its history deleted): a 1:1 chat is created again.
                created = conversation_id = await _create(client, activity)
                answer = await client.conversations.post_activity(
                    conversation_id, None, _to(activity, conversation_id)
                )
        except models.ErrorResponseException as error:
            return _refused(error.response)
        except (ClientRequestError, aiohttp.ClientError, TimeoutError) as error:
            # The connection failed: the message may or may not have arrived.
            return RetryLater(f"connection failed ({type(error).__name__})")
        return Sent(getattr(answer, "id", None), created)


async def _create(client: Any, activity: dict[str, Any]) -> str:
    """A 1:1 chat between the bot and the activity's recipient (by Teams or Entra id), in the
    Microsoft Entra tenant of the activity's conversation; Teams answers the existing one if
    there is one."""
    conversation = activity.get("conversation") or {}
    channel_data = activity.get("channelData") or {}
    tenant = conversation.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
    bot = activity.get("from") or {}
    parameters = models.ConversationParameters(
        is_group=False,
        bot=models.ChannelAccount(id=bot.get("id"), name=bot.get("name")),
        members=[models.ChannelAccount(id=_recipient(activity))],
        tenant_id=tenant,
        channel_data={"tenant": {"id": tenant}} if tenant else None,
    )
    answer = await client.conversations.create_conversation(parameters)
    return str(answer.id)


def _recipient(activity: dict[str, Any]) -> str | None:
    recipient = activity.get("recipient") or {}
    return recipient.get("id") or recipient.get("aadObjectId")


def _to(activity: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    conversation = activity.get("conversation") or {}
    if conversation.get("id") == conversation_id:
        return activity
    return {**activity, "conversation": {**conversation, "id": conversation_id}}


def _status(response: Any) -> int:
    # msrest keeps the transport's response: aiohttp's (`status`) or requests' (`status_code`).
    return int(getattr(response, "status", None) or getattr(response, "status_code", 0) or 0)


def _refused(response: Any) -> SendResult:
    status = _status(response)
    if status in _TRANSIENT:
        return RetryLater(f"the Bot Connector answered {status}", _retry_after(response))
    return Undeliverable(f"the Bot Connector answered {status}")


def _retry_after(response: Any) -> float | None:
    """Seconds the answer's Retry-After header asks for (a number or an HTTP date)."""
    value = (getattr(response, "headers", None) or {}).get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
