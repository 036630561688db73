"""What the SQLite store writes per turn, counted rather than timed: pages written to the WAL
file, statements, and the store's own CPU, for the two kinds of turn the benchmark serves most.

`python -m bench.wal_pages` drives `SqliteStore` directly (no HTTP, no runtime) on a fresh file
in a temporary directory, with the WAL checkpoint off so the file's size counts every page
written: a *plain* turn (the guest's message recorded on the waiting session, one reply
committed to the outbox and then delivered), over 30 chats in turn as the plain benchmark
runs them, and a chat's *first* turn (a new session with the guest's name and email, bound to
the chat, one reply). Between turns the event loop runs what is due, as a serving bot's would
(the guest search's index). Pages and statements do not vary from run to run, so a change to
what a turn writes shows in them even where this machine's CPU figures wobble more than it
saves. Run it from two checkouts to compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from pipeline.session import Direction, Position, Session, TranscriptEntry
from storage.base import Outgoing, TurnWrites
from storage.sqlite import SqliteStore

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
#: A WAL frame: its 24-byte header and the page.
FRAME = 24 + 4096


def _frames(path: Path) -> float:
    """Frames in the WAL file of the database at `path` (after its 32-byte header)."""
    return (path.with_name(f"{path.name}-wal").stat().st_size - 32) / FRAME


def _session(chat: str, n: int) -> Session:
    session = Session.open(
        conversation_id=chat,
        tenant_id="helpdesk",
        tenant_name="Helpdesk",
        metadata={"Guest.Name": f"Guest Number{n:05d}", "Guest.Email": f"guest{n}@contoso.com"},
        now=NOW,
    )
    session.enter("ask", "question", "loop", NOW)
    session.position = Position("loop", "ask", "question", NOW)
    return session


def _reply(chat: str) -> Outgoing:
    return Outgoing({"type": "message", "text": "Noted. What else?", "conversation": {"id": chat}})


async def _turn(
    store: SqliteStore, chat: str, event_id: str, change: Callable[[Session | None], Session]
) -> None:
    async with store.chat_turn(chat, event_id) as turn:
        assert turn is not None
        session = change(turn.session)
        bound = session.id if turn.session is None else None
        await turn.commit(TurnWrites([session], bound_session_id=bound, outbox=[_reply(chat)]))
        await turn.settle(delivered=[entry.seq for entry in turn.outbox], release=True)
    await asyncio.sleep(0)  # what the event loop runs between requests


async def _measure(
    folder: Path,
    setup: Callable[[SqliteStore], Awaitable[None]],
    turns: int,
    run: Callable[[SqliteStore, int], Awaitable[None]],
) -> tuple[float, float, float]:
    """(WAL pages, statements, store CPU ms) per turn of `run`, after `setup`."""
    path = folder / f"{id(run)}.sqlite3"
    store = SqliteStore(path)
    try:
        store.db.execute("PRAGMA wal_autocheckpoint = 0")
        await setup(store)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        statements = 0

        def counted(_: str) -> None:
            nonlocal statements
            statements += 1

        store.db.set_trace_callback(counted)
        before = os.times()
        for n in range(turns):
            await run(store, n)
        after = os.times()
        pages = _frames(path)
    finally:
        await store.close()
    cpu = (after.user - before.user) + (after.system - before.system)
    return pages / turns, statements / turns, cpu / turns * 1000


async def main(turns: int) -> None:
    chats = [f"a:1chat{n}" for n in range(30)]

    async def opened(store: SqliteStore) -> None:
        for n, chat in enumerate(chats):
            await first_of(store, chat, n)

    async def first_of(store: SqliteStore, chat: str, n: int) -> None:
        await _turn(store, chat, f"1:install{n}", lambda _: _session(chat, n))

    def answered(session: Session | None, n: int) -> Session:
        assert session is not None
        session.record(TranscriptEntry(Direction.IN, NOW, text=f"question {n}"))
        return session

    async def plain(store: SqliteStore, n: int) -> None:
        chat = chats[n % len(chats)]
        await _turn(store, chat, f"1:m{n}", lambda session: answered(session, n))

    async def first(store: SqliteStore, n: int) -> None:
        await first_of(store, f"a:1new{n}", n)

    async def nothing(store: SqliteStore) -> None:
        return None

    print(f"SQLite {sqlite3.sqlite_version}, {turns} turns of each kind")
    print("| turn | WAL pages | statements | store CPU ms |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="crossdesk-wal-") as folder:
        for name, setup, run in (("plain", opened, plain), ("a chat's first", nothing, first)):
            pages, statements, cpu = await _measure(Path(folder), setup, turns, run)
            print(f"| {name} | {pages:.2f} | {statements:.1f} | {cpu:.3f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.wal_pages", description=__doc__)
    parser.add_argument("--turns", type=int, default=3000, help="turns of each kind")
    asyncio.run(main(parser.parse_args().turns))
