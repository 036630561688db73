"""`crossdesk sessions`: finding a chat among many, on every backend, the way an admin does it
(the command in a process of its own, configured by the environment)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from storage.base import Store
from tests.storage.chats import NOW
from tests.storage.conftest import BACKENDS, Clock, Place
from tests.storage.visits import visit
from tests.support.cosmos import EMULATOR_KEY, CosmosServer, database_name

ROOT = Path(__file__).resolve().parents[2]
CHATS = 1000
MEGAN = 617


def crossdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CROSSDESK", "COSMOS"))}
    return subprocess.run(
        [sys.executable, "app.py", "sessions", *args],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def a_thousand_chats(store: Store) -> None:
    """1,000 chats a minute apart; guest 617, Megan, was transferred to HR."""

    async def one(number: int) -> None:
        started = NOW + timedelta(minutes=number)
        chat = f"a:1chat-{number:04d}"
        if number == MEGAN:
            await visit(
                store,
                chat,
                guest="Megan Bowen",
                email="megan.bowen@contoso.example",
                started=started,
                transfer_to="hr",
            )
        else:
            await visit(
                store,
                chat,
                guest=f"Guest {number:04d}",
                email=f"guest{number:04d}@contoso.example",
                started=started,
                end=number % 3 == 0,
            )

    for first in range(0, CHATS, 50):
        await asyncio.gather(*(one(n) for n in range(first, min(first + 50, CHATS))))


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def thousand(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A store of 1,000 chats, written through the store contract (once per backend, for the
    tests here only read it); the environment that points the command at it."""
    place = Place(tmp_path_factory.mktemp(request.param), request, database_name())

    async def write() -> None:
        store = await BACKENDS[request.param](place, 30.0, Clock())
        try:
            await a_thousand_chats(store)
        finally:
            await store.close()

    asyncio.run(write())
    if request.param == "sqlite":
        return {"CROSSDESK_SQLITE_PATH": str(place.tmp_path / "store.sqlite3")}
    server: CosmosServer = request.getfixturevalue("cosmos_server")
    return {
        "CROSSDESK_STORAGE": "cosmos",
        "COSMOS_ENDPOINT": server.url,
        "COSMOS_KEY": EMULATOR_KEY,
        "COSMOS_DATABASE": place.database,
    }


def test_sessions_finds_a_chat_by_the_guests_email_among_a_thousand(
    thousand: dict[str, str],
) -> None:
    found = crossdesk(thousand, "--guest", "Megan.Bowen@contoso.example")
    assert found.returncode == 0, found.stderr
    header, hr, helpdesk, summary = found.stdout.splitlines()
    assert header.split() == ["STARTED", "(UTC)", "SESSION", "TENANT", "STATE", "GUEST"]
    assert hr.split()[3:] == ["hr", "active", "Megan", "Bowen", "<megan.bowen@contoso.example>"]
    assert helpdesk.split()[3:5] == ["helpdesk", "transferred"]
    assert hr.startswith("2026-03-02 19:48") and helpdesk.startswith("2026-03-02 19:47")
    session = hr.split()[2]
    assert summary == f"2 sessions; `python app.py sessions {session}` shows a session's chat"

    chat = crossdesk(thousand, session)
    assert chat.returncode == 0, chat.stderr
    lines = chat.stdout.splitlines()
    assert lines[:2] == [
        f"chat a:1chat-{MEGAN:04d}: 2 sessions, 1 transfer",
        "guest: Megan Bowen <megan.bowen@contoso.example>",
    ]
    assert "1. helpdesk (Help Desk): transferred to hr" in lines
    assert "2. hr (Human Resources): active, waits at intake/detail, from helpdesk" in lines

    as_json = crossdesk(thousand, "--guest", "megan.bowen", "--json")
    assert [(s["tenant"], s["state"], s["conversation"]) for s in json.loads(as_json.stdout)] == [
        ("hr", "active", f"a:1chat-{MEGAN:04d}"),
        ("helpdesk", "transferred", f"a:1chat-{MEGAN:04d}"),
    ]


def test_sessions_lists_the_newest_and_filters_by_tenant_state_and_time(
    thousand: dict[str, str],
) -> None:
    newest = crossdesk(thousand, "--limit", "3", "--json")
    assert [s["guest"]["name"] for s in json.loads(newest.stdout)] == [
        "Guest 0999",
        "Guest 0998",
        "Guest 0997",
    ]
    ended = crossdesk(
        thousand,
        "--state",
        "ended",
        "--since",
        "2026-03-02T09:30",
        "--until",
        "2026-03-02T09:40",
        "--json",
    )
    # Chats 0, 3, 6 and 9 ended; 0-9 started in those ten minutes.
    assert [s["guest"]["name"] for s in json.loads(ended.stdout)] == [
        "Guest 0009",
        "Guest 0006",
        "Guest 0003",
        "Guest 0000",
    ]
    hr = crossdesk(thousand, "--tenant", "hr")
    assert hr.stdout.splitlines()[-1].startswith("1 session;")
    table = crossdesk(thousand)
    assert table.stdout.splitlines()[-1].startswith("50 sessions, the newest; --limit shows more;")


def test_a_missing_store_file_is_an_error_never_an_empty_answer(tmp_path: Path) -> None:
    relative = crossdesk({"CROSSDESK_SQLITE_PATH": "no-such-store.sqlite3"}, "--guest", "megan")
    assert relative.returncode == 2
    assert relative.stdout == ""
    assert relative.stderr.startswith(
        f"python app.py sessions: no SQLite store at {ROOT / 'no-such-store.sqlite3'}"
        " (CROSSDESK_SQLITE_PATH=no-such-store.sqlite3, relative to the current folder"
        f" {ROOT});"
    )
    assert not (ROOT / "no-such-store.sqlite3").exists()
    flagged = crossdesk({}, "--sqlite", str(tmp_path / "gone.sqlite3"))
    assert flagged.returncode == 2
    assert f"no SQLite store at {tmp_path / 'gone.sqlite3'}" in flagged.stderr
    assert not (tmp_path / "gone.sqlite3").exists()


def test_an_unknown_chat_is_said_so(thousand: dict[str, str]) -> None:
    unknown = crossdesk(thousand, "a:1never-seen")
    assert unknown.returncode == 1
    assert unknown.stderr == "no chat or session 'a:1never-seen' in this store\n"
