"""Chat history on SQLite stays an index walk that stops at a page, whatever the filter (the
planner has no statistics to go by), and a manager of several departments pages through them
merged, newest first, no session twice and none skipped."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.session import EndReason, Session, SessionState
from storage.records import session_record
from storage.reports import Cursor, SessionFilter
from storage.scope import Scope
from storage.sqlite import SqliteStore
from storage.sqlite_reports import MERGED_DEPARTMENTS, history_query

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CURSOR = Cursor(T0.isoformat(), "m")
FILTERS = [
    SessionFilter(),
    SessionFilter(end_reason=EndReason.ABANDONED),
    SessionFilter(state=SessionState.ENDED),
    SessionFilter(started_from=T0, started_before=T0 + timedelta(days=7)),
    SessionFilter(stage="ask"),
    SessionFilter(min_hops=2),
    SessionFilter(agent="agent-1"),
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
    try:
        sql, values = history_query(tenants, filters, before, 51)
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
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
