"""Storage fixtures: one Cosmos DB test server for the whole run, and stores of every backend.

The contract suite runs against every entry of `BACKENDS`: a third backend is its module plus
one opener here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from storage.base import Store
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


class Clock:
    """Epoch seconds that move only when a test moves them."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Place:
    """Where one backend's data lives in a test, shared by every store opened on it."""

    tmp_path: Path
    request: pytest.FixtureRequest
    database: str


#: Opens a store of one backend on a place, as one app instance would.
Opener = Callable[[Place, float, Clock], Awaitable[Store]]


async def _sqlite(place: Place, lease_seconds: float, clock: Clock) -> Store:
    return SqliteStore(place.tmp_path / "store.sqlite3", lease_seconds=lease_seconds, clock=clock)


async def _cosmos(place: Place, lease_seconds: float, clock: Clock) -> Store:
    server: CosmosServer = place.request.getfixturevalue("cosmos_server")
    return await CosmosStore.open(
        server.url, EMULATOR_KEY, place.database, lease_seconds=lease_seconds, clock=clock
    )


BACKENDS: dict[str, Opener] = {"sqlite": _sqlite, "cosmos": _cosmos}

#: Opens another store instance over the same data (as separate app instances would).
OpenStore = Callable[[], Awaitable[Store]]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=sorted(BACKENDS))
async def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> AsyncIterator[OpenStore]:
    """Opens store instances of one backend over the same data, leases timed by `clock`."""
    opened: list[Store] = []
    place = Place(tmp_path, request, database_name())
    opener = BACKENDS[request.param]

    async def open_one() -> Store:
        store = await opener(place, 30.0, clock)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


@pytest.fixture
async def store(open_store: OpenStore) -> Store:
    return await open_store()


@pytest.fixture
async def cosmos_store(
    cosmos_server: CosmosServer, cosmos_database: str, clock: Clock
) -> AsyncIterator[CosmosStore]:
    store = await CosmosStore.open(cosmos_server.url, EMULATOR_KEY, cosmos_database, clock=clock)
    yield store
    await store.close()
