"""Teams-shaped activities and a client that posts them to a running Crossdesk."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.support.connector import FakeConnector
from tests.support.replies import Received, Replies

DIRECTORY_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT = {"id": "28:crossdesk-bot", "name": "Crossdesk"}


def guest(name: str = "Megan Bowen", user_id: str = "29:1megan") -> dict[str, Any]:
    return {"id": user_id, "name": name, "aadObjectId": str(uuid.uuid5(uuid.NAMESPACE_DNS, name))}


class TeamsChat:
    """One personal chat between a guest and the bot, as Teams would post it."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        bot_url: str,
        connector: FakeConnector,
        *,
        who: dict[str, Any] | None = None,
        conversation_id: str | None = None,
        headers: dict[str, str] | None = None,
        locale: str = "en-US",
        timezone: str | None = "Europe/London",
    ) -> None:
        self.locale = locale
        self.timezone = timezone
        self.http = http
        self.bot_url = bot_url
        self.connector = connector
        self.who = who or guest()
        self.conversation_id = conversation_id or f"a:1{uuid.uuid4().hex}"
        self.headers = headers or {}

    def activity(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "id": fields.pop("id", None) or f"1:{uuid.uuid4().hex}",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "localTimestamp": datetime.now(UTC).isoformat(),
            "serviceUrl": self.connector.url,
            "channelId": "msteams",
            "from": self.who,
            "conversation": {
                "conversationType": "personal",
                "tenantId": DIRECTORY_TENANT,
                "id": self.conversation_id,
            },
            "recipient": BOT,
            "locale": self.locale,
            "entities": [
                {
                    "type": "clientInfo",
                    "locale": self.locale,
                    "country": "GB",
                    "platform": "Web",
                    **({"timezone": self.timezone} if self.timezone else {}),
                }
            ],
            "channelData": {"tenant": {"id": DIRECTORY_TENANT}},
            **fields,
        }

    async def post(
        self, body: Any, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        async with self.http.post(
            self.bot_url, json=body, headers={**self.headers, **(headers or {})}
        ) as response:
            await response.read()
            return response

    def received(self) -> Replies:
        """Everything the bot has sent to this chat so far, in order."""
        return self.connector.of(self.conversation_id)

    async def _send(self, activity: dict[str, Any]) -> Replies:
        """Post `activity`; what the bot sent to this chat while answering it."""
        before = self.received()
        response = await self.post(activity)
        assert response.status in (200, 201), response.status
        return self.received().after(before)

    async def install(self) -> Replies:
        """The conversationUpdate Teams sends when the guest adds the app."""
        return await self._send(self.activity("conversationUpdate", membersAdded=[BOT, self.who]))

    async def say(self, text: str, **fields: Any) -> Replies:
        return await self._send(self.activity("message", text=text, textFormat="plain", **fields))

    async def submit(self, value: dict[str, Any], **fields: Any) -> Replies:
        """An `Action.Submit` click: a message with `value` and no text."""
        return await self._send(self.activity("message", value=value, **fields))

    async def execute(self, data: dict[str, Any], verb: str = "choose") -> aiohttp.ClientResponse:
        """An `Action.Execute` click: an `adaptiveCard/action` invoke."""
        body = self.activity(
            "invoke",
            name="adaptiveCard/action",
            value={
                "action": {"type": "Action.Execute", "verb": verb, "data": data},
                "trigger": "manual",
            },
        )
        return await self.post(body)


def choice_value(received: list[Received], title: str) -> dict[str, Any]:
    """The submit data of the button titled `title` on the last card offering it."""
    return Replies(received).choice_value(title)
