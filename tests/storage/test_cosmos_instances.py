"""Two Crossdesk processes (`python app.py`, configured by environment) over one Cosmos DB:
nothing a turn needs is in one process's memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from storage.cosmos import CosmosStore
from tests.storage.scenario import check_export, help_desk_to_hr
from tests.support.config import TEST_CONFIG
from tests.support.connector import FakeConnector
from tests.support.cosmos import EMULATOR_KEY, REPO, CosmosServer, database_name
from tests.support.export import Transcript, chat_export
from tests.support.ports import unused_port
from tests.support.teams import TeamsChat

ASKED = "Thanks. Which team should take this?"
PICK = (
    "Sorry, I'm not sure which one you mean. Please click one, or type its number:\n\n"
    "1. IT Support\n2. HR\n3. Legal"
)


def _serve(cosmos: CosmosServer, database: str, log: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = unused_port()
    env = {
        **os.environ,
        "CROSSDESK_CONFIG": str(TEST_CONFIG),
        "CROSSDESK_STORAGE": "cosmos",
        "COSMOS_ENDPOINT": cosmos.url,
        "COSMOS_KEY": EMULATOR_KEY,
        "COSMOS_DATABASE": database,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MicrosoftAppId": "",
        "LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO, env=env, stdout=output, stderr=output
        )
    return f"http://127.0.0.1:{port}", process


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """A readiness probe: the app imports the SDK and opens Cosmos DB before it listens."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited ({process.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise RuntimeError(f"the app at {url} did not start: {log.read_text()}")


@pytest.fixture(scope="module")
def instances(
    cosmos_server: CosmosServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[list[str], str]]:
    """Two app processes on free ports sharing one database: their /api/messages URLs."""
    database = database_name()
    logs = tmp_path_factory.mktemp("instances")
    started = [_serve(cosmos_server, database, logs / f"app-{n}.log") for n in range(2)]
    try:
        for n, (url, process) in enumerate(started):
            _wait_until_serving(url, process, logs / f"app-{n}.log")
        yield [f"{url}/api/messages" for url, _ in started], database
    finally:
        for _, process in started:
            process.terminate()
        for _, process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def reader(
    cosmos_server: CosmosServer, instances: tuple[list[str], str]
) -> AsyncIterator[CosmosStore]:
    """A store of the test's own on the instances' database, to check what they wrote."""
    store = await CosmosStore.open(cosmos_server.url, EMULATOR_KEY, instances[1])
    yield store
    await store.close()


async def test_the_scenario_with_turns_alternating_between_instances(
    instances: tuple[list[str], str],
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    reader: CosmosStore,
) -> None:
    urls, _ = instances
    chat = TeamsChat(http, urls[0], connector)
    await help_desk_to_hr(chat, urls)
    check_export(await chat_export(reader, chat.conversation_id))


async def test_ten_parallel_turns_on_one_chat_lose_no_update(
    instances: tuple[list[str], str],
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    reader: CosmosStore,
) -> None:
    urls, _ = instances
    chat = TeamsChat(http, urls[0], connector)
    await chat.install()
    texts = [f"message {n}" for n in range(10)]
    responses = await asyncio.gather(
        *(
            TeamsChat(http, urls[n % 2], connector, conversation_id=chat.conversation_id).post(
                chat.activity("message", text=text, textFormat="plain")
            )
            for n, text in enumerate(texts)
        )
    )
    assert [r.status for r in responses] == [201] * 10
    received = chat.received()
    sent = received.texts()
    assert not any("something went wrong" in t for t in sent)
    # One message answered the question; the nine after it each found the options stage.
    asked = received.card_titles().count(ASKED)
    assert (asked, sent.count(PICK)) == (10, 9), "the card comes again with each reminder"
    question = received.saying("What do you need help with today?")
    first_card, first_reminder = received.card_titled(ASKED), received.saying(PICK)
    assert (
        received.index_of(question)
        < received.index_of(first_card)
        < received.index_of(first_reminder)
    ), "the first answer got the card, no reminder"

    [session] = (await chat_export(reader, chat.conversation_id))["sessions"]
    transcript = Transcript.of(session)
    inbound = transcript.said("in")
    assert sorted(inbound) == texts, "every turn's transcript entry was kept"
    assert session["metadata"]["Guest.Question"] == inbound[0], "the first turn to run answered"
    assert [step["stage"] for step in session["flow"]] == ["greet", "ask", "route"]
    assert transcript.said("out") == received.lines(), "every reply was kept once, in order"


async def test_a_redelivery_to_the_other_instance_does_nothing_twice(
    instances: tuple[list[str], str],
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    reader: CosmosStore,
) -> None:
    urls, _ = instances
    first, second = (TeamsChat(http, url, connector) for url in urls)
    second.conversation_id = first.conversation_id
    await first.install()
    question = first.activity("message", text="My payslip is wrong", textFormat="plain")
    assert (await first.post(question)).status == 201
    before = first.received()
    assert (await second.post(question)).status == 201, "Teams re-delivers to the other one"
    assert first.received().after(before) == []

    # Both at once: one of them runs it.
    choice = first.activity("message", text="HR", textFormat="plain")
    await asyncio.gather(first.post(choice), second.post(choice))
    sent = first.received().after(before)
    assert sent.card_titles() == ["You're now with Human Resources"]
    export = await chat_export(reader, first.conversation_id)
    helpdesk, hr = export["sessions"]
    assert Transcript.of(helpdesk).said("in") == ["My payslip is wrong", "HR"]
    assert [(t["from"], t["to"]) for t in export["transfers"]] == [(helpdesk["id"], hr["id"])]
    assert hr["metadata"]["Session.TransferredFrom.SessionId"] == helpdesk["id"]


async def test_after_an_end_and_an_idle_close_across_instances(
    instances: tuple[list[str], str],
    http: aiohttp.ClientSession,
    connector: FakeConnector,
    reader: CosmosStore,
) -> None:
    """The turns that read the chat's last, ended session (a thanks after the end, a click on
    its card, a message that opens a new chat) work on Cosmos DB too."""
    urls, _ = instances
    chat = TeamsChat(http, urls[0], connector)
    await chat.install()
    options = await chat.say("My payslip is wrong")
    other = TeamsChat(http, urls[1], connector, conversation_id=chat.conversation_id)
    assert (await other.say("end chat")).texts() == [
        "You ended the chat with Help Desk. Send a message any time to start a new one."
    ]
    assert (await chat.say("thanks")).texts() == [
        "You're welcome! Send a message any time you need help again."
    ]
    assert (await other.submit(options.choice_value("HR"))).texts() == [
        "That chat has ended, so its buttons don't do anything any more. Send a message any"
        " time to start a new one."
    ]
    fresh = await chat.say("Also my badge doesn't open the door")
    assert fresh.card_titled(ASKED)
    sessions = (await chat_export(reader, chat.conversation_id))["sessions"]
    assert [s["state"] for s in sessions] == ["ended", "active"]
    assert sessions[1]["metadata"]["Guest.Question"] == "Also my badge doesn't open the door"
