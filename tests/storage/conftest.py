"""Storage fixtures: one Cosmos DB test server for the whole run, and stores of either backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from storage.base import SessionStore
from storage.cosmos import CosmosStore
from storage.sqlite import SqliteStore
from tests.support.cosmos import EMULATOR_KEY, CosmosServer, database_name


@pytest.fixture(scope="session")
def cosmos_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    """The fixed Cosmos DB server on 127.0.0.1, checking the emulator key, for the whole run."""
    server = CosmosServer.start(log=tmp_path_factory.mktemp("cosmos") / "server.log")
    yield server
    server.stop()


@pytest.fixture
def cosmos_database() -> str:
    return database_name()


OpenStore = Callable[[], Awaitable[SessionStore]]


@pytest.fixture(params=["sqlite", "cosmos"])
async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OpenStore]:
    """Opens store instances of one backend over the same data, as separate app instances
    would (one SQLite file, or one Cosmos DB database)."""
    opened: list[SessionStore] = []
    if request.param == "cosmos":
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        database = database_name()

        async def open_one() -> SessionStore:
            store = await CosmosStore.open(server.url, EMULATOR_KEY, database)
            opened.append(store)
            return store
    else:

        async def open_one() -> SessionStore:
            store = SqliteStore(tmp_path / "store.sqlite3")
            opened.append(store)
            return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> SessionStore:
    return await open_store()


@pytest.fixture
async def cosmos_store(
    cosmos_server: CosmosServer, cosmos_database: str
) -> AsyncIterator[CosmosStore]:
    store = await CosmosStore.open(cosmos_server.url, EMULATOR_KEY, cosmos_database)
    yield store
    await store.close()
