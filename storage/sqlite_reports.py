"""The operations view's questions on SQLite (`storage.reports.ReportStore`).

Report queries never run on the event loop: they run on a connection of their own, read-only
(`PRAGMA query_only`), in one worker thread, beside the turns' writer (WAL lets readers read
while a turn writes). Counting by department is SQL `GROUP BY` over the report indexes
(`sessions_by_start`, `sessions_by_end`, `transfers_by_at`); chat history pages by keyset on
(`started_at`, `id`), walking `sessions_by_start` or, per department, `sessions_by_tenant_start`,
so a page costs the same at the first session and the millionth. The store keeps no planner
statistics, so the queries that must walk one index say which (`INDEXED BY`). What only the
record holds is kept beside it where a page or the live view would otherwise read every
record: the agent (`sessions_by_agent`), the guest's names (the trigram index `guest_search`)
and the live view's facts, so its tiles are counted in SQL and it reads the records of only the
chats it lists. Measured at a million sessions by `python -m bench.history_pages`
(bench/README.md).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from storage.base import GUEST_SEARCHED, ChatHistory
from storage.records import refused_of, session_of, transfer_of
from storage.reports import (
    CONNECTED,
    IDLE_AFTER,
    LIVE_CHATS,
    MAX_PAGE,
    SEARCHING,
    ActiveCounts,
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
    moment_of,
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


#: The guest search's full-text index holds trigrams: it finds parts of three characters or
#: more. A shorter part is looked for in each session's record as the page walks (see
#: `GuestSearch.plan`).
TRIGRAM = 3
#: A guest search that matches at most this many sessions reads them and sorts them; one that
#: matches more walks the page's index newest first and checks each session's record, so it
#: stops at a page (with that many matches a page fills soon) instead of sorting them all.
GUEST_SORTED = 2000


#: The guest's searched facts as a session's record keeps them, in `GUEST_SEARCHED`'s order:
#: what the trigram index holds and what a walk checks.
GUEST_FACTS = tuple(f"json_extract(record, '$.metadata.\"{key}\"')" for key in GUEST_SEARCHED)


def _scanned(lower: str) -> str:
    """A check of a guest's facts in a session's record, each in lower case by `lower`."""
    return " OR ".join(f"instr({lower}({fact}), ?) > 0" for fact in GUEST_FACTS)


#: The full-text index folds case beyond ASCII; so does the check of records: by Python's
#: `str.lower` for a part that is not ASCII, and for one that is by SQLite's `lower()`, which
#: folds ASCII only (enough for an ASCII part but for oddities such as the Kelvin sign) and
#: costs less than a call into Python on each of a million sessions.
_SCANNED = _scanned("crossdesk_lower")
_SCANNED_ASCII = _scanned("lower")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def add_functions(db: sqlite3.Connection) -> None:
    """Give a connection the functions report queries call (`crossdesk_lower`)."""
    db.create_function("crossdesk_lower", 1, _lower, deterministic=True)


@dataclass(frozen=True, slots=True)
class GuestSearch:
    """How a page of history finds a guest: a WHERE term and its values, and whether the
    sessions that match are few enough to read first (`few`) rather than walk an index."""

    clause: str
    values: list[Any]
    few: bool = False

    @classmethod
    def plan(
        cls, db: sqlite3.Connection, text: str, sorted_at_most: int = GUEST_SORTED
    ) -> GuestSearch:
        """The search for `text`: the sessions its trigrams match in the index (up to
        `sorted_at_most` of them, read by rowid), or, when they are more, a check of each
        session walked. A part shorter than a trigram is checked on each session walked too:
        as fast as a page fills when it is common (short parts mostly are), as slow as reading
        every session in scope when it matches none."""
        check = _SCANNED_ASCII if text.isascii() else _SCANNED
        scanned = cls(f"({check})", [text.lower()] * len(GUEST_SEARCHED))
        if len(text) < TRIGRAM:
            return scanned
        phrase = '"' + text.replace('"', '""') + '"'
        found = [
            rowid
            for (rowid,) in db.execute(
                "SELECT rowid FROM guest_search WHERE guest_search MATCH ? LIMIT ?",
                (phrase, sorted_at_most + 1),
            )
        ]
        if len(found) > sorted_at_most:
            return scanned
        return cls(
            "sessions.rowid IN (SELECT value FROM json_each(?))", [json.dumps(found)], few=True
        )


def _criteria(
    filters: SessionFilter, before: Cursor | None, guest: GuestSearch | None
) -> tuple[list[str], list[Any]]:
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
        clauses.append("agent_id = ?")
        values.append(filters.agent)
    if guest is not None:
        clauses.append(guest.clause)
        values += guest.values
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
    guest: GuestSearch | None = None,
) -> tuple[str, list[Any]]:
    """The SQL (and its values) of a history page: up to `limit` sessions of `tenants` (None:
    every tenant) that match `filters` (the guest's as `guest` plans it), newest start first,
    after `before`.

    The page walks an index in the page's order and stops at `limit` rows, however many
    sessions there are, so the index is named (`INDEXED BY`): without statistics the planner
    may otherwise scan the table and sort it (a filter on `end_reason`), or sort every session
    of several departments. A guest search that matches few sessions reads those (by rowid,
    `NOT INDEXED`) and sorts them; an agent's sessions are a walk down `sessions_by_agent`,
    whatever the departments. Otherwise one department walks `sessions_by_tenant_start` down
    from the cursor; several, up to `MERGED_DEPARTMENTS`, walk it once each, `limit` rows at
    most, and merge; every tenant (or more departments) walks `sessions_by_start`.
    """
    if filters.guest and guest is None:
        raise ValueError("a guest search needs its plan (GuestSearch.plan)")
    clauses, values = _criteria(filters, before, guest)
    single = None
    if guest is not None and guest.few:
        single = "NOT INDEXED"
    elif filters.agent is not None:
        single = "INDEXED BY sessions_by_agent"
    elif tenants is None or len(tenants) > MERGED_DEPARTMENTS:
        single = "INDEXED BY sessions_by_start"
    if single is not None:
        named: list[Any] = []
        if tenants is not None:
            clauses.insert(0, _in("tenant_id", tenants, named))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT record FROM sessions {single}{where}{_NEWEST_FIRST}"
        return sql, [*named, *values, limit]
    assert tenants is not None  # every tenant walks one index, above
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


#: The live view's tiles, by department, from the columns beside the records (`LiveFacts`): no
#: record is read. As `SessionRow.waiting`, `with_agent` and `idle` decide.
_ACTIVE_COUNTS = (
    "SELECT tenant_id, count(*),"
    f" count(*) FILTER (WHERE agent_state = '{SEARCHING}'),"
    f" min(CASE WHEN agent_state = '{SEARCHING}' THEN coalesce(queued_at, started_at) END),"
    f" count(*) FILTER (WHERE agent_state = '{CONNECTED}'),"
    f" count(*) FILTER (WHERE coalesce(agent_state, '') NOT IN ('{SEARCHING}', '{CONNECTED}')"
    " AND last_activity_at <= ?)"
    " FROM sessions INDEXED BY sessions_active WHERE state = 'active' GROUP BY tenant_id"
)
#: The records of the most recently active chats of each department (`LIVE_CHATS` of each, so
#: any viewer's page is among them): ranked by the columns, only those records read.
_LATEST_ACTIVE = (
    "SELECT s.record FROM (SELECT rowid AS found, row_number() OVER (PARTITION BY tenant_id"
    " ORDER BY last_activity_at DESC, id DESC) AS rank"
    " FROM sessions INDEXED BY sessions_active WHERE state = 'active') AS latest"
    " JOIN sessions AS s ON s.rowid = latest.found WHERE latest.rank <= ?"
)


class SqliteReports:
    """`ReportStore` on the SQLite file at `path`; `history` reads one chat (the store's).
    `guest_sorted`: see `GUEST_SORTED`."""

    def __init__(
        self,
        path: str | Path,
        history: Callable[[str], Awaitable[ChatHistory]],
        *,
        guest_sorted: int = GUEST_SORTED,
        before_guest_search: Callable[[], None] = lambda: None,
    ) -> None:
        self.path = str(path)
        self.guest_sorted = guest_sorted
        self._history = history
        #: Brings the guest search's index up to date (the store's writer, on the event loop).
        self._before_guest_search = before_guest_search
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="crossdesk-reports")
        self._db: sqlite3.Connection | None = None
        #: The thread the report queries ran on (for the tests: never the event loop's).
        self.thread_id: int | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA query_only = ON")
            db.execute("PRAGMA busy_timeout = 5000")
            add_functions(db)
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
            active = {
                tenant: ActiveCounts(count, waiting, moment_of(oldest), with_agent, idle)
                for tenant, count, waiting, oldest, with_agent, idle in db.execute(
                    _ACTIVE_COUNTS, (utc_text(now - IDLE_AFTER),)
                )
            }
            chats = _rows(db, _LATEST_ACTIVE, [LIVE_CHATS])
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
            start = day_start or day_start_of(now)
            return build_live(now, start, active, chats, started, ended, moved)

        snapshot = await self._run(query)
        return snapshot.for_scope(scope)

    async def quiet(self, before: datetime, limit: int) -> list[SessionRow]:
        def query(db: sqlite3.Connection) -> list[SessionRow]:
            return _rows(
                db,
                "SELECT record FROM sessions INDEXED BY sessions_active WHERE state = 'active'"
                " AND last_activity_at < ? LIMIT ?",
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
        if filters.guest:
            self._before_guest_search()

        def query(db: sqlite3.Connection) -> list[SessionRow]:
            guest = (
                GuestSearch.plan(db, filters.guest, self.guest_sorted) if filters.guest else None
            )
            sql, values = history_query(tenants, filters, before, limit + 1, guest)
            return _rows(db, sql, values)

        return page_of(await self._run(query), limit)

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
