"""A SQLite store written by the first release opens with every chat where it was: sessions,
their flow and transcript, bindings, transfers and claims carried over, and each live chat
resuming at the stage its dialog stack waited at."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pipeline.config import load_config
from storage.sqlite import SCHEMA_VERSION, SqliteStore
from tests.storage.chats import CHAT, answer, open_chat
from tests.support.config import TEST_CONFIG
from tests.support.desk import Desk, texts

DUMP = Path(__file__).with_name("first_release.sql")


def first_release_store(folder: Path) -> Path:
    path = folder / "first-release.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(DUMP.read_text(encoding="utf-8"))
    db.close()
    return path


async def test_every_chat_of_the_first_release_is_carried_over(tmp_path: Path) -> None:
    store = SqliteStore(first_release_store(tmp_path))
    try:
        at_hr = await store.history("a:1at-hr")
        helpdesk, hr = at_hr.sessions
        assert [(s.tenant_id, s.state.value) for s in at_hr.sessions] == [
            ("helpdesk", "transferred"),
            ("hr", "active"),
        ]
        assert hr.metadata["Session.TransferredFrom.SessionId"] == helpdesk.id
        assert hr.position is not None
        assert (hr.position.pipeline, hr.position.stage) == ("intake", "detail")
        assert helpdesk.position is None, "only live sessions wait somewhere"
        assert [s.stage_key for s in at_hr.flows[helpdesk.id]] == ["greet", "ask", "route", "to_hr"]
        assert [e.text for e in at_hr.transcripts[helpdesk.id] if e.text][:2] == [
            "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team.",
            "What do you need help with today?",
        ]
        assert [(t.from_session_id, t.to_session_id) for t in at_hr.transfers] == [
            (helpdesk.id, hr.id)
        ]
        assert at_hr.reference is not None
        assert at_hr.reference["serviceUrl"] == "https://smba.trafficmanager.net/emea/"
        live = sorted([s.conversation_id async for s in store.live_sessions()])
        assert live == ["a:1at-hr", "a:1at-route"]
        # A claimed activity stays claimed.
        async with store.chat_turn("a:1at-hr", "0") as turn:
            assert turn is None
    finally:
        await store.close()
    db = sqlite3.connect(tmp_path / "first-release.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not tables & {"bindings", "inbound", "state"}
    db.close()


async def test_a_live_chat_of_the_first_release_goes_on_where_it_waited(tmp_path: Path) -> None:
    store = SqliteStore(first_release_store(tmp_path))
    chat = Desk(load_config(TEST_CONFIG), store, "a:1at-route")
    try:
        replies = await chat.say("Legal")
        assert texts(replies)[:2] == [
            "[card] You're now with Legal",
            "Hi Megan Bowen, Legal here. You came to us from Help Desk.",
        ]
    finally:
        await store.close()


async def test_opening_an_upgraded_store_again_changes_nothing(tmp_path: Path) -> None:
    path = first_release_store(tmp_path)
    await SqliteStore(path).close()
    store = SqliteStore(path)
    try:
        assert len((await store.history("a:1at-hr")).sessions) == 2
    finally:
        await store.close()


async def test_a_schema_4_store_keeps_its_logs_and_undelivered_messages(tmp_path: Path) -> None:
    """Schema 4 logged flow steps and transcript entries a row each, and numbered the outbox
    with AUTOINCREMENT: what it wrote is read before what schema 5 writes, and a message it
    left undelivered is still there under its id."""
    path = tmp_path / "schema-4.sqlite3"
    store = SqliteStore(path)
    await open_chat(store)
    await answer(store, "1:first", "VPN is down")
    await store.close()
    # The same chat as schema 4 kept it.
    db = sqlite3.connect(path, isolation_level=None)
    for session_id, steps, entries in db.execute("SELECT session_id, flow, transcript FROM log"):
        for step in json.loads(steps):
            db.execute(
                "INSERT INTO flow (session_id, record) VALUES (?, ?)", (session_id, _j(step))
            )
        for entry in json.loads(entries):
            db.execute(
                "INSERT INTO transcript (session_id, record) VALUES (?, ?)", (session_id, _j(entry))
            )
    db.execute("DROP TABLE log")
    db.execute("DROP TABLE outbox")
    db.execute(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, conversation_id TEXT NOT"
        " NULL, due_at REAL NOT NULL, attempts INTEGER NOT NULL, entry TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX outbox_by_conversation ON outbox (conversation_id, id)")
    db.execute("CREATE INDEX outbox_by_due ON outbox (due_at)")
    _leave_undelivered(db)
    db.execute("PRAGMA user_version = 4")
    db.close()

    store = SqliteStore(path)
    try:
        await _deliver_what_was_left(store)
        history = await store.history(CHAT)
        [session] = history.sessions
        assert [s.stage_key for s in history.flows[session.id]] == ["greet", "ask"]
        assert [e.text for e in history.transcripts[session.id]] == [
            "VPN is down",
            "and the printer",
        ]
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    [outbox] = db.execute("SELECT sql FROM sqlite_master WHERE name = 'outbox'").fetchone()
    assert "AUTOINCREMENT" not in outbox
    indexes = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "outbox_by_due" not in indexes and "outbox_by_conversation" in indexes
    db.close()


def _leave_undelivered(db: sqlite3.Connection) -> None:
    """A message an earlier Crossdesk left in the outbox (id 7, one attempt made)."""
    activity = {"type": "message", "text": "Still there?", "conversation": {"id": CHAT}}
    db.execute(
        "INSERT INTO outbox VALUES (7, ?, 0, 1, ?)",
        (CHAT, _j({"activity": activity, "replyTo": None, "label": None, "replaces": None})),
    )


async def _deliver_what_was_left(store: SqliteStore) -> None:
    """The next turn finds `_leave_undelivered`'s message under its id and delivers it; the
    chat goes on."""
    async with store.chat_turn(CHAT, None) as turn:
        assert turn is not None
        [left] = turn.outbox
        assert (left.seq, left.attempts, left.activity["text"]) == (7, 1, "Still there?")
        await turn.settle(delivered=[7], release=True)
    await answer(store, "1:second", "and the printer")


def _j(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


async def test_a_schema_5_store_answers_the_operations_view(tmp_path: Path) -> None:
    """Schema 5 had no report columns and its records no end reason: the upgrade fills them
    in from what it kept, so yesterday's chats show in reports with how they ended."""
    from datetime import UTC, datetime

    from pipeline.session import EndReason
    from storage.reports import SessionFilter
    from storage.scope import Scope
    from tests.support.desk import open_desk

    chat = open_desk(tmp_path / "desk")
    await chat.open()
    await chat.say("My payslip is wrong")
    await chat.click("HR")
    await chat.say("Pay")
    await chat.click("That's all")
    await chat.store.close()
    path = tmp_path / "desk" / "desk.sqlite3"
    # The same file as schema 5 kept it.
    db = sqlite3.connect(path, isolation_level=None)
    for index in ("sessions_by_tenant_start", "sessions_by_start", "sessions_by_end"):
        db.execute(f"DROP INDEX {index}")
    db.execute("DROP INDEX sessions_active")
    db.execute("DROP INDEX transfers_by_at")
    _drop_schema_7(db)
    db.execute("DROP TABLE refusals")
    db.execute("ALTER TABLE sessions DROP COLUMN ended_at")
    db.execute("ALTER TABLE sessions DROP COLUMN end_reason")
    db.execute("ALTER TABLE transfers DROP COLUMN at")
    for session_id, record in db.execute("SELECT id, record FROM sessions").fetchall():
        kept = {k: v for k, v in json.loads(record).items() if k != "endReason"}
        db.execute("UPDATE sessions SET record = ? WHERE id = ?", (_j(kept), session_id))
    db.execute("PRAGMA user_version = 5")
    db.close()

    store = SqliteStore(path)
    admin = Scope.of(admin=True)
    try:
        page = await store.reports.sessions(admin, SessionFilter())
        ended = sorted((r.tenant_id, r.end_reason) for r in page.rows)
        assert ended == [("helpdesk", EndReason.TRANSFERRED), ("hr", EndReason.RESOLVED)]
        resolved = await store.reports.sessions(admin, SessionFilter(end_reason=EndReason.RESOLVED))
        assert [r.tenant_id for r in resolved.rows] == ["hr"]
        day = (datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC))
        flows = await store.reports.transfers(admin, *day)
        assert [(link.source, link.target, link.count) for link in flows.links] == [
            ("helpdesk", "hr", 1)
        ]
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    db.close()


def _drop_schema_7(db: sqlite3.Connection) -> None:
    """Take from a file what schema 7 added (its columns, indexes and guest search)."""
    db.execute("DROP INDEX sessions_by_agent")
    db.execute("DROP TABLE guest_search")
    for column in ("agent_id", "agent_state", "queued_at", "last_activity_at"):
        db.execute(f"ALTER TABLE sessions DROP COLUMN {column}")


async def test_a_schema_6_store_finds_guests_and_agents_and_counts_the_live_view(
    tmp_path: Path,
) -> None:
    """Schema 6 kept the guest, the agent and the live view's facts in records only: the
    upgrade fills in the columns and the guest search's index from them."""
    from datetime import timedelta

    from storage.reports import SessionFilter
    from storage.scope import Scope
    from tests.storage.test_reports import NOW, T0, agent_chat

    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    queued = (T0 + timedelta(minutes=50)).isoformat()
    await agent_chat(
        store, "waiting", 50, {"Session.Agent.State": "searching", "Session.QueuedUtc": queued}
    )
    await agent_chat(
        store, "connected", 51, {"Session.Agent.State": "connected", "Session.Agent.Id": "alex"}
    )
    await agent_chat(store, "handled", 52, {"Session.Agent.Id": "alex"}, ended=58)
    await store.close()
    db = sqlite3.connect(path, isolation_level=None)
    _drop_schema_7(db)
    db.execute("PRAGMA user_version = 6")
    db.close()

    store = SqliteStore(path)
    admin = Scope.of(admin=True)
    try:
        guests = await store.reports.sessions(admin, SessionFilter(guest="robbins"))
        assert len(guests.rows) == 3
        agents = await store.reports.sessions(admin, SessionFilter(agent="alex"))
        assert [r.conversation_id for r in agents.rows] == ["a:1handled", "a:1connected"]
        hr = (await store.reports.live(admin, NOW)).department("hr")
        assert (hr.active, hr.waiting, hr.with_agent, hr.idle) == (2, 1, 1, 0)
        assert hr.longest_wait_seconds == 600
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    db.close()


async def test_a_schema_7_store_keeps_its_undelivered_messages_and_is_not_indexed_again(
    tmp_path: Path,
) -> None:
    """Schema 8 holds a delivering turn's chat by its outbox rows: the upgrade adds their two
    columns, a message left undelivered is delivered as before, and the guest search's index
    (schema 7's, the long part of that upgrade on a big file) is left as it is."""
    path = tmp_path / "schema-7.sqlite3"
    store = SqliteStore(path)
    await open_chat(store)
    await store.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("ALTER TABLE outbox DROP COLUMN held_by")
    db.execute("ALTER TABLE outbox DROP COLUMN held_until")
    _leave_undelivered(db)
    db.execute("DELETE FROM guest_search")  # what a new index of schema 7 would fill again
    db.execute("PRAGMA user_version = 7")
    db.close()

    store = SqliteStore(path)
    try:
        assert await store.due_chats(1.0, 10) == [CHAT]
        await _deliver_what_was_left(store)
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    columns = {name for _, name, *_ in db.execute("PRAGMA table_info(outbox)")}
    assert {"held_by", "held_until"} <= columns
    assert db.execute("SELECT count(*) FROM guest_search").fetchone() == (0,)
    db.close()
