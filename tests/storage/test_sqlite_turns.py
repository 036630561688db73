"""On SQLite, a turn that waits for nothing between its read and its commit is one transaction
and writes no lease row (while it delivers, its outbox rows hold the chat); one that waits
holds its lease as a row, as every turn of another instance (or of another store of this
process) sees it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from dataclasses import replace
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


def held_rows(path: Path) -> list[tuple[str, str]]:
    """The outbox rows another connection sees held by a delivering turn, and by whom."""
    other = sqlite3.connect(path)
    try:
        return other.execute(
            "SELECT conversation_id, held_by FROM outbox WHERE held_by IS NOT NULL"
        ).fetchall()
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

        # With a message to deliver, the turn holds the chat by its outbox row until the
        # delivery deletes it: still no lease row, and every other instance waits meanwhile.
        counts.clear()
        other = SqliteStore(path)
        async with store.chat_turn(CHAT, "1:reply") as turn:
            assert turn is not None and turn.session is not None
            turn.session.record(said("and the printer"))
            activity = {"type": "message", "text": "On it", "conversation": {"id": CHAT}}
            await turn.commit(TurnWrites([turn.session], outbox=[Outgoing(activity)]))
            assert held_rows(path) == [(CHAT, turn.owner)]
            async with other.chat_turn(CHAT, "1:meanwhile", wait=False) as busy:
                assert busy is None
            assert await other.due_chats(time.time() + 1, 10) == [], "the sweeper leaves it"
            [entry] = turn.outbox
            await turn.settle(delivered=[entry.seq], release=True)
        assert counts["BEGIN"] == counts["COMMIT"] == 2
        assert counts["leases"] == 0
        assert lease_rows(path) == held_rows(path) == []
        [session] = (await store.history(CHAT)).sessions
        assert session.version == 3
        await other.close()
    finally:
        await store.close()


async def test_a_delivery_left_for_later_no_longer_holds_the_chat(path: Path) -> None:
    """A message whose delivery is postponed stays in the outbox, held by nobody: the next
    turn (or the sweeper, once it is due) takes the chat at once."""
    store, other = SqliteStore(path), SqliteStore(path)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:reply") as turn:
            assert turn is not None and turn.session is not None
            activity = {"type": "message", "text": "On it", "conversation": {"id": CHAT}}
            await turn.commit(TurnWrites([turn.session], outbox=[Outgoing(activity)]))
            [entry] = turn.outbox
            later = replace(entry, attempts=1, due_at=entry.due_at + 60)
            await turn.settle(postponed=[later], release=True)
        assert held_rows(path) == []
        assert await other.due_chats(entry.due_at + 61, 10) == [CHAT]
        async with other.chat_turn(CHAT, "1:next", wait=False) as next_turn:
            assert next_turn is not None
            assert [(e.seq, e.attempts) for e in next_turn.outbox] == [(entry.seq, 1)]
    finally:
        await store.close()
        await other.close()


async def test_a_delivery_whose_process_died_is_taken_over_when_its_hold_runs_out(
    path: Path,
) -> None:
    clock = Clock()
    store = SqliteStore(path, lease_seconds=30, clock=clock)
    other = SqliteStore(path, lease_seconds=30, clock=clock)
    try:
        await open_chat(store)
        turn = await store.chat_turn(CHAT, "1:reply").__aenter__()  # and never left: it died
        assert turn is not None and turn.session is not None
        activity = {"type": "message", "text": "On it", "conversation": {"id": CHAT}}
        await turn.commit(TurnWrites([turn.session], outbox=[Outgoing(activity)]))
        async with other.chat_turn(CHAT, "1:meanwhile", wait=False) as busy:
            assert busy is None
        assert await other.due_chats(clock() + 1, 10) == []
        clock.advance(31)
        assert await other.due_chats(clock(), 10) == [CHAT]
        async with other.chat_turn(CHAT, "1:after", wait=False) as taken:
            assert taken is not None
            assert [e.activity["text"] for e in taken.outbox] == ["On it"]
            await taken.commit(TurnWrites())
            assert held_rows(path) == [(CHAT, taken.owner)], "now held by the turn delivering it"
            await taken.settle(delivered=[e.seq for e in taken.outbox], release=True)
        assert held_rows(path) == []
    finally:
        await store.close()
        await other.close()


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


class Timer:
    """Sleeps that end when the test moves `clock` past them, in order, none by itself."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sleeping: list[tuple[float, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sleeping.append((self.clock() + seconds, woken))
        await woken

    async def advance(self, seconds: float) -> None:
        until = self.clock() + seconds
        for _ in range(3):  # let the sleepers woken so far run and sleep again
            await asyncio.sleep(0)
        while due := sorted((t for t in self.sleeping if t[0] <= until), key=lambda t: t[0]):
            at, woken = due[0]
            self.sleeping.remove(due[0])
            self.clock.now = at
            woken.set_result(None)
            for _ in range(3):
                await asyncio.sleep(0)
        self.clock.now = until


async def test_a_turn_that_runs_longer_than_its_lease_keeps_it(path: Path) -> None:
    """While the turn runs its lease is renewed (every third of it), so another instance finds
    the chat busy however long the turn takes, and the turn's commit holds."""
    clock = Clock()
    timer = Timer(clock)
    store = SqliteStore(path, lease_seconds=30, clock=clock, sleep=timer.sleep)
    other = SqliteStore(path, lease_seconds=30, clock=clock)
    try:
        await open_chat(store)
        async with store.chat_turn(CHAT, "1:long") as turn:
            assert turn is not None and turn.session is not None
            await timer.advance(45)  # e.g. a slow member look-up: half as long again as a lease
            async with other.chat_turn(CHAT, "1:meanwhile", wait=False) as busy:
                assert busy is None
            turn.session.metadata["Guest.Question"] = "long"
            await turn.commit(TurnWrites([turn.session]))
        [session] = (await other.history(CHAT)).sessions
        assert session.metadata["Guest.Question"] == "long"
    finally:
        await store.close()
        await other.close()


async def test_guests_are_indexed_in_one_batch_yet_found_by_a_search_at_once(path: Path) -> None:
    """A turn that opens a session only notes its guest for the trigram index (a row of it
    written alone costs ten pages of the WAL file): the index takes the guests noted by many
    turns in one transaction, before any guest search asks (or a moment later)."""
    from storage.reports import SessionFilter
    from storage.scope import Scope
    from tests.storage.test_reports import agent_chat

    store = SqliteStore(path)
    transactions: list[list[str]] = [[]]

    def traced(sql: str) -> None:
        if sql.startswith("BEGIN"):
            transactions.append([])
        transactions[-1].append(sql)

    store._db.set_trace_callback(traced)
    try:
        for n in range(30):
            await agent_chat(store, f"guest{n}", n, {"Guest.Name": f"Guest Number{n:02d}"})
        admin = Scope.of(admin=True)
        page = await store.reports.sessions(admin, SessionFilter(guest="number07"))
        assert [row.conversation_id for row in page.rows] == ["a:1guest7"]
        indexing = [t for t in transactions if any("guest_search" in sql for sql in t)]
        assert len(indexing) == 1, "one transaction indexed the 30 guests"
        assert not any("guest_search" in sql for sql in transactions[1]), "not the turn's"
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM guest_search").fetchone() == (30,)
    assert db.execute("SELECT count(*) FROM guest_pending").fetchone() == (0,)
    db.close()


async def test_many_new_guests_are_indexed_a_batch_per_callback_without_a_search(
    path: Path,
) -> None:
    """Guests noted faster than a batch a second are indexed without waiting, a batch of at
    most `GUEST_BATCH` per event-loop callback, so no turn waits for the index for long."""
    from storage.sqlite import GUEST_BATCH
    from tests.storage.test_reports import agent_chat

    store = SqliteStore(path)
    batches: list[int] = []

    def traced(sql: str) -> None:
        if sql.startswith("DELETE FROM guest_pending"):
            batches[-1] += 1
        elif sql.startswith("SELECT session_rowid FROM guest_pending"):
            batches.append(0)

    store._db.set_trace_callback(traced)
    try:
        for n in range(2 * GUEST_BATCH + 10):
            await agent_chat(store, f"guest{n}", n, {"Guest.Name": f"Guest Number{n:03d}"})
        for _ in range(10):  # the callbacks already due, none waiting for time to pass
            await asyncio.sleep(0)
        assert batches == [GUEST_BATCH, GUEST_BATCH, 10]
        left = sqlite3.connect(path).execute("SELECT count(*) FROM guest_pending").fetchone()
        assert left == (0,)
    finally:
        await store.close()
