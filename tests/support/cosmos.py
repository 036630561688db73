"""The Cosmos DB test server (tests/support/cosmos_server.js) from Python: start, stop, and its
control API (request counts, the batches it ran, throttling on demand)."""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

#: The Cosmos DB emulator's published, well-known account key: not a secret.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
LAUNCHER = Path(__file__).with_name("cosmos_server.js")
REPO = LAUNCHER.parents[2]


def database_name() -> str:
    """A database of its own for one test: the server is shared by the whole run."""
    return f"test-{uuid.uuid4().hex[:12]}"


@dataclass
class CosmosServer:
    """One running launcher process on 127.0.0.1 and a free port."""

    url: str
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, *flags: str, log: Path) -> CosmosServer:
        """Start the launcher with `flags` and wait for its ready line (its stderr goes to
        `log`). It exits by itself when its stdin closes, e.g. if the test run dies."""
        with log.open("ab") as errors:
            process = subprocess.Popen(
                ["node", str(LAUNCHER), *flags],
                cwd=REPO,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.wait(timeout=10)
            raise RuntimeError(f"the Cosmos DB test server did not start: {log.read_text()}")
        return cls(json.loads(line)["url"], process)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.url}/_crossdesk/{path}", json=body) as response,
        ):
            response.raise_for_status()
            return await response.json()

    async def reset_stats(self) -> None:
        """Forget the request counts and the batch log."""
        await self._control("POST", "stats/reset")

    async def requests(self, database: str) -> dict[str, int]:
        """Requests per kind (batch, query, get-item, …, and `total`) to `database`."""
        stats = await self._control("GET", "stats")
        return dict(stats["byDatabase"].get(database, {"total": 0}))

    async def total_requests(self) -> int:
        """Requests the server received since the last reset, to any database or none."""
        stats = await self._control("GET", "stats")
        return int(stats["total"])

    async def batches(self, database: str) -> list[dict[str, Any]]:
        """The transactional batches the server ran on `database`, oldest first."""
        return [b for b in await self._control("GET", "batches") if b["database"] == database]

    async def throttle(self, count: int, retry_after_ms: int) -> None:
        """Answer the next `count` requests with 429 and this retry-after."""
        await self._control("POST", "throttle", {"count": count, "retryAfterMs": retry_after_ms})
