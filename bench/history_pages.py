"""`python -m bench.history_pages --sessions N`: the operations view's chat history at scale.

Fills a fresh SQLite store (in a temporary directory, removed afterwards) with N synthetic
sessions spread over a year — several departments, every outcome, transfer chains of up to
three hops (with their `transfers` rows), agents, ratings and a few refused transfers — written
in the exact rows the store writes (`session_record`, `transfer_record`, `refused_record` and
the store's own INSERT statements and columns, see `SqliteStore._write_session` and
`SqliteStore._commit`), in bulk transactions rather than a turn per session. Then it asks the
store's public `reports` API what the operations view asks, as an admin, as the manager of
one department and as the manager of two: the first page of history, a page 20 pages deep, a
page from a cursor in the middle of the year, each common filter, the CSV export's walk of one
week, `live()`, a week's `summary()` and a week's `transfers()`, each several times, and prints
the median and the slowest milliseconds per call with the plan SQLite chose for each query
(`EXPLAIN QUERY PLAN` of the statements the store ran, caught with a trace callback).

`--keep DIR` keeps the database in DIR and reuses it on the next run (to compare two versions
of the store on the same data).

This is a measurement, not a test: it makes no claim and never fails on a figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.session import EndReason, Position, Session, SessionState, iso
from pipeline.transfer import RefusedTransfer, TransferRecord
from storage.records import refused_record, session_record, transfer_record
from storage.report_csv import sessions_csv
from storage.reports import MAX_PAGE, Cursor, LiveFacts, SessionFilter, guest_facts
from storage.scope import Scope
from storage.sqlite import (
    INSERT_GUEST,
    INSERT_SESSION,
    SCHEMA_VERSION,
    SqliteStore,
    create_tables,
)
from storage.sqlite_reports import add_functions

#: The departments (tenants) chats are spread over, busiest first.
TENANTS = ("helpdesk", "hr", "it", "legal", "finance", "facilities", "payroll", "security")
TENANT_WEIGHTS = (30, 18, 16, 10, 9, 7, 6, 4)
#: Where sessions stop (their last stage), and how often.
STAGES = ("greet", "ask", "route", "detail", "queue", "agent", "feedback", "end")
STAGE_WEIGHTS = (5, 10, 8, 12, 10, 25, 15, 15)
#: How a visit's last session ends (the others end transferred).
OUTCOMES = (
    EndReason.RESOLVED,
    EndReason.NO_RESOLUTION,
    EndReason.ABANDONED,
    EndReason.GUEST_ENDED,
)
OUTCOME_WEIGHTS = (55, 15, 15, 15)
#: Sessions per visit: 1 (no transfer), 2 or 3 (hops 1 and 2).
CHAIN_WEIGHTS = (85, 11, 4)
AGENTS_PER_TENANT = 5
#: The share of a visit's last sessions an agent took.
AGENT_SHARE = 0.35
#: The share of resolved sessions the guest rated.
RATED_SHARE = 0.5
#: The history's end: "now" for `live()` (chats that began within the last 20 minutes are
#: still going).
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
STILL_ACTIVE = timedelta(minutes=20)
#: Sessions written per transaction.
BATCH = 50_000

# The store's statements (storage/sqlite.py: `_write_session`, `_commit`), written in bulk.
INSERT_TRANSFER = (
    "INSERT INTO transfers (conversation_id, from_session_id, record, at) VALUES (?, ?, ?, ?)"
)
INSERT_REFUSAL = "INSERT INTO refusals (conversation_id, at, record) VALUES (?, ?, ?)"
INSERT_CHAT = (
    "INSERT INTO chats VALUES (?, ?, ?) ON CONFLICT (conversation_id)"
    " DO UPDATE SET session_id = coalesce(?, session_id),"
    " reference = coalesce(excluded.reference, reference)"
)


def _dump(value: Any) -> str:
    # As the store dumps its records.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def agent_id(tenant: str, n: int) -> str:
    return f"agent-{tenant}-{n}"


@dataclass
class Rows:
    """One transaction's rows, in the store's column order."""

    sessions: list[tuple[Any, ...]] = field(default_factory=list)
    #: The guest's searched facts of each of `sessions`, in their order.
    guests: list[tuple[str | None, ...]] = field(default_factory=list)
    transfers: list[tuple[Any, ...]] = field(default_factory=list)
    refusals: list[tuple[Any, ...]] = field(default_factory=list)
    chats: list[tuple[Any, ...]] = field(default_factory=list)


def _session_row(session: Session) -> tuple[Any, ...]:
    # `_write_session` for a session's first write (version 0 → 1), with its end's columns.
    stored = session_record(session)
    version = stored["version"] = session.version + 1
    facts = LiveFacts.of(session)
    return (
        session.id,
        session.conversation_id,
        session.tenant_id,
        session.state.value,
        session.started_at.isoformat(),
        version,
        _dump(stored),
        _utc(session.ended_at) if session.ended_at else None,
        session.end_reason.value if session.end_reason else None,
        facts.agent_id,
        facts.agent_state,
        facts.queued_at,
        facts.last_activity_at,
    )


class Synthetic:
    """N sessions over the year before `NOW`, oldest first, in visits of 1 to 3 sessions."""

    def __init__(self, sessions: int, active: int = 0, seed: int = 15) -> None:
        self.total = sessions
        #: The newest visits whose last session is still going (beside those of the last
        #: 20 minutes): the live view's active chats.
        self.active = active
        self.rng = random.Random(seed)
        self.guests = max(1000, sessions // 5)
        self.made = 0
        self.transfers = 0

    def _id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _guest(self, n: int) -> dict[str, str]:
        name = f"Guest {n:06d}"
        mail = f"guest{n:06d}@contoso.example"
        return {
            "Guest.Id": f"29:guest-{n}",
            "Guest.Name": name,
            "Guest.Email": mail,
            "Guest.UserPrincipalName": mail,
            "Guest.AadObjectId": f"00000000-0000-0000-0000-{n:012d}",
            "Guest.TenantId": "contoso",
            "Guest.Locale": "en-US",
        }

    def batches(self) -> Iterator[Rows]:
        rng = self.rng
        start = NOW - YEAR
        # Sessions spread evenly over the year (a visit starts where its share of it falls,
        # give or take one visit's gap), oldest first.
        step = YEAR / self.total
        rows = Rows()
        while self.made < self.total:
            at = start + step * (self.made + rng.random())
            self._visit(at, rows)
            if len(rows.sessions) >= BATCH:
                yield rows
                rows = Rows()
        if rows.sessions:
            yield rows

    def _visit(self, at: datetime, rows: Rows) -> None:
        rng = self.rng
        guest = rng.randrange(self.guests)
        conversation = f"a:1guest-{guest}"
        facts = self._guest(guest)
        length = rng.choices((1, 2, 3), CHAIN_WEIGHTS)[0]
        length = min(length, self.total - self.made)
        tenants = rng.sample(TENANTS, length) if length > 1 else []
        if not tenants:
            tenants = rng.choices(TENANTS, TENANT_WEIGHTS)
        began = at
        previous: Session | None = None
        for hop, tenant in enumerate(tenants):
            last = hop == length - 1
            session = Session(
                id=self._id(),
                conversation_id=conversation,
                tenant_id=tenant,
                state=SessionState.ACTIVE,
                started_at=at,
                metadata={
                    **facts,
                    "Session.TenantId": tenant,
                    "Session.TenantName": tenant.title(),
                    "Session.State": "active",
                    "Session.StartedUtc": iso(at),
                },
                hops=hop,
                journey_started_at=began if hop else None,
            )
            session.metadata["Session.SessionId"] = session.id
            if previous is not None:
                session.metadata["Session.TransferredFrom.TenantId"] = previous.tenant_id
                session.metadata["Session.TransferredFrom.SessionId"] = previous.id
            spent = timedelta(seconds=rng.uniform(60, 1800))
            stage = rng.choices(STAGES, STAGE_WEIGHTS)[0] if last else "route"
            session.stage, session.pipeline = stage, "intake"
            session.last_guest_at = session.last_activity_at = at + spent
            agent = last and rng.random() < AGENT_SHARE
            if agent:
                agent_n = rng.randrange(AGENTS_PER_TENANT)
                wait = rng.randrange(5, 600)
                session.metadata.update(
                    {
                        "Session.Agent.Id": agent_id(tenant, agent_n),
                        "Session.Agent.Name": f"Agent {tenant} {agent_n}",
                        "Session.Agent.State": "connected",
                        "Session.QueuedUtc": iso(at + timedelta(seconds=30)),
                        "Session.ConnectedUtc": iso(at + timedelta(seconds=30 + wait)),
                        "Session.WaitSeconds": wait,
                        "Session.ConnectedSeconds": int(spent.total_seconds()) - 30 - wait,
                    }
                )
            ongoing = last and (at > NOW - STILL_ACTIVE or self.made >= self.total - self.active)
            if ongoing:
                session.position = Position("intake", stage, "question", at, {})
                # Spread over the last 15 minutes (a third idle), from the id, not the random
                # sequence, so the other sessions stay the same whatever `active` is.
                quiet = timedelta(seconds=int(session.id[:4], 16) % 900)
                session.last_guest_at = session.last_activity_at = max(at, NOW - quiet)
                if agent and int(session.id[4], 16) % 2:
                    session.metadata["Session.Agent.State"] = "searching"
                    for key in ("Session.ConnectedUtc", "Session.ConnectedSeconds"):
                        session.metadata.pop(key)
            elif last:
                reason = rng.choices(OUTCOMES, OUTCOME_WEIGHTS)[0]
                if reason is EndReason.RESOLVED:
                    session.metadata["Session.Status.Resolution"] = "resolved"
                    if rng.random() < RATED_SHARE:
                        session.metadata["Session.Feedback.Rating"] = rng.randint(1, 5)
                session.end(SessionState.ENDED, at + spent, reason)
            else:
                session.end(SessionState.TRANSFERRED, at + spent)
            if previous is not None:
                previous.metadata["Session.TransferredTo.TenantId"] = tenant
                record = TransferRecord(
                    conversation,
                    previous.id,
                    session.id,
                    previous.tenant_id,
                    tenant,
                    at,
                    f"activity-{session.id[:12]}",
                    hop,
                )
                rows.transfers.append(
                    (conversation, previous.id, _dump(transfer_record(record)), _utc(at))
                )
                rows.sessions.append(_session_row(previous))
                rows.guests.append(guest_facts(previous))
                self.transfers += 1
            if last and not ongoing and rng.random() < 0.005:
                refused = RefusedTransfer(
                    conversation,
                    session.id,
                    tenant,
                    rng.choice([t for t in TENANTS if t != tenant]),
                    "closed",
                    at + spent,
                    hop,
                )
                rows.refusals.append(
                    (conversation, _utc(at + spent), _dump(refused_record(refused)))
                )
            previous = session
            at += spent
        assert previous is not None
        rows.sessions.append(_session_row(previous))
        rows.guests.append(guest_facts(previous))
        reference = _dump({"conversation": {"id": conversation}, "serviceUrl": "https://x/"})
        rows.chats.append((conversation, previous.id, reference, previous.id))
        self.made += length


def fill(path: Path, sessions: int, active: int = 0) -> tuple[int, int, float]:
    """Write `sessions` synthetic sessions into a new store file at `path` (tables made by the
    store's `create_tables`); the sessions and transfers written, and the seconds it took."""
    began = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    # A bulk load: no journal (the file is thrown away if it fails); the store turns WAL on
    # when it opens the file.
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA cache_size = -262144")
    db.execute("BEGIN")
    create_tables(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db.execute("COMMIT")
    synthetic = Synthetic(sessions, active)
    for rows in synthetic.batches():
        db.execute("BEGIN")
        # The store writes a session's guest by the rowid its INSERT got: in a new table, the
        # next ones in turn.
        (last,) = db.execute("SELECT coalesce(max(rowid), 0) FROM sessions").fetchone()
        db.executemany(INSERT_SESSION, rows.sessions)
        db.executemany(
            INSERT_GUEST,
            [(last + n, *guest) for n, guest in enumerate(rows.guests, 1) if any(guest)],
        )
        db.executemany(INSERT_TRANSFER, rows.transfers)
        db.executemany(INSERT_REFUSAL, rows.refusals)
        db.executemany(INSERT_CHAT, rows.chats)
        db.execute("COMMIT")
    db.close()
    return synthetic.made, synthetic.transfers, time.perf_counter() - began


# measuring


@dataclass
class Figure:
    case: str
    scope: str
    times: list[float]
    rows: int

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def slowest(self) -> float:
        return max(self.times)


async def timed(
    figures: list[Figure], case: str, scope: str, call: Callable[[], Awaitable[int]], repeats: int
) -> None:
    times, rows = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        rows = await call()
        times.append((time.perf_counter() - began) * 1000)
    figures.append(Figure(case, scope, times, rows))
    print(f"  {case:<34} {scope:<7} {statistics.median(times):9.1f} ms  ({rows} rows)")


async def measure(store: SqliteStore, repeats: int) -> tuple[list[Figure], dict[str, str]]:
    reports = store.reports
    admin = Scope.of(admin=True)
    department = TENANTS[1]
    manager = Scope.of(departments=[department])
    # A manager of two departments: a page merges the two departments' index walks.
    both = Scope.of(departments=[department, TENANTS[3]])
    mid = NOW - YEAR / 2
    week = (mid, mid + timedelta(days=7))
    figures: list[Figure] = []
    plans: dict[str, str] = {}
    captured: list[str] = []

    def trace(db: sqlite3.Connection) -> None:
        db.set_trace_callback(captured.append)

    # The SQL the store runs (with its values), to ask SQLite how it runs it.
    await reports._run(trace)

    def page_call(
        scope: Scope, filters: SessionFilter, before: Cursor | None = None
    ) -> Callable[[], Awaitable[int]]:
        async def call() -> int:
            page = await reports.sessions(scope, filters, before=before, limit=50)
            return len(page.rows)

        return call

    async def deep(scope: Scope, filters: SessionFilter, pages: int) -> Cursor | None:
        cursor = None
        for _ in range(pages):
            page = await reports.sessions(scope, filters, before=cursor, limit=50)
            cursor = page.next
        return cursor

    async def plan(case: str, call: Callable[[], Awaitable[int]]) -> None:
        captured.clear()
        await call()
        explain = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
        add_functions(explain)
        try:
            shown = []
            for sql in dict.fromkeys(s for s in captured if s.startswith("SELECT")):
                steps = explain.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                shown.append(_short(sql))
                shown += [f"  {'  ' * _depth(steps, s)}{s[3]}" for s in steps]
        finally:
            explain.close()
        plans[case] = "\n".join(shown)

    async def record(
        case: str, scope: str, call: Callable[[], Awaitable[int]], repeats: int
    ) -> None:
        await timed(figures, case, scope, call, repeats)
        await plan(f"{case} ({scope})", call)

    for name, scope in (("admin", admin), ("dept", manager), ("2 depts", both)):
        own = department if name == "dept" else TENANTS[3]
        cases: list[tuple[str, SessionFilter, Cursor | None]] = [
            ("first page", SessionFilter(), None),
            ("page 21", SessionFilter(), await deep(scope, SessionFilter(), 20)),
            (
                "mid-year cursor",
                SessionFilter(),
                await deep(scope, SessionFilter(started_before=mid), 1),
            ),
            ("department", SessionFilter(tenants=frozenset({own})), None),
            ("outcome abandoned", SessionFilter(end_reason=EndReason.ABANDONED), None),
            (
                "outcome abandoned, page 21",
                SessionFilter(end_reason=EndReason.ABANDONED),
                await deep(scope, SessionFilter(end_reason=EndReason.ABANDONED), 20),
            ),
            ("one week", SessionFilter(started_from=week[0], started_before=week[1]), None),
            ("stage feedback", SessionFilter(stage="feedback"), None),
            ("hops >= 2", SessionFilter(min_hops=2), None),
            ("agent", SessionFilter(agent=agent_id(own, 2)), None),
            ("guest (one person)", SessionFilter(guest="guest000123"), None),
            # Guests 010000-019999: 5% of sessions.
            ("guest, 5% match", SessionFilter(guest="guest01"), None),
            ("guest, every session", SessionFilter(guest="contoso"), None),
            # Two characters: addresses ending in 9 (10%), then none at all.
            ("guest, 2 chars, 10% match", SessionFilter(guest="9@"), None),
            ("guest, 2 chars, no match", SessionFilter(guest="zq"), None),
        ]
        for case, filters, before in cases:
            await record(case, name, page_call(scope, filters, before), repeats)

        async def walk(scope: Scope = scope) -> int:
            filters = SessionFilter(started_from=week[0], started_before=week[1])
            cursor, first, rows = None, True, 0
            while True:
                page = await reports.sessions(scope, filters, before=cursor, limit=MAX_PAGE)
                sessions_csv(page.rows, header=first)
                first, rows = False, rows + len(page.rows)
                if page.next is None:
                    return rows
                cursor = page.next

        async def live(scope: Scope = scope) -> int:
            return len((await reports.live(scope, NOW)).chats)

        async def summary(scope: Scope = scope) -> int:
            return (await reports.summary(scope, *week)).sessions

        async def transfers(scope: Scope = scope) -> int:
            return (await reports.transfers(scope, *week)).transfers

        heavy = max(3, repeats // 2)
        await record("CSV walk of one week", name, walk, heavy)
        await record("live()", name, live, repeats)
        await record("summary() of one week", name, summary, heavy)
        await record("transfers() of one week", name, transfers, heavy)
    await reports._run(lambda db: db.set_trace_callback(None))
    return figures, plans


def _short(sql: str) -> str:
    """A statement as the plans show it (with the values SQLite planned for; long ones cut)."""
    return sql if len(sql) <= 400 else f"{sql[:400]}…"


def _depth(steps: list[Any], step: Any) -> int:
    parents = {s[0]: s[1] for s in steps}
    depth, parent = 0, step[1]
    while parent in parents:
        depth, parent = depth + 1, parents[parent]
    return depth


def table(figures: list[Figure]) -> str:
    lines = [
        "| query | scope | median ms | max ms | rows |",
        "|---|---|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(f"| {f.case} | {f.scope} | {f.median:.1f} | {f.slowest:.1f} | {f.rows} |")
    return "\n".join(lines)


async def run(sessions: int, active: int, repeats: int, keep: Path | None) -> None:
    folder = Path(tempfile.mkdtemp(prefix="crossdesk-history-"))
    try:
        path = (keep or folder) / "history.sqlite3"
        if keep is None or not path.exists():
            made, moved, seconds = fill(path, sessions, active)
            print(f"filled {made} sessions, {moved} transfers in {seconds:.1f} s")
        began = time.perf_counter()
        store = SqliteStore(path)
        print(f"opened the store in {(time.perf_counter() - began) * 1000:.0f} ms")
        # As the file is once its WAL is checkpointed (opening a file of an older schema
        # upgrades it, and the upgrade's rewrite waits in the WAL until then).
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
        print(f"database: {size / 2**20:.0f} MiB")
        try:
            figures, plans = await measure(store, repeats)
        finally:
            await store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print(
        f"{sessions} sessions; {os.cpu_count()} CPUs; Python {platform.python_version()};"
        f" SQLite {sqlite3.sqlite_version}; {repeats} calls each ({max(3, repeats // 2)} for"
        " the walk, summary and transfers)"
    )
    print()
    print(table(figures))
    print()
    for case, steps in plans.items():
        print(f"{case}:\n{_indent(steps)}")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions to write")
    parser.add_argument("--repeats", type=int, default=7, help="calls per query")
    parser.add_argument(
        "--keep",
        type=Path,
        help="a folder to keep the database in and reuse (for trying a fix on the same data)",
    )
    parser.add_argument(
        "--active",
        type=int,
        default=10_000,
        help="active chats (the newest visits stay open), for the live view",
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args.sessions, args.active, args.repeats, args.keep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
