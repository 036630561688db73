"""A system Crossdesk calls (a ticket system, a webhook receiver) on 127.0.0.1, scripted by a
test: what it received, and what it answers next."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Request:
    """One request the service received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """What the service answers one request with; `hang` never answers (a timeout)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False


class HttpService:
    """Answers every request with the next scripted `Answer` (then `default`), recording it."""

    def __init__(self, default: Answer | None = None) -> None:
        self.default = default or Answer(200, {})
        self.script: deque[Answer] = deque()
        self.requests: list[Request] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._hanging = asyncio.Event()

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        self._hanging.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Request(request.method, request.path_qs, dict(request.headers), body))
        answer = self.script.popleft() if self.script else self.default
        if answer.hang:
            await self._hanging.wait()
        if answer.body is None:
            return web.Response(status=answer.status, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)
