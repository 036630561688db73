"""The test server's launcher: each of its four fixes matters.

Every case runs the same raw Cosmos DB REST calls against a server with all fixes and one with
that fix turned off (`--without …`), and shows the stock bug on the second. Raw HTTP, because
the SDK retries a 500 for seconds (and re-sends half-applied batches) instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.cosmos import CosmosServer


@dataclass
class RawCosmos:
    """Just enough of the Cosmos DB REST API, without auth (the servers accept any key)."""

    http: aiohttp.ClientSession
    url: str
    database: str = "raw"
    container: str = "items"

    @property
    def docs(self) -> str:
        return f"{self.url}/dbs/{self.database}/colls/{self.container}/docs"

    async def call(
        self, method: str, url: str, body: Any = None, partition: str | None = None, **headers: str
    ) -> tuple[int, Any]:
        if partition is not None:
            headers["x-ms-documentdb-partitionkey"] = json.dumps([partition])
        async with self.http.request(
            method, url, data=json.dumps(body) if body is not None else None, headers=headers
        ) as response:
            return response.status, await response.json(content_type=None)

    async def setup(self) -> None:
        assert (await self.call("POST", f"{self.url}/dbs", {"id": self.database}))[0] == 201
        status, _ = await self.call(
            "POST",
            f"{self.url}/dbs/{self.database}/colls",
            {"id": self.container, "partitionKey": {"paths": ["/pk"], "kind": "Hash"}},
        )
        assert status == 201

    async def create(self, item: dict[str, Any]) -> None:
        assert (await self.call("POST", self.docs, item, partition=item["pk"]))[0] == 201

    async def read(self, item_id: str, partition: str) -> int:
        return (await self.call("GET", f"{self.docs}/{item_id}", partition=partition))[0]

    async def query(self, query: str, partition: str) -> tuple[int, Any]:
        return await self.call(
            "POST",
            self.docs,
            {"query": query, "parameters": []},
            partition=partition,
            **{"x-ms-documentdb-isquery": "True", "content-type": "application/query+json"},
        )

    async def batch(self, operations: list[dict[str, Any]], partition: str) -> tuple[int, Any]:
        return await self.call(
            "POST",
            self.docs,
            operations,
            partition=partition,
            **{"x-ms-cosmos-is-batch-request": "True", "x-ms-cosmos-batch-atomic": "True"},
        )


@pytest.fixture(scope="module")
def fixed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CosmosServer]:
    server = CosmosServer.start("--any-key", log=tmp_path_factory.mktemp("fixed") / "log")
    yield server
    server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@asynccontextmanager
async def both(
    fix: str, fixed_server: CosmosServer, http: aiohttp.ClientSession, tmp_path: Path
) -> AsyncIterator[tuple[RawCosmos, RawCosmos]]:
    """A fresh database on the fixed server, and a server without `fix`."""
    broken = CosmosServer.start("--any-key", "--without", fix, log=tmp_path / "broken.log")
    try:
        fixed = RawCosmos(http, fixed_server.url, database=tmp_path.name[:40])
        stock = RawCosmos(http, broken.url)
        for server in (fixed, stock):
            await server.setup()
        yield fixed, stock
    finally:
        broken.stop()


async def test_reading_a_missing_item_is_a_404(
    fixed_server: CosmosServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    async with both("read-404", fixed_server, http, tmp_path) as (fixed, stock):
        for server in (fixed, stock):
            await server.create({"id": "present", "pk": "p1"})
            assert await server.read("present", "p1") == 200
        assert await fixed.read("missing", "p1") == 404
        assert await fixed.read("present", "p2") == 404
        assert await stock.read("missing", "p1") == 500


async def test_a_query_sees_only_its_partition(
    fixed_server: CosmosServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    naming_both = "SELECT * FROM c WHERE c.kind = 'x' AND (c.pk = 'p1' OR c.pk = 'p2')"
    async with both("partition-query", fixed_server, http, tmp_path) as (fixed, stock):
        for server in (fixed, stock):
            await server.create({"id": "a", "pk": "p1", "kind": "x"})
            await server.create({"id": "b", "pk": "p2", "kind": "x"})
        status, body = await fixed.query(naming_both, "p1")
        assert (status, [d["id"] for d in body["Documents"]]) == (200, ["a"])
        status, body = await fixed.query("SELECT * FROM c WHERE c.kind = 'x'", "p2")
        assert (status, [d["id"] for d in body["Documents"]]) == (200, ["b"])
        # Stock: the header is ignored, so the other partition's item comes back, and a
        # query that does not name the partition key in its filter is refused outright.
        status, body = await stock.query(naming_both, "p1")
        assert (status, sorted(d["id"] for d in body["Documents"])) == (200, ["a", "b"])
        assert (await stock.query("SELECT * FROM c WHERE c.kind = 'x'", "p2"))[0] == 400


async def test_batch_operations_take_the_partition_key_from_the_header(
    fixed_server: CosmosServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    # What the Python SDK sends: the partition key only in the request's header.
    operations: list[dict[str, Any]] = [
        {"operationType": "Create", "resourceBody": {"id": "s", "pk": "p1", "n": 1}},
        {"operationType": "Replace", "id": "s", "resourceBody": {"id": "s", "pk": "p1", "n": 2}},
        {"operationType": "Read", "id": "s"},
    ]
    async with both("batch-partition", fixed_server, http, tmp_path) as (fixed, stock):
        status, results = await fixed.batch(operations, "p1")
        assert (status, [r["statusCode"] for r in results]) == (200, [201, 200, 200])
        assert results[2]["resourceBody"]["n"] == 2
        status, body = await stock.batch(operations, "p1")
        assert status == 500 and "partitionkey" in body["message"].lower()


async def test_a_failing_batch_leaves_nothing_behind(
    fixed_server: CosmosServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    operations: list[dict[str, Any]] = [
        {"operationType": "Create", "resourceBody": {"id": "new", "pk": "p1"}},
        {"operationType": "Create", "resourceBody": {"id": "taken", "pk": "p1"}},
    ]
    async with both("batch-rollback", fixed_server, http, tmp_path) as (fixed, stock):
        for server in (fixed, stock):
            await server.create({"id": "taken", "pk": "p1"})
        status, results = await fixed.batch(operations, "p1")
        assert (status, [r["statusCode"] for r in results]) == (207, [424, 409])
        assert await fixed.read("new", "p1") == 404
        status, results = await stock.batch(operations, "p1")
        assert [r["statusCode"] for r in results] == [201, 409]
        assert await stock.read("new", "p1") == 200, "stock keeps the first create"
