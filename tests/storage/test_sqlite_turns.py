"""On SQLite, a turn that waits for nothing between its read and its commit is one transaction
and writes no lease row; one that waits holds its lease as a row, as every turn of another
instance (or of another store of this process) sees it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from errors import ConflictError
from storage.base import Outgoing, TurnWrites
from storage.sqlite import SqliteStore
from tests.storage.chats import CHAT, answer, open_chat, said
from tests.storage.conftest import Clock


def statements(store: SqliteStore) -> Counter[str]:
    """The statements `store` runs from now on, by their first word; `leases`: the writes of
    a lease row."""
    counts: Counter[str] = Counter()

    def traced(sql: str) -> None:
        words = sql.split()
        counts[words[0].upper()] += 1
        if words[0].upper() in ("INSERT", "UPDATE", "DELETE") and "leases" in words:
            counts["leases"] += 1

    store._db.set_trace_callback(traced)
    return counts


def lease_rows(path: Path) -> list[tuple[str, str]]:
    """The lease rows another connection (another instance) sees."""
    other = sqlite3.connect(path)
    try:
        return other.execute("SELECT conversation_id, owner FROM leases").fetchall()
    finally:
        other.close()


@pytest.fixture
async def path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


async def test_a_turn_that_waits_for_nothing_is_one_transaction_without_a_lease_row(
    path: Path,
) -> None:
    store = SqliteStore(path)
    try:
        await open_chat(store)
        counts = statements(store)
        await answer(store, "1:plain", "VPN is down")
        assert counts["BEGIN"] == counts["COMMIT"] == 1
        assert counts["leases"] == 0
        assert counts["ROLLBACK"] == 0

        # With a message to deliver, the commit takes the lease for the delivery, which
        # releases it.
        counts.clear()
        async with store.chat_turn(CHAT, "1:reply") as turn:
            assert turn is not None and turn.session is not None
            turn.session.record(said("and the printer"))
            activity = {"type": "message", "text": "On it", "conversation": {"id": CHAT}}
            await turn.commit(TurnWrites([turn.session], outbox=[Outgoing(activity)]))
            assert lease_rows(path) == [(CHAT, turn.owner)]
            [entry] = turn.outbox
            await turn.settle(delivered=[entry.seq], release=True)
        assert counts["BEGIN"] == counts["COMMIT"] == 2
        assert lease_rows(path) == []
        [session] = (await store.history(CHAT)).sessions
        assert session.version == 3
    finally:
        await store.close()


async def test_a_turn_that_waits_between_read_and_commit_holds_its_lease_as_a_row(
    path: Path,
) -> None:
    store, other = SqliteStore(path), SqliteStore(path)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:slow") as turn:
            assert turn is not None and turn.session is not None
            await asyncio.sleep(0)  # e.g. the guest's look-up: other turns run meanwhile
            assert lease_rows(path) == [(CHAT, turn.owner)]
            async with other.chat_turn(CHAT, "1:meanwhile", wait=False) as busy:
                assert busy is None
            turn.session.metadata["Guest.Question"] = "slow"
            await turn.commit(TurnWrites([turn.session]))
        assert lease_rows(path) == []
        taken = await answer(other, "1:after", "after")
        assert taken.metadata["Guest.Question"] == "after"
        assert taken.version == 3
    finally:
        await store.close()
        await other.close()


async def test_another_store_of_the_file_in_this_process_finds_the_chat_busy_at_once(
    path: Path,
) -> None:
    """The read's transaction holds the database's write lock: a second store of the same file
    in this process would otherwise wait for it (up to SQLite's busy timeout) on the event
    loop the open turn needs to finish."""
    store, other = SqliteStore(path), SqliteStore(path)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:first") as turn:
            assert turn is not None and turn.session is not None
            # No await that waits in between: the other store's turn starts right away.
            async with other.chat_turn(CHAT, "1:second", wait=False) as busy:
                assert busy is None
            assert lease_rows(path) == [(CHAT, turn.owner)]
            turn.session.metadata["Guest.Question"] = "first"
            await turn.commit(TurnWrites([turn.session]))
        [session] = (await other.history(CHAT)).sessions
        assert session.metadata["Guest.Question"] == "first"
    finally:
        await store.close()
        await other.close()


async def test_an_open_turn_that_outlives_its_lease_writes_nothing(path: Path) -> None:
    clock = Clock()
    store = SqliteStore(path, lease_seconds=30, clock=clock)
    other = SqliteStore(path, lease_seconds=30, clock=clock)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:slow") as slow:
            assert slow is not None and slow.session is not None
            slow.session.metadata["Guest.Question"] = "from the slow turn"
            clock.advance(31)  # the lease is as of the read: it has run out
            await answer(other, "1:quick", "from the turn that took over")
            with pytest.raises(ConflictError):
                await slow.commit(TurnWrites([slow.session]))
        [session] = (await other.history(CHAT)).sessions
        assert session.metadata["Guest.Question"] == "from the turn that took over"
    finally:
        await store.close()
        await other.close()


async def test_a_turn_that_fails_before_its_commit_leaves_nothing(path: Path) -> None:
    store = SqliteStore(path)
    try:
        await open_chat(store)
        with pytest.raises(RuntimeError):
            async with store.chat_turn(CHAT, "1:failed") as turn:
                assert turn is not None and turn.session is not None
                turn.session.metadata["Guest.Question"] = "never stored"
                raise RuntimeError("the turn failed")
        assert lease_rows(path) == []
        session = await answer(store, "1:failed", "runs again")
        assert session.version == 2
        assert session.metadata["Guest.Question"] == "runs again"
    finally:
        await store.close()


async def test_a_turn_that_runs_longer_than_its_lease_keeps_it(path: Path) -> None:
    """While the turn runs its lease is renewed (every third of it), so another instance finds
    the chat busy however long the turn takes, and the turn's commit holds."""
    store = SqliteStore(path, lease_seconds=1.0)
    other = SqliteStore(path, lease_seconds=1.0)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:long") as turn:
            assert turn is not None and turn.session is not None
            await asyncio.sleep(1.5)  # e.g. a slow member look-up
            async with other.chat_turn(CHAT, "1:meanwhile", wait=False) as busy:
                assert busy is None
            turn.session.metadata["Guest.Question"] = "long"
            await turn.commit(TurnWrites([turn.session]))
        [session] = (await other.history(CHAT)).sessions
        assert session.metadata["Guest.Question"] == "long"
    finally:
        await store.close()
        await other.close()
