"""The operations view's questions on SQLite (`storage.reports.ReportStore`).

Report queries never run on the event loop: they run on a connection of their own, read-only
(`PRAGMA query_only`), in one worker thread, beside the turns' writer (WAL lets readers read
while a turn writes). Counting by department is SQL `GROUP BY` over the report indexes
(`sessions_by_start`, `sessions_by_end`, `transfers_by_at`); chat history pages by keyset on
(`started_at`, `id`), walking `sessions_by_start` or, per department, `sessions_by_tenant_start`,
so a page costs the same at the first session and the millionth. The store keeps no planner
statistics, so the queries that must walk one index say which (`INDEXED BY`): measured at a
million sessions by `python -m bench.history_pages` (bench/README.md).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from storage.base import ChatHistory
from storage.records import refused_of, session_of, transfer_of
from storage.reports import (
    MAX_PAGE,
    Cursor,
    Journey,
    LiveSnapshot,
    Page,
    SessionFilter,
    SessionRow,
    Summary,
    TransferMap,
    build_live,
    counted_tenants,
    day_start_of,
    journey_of,
    page_of,
    row_of,
    summarize,
    transfer_map,
    utc_text,
)
from storage.scope import Scope

T = TypeVar("T")


def _rows(db: sqlite3.Connection, sql: str, values: list[Any]) -> list[SessionRow]:
    return [row_of(session_of(json.loads(record))) for (record,) in db.execute(sql, values)]


def _in(column: str, tenants: frozenset[str], values: list[Any]) -> str:
    values.extend(sorted(tenants))
    return f"{column} IN ({', '.join('?' * len(tenants))})"


#: Most departments a page of history reads one by one (each by its own index range, merged);
#: beyond this, one walk down the start index keeps the departments' sessions.
MERGED_DEPARTMENTS = 64


def _criteria(filters: SessionFilter, before: Cursor | None) -> tuple[list[str], list[Any]]:
    """The WHERE terms of a history page other than the departments, and their values."""
    clauses: list[str] = []
    values: list[Any] = []
    if filters.started_from is not None:
        clauses.append("started_at >= ?")
        values.append(utc_text(filters.started_from))
    if filters.started_before is not None:
        clauses.append("started_at < ?")
        values.append(utc_text(filters.started_before))
    if filters.end_reason is not None:
        clauses.append("end_reason = ?")
        values.append(filters.end_reason.value)
    if filters.state is not None:
        clauses.append("state = ?")
        values.append(filters.state.value)
    if filters.stage is not None:
        clauses.append(
            "coalesce(json_extract(record, '$.position.stage'),"
            " json_extract(record, '$.stage')) = ?"
        )
        values.append(filters.stage)
    if filters.hops is not None:
        clauses.append("json_extract(record, '$.hops') = ?")
        values.append(filters.hops)
    if filters.min_hops is not None:
        clauses.append("json_extract(record, '$.hops') >= ?")
        values.append(filters.min_hops)
    if filters.agent is not None:
        clauses.append("json_extract(record, '$.metadata.\"Session.Agent.Id\"') = ?")
        values.append(filters.agent)
    if filters.guest:
        facts = " || ' ' || ".join(
            f"coalesce(json_extract(record, '$.metadata.\"{key}\"'), '')"
            for key in ("Guest.Name", "Guest.Email", "Guest.UserPrincipalName")
        )
        clauses.append(f"instr(lower({facts}), ?) > 0")
        values.append(filters.guest.lower())
    if before is not None:
        # The range bound first, so it is a bound of the index walk whatever the planner makes
        # of the OR.
        clauses.append("started_at <= ? AND (started_at < ? OR id < ?)")
        values += [before.started_at, before.started_at, before.session_id]
    return clauses, values


_NEWEST_FIRST = " ORDER BY started_at DESC, id DESC LIMIT ?"


def history_query(
    tenants: frozenset[str] | None,
    filters: SessionFilter,
    before: Cursor | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The SQL (and its values) of a history page: up to `limit` sessions of `tenants` (None:
    every tenant) that match `filters`, newest start first, after `before`.

    The page walks an index in the page's order and stops at `limit` rows, however many
    sessions there are, so the index is named (`INDEXED BY`): without statistics the planner
    may otherwise scan the table and sort it (a filter on `end_reason`), or sort every session
    of several departments. One department walks `sessions_by_tenant_start` down from the
    cursor; several, up to `MERGED_DEPARTMENTS`, walk it once each, `limit` rows at most, and
    merge; every tenant (or more departments) walks `sessions_by_start`.
    """
    clauses, values = _criteria(filters, before)
    if tenants is None or len(tenants) > MERGED_DEPARTMENTS:
        named: list[Any] = []
        if tenants is not None:
            clauses.insert(0, _in("tenant_id", tenants, named))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT record FROM sessions INDEXED BY sessions_by_start{where}{_NEWEST_FIRST}"
        return sql, [*named, *values, limit]
    terms = " AND ".join(["tenant_id = ?", *clauses])
    one = f"FROM sessions INDEXED BY sessions_by_tenant_start WHERE {terms}{_NEWEST_FIRST}"
    ordered = sorted(tenants)
    if len(ordered) == 1:
        return f"SELECT record {one}", [ordered[0], *values, limit]
    parts = " UNION ALL ".join(
        f"SELECT * FROM (SELECT started_at, id, record {one})" for _ in ordered
    )
    sql = f"SELECT record FROM ({parts}){_NEWEST_FIRST}"
    merged: list[Any] = []
    for tenant in ordered:
        merged += [tenant, *values, limit]
    return sql, [*merged, limit]


class SqliteReports:
    """`ReportStore` on the SQLite file at `path`; `history` reads one chat (the store's)."""

    def __init__(self, path: str | Path, history: Callable[[str], Awaitable[ChatHistory]]) -> None:
        self.path = str(path)
        self._history = history
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="crossdesk-reports")
        self._db: sqlite3.Connection | None = None
        #: The thread the report queries ran on (for the tests: never the event loop's).
        self.thread_id: int | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA query_only = ON")
            db.execute("PRAGMA busy_timeout = 5000")
            self._db = db
            self.thread_id = threading.get_ident()
        return self._db

    async def _run(self, query: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: query(self._connection()))

    async def close(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None

        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, close)
        self._executor.shutdown(wait=True)

    async def live(
        self, scope: Scope, now: datetime, *, day_start: datetime | None = None
    ) -> LiveSnapshot:
        since = utc_text(day_start or day_start_of(now))

        def query(db: sqlite3.Connection) -> LiveSnapshot:
            active = _rows(db, "SELECT record FROM sessions WHERE state = 'active'", [])
            started = dict(
                db.execute(
                    # The indexes by time: grouping by tenant would otherwise walk the
                    # tenant index over every session ever kept.
                    "SELECT tenant_id, count(*) FROM sessions INDEXED BY sessions_by_start"
                    " WHERE started_at >= ? GROUP BY tenant_id",
                    (since,),
                ).fetchall()
            )
            ended = dict(
                db.execute(
                    "SELECT tenant_id, count(*) FROM sessions INDEXED BY sessions_by_end"
                    " WHERE ended_at >= ? GROUP BY tenant_id",
                    (since,),
                ).fetchall()
            )
            moved = db.execute(
                "SELECT json_extract(record, '$.fromTenantId'), json_extract(record,"
                " '$.toTenantId'), count(*) FROM transfers WHERE at >= ? GROUP BY 1, 2",
                (since,),
            ).fetchall()
            return build_live(now, day_start or day_start_of(now), active, started, ended, moved)

        snapshot = await self._run(query)
        return snapshot.for_scope(scope)

    async def quiet(self, before: datetime, limit: int) -> list[SessionRow]:
        def query(db: sqlite3.Connection) -> list[SessionRow]:
            return _rows(
                db,
                "SELECT record FROM sessions WHERE state = 'active'"
                " AND json_extract(record, '$.lastActivityAt') < ? LIMIT ?",
                [utc_text(before), limit],
            )

        return await self._run(query)

    async def sessions(
        self,
        scope: Scope,
        filters: SessionFilter,
        *,
        before: Cursor | None = None,
        limit: int = 50,
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        tenants = filters.departments(scope)
        if tenants is not None and not tenants:
            return Page((), None)
        sql, values = history_query(tenants, filters, before, limit + 1)
        rows = await self._run(lambda db: _rows(db, sql, values))
        return page_of(rows, limit)

    async def journey(self, scope: Scope, conversation_id: str, now: datetime) -> Journey | None:
        return journey_of(await self._history(conversation_id), scope, now)

    async def summary(
        self, scope: Scope, start: datetime, end: datetime, *, tenant: str | None = None
    ) -> Summary:
        tenants = counted_tenants(scope, tenant)
        if tenants is not None and not tenants:
            return Summary(start, end)
        values: list[Any] = [utc_text(start), utc_text(end)]
        narrowed = f" AND {_in('tenant_id', tenants, values)}" if tenants is not None else ""

        def query(db: sqlite3.Connection) -> Summary:
            rows = _rows(
                db,
                f"SELECT record FROM sessions WHERE started_at >= ? AND started_at < ?{narrowed}",
                values,
            )
            refused = [
                refused_of(json.loads(record))
                for (record,) in db.execute(
                    "SELECT record FROM refusals WHERE at >= ? AND at < ?", values[:2]
                )
            ]
            counted = sum(1 for r in refused if tenants is None or r.from_tenant_id in tenants)
            return summarize(start, end, rows, counted)

        return await self._run(query)

    async def transfers(self, scope: Scope, start: datetime, end: datetime) -> TransferMap:
        bounds = (utc_text(start), utc_text(end))

        def query(db: sqlite3.Connection) -> TransferMap:
            moved = [
                transfer_of(json.loads(record))
                for (record,) in db.execute(
                    "SELECT record FROM transfers WHERE at >= ? AND at < ?", bounds
                )
            ]
            refused = [
                refused_of(json.loads(record))
                for (record,) in db.execute(
                    "SELECT record FROM refusals WHERE at >= ? AND at < ?", bounds
                )
            ]
            return transfer_map(scope, moved, refused)

        return await self._run(query)
