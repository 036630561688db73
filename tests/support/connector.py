"""A fake Bot Connector (the Teams channel's REST API) on 127.0.0.1.

It serves what the bot calls: replies, new messages, updates (keeping every version of an
activity), new 1:1 conversations and member look-ups; records every request in arrival order
per conversation, and can be told to fail a route to test how the bot degrades: `intercept`
sees every request (its kind: "send", "update", "create" or "member") before it is served and
may answer it instead (a fault, nothing recorded).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.support.replies import Received, Replies

__all__ = ["FakeConnector", "Received"]


@dataclass
class FakeConnector:
    """Records the bot's outbound activities per conversation."""

    received: list[Received] = field(default_factory=list)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every version of each activity the bot sent and then updated, by activity id.
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: 1:1 conversations the bot created, by member id; members who never installed the app
    #: (creating a chat with them answers 403, as Teams does).
    created: dict[str, str] = field(default_factory=dict)
    not_installed: set[str] = field(default_factory=set)
    fail_members: bool = False
    connections: set[int] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    url: str = ""
    #: Called with each request's kind ("send" or "member"), conversation id and the request;
    #: a response it returns is answered instead, and a send answered so is not recorded.
    intercept: Callable[[str, str, web.Request], Awaitable[web.StreamResponse | None]] | None = None
    _runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conversation}/activities", self._post)
        app.router.add_post("/v3/conversations/{conversation}/activities/{reply_to}", self._post)
        app.router.add_put("/v3/conversations/{conversation}/activities/{activity}", self._put)
        app.router.add_get("/v3/conversations/{conversation}/members/{member}", self._member)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/"
        return self.url

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            self.connections.add(id(transport))
        body = await request.json()
        reply_to = request.match_info.get("reply_to")
        conversation = unquote(request.match_info["conversation"])
        if self.intercept is not None:
            answer = await self.intercept("send", conversation, request)
            if answer is not None:
                return answer
        activity_id = f"bot-activity-{next(self._ids)}"
        self.received.append(
            Received(
                conversation,
                reply_to,
                {**body, "id": activity_id},
                request.headers.get("Authorization"),
            )
        )
        self.versions[activity_id] = [body]
        return web.json_response({"id": activity_id}, status=201)

    async def _put(self, request: web.Request) -> web.StreamResponse:
        activity_id = request.match_info["activity"]
        conversation = unquote(request.match_info["conversation"])
        if self.intercept is not None:
            answer = await self.intercept("update", conversation, request)
            if answer is not None:
                return answer
        if activity_id not in self.versions:
            return web.json_response({"error": {"code": "ActivityNotFound"}}, status=404)
        self.versions[activity_id].append(await request.json())
        return web.json_response({"id": activity_id})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        """A 1:1 conversation with one member: the same id every time, as in Teams."""
        body = await request.json()
        members = body.get("members") or []
        member = str(members[0].get("id")) if members else ""
        if self.intercept is not None:
            answer = await self.intercept("create", member, request)
            if answer is not None:
                return answer
        if not member:
            return web.json_response({"error": {"code": "BadArgument"}}, status=400)
        if member in self.not_installed:
            error = {"code": "BotNotInConversationRoster", "message": "The bot is not part of"}
            return web.json_response({"error": error}, status=403)
        conversation = self.created.setdefault(member, f"a:1created-{len(self.created) + 1}")
        return web.json_response({"id": conversation}, status=201)

    def latest(self, activity_id: str) -> dict[str, Any]:
        """An activity the bot sent, as its last update left it."""
        return self.versions[activity_id][-1]

    async def _member(self, request: web.Request) -> web.StreamResponse:
        if self.intercept is not None:
            conversation = unquote(request.match_info["conversation"])
            answer = await self.intercept("member", conversation, request)
            if answer is not None:
                return answer
        if self.fail_members:
            return web.json_response({"error": {"code": "ServiceError"}}, status=500)
        member = self.members.get(unquote(request.match_info["member"]))
        if member is None:
            return web.json_response({"error": {"code": "MemberNotFound"}}, status=404)
        return web.json_response(member)

    def of(self, conversation_id: str) -> Replies:
        """Everything sent to one chat so far, in order."""
        return Replies(r for r in self.received if r.conversation_id == conversation_id)
