"""Chat history on SQLite stays an index walk that stops at a page, whatever the filter (the
planner has no statistics to go by), and a manager of several departments pages through them
merged, newest first, no session twice and none skipped. A guest search that matches few
sessions reads those and sorts them instead."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.session import EndReason, Session, SessionState
from storage.base import TurnWrites
from storage.records import session_record
from storage.reports import Cursor, SessionFilter
from storage.scope import Scope
from storage.sqlite import SqliteStore
from storage.sqlite_reports import (
    GUEST_SORTED,
    MERGED_DEPARTMENTS,
    GuestSearch,
    SqliteReports,
    add_functions,
    history_query,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CURSOR = Cursor(T0.isoformat(), "m")
FILTERS = [
    SessionFilter(),
    SessionFilter(end_reason=EndReason.ABANDONED),
    SessionFilter(state=SessionState.ENDED),
    SessionFilter(started_from=T0, started_before=T0 + timedelta(days=7)),
    SessionFilter(stage="ask"),
    SessionFilter(min_hops=2),
    # Two characters: too short for the guest search's index, checked on each session walked.
    SessionFilter(guest="me"),
    # Many matches (see `_many_megans`): checked on each session walked.
    SessionFilter(guest="megan"),
]
TENANTS = [None, frozenset({"hr"}), frozenset({"hr", "legal"})]


def _plan(db: sqlite3.Connection, sql: str, values: list[object]) -> list[tuple[int, int, str]]:
    return [
        (n, parent, step) for n, parent, _, step in db.execute(f"EXPLAIN QUERY PLAN {sql}", values)
    ]


@pytest.mark.parametrize("tenants", TENANTS, ids=["every", "one", "two"])
@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("before", [None, CURSOR], ids=["first", "after"])
async def test_a_page_walks_an_index_and_sorts_no_more_than_a_page(
    tmp_path: Path,
    tenants: frozenset[str] | None,
    filters: SessionFilter,
    before: Cursor | None,
) -> None:
    path = tmp_path / "store.sqlite3"
    await SqliteStore(path).close()
    db = sqlite3.connect(path)
    add_functions(db)
    try:
        _many_megans(db)
        guest = GuestSearch.plan(db, filters.guest) if filters.guest else None
        assert guest is None or not guest.few
        sql, values = history_query(tenants, filters, before, 51, guest)
        plan = _plan(db, sql, values)
    finally:
        db.close()
    steps = [step for _, _, step in plan]
    reads = [step for step in steps if step.startswith(("SCAN sessions", "SEARCH sessions"))]
    assert reads, steps
    index = "sessions_by_start" if tenants is None else "sessions_by_tenant_start"
    assert all(f"USING INDEX {index}" in step for step in reads), steps
    if before is not None or filters.started_from is not None:
        assert all("started_at<" in step for step in reads), steps
    # Sorting is of rows with one start time, or of a page per department merged.
    sorts = [(n, parent) for n, parent, step in plan if step == "USE TEMP B-TREE FOR ORDER BY"]
    if tenants is None or len(tenants) == 1:
        assert not sorts, steps
    else:
        scans = {n for n, _, step in plan if step.startswith("SCAN (subquery")}
        assert sorts and scans, steps


def _many_megans(db: sqlite3.Connection) -> None:
    """More guests named Megan than a guest search reads and sorts (the index only)."""
    db.executemany(
        "INSERT INTO guest_search (rowid, name) VALUES (?, ?)",
        [(n, f"Megan {n}") for n in range(1, GUEST_SORTED + 2)],
    )
    db.commit()


@pytest.mark.parametrize("tenants", TENANTS, ids=["every", "one", "two"])
@pytest.mark.parametrize("before", [None, CURSOR], ids=["first", "after"])
async def test_an_agents_page_walks_the_agents_index(
    tmp_path: Path, tenants: frozenset[str] | None, before: Cursor | None
) -> None:
    path = tmp_path / "store.sqlite3"
    await SqliteStore(path).close()
    db = sqlite3.connect(path)
    try:
        sql, values = history_query(tenants, SessionFilter(agent="agent-1"), before, 51)
        steps = [step for _, _, step in _plan(db, sql, values)]
    finally:
        db.close()
    assert len(steps) == 1, steps
    bound = " AND started_at<?" if before is not None else ""
    assert steps[0] == f"SEARCH sessions USING INDEX sessions_by_agent (agent_id=?{bound})"


async def test_a_guest_who_matches_few_sessions_is_read_by_rowid_and_sorted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite3"
    await SqliteStore(path).close()
    db = sqlite3.connect(path)
    try:
        guest = GuestSearch.plan(db, "megan")
        assert guest.few
        filters = SessionFilter(guest="megan", end_reason=EndReason.RESOLVED)
        sql, values = history_query(frozenset({"hr", "legal"}), filters, CURSOR, 51, guest)
        steps = [step for _, _, step in _plan(db, sql, values)]
    finally:
        db.close()
    assert steps[0] == "SEARCH sessions USING INTEGER PRIMARY KEY (rowid=?)", steps
    assert any(step.startswith("SCAN json_each VIRTUAL TABLE") for step in steps), steps
    assert "USE TEMP B-TREE FOR ORDER BY" in steps


def _session(n: int, tenant: str, started: datetime) -> Session:
    session = Session(
        id=f"s{n:02d}",
        conversation_id=f"a:{n}",
        tenant_id=tenant,
        state=SessionState.ENDED,
        started_at=started,
        ended_at=started + timedelta(minutes=5),
        end_reason=EndReason.RESOLVED if n % 3 else EndReason.ABANDONED,
    )
    return session


async def test_several_departments_page_merged_without_repeats_or_gaps(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    tenants = ["hr", "legal", "it"]
    # Many start together (ties broken by session id), across the departments.
    sessions = [
        _session(n, tenants[n % 3], T0 + timedelta(minutes=(n // 4) * 10)) for n in range(30)
    ]
    with store._transaction() as db:
        for s in sessions:
            stored = session_record(s)
            stored["version"] = 1
            db.execute(
                "INSERT INTO sessions (id, conversation_id, tenant_id, state, started_at, version,"
                " record, ended_at, end_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    s.id,
                    s.conversation_id,
                    s.tenant_id,
                    s.state.value,
                    s.started_at.isoformat(),
                    1,
                    json.dumps(stored),
                    s.ended_at.isoformat() if s.ended_at else None,
                    s.end_reason.value if s.end_reason else None,
                ),
            )
    try:
        scope = Scope.of(departments=["hr", "legal"])
        for filters in (SessionFilter(), SessionFilter(end_reason=EndReason.ABANDONED)):
            expected = [
                s.id
                for s in sorted(sessions, key=lambda s: (s.started_at, s.id), reverse=True)
                if s.tenant_id in {"hr", "legal"}
                and (filters.end_reason is None or s.end_reason is filters.end_reason)
            ]
            for limit in (1, 3, 7):
                seen: list[str] = []
                cursor = None
                while True:
                    page = await store.reports.sessions(scope, filters, before=cursor, limit=limit)
                    seen += [row.session_id for row in page.rows]
                    if page.next is None:
                        break
                    cursor = page.next
                assert seen == expected, (filters, limit)
    finally:
        await store.close()


async def test_more_departments_than_are_merged_walk_the_start_index(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    await SqliteStore(path).close()
    many = frozenset(f"t{n}" for n in range(MERGED_DEPARTMENTS + 1))
    sql, values = history_query(many, SessionFilter(), CURSOR, 51)
    db = sqlite3.connect(path)
    try:
        steps = [step for _, _, step in _plan(db, sql, values)]
    finally:
        db.close()
    assert steps[0].startswith("SEARCH sessions USING INDEX sessions_by_start"), steps
    assert "USE TEMP B-TREE FOR ORDER BY" not in steps


async def test_a_guest_search_pages_alike_whether_it_sorts_the_matches_or_walks(
    tmp_path: Path,
) -> None:
    """However many sessions a guest search matches, the pages are the same: read and sorted
    (few matches) or checked on each session of an index walk (many)."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    tenants = ["hr", "legal", "it"]
    sessions = [
        _session(n, tenants[n % 3], T0 + timedelta(minutes=(n // 4) * 10)) for n in range(30)
    ]
    for s in sessions:
        s.metadata["Guest.Name"] = "Megan Bowen" if s.id.endswith(("1", "4", "7")) else "Alex"
        s.version = 0
        async with store.chat_turn(s.conversation_id, "1:megan") as turn:
            assert turn is not None
            await turn.commit(TurnWrites([s], bound_session_id=s.id))
    walking = SqliteReports(path, store.history, guest_sorted=0)
    try:
        scope = Scope.of(departments=["hr", "legal"])
        expected = [
            s.id
            for s in sorted(sessions, key=lambda s: (s.started_at, s.id), reverse=True)
            if s.tenant_id in {"hr", "legal"} and s.metadata["Guest.Name"] == "Megan Bowen"
        ]
        assert len(expected) == 6
        for reports in (store.reports, walking):
            for limit in (1, 4):
                seen: list[str] = []
                cursor = None
                while True:
                    page = await reports.sessions(
                        scope, SessionFilter(guest="BOWEN"), before=cursor, limit=limit
                    )
                    seen += [row.session_id for row in page.rows]
                    if page.next is None:
                        break
                    cursor = page.next
                assert seen == expected, (reports.guest_sorted, limit)
    finally:
        await walking.close()
        await store.close()
