"""Clear failures: an unreachable endpoint, a wrong key, throttling. Each is reported once,
names the endpoint and never the key; start-up fails fast and `python app.py` exits 2."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import subprocess
import sys
import time

import pytest

from errors import StorageError
from storage.cosmos import CosmosStore
from tests.storage.chats import open_chat
from tests.support.config import TEST_CONFIG
from tests.support.cosmos import EMULATOR_KEY, REPO, CosmosServer
from tests.support.ports import unused_port

CHAT = "a:1WqgcXnL8dQ5rBf-throttled-chat"
WRONG_KEY = base64.b64encode(b"not the account key, but well-formed base64").decode()


def no_secret_in(text: str) -> None:
    for secret in (WRONG_KEY, EMULATOR_KEY):
        assert secret not in text
        assert secret[:16] not in text


async def test_a_wrong_key_fails_start_up_after_a_few_tries(
    cosmos_server: CosmosServer, cosmos_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    await cosmos_server.reset_stats()
    with pytest.raises(StorageError) as failure:
        await CosmosStore.open(cosmos_server.url, WRONG_KEY, cosmos_database)
    # The SDK tries a refused key a few times (platform notes), then gives up: no endless wait.
    assert 1 <= await cosmos_server.total_requests() <= 5
    message = str(failure.value)
    assert cosmos_server.url in message and "COSMOS_KEY" in message and "401" in message
    no_secret_in(message + caplog.text)
    assert failure.value.__cause__ is None and failure.value.__suppress_context__


async def test_a_key_that_is_not_a_key_is_named_as_such(cosmos_server: CosmosServer) -> None:
    with pytest.raises(StorageError, match=r"COSMOS_KEY for http://127\.0\.0\.1:\d+ is not a"):
        await CosmosStore.open(cosmos_server.url, "hunter2!", "crossdesk")
    with pytest.raises(StorageError, match="must be an https:// URL"):
        await CosmosStore.open("cosmos.example.com", EMULATOR_KEY, "crossdesk")


async def test_an_unreachable_endpoint_fails_start_up_with_one_clear_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = f"http://127.0.0.1:{unused_port()}"
    with pytest.raises(StorageError) as failure:
        await CosmosStore.open(endpoint, EMULATOR_KEY, "crossdesk")
    assert str(failure.value).startswith(f"cannot reach Cosmos DB at {endpoint} while opening")
    no_secret_in(str(failure.value) + caplog.text)


async def test_an_endpoint_that_drops_every_connection_is_tried_a_bounded_number_of_times() -> None:
    attempts = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(StorageError, match="cannot reach Cosmos DB at"):
            await CosmosStore.open(f"http://127.0.0.1:{port}", EMULATOR_KEY, "crossdesk")
    finally:
        server.close()
        await server.wait_closed()
    assert 1 <= attempts <= 10


async def test_throttling_is_retried_after_the_delay_cosmos_asks_for(
    cosmos_store: CosmosStore, cosmos_server: CosmosServer, caplog: pytest.LogCaptureFixture
) -> None:
    await cosmos_server.throttle(3, retry_after_ms=60)
    started = time.monotonic()
    await open_chat(cosmos_store, "1:throttled", chat="a:1throttled")
    assert time.monotonic() - started >= 3 * 0.06, "it waited as long as Cosmos DB asked"

    await cosmos_server.throttle(1000, retry_after_ms=5)
    with caplog.at_level(logging.DEBUG), pytest.raises(StorageError) as failure:
        await open_chat(cosmos_store, "1:still-throttled", chat="a:1still-throttled")
    await cosmos_server.throttle(0, retry_after_ms=0)
    message = str(failure.value)
    assert message.startswith(f"Cosmos DB at {cosmos_server.url} kept throttling requests (429)")
    no_secret_in(message + caplog.text)
    reports = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert reports == [], "the failure is reported once, by whoever catches the StorageError"


async def test_the_app_exits_2_with_one_clear_line_on_a_wrong_key(
    cosmos_server: CosmosServer, cosmos_database: str
) -> None:
    env = {
        **os.environ,
        "CROSSDESK_CONFIG": str(TEST_CONFIG),
        "CROSSDESK_STORAGE": "cosmos",
        "COSMOS_ENDPOINT": cosmos_server.url,
        "COSMOS_KEY": WRONG_KEY,
        "COSMOS_DATABASE": cosmos_database,
        "PORT": str(unused_port()),
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    app = await asyncio.create_subprocess_exec(
        sys.executable,
        "app.py",
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(app.communicate(), 60)
    output = (stdout + stderr).decode()
    assert app.returncode == 2, output
    lines = [line for line in output.splitlines() if cosmos_server.url in line]
    assert lines == [
        f"Crossdesk cannot start: Cosmos DB at {cosmos_server.url} refused the account key (401)"
        f" while opening database '{cosmos_database}'; check COSMOS_KEY"
    ]
    assert "Traceback" not in output
    no_secret_in(output)
