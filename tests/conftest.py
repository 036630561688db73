"""Fixtures: a fake Bot Connector and the real Crossdesk app, both on 127.0.0.1 free ports.

A bot runs the tests' own configuration (tests/config/desk.yaml) unless a test passes another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from app import STORE, Settings, create_app
from storage.base import Store
from tests.support.config import TEST_CONFIG
from tests.support.connector import FakeConnector
from tests.support.identity import APP_ID, FakeIdentity
from tests.support.teams import TeamsChat


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.stop()


@dataclass
class RunningBot:
    """A Crossdesk app served over HTTP, with its store for assertions."""

    url: str
    app: web.Application
    connector: FakeConnector
    http: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.app[STORE]

    def chat(self, **kwargs: object) -> TeamsChat:
        return TeamsChat(self.http, self.url, self.connector, **kwargs)  # type: ignore[arg-type]


StartBot = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def start_bot(tmp_path: Path, connector: FakeConnector) -> AsyncIterator[StartBot]:
    runners: list[web.AppRunner] = []
    http = aiohttp.ClientSession()

    async def start(
        settings: Settings | None = None,
        config: Path = TEST_CONFIG,
        sqlite: str | None = None,
        sweep_seconds: float = 0.0,
        clock: Callable[[], datetime] | None = None,
    ) -> RunningBot:
        """A bot on a SQLite file of its own, or on the file named `sqlite` (in `tmp_path`)
        that another bot of the test shares. Its sweeper of undelivered messages is off unless
        `sweep_seconds` is given: a test sweeps when it means to (`app[SWEEPER].sweep()`).
        `clock` is the time its turns take (default: the real time)."""
        base = settings or Settings()
        settings = replace(
            base,
            config_path=config,
            sqlite_path=tmp_path / (sqlite or f"crossdesk-{len(runners)}.sqlite3"),
            sweep_seconds=sweep_seconds,
        )
        app = create_app(settings, clock=clock) if clock else create_app(settings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return RunningBot(f"http://127.0.0.1:{port}/api/messages", app, connector, http)

    yield start
    await http.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def bot(start_bot: StartBot) -> RunningBot:
    return await start_bot()


@pytest.fixture
def identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIdentity]:
    """A local Bot Framework identity service (OpenID metadata, signing keys, token endpoint)."""
    with FakeIdentity(tmp_path) as server:
        # The outbound token client (msal, requests) must trust the local HTTPS server.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_file))
        yield server


@pytest.fixture
async def secured(start_bot: StartBot, identity: FakeIdentity) -> RunningBot:
    """Crossdesk with MicrosoftAppId set: every request needs a valid token from `identity`."""
    return await start_bot(
        Settings(app_id=APP_ID, app_password="s3cret", auth_endpoints=identity.sdk_endpoints())
    )
