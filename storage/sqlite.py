"""The embedded default backend: one SQLite file, no server, no account.

A turn is short transactions: one takes the chat's lease and reads the chat, one commits
everything the turn changed with its outbox and the claim of its event, then one per delivered
message. While a turn delivers, the outbox rows it wrote hold the chat (marked with the turn and
until when, renewed as a lease is): the last delivery deletes them, releasing it. They run
synchronously on the event loop: SQLite answers in microseconds on a local file (WAL mode, no
fsync per commit), less than handing them to a thread would cost, and because no transaction
spans an `await` that waits, coroutines never see each other's half-written state. Several
processes may share the file: the lease is in it (a row, or a delivering turn's outbox rows), so
their turns of one chat still take turns.

Most turns reach their commit without waiting for anything (the runtime's work is synchronous;
only a chat's first turn looks its guest up). Such a turn's read and commit are one
transaction: the read's transaction stays open, holding the database's write lock, until the
commit in the same stretch of the event loop, so no lease row needs writing and releasing
around it (`_Open`). The moment anything else could run first — the turn awaits something
that waits, or another store of this process starts a transaction — the open transaction
writes the lease row and commits, and the turn goes on exactly as one that took its lease in a
transaction of its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsontext
from errors import ConflictError, StorageError
from pipeline.session import FlowStep, Session, TranscriptEntry
from storage.base import (
    LEASE_SECONDS,
    AgentRecord,
    AuditEntry,
    ChatHistory,
    DeadLetter,
    Outgoing,
    Timer,
    TurnWrites,
)
from storage.leases import LeaseWaits, TurnStart, leased_turn
from storage.records import (
    agent_of,
    agent_record,
    audit_of,
    audit_record,
    dead_letter_of,
    dead_letter_record,
    flow_of,
    flow_record,
    outgoing_of,
    outgoing_record,
    refused_record,
    session_of,
    session_record,
    transcript_of,
    transcript_record,
    transfer_of,
    transfer_record,
)
from storage.reports import LiveFacts, agent_id_of, guest_facts
from storage.sqlite_reports import GUEST_FACTS, SqliteReports

if TYPE_CHECKING:
    from storage.base import SessionSearch

#: Bumped when the tables change; `_upgrade` brings an older file up to date.
SCHEMA_VERSION = 8

#: Chat history's guest search (`storage.sqlite_reports`): the guest's name, email and user
#: principal name of each session that has any, by the session's rowid, in a full-text index of
#: trigrams, so a substring of three characters or more is found without reading every session.
#: A turn that opens a session or changes those facts only notes the session in
#: `guest_pending`; the index takes the noted sessions in batches (`SqliteStore.index_guests`),
#: before every guest search and soon after a turn noted one, as one row written alone costs
#: about ten pages of the WAL file and 0.3 ms, and one of a batch of 50 a page and 0.04 ms.
#: Whoever deletes a session by hand deletes its row here too (rowids of deleted rows are
#: reused).
GUEST_SEARCH = """
CREATE VIRTUAL TABLE IF NOT EXISTS guest_search USING fts5 (
    name, email, upn, tokenize = 'trigram'
)"""

# What a turn writes costs a page of the WAL file per table or index page it changes, and a
# commit writes each as a frame: the tables a turn appends to carry no index beyond their key.
# A turn's flow steps and transcript entries are one `log` row keyed by the session and the
# version the turn wrote (the `flow` and `transcript` tables keep what earlier versions
# wrote, and are read before it); the outbox holds only undelivered messages, so the sweeper
# scans it, and its ids need no AUTOINCREMENT (no `sqlite_sequence` write per turn). A session's
# row keeps beside its record what the operations view counts and filters on (`LiveFacts`),
# written by the statement that writes the record; of those only `agent_id` is indexed, and
# set only when it changes, so a turn that changes no agent changes no index page.
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS chats (
    conversation_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    reference TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    record TEXT NOT NULL,
    ended_at TEXT,
    end_reason TEXT,
    agent_id TEXT,
    agent_state TEXT,
    queued_at TEXT,
    last_activity_at TEXT
);
CREATE INDEX IF NOT EXISTS sessions_by_conversation ON sessions (conversation_id);
CREATE INDEX IF NOT EXISTS sessions_by_state ON sessions (state);
CREATE INDEX IF NOT EXISTS sessions_by_tenant_start ON sessions (tenant_id, started_at);
CREATE INDEX IF NOT EXISTS sessions_by_start ON sessions (started_at);
CREATE INDEX IF NOT EXISTS sessions_by_end ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_active ON sessions (tenant_id) WHERE state = 'active';
CREATE INDEX IF NOT EXISTS sessions_by_agent ON sessions (agent_id, started_at, id)
    WHERE agent_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS flow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_by_session ON flow (session_id);
CREATE TABLE IF NOT EXISTS transcript (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transcript_by_session ON transcript (session_id);
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    from_session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id),
    record TEXT NOT NULL,
    at TEXT
);
CREATE INDEX IF NOT EXISTS transfers_by_conversation ON transfers (conversation_id);
CREATE INDEX IF NOT EXISTS transfers_by_at ON transfers (at);
CREATE TABLE IF NOT EXISTS refusals (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refusals_by_at ON refusals (at);
CREATE TABLE IF NOT EXISTS claims (
    conversation_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (conversation_id, event_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log (
    session_id TEXT NOT NULL REFERENCES sessions (id),
    version INTEGER NOT NULL,
    flow TEXT NOT NULL,
    transcript TEXT NOT NULL,
    PRIMARY KEY (session_id, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    entry TEXT NOT NULL,
    held_by TEXT,
    held_until REAL
);
CREATE TABLE IF NOT EXISTS sent (
    conversation_id TEXT NOT NULL,
    label TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outbox_by_conversation ON outbox (conversation_id, id);
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS timers (
    conversation_id TEXT NOT NULL,
    key TEXT NOT NULL,
    due_at REAL NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (conversation_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    at REAL NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    conversation_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS guest_pending (session_rowid INTEGER PRIMARY KEY);
{GUEST_SEARCH}
"""

log = logging.getLogger(__name__)

_SESSION_COLUMNS = (
    "id, conversation_id, tenant_id, state, started_at, version, record, ended_at, end_reason,"
    " agent_id, agent_state, queued_at, last_activity_at"
)
#: A session's first write (and the benchmark's bulk load: bench/history_pages.py).
INSERT_SESSION = (
    f"INSERT INTO sessions ({_SESSION_COLUMNS})"
    f" VALUES ({', '.join('?' * len(_SESSION_COLUMNS.split(',')))})"
)
#: Its guest's searched facts, by the rowid the session's INSERT got (the benchmark's bulk load).
INSERT_GUEST = "INSERT INTO guest_search (rowid, name, email, upn) VALUES (?, ?, ?, ?)"
#: A session whose guest the index is yet to take in (by rowid, or by id).
_NOTE_GUEST = "INSERT OR IGNORE INTO guest_pending VALUES (?)"
_NOTE_GUEST_OF = "INSERT OR IGNORE INTO guest_pending SELECT rowid FROM sessions WHERE id = ?"
_SEARCHED = ", ".join(GUEST_FACTS)
#: How many noted sessions the index takes in one transaction (about 3 ms), at most: as many
#: noted make the index take them at once, fewer wait up to `GUEST_INDEX_DELAY` for company.
GUEST_BATCH = 64
#: How soon after a turn noted a session the index takes it in, if no search asks first.
GUEST_INDEX_DELAY = 1.0


@dataclass(frozen=True, slots=True)
class _Read:
    """What a turn read of a session that its write compares with, to leave alone what did not
    change: the state, the agent and the guest's searched facts."""

    state: str
    agent_id: str | None
    guest: tuple[str | None, ...]

    @classmethod
    def of(cls, session: Session) -> _Read:
        return cls(session.state.value, agent_id_of(session), guest_facts(session))


#: A delivering turn's hold on its chat: the chat's outbox rows, marked with the turn (owner,
#: until when) in its commit; renewed as a lease is; released by delivering the rows, or by
#: unmarking those left for later.
_HOLD = "UPDATE outbox SET held_by = ?, held_until = ? WHERE conversation_id = ?"
_RENEW_HELD = "UPDATE outbox SET held_until = ? WHERE conversation_id = ? AND held_by = ?"
_UNHOLD = (
    "UPDATE outbox SET held_by = NULL, held_until = NULL WHERE conversation_id = ? AND held_by = ?"
)
_UNHOLD_ALL = (
    "UPDATE outbox SET held_by = NULL, held_until = NULL"
    " WHERE conversation_id = ? AND held_by IS NOT NULL"
)

#: Teams re-delivers within minutes; remembering claimed events for a day is ample.
CLAIM_RETENTION_SECONDS = 24 * 3600.0
_PRUNE_EVERY = 1000


def create_tables(db: sqlite3.Connection) -> None:
    """Create what is missing of the schema (statement by statement: `executescript` would
    commit the transaction it runs in)."""
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _utc(moment: datetime) -> str:
    """A timestamp as the report columns keep it: UTC, ISO (text order is time order)."""
    return moment.astimezone(UTC).isoformat()


_dump = jsontext.dumps


#: The read of a turn, in one statement: whether the chat is known, its reference and active
#: session, whether the event was claimed, the lease's expiry, until when a delivering turn
#: holds the chat's undelivered messages (0: nobody; NULL: it has none), and whether it has
#: labelled messages or timers (read only when it has).
_TURN_READ = (
    "SELECT c.conversation_id IS NOT NULL, c.reference, s.record,"
    " EXISTS (SELECT 1 FROM claims WHERE conversation_id = :chat AND event_id = :event),"
    " (SELECT until FROM leases WHERE conversation_id = :chat),"
    " (SELECT max(coalesce(held_until, 0)) FROM outbox WHERE conversation_id = :chat),"
    " EXISTS (SELECT 1 FROM sent WHERE conversation_id = :chat),"
    " EXISTS (SELECT 1 FROM timers WHERE conversation_id = :chat)"
    " FROM (SELECT 1) LEFT JOIN chats c ON c.conversation_id = :chat"
    " LEFT JOIN sessions s ON s.id = c.session_id AND s.state = 'active'"
)


class _Open:
    """A turn whose read transaction is still open (see the module's docstring): the one of
    this thread, if any, across every store of the process (two stores of one file in one
    process would otherwise wait on each other's write lock)."""

    turn: SqliteTurn | None = None
    #: The callback that closes it as soon as the event loop runs anything else.
    handle: asyncio.Handle | None = None

    @classmethod
    def start(cls, turn: SqliteTurn) -> None:
        cls.turn = turn
        try:
            cls.handle = asyncio.get_running_loop().call_soon(cls.close)
        except RuntimeError:  # no running loop: the next use of a store closes it
            cls.handle = None

    @classmethod
    def end(cls) -> None:
        cls.turn = None
        if cls.handle is not None:
            cls.handle.cancel()
            cls.handle = None

    @classmethod
    def close(cls) -> None:
        """Make the open turn one that holds its lease in the database (writing the lease
        row, committing the read's transaction), before anything else uses a store."""
        turn = cls.turn
        if turn is not None:
            cls.end()
            turn._store._lease_open_turn(turn)


class SqliteStore:
    """`Store` on one SQLite database file.

    `lease_seconds` is how long a turn may hold a chat before another may take it over;
    `clock` (epoch seconds) times leases and claims, `sleep` the renewals of a turn's lease
    (the event loop's clock by default); all are injectable for tests.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lease_seconds: float = LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.path = str(path)
        self.lease_seconds = lease_seconds
        self._clock = clock
        self._sleep = sleep
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            with self._transaction() as db:
                _upgrade(db)
                create_tables(db)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as error:
            raise StorageError(f"cannot open the SQLite store at {self.path}: {error}") from None
        self._claims = 0
        self._waits = LeaseWaits()
        # Lease owners: unique per turn and process, without a random number per turn.
        prefix = uuid.uuid4().hex
        self._owners = (f"{prefix}.{n}" for n in itertools.count())
        #: Guests noted for the index by this transaction, and since the index last took some.
        self._noting = 0
        self._guests_noted = 0
        #: The index's next update, when one is due.
        self._indexing: asyncio.Handle | None = None
        #: The operations view's questions, on a read-only connection of their own.
        self.reports = SqliteReports(self.path, self.history, before_guest_search=self.index_guests)

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, with no turn's read transaction left open on any store."""
        _Open.close()
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        _Open.close()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # turns

    def chat_turn(
        self, conversation_id: str, event_id: str | None, *, wait: bool = True
    ) -> AbstractAsyncContextManager[SqliteTurn | None]:
        owner = next(self._owners)

        async def attempt() -> tuple[TurnStart, SqliteTurn | None]:
            return self._begin(conversation_id, event_id, owner)

        return leased_turn(
            self._waits,
            conversation_id,
            attempt,
            lease_seconds=self.lease_seconds,
            wait=wait,
            renew=self._renew,
            release=self._release,
            sleep=self._sleep,
        )

    async def _renew(self, turn: SqliteTurn) -> bool:
        with self._transaction() as db:
            until = self._clock() + self.lease_seconds
            if turn.delivering:
                # Held by its outbox rows: renewed while one is left to deliver.
                return (
                    db.execute(_RENEW_HELD, (until, turn.conversation_id, turn.owner)).rowcount > 0
                )
            renewed = db.execute(
                "UPDATE leases SET until = ? WHERE conversation_id = ? AND owner = ?",
                (until, turn.conversation_id, turn.owner),
            ).rowcount
        return renewed == 1

    async def _release(self, turn: SqliteTurn) -> None:
        if turn.open:
            # Read, never committed: ending the transaction writes nothing, as intended.
            _Open.end()
            turn.open = False
            self._db.execute("ROLLBACK")
        elif turn.delivering:
            with self._transaction() as db:
                db.execute(_UNHOLD, (turn.conversation_id, turn.owner))
            turn.delivering = False
        else:
            with self._transaction() as db:
                db.execute(
                    "DELETE FROM leases WHERE conversation_id = ? AND owner = ?",
                    (turn.conversation_id, turn.owner),
                )
        turn.holding = False

    def _begin(
        self, conversation_id: str, event_id: str | None, owner: str
    ) -> tuple[TurnStart, SqliteTurn | None]:
        """In one transaction: stop at a claimed event, take the lease, read the chat. A chat
        whose lease nobody holds is read in a transaction left open for the commit (`_Open`)."""
        now = self._clock()
        _Open.close()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(_TURN_READ, {"chat": conversation_id, "event": event_id}).fetchone()
            known, reference, record, claimed, until, held, labelled, timed = row
            if claimed:
                db.execute("COMMIT")
                return TurnStart.DUPLICATE, None
            if (until is not None and until > now) or (held is not None and held > now):
                db.execute("COMMIT")
                return TurnStart.BUSY, None
            if held:  # held until a moment past: its turn stopped
                log.warning(
                    "chat %s: took over the delivery of a turn that stopped for more than %.0f s",
                    conversation_id,
                    self.lease_seconds,
                )
                db.execute(_UNHOLD_ALL, (conversation_id,))
            turn = SqliteTurn(
                self,
                conversation_id,
                event_id,
                owner,
                session=session_of(json.loads(record)) if record else None,
                known=bool(known),
                reference=json.loads(reference) if reference else None,
                outbox=self._outbox(conversation_id) if held is not None else [],
                timers=self._timers(conversation_id) if timed else [],
                sent=self._sent(conversation_id) if labelled else {},
            )
            turn.until = now + self.lease_seconds
            if until is not None:
                log.warning(
                    "chat %s: took over a lease whose turn ran for more than %.0f s",
                    conversation_id,
                    self.lease_seconds,
                )
                self._write_lease(turn)
                db.execute("COMMIT")
                turn.leased = True
                return TurnStart.LEASED, turn
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        turn.open = True
        _Open.start(turn)
        return TurnStart.LEASED, turn

    def _outbox(self, conversation_id: str) -> list[Outgoing]:
        return [
            outgoing_of(json.loads(entry), seq=seq, attempts=attempts, due_at=due_at)
            for seq, attempts, due_at, entry in self._db.execute(
                "SELECT id, attempts, due_at, entry FROM outbox"
                " WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        ]

    def _timers(self, conversation_id: str) -> list[Timer]:
        return [
            Timer(key, due_at, json.loads(event))
            for key, due_at, event in self._db.execute(
                "SELECT key, due_at, event FROM timers WHERE conversation_id = ? ORDER BY due_at",
                (conversation_id,),
            )
        ]

    def _sent(self, conversation_id: str) -> dict[str, str]:
        return dict(
            self._db.execute(
                "SELECT label, activity_id FROM sent WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchall()
        )

    def _write_lease(self, turn: SqliteTurn) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
            (turn.conversation_id, turn.owner, turn.until),
        )

    def _lease_open_turn(self, turn: SqliteTurn) -> None:
        """Close `turn`'s open read transaction as a lease transaction would have ended: with
        its lease row (as of when it read), committed."""
        turn.open = False
        try:
            self._write_lease(turn)
            self._db.execute("COMMIT")
            turn.leased = True
        except sqlite3.Error as error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            turn.holding = False
            log.error("chat %s: could not keep its lease: %s", turn.conversation_id, error)

    def _commit(self, turn: SqliteTurn, writes: TurnWrites) -> None:
        conversation_id = turn.conversation_id
        added: list[Outgoing] = []
        hold = bool(turn.outbox or writes.outbox)
        db = self._db
        if turn.open and _Open.turn is turn:
            _Open.end()
            turn.open = False
        else:
            if not turn.holding:
                raise ConflictError(
                    f"chat {conversation_id}: the turn lost its lease; nothing of it was written"
                )
            _Open.close()
            db.execute("BEGIN IMMEDIATE")
        held: tuple[str | None, float | None] = (None, None)
        try:
            if not turn.leased:
                # Read in this transaction, which held the write lock since: no lease to check.
                # A turn with messages to deliver holds the chat by its outbox rows until they
                # are delivered: marked with it as they are written, no lease row to write
                # now and delete after the last delivery.
                if hold:
                    turn.until = self._clock() + self.lease_seconds
                    held = (turn.owner, turn.until)
                    if turn.outbox:
                        db.execute(_HOLD, (*held, conversation_id))
            elif hold:
                kept = db.execute(
                    "UPDATE leases SET until = ? WHERE conversation_id = ? AND owner = ?",
                    (self._clock() + self.lease_seconds, conversation_id, turn.owner),
                ).rowcount
            else:
                kept = db.execute(
                    "DELETE FROM leases WHERE conversation_id = ? AND owner = ?",
                    (conversation_id, turn.owner),
                ).rowcount
            if turn.leased and kept != 1:
                raise ConflictError(
                    f"chat {conversation_id}: the turn outlived its lease and another turn"
                    " took the chat over; nothing of it was written"
                )
            for session in writes.sessions:
                self._write_session(db, session, turn.read.get(session.id))
            if writes.bound_session_id is not None or writes.reference is not None:
                reference = _dump(writes.reference) if writes.reference is not None else None
                db.execute(
                    "INSERT INTO chats VALUES (?, ?, ?) ON CONFLICT (conversation_id)"
                    " DO UPDATE SET session_id = coalesce(?, session_id),"
                    " reference = coalesce(excluded.reference, reference)",
                    (
                        conversation_id,
                        writes.bound_session_id or "",
                        reference,
                        writes.bound_session_id,
                    ),
                )
            if writes.transfers:
                db.executemany(
                    "INSERT INTO transfers (conversation_id, from_session_id, record, at)"
                    " VALUES (?, ?, ?, ?)",
                    [
                        (
                            r.conversation_id,
                            r.from_session_id,
                            _dump(transfer_record(r)),
                            _utc(r.at),
                        )
                        for r in writes.transfers
                    ],
                )
            if writes.refused:
                db.executemany(
                    "INSERT INTO refusals (conversation_id, at, record) VALUES (?, ?, ?)",
                    [
                        (r.conversation_id, _utc(r.at), _dump(refused_record(r)))
                        for r in writes.refused
                    ],
                )
            for entry in writes.outbox:
                cursor = db.execute(
                    "INSERT INTO outbox (conversation_id, due_at, attempts, entry, held_by,"
                    " held_until) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        conversation_id,
                        entry.due_at,
                        entry.attempts,
                        _dump(outgoing_record(entry)),
                        *held,
                    ),
                )
                assert cursor.lastrowid is not None
                added.append(replace(entry, seq=cursor.lastrowid))
            if writes.cancel_timers:
                db.executemany(
                    "DELETE FROM timers WHERE conversation_id = ? AND key = ?",
                    [(conversation_id, key) for key in writes.cancel_timers],
                )
            if writes.timers:
                db.executemany(
                    "INSERT OR REPLACE INTO timers VALUES (?, ?, ?, ?)",
                    [(conversation_id, t.key, t.due_at, _dump(t.event)) for t in writes.timers],
                )
            if turn.event_id:
                self._claim(db, conversation_id, turn.event_id)
        except BaseException as error:
            db.execute("ROLLBACK")
            self._noting = 0
            if not turn.leased:
                turn.holding = False  # its lease was never written
            if isinstance(error, sqlite3.IntegrityError):
                raise ConflictError(
                    f"chat {conversation_id}: the turn's writes collide with what is stored"
                    f" ({error}); nothing of it was written"
                ) from None
            raise
        db.execute("COMMIT")
        if self._noting:
            self._index_guests_soon(self._noting)
            self._noting = 0
        turn.delivering = hold and not turn.leased
        turn.leased = turn.leased and hold
        for session in writes.sessions:
            session.version += 1
            session.pending_flow.clear()
            session.pending_transcript.clear()
        turn.outbox = [*turn.outbox, *added]
        turn.holding = hold
        timers = {t.key: t for t in turn.timers if t.key not in set(writes.cancel_timers)}
        timers.update((t.key, t) for t in writes.timers)
        turn.timers = sorted(timers.values(), key=lambda t: t.due_at)

    def _settle(
        self,
        turn: SqliteTurn,
        delivered: Sequence[int],
        postponed: Sequence[Outgoing],
        sent: Mapping[str, str],
        release: bool,
    ) -> None:
        with self._transaction() as db:
            if sent:
                db.executemany(
                    "INSERT OR REPLACE INTO sent VALUES (?, ?, ?)",
                    [(turn.conversation_id, label, activity) for label, activity in sent.items()],
                )
            if delivered:
                db.executemany(
                    "DELETE FROM outbox WHERE id = ? AND conversation_id = ?",
                    [(seq, turn.conversation_id) for seq in delivered],
                )
            if postponed:
                db.executemany(
                    "UPDATE outbox SET attempts = ?, due_at = ?"
                    " WHERE id = ? AND conversation_id = ?",
                    [(e.attempts, e.due_at, e.seq, turn.conversation_id) for e in postponed],
                )
            if release and turn.delivering:
                if len(delivered) < len(turn.outbox):  # left to deliver later: not held
                    db.execute(_UNHOLD, (turn.conversation_id, turn.owner))
            elif release:
                db.execute(
                    "DELETE FROM leases WHERE conversation_id = ? AND owner = ?",
                    (turn.conversation_id, turn.owner),
                )
        done = set(delivered)
        changed = {entry.seq: entry for entry in postponed}
        turn.outbox = [changed.get(e.seq, e) for e in turn.outbox if e.seq not in done]
        turn.sent = {**turn.sent, **sent}
        if release:
            turn.holding = False
            turn.delivering = False

    def _write_session(self, db: sqlite3.Connection, session: Session, read: _Read | None) -> None:
        """Write `session` (`read`: what the turn read of it, None for one it did not)."""
        stored = session_record(session)
        version = stored["version"] = session.version + 1
        state = session.state.value
        ended = _utc(session.ended_at) if session.ended_at else None
        reason = session.end_reason.value if session.end_reason else None
        facts = LiveFacts.of(session)
        guest = guest_facts(session)
        if session.version == 0:
            rowid = db.execute(
                INSERT_SESSION,
                (
                    session.id,
                    session.conversation_id,
                    session.tenant_id,
                    state,
                    session.started_at.isoformat(),
                    version,
                    _dump(stored),
                    ended,
                    reason,
                    facts.agent_id,
                    facts.agent_state,
                    facts.queued_at,
                    facts.last_activity_at,
                ),
            ).lastrowid
            if any(guest):
                db.execute(_NOTE_GUEST, (rowid,))
                self._noting += 1
            self._write_log(db, session, version)
            return
        # Setting `state` (or `agent_id`) to what it was would rewrite its index's page all
        # the same: the columns of an ending, and the agent, are set only when they change.
        columns = "version = ?, record = ?, agent_state = ?, queued_at = ?, last_activity_at = ?"
        values: list[Any] = [
            version,
            _dump(stored),
            facts.agent_state,
            facts.queued_at,
            facts.last_activity_at,
        ]
        if read is None or state != read.state:
            columns += ", state = ?, ended_at = ?, end_reason = ?"
            values += [state, ended, reason]
        if read is None or facts.agent_id != read.agent_id:
            columns += ", agent_id = ?"
            values.append(facts.agent_id)
        changed = db.execute(
            f"UPDATE sessions SET {columns} WHERE id = ? AND version = ?",
            (*values, session.id, session.version),
        )
        if changed.rowcount != 1:
            raise ConflictError(
                f"session {session.id} changed since this turn read it (version"
                f" {session.version}); nothing of the turn was written"
            )
        if read is None or guest != read.guest:
            db.execute(_NOTE_GUEST_OF, (session.id,))
            self._noting += 1
        self._write_log(db, session, version)

    @staticmethod
    def _write_log(db: sqlite3.Connection, session: Session, version: int) -> None:
        if session.pending_flow or session.pending_transcript:
            db.execute(
                "INSERT INTO log VALUES (?, ?, ?, ?)",
                (
                    session.id,
                    version,
                    _dump([flow_record(step) for step in session.pending_flow]),
                    _dump([transcript_record(e) for e in session.pending_transcript]),
                ),
            )

    def _claim(self, db: sqlite3.Connection, conversation_id: str, event_id: str) -> None:
        now = self._clock()
        db.execute("INSERT INTO claims VALUES (?, ?, ?)", (conversation_id, event_id, now))
        self._claims += 1
        if self._claims % _PRUNE_EVERY == 0:
            db.execute("DELETE FROM claims WHERE at < ?", (now - CLAIM_RETENTION_SECONDS,))

    # reading across turns

    async def agent(self, agent_id: str) -> AgentRecord:
        row = self.db.execute(
            "SELECT record FROM agents WHERE agent_id = ?", (agent_id,)
        ).fetchone()
        return agent_of(json.loads(row[0])) if row else AgentRecord(agent_id)

    async def save_agent(self, record: AgentRecord) -> None:
        stored = agent_record(record)
        stored["version"] = record.version + 1
        with self._transaction() as db:
            if record.version == 0:
                written = db.execute(
                    "INSERT OR IGNORE INTO agents VALUES (?, ?, ?)",
                    (record.agent_id, stored["version"], _dump(stored)),
                ).rowcount
            else:
                written = db.execute(
                    "UPDATE agents SET version = ?, record = ? WHERE agent_id = ? AND version = ?",
                    (stored["version"], _dump(stored), record.agent_id, record.version),
                ).rowcount
        if written != 1:
            raise ConflictError(f"agent {record.agent_id} changed since it was read")
        record.version += 1

    async def due_timers(self, now: float, limit: int) -> list[tuple[str, Timer]]:
        rows = self.db.execute(
            "SELECT conversation_id, key, due_at, event FROM timers WHERE due_at <= ?"
            " ORDER BY due_at LIMIT ?",
            (now, limit),
        ).fetchall()
        return [(chat, Timer(key, due_at, json.loads(event))) for chat, key, due_at, event in rows]

    async def due_chats(self, now: float, limit: int) -> list[str]:
        rows = self.db.execute(
            "SELECT o.conversation_id FROM outbox o"
            " LEFT JOIN leases l ON l.conversation_id = o.conversation_id"
            " WHERE l.until IS NULL OR l.until <= :now GROUP BY o.conversation_id"
            " HAVING min(o.due_at) <= :now AND coalesce(max(o.held_until), 0) <= :now"
            " ORDER BY min(o.due_at) LIMIT :limit",
            {"now": now, "limit": limit},
        ).fetchall()
        return [conversation_id for (conversation_id,) in rows]

    async def keep_dead_letter(self, letter: DeadLetter) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO dead_letters VALUES (?, ?, ?, ?)",
                (letter.id, letter.conversation_id, letter.at, _dump(dead_letter_record(letter))),
            )

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self.db.execute(
            "SELECT record FROM dead_letters ORDER BY at, id LIMIT ?", (limit,)
        ).fetchall()
        return [dead_letter_of(json.loads(record)) for (record,) in rows]

    async def drop_dead_letter(self, letter: DeadLetter) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM dead_letters WHERE id = ?", (letter.id,))

    async def history(self, conversation_id: str) -> ChatHistory:
        db = self.db
        chat = db.execute(
            "SELECT reference FROM chats WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        sessions = [
            session_of(json.loads(record))
            for (record,) in db.execute(
                "SELECT record FROM sessions WHERE conversation_id = ? ORDER BY rowid",
                (conversation_id,),
            )
        ]
        flows: dict[str, list[FlowStep]] = {}
        transcripts: dict[str, list[TranscriptEntry]] = {}
        for s in sessions:
            flow = flows[s.id] = [flow_of(json.loads(r)) for r in self._log(db, "flow", s.id)]
            said = transcripts[s.id] = [
                transcript_of(json.loads(r)) for r in self._log(db, "transcript", s.id)
            ]
            for steps, entries in db.execute(
                "SELECT flow, transcript FROM log WHERE session_id = ? ORDER BY version", (s.id,)
            ):
                flow += [flow_of(step) for step in json.loads(steps)]
                said += [transcript_of(entry) for entry in json.loads(entries)]
        transfers = [
            transfer_of(json.loads(record))
            for (record,) in db.execute(
                "SELECT record FROM transfers WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        ]
        return ChatHistory(
            conversation_id,
            json.loads(chat[0]) if chat and chat[0] else None,
            sessions,
            flows,
            transcripts,
            transfers,
        )

    @staticmethod
    def _log(db: sqlite3.Connection, table: str, session_id: str) -> list[str]:
        """What schema 4 and earlier wrote to `flow` or `transcript` (before any `log` row)."""
        rows = db.execute(
            f"SELECT record FROM {table} WHERE session_id = ? ORDER BY id", (session_id,)
        )
        return [record for (record,) in rows]

    async def live_sessions(self) -> AsyncIterator[Session]:
        rows = self.db.execute(
            "SELECT record FROM sessions WHERE state = 'active' ORDER BY rowid"
        ).fetchall()
        for (record,) in rows:
            yield session_of(json.loads(record))

    async def search_sessions(self, search: SessionSearch) -> list[Session]:
        # Sessions start in UTC and store `started_at` in ISO form, so text order is time order.
        clauses: list[str] = []
        values: list[Any] = []
        if search.started_from is not None:
            clauses.append("started_at >= ?")
            values.append(search.started_from.astimezone(UTC).isoformat())
        if search.started_before is not None:
            clauses.append("started_at < ?")
            values.append(search.started_before.astimezone(UTC).isoformat())
        if search.tenant_id is not None:
            clauses.append("tenant_id = ?")
            values.append(search.tenant_id)
        if search.state is not None:
            clauses.append("state = ?")
            values.append(search.state.value)
        if search.session:
            clauses.append("substr(id, 1, ?) = ?")
            values += [len(search.session), search.session]
        wanted = (search.guest or "").casefold()
        if wanted and wanted.isprintable() and not any(c in wanted for c in '"\\'):
            # A first pass over the record's JSON text, cheaper than decoding every record: the
            # guest's facts are in it as written (no escapes in `wanted`); `matches` decides.
            self.db.create_function("crossdesk_casefold", 1, str.casefold, deterministic=True)
            clauses.append("instr(crossdesk_casefold(record), ?) > 0")
            values.append(wanted)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        found: list[Session] = []
        rows = self.db.execute(
            f"SELECT record FROM sessions{where} ORDER BY started_at DESC, rowid DESC", values
        )
        for (record,) in rows:
            session = session_of(json.loads(record))
            if search.matches(session):
                found.append(session)
                if len(found) >= search.limit:
                    break
        rows.close()
        return found

    async def record_audit(self, entry: AuditEntry) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO audit (record) VALUES (?)", (_dump(audit_record(entry)),))

    async def audit_log(self, limit: int) -> list[AuditEntry]:
        rows = self._db.execute(
            "SELECT record FROM audit ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [audit_of(json.loads(record)) for (record,) in rows]

    def index_guests(self) -> None:
        """Take every session noted in `guest_pending` into the guest search's index now (its
        facts as the record has them; none: its row is dropped)."""
        if self._indexing is not None:
            self._indexing.cancel()
            self._indexing = None
        while self._index_batch():
            pass

    def _index_batch(self) -> bool:
        """Index up to `GUEST_BATCH` noted sessions in one transaction; whether more wait."""
        self._guests_noted = 0
        with self._transaction() as db:
            noted = db.execute(
                "SELECT session_rowid FROM guest_pending ORDER BY session_rowid LIMIT ?",
                (GUEST_BATCH,),
            ).fetchall()
            if noted:
                db.executemany("DELETE FROM guest_search WHERE rowid = ?", noted)
                db.execute(
                    f"INSERT INTO guest_search (rowid, name, email, upn) SELECT rowid, {_SEARCHED}"
                    f" FROM sessions WHERE rowid IN (SELECT value FROM json_each(?))"
                    f" AND coalesce({_SEARCHED}) IS NOT NULL",
                    (json.dumps([rowid for (rowid,) in noted]),),
                )
                db.executemany("DELETE FROM guest_pending WHERE session_rowid = ?", noted)
        return len(noted) == GUEST_BATCH

    def _index_guests_soon(self, noted: int) -> None:
        """After a commit that noted `noted` guests: index them with the others noted, at once
        when they make a batch, else within `GUEST_INDEX_DELAY` (one batch for many turns)."""
        self._guests_noted += noted
        loop = asyncio.get_running_loop()
        if self._guests_noted >= GUEST_BATCH:
            if self._indexing is not None:
                self._indexing.cancel()
            self._indexing = loop.call_soon(self._index_guests_now)
        elif self._indexing is None:
            self._indexing = loop.call_later(GUEST_INDEX_DELAY, self._index_guests_now)

    def _index_guests_now(self) -> None:
        """One batch per event-loop callback, so no turn waits for the index for long."""
        self._indexing = None
        try:
            more = self._index_batch()
        except sqlite3.Error as error:  # noted still: the next search or turn retries
            log.error("the guest search's index was not updated: %s", error)
            return
        if more:
            self._indexing = asyncio.get_running_loop().call_soon(self._index_guests_now)

    async def close(self) -> None:
        await self.reports.close()
        _Open.close()
        try:
            self.index_guests()
        except sqlite3.Error as error:
            log.error("the guest search's index was not updated: %s", error)
        self._db.close()


class SqliteTurn:
    """A turn of one chat on SQLite (see `storage.base.ChatTurn`)."""

    def __init__(
        self,
        store: SqliteStore,
        conversation_id: str,
        event_id: str | None,
        owner: str,
        *,
        session: Session | None,
        known: bool,
        reference: Mapping[str, Any] | None,
        outbox: list[Outgoing],
        timers: list[Timer],
        sent: dict[str, str],
    ) -> None:
        self._store = store
        self.conversation_id = conversation_id
        self.event_id = event_id
        self.owner = owner
        self.session = session
        self.known = known
        self.reference = reference
        self.outbox = outbox
        self.timers = timers
        self.sent = sent
        #: What the turn read of each session, as it read it.
        self.read = {session.id: _Read.of(session)} if session is not None else {}
        self.committed = False
        #: Whether the turn still holds the chat's lease.
        self.holding = True
        #: Whether its read transaction is still open (holding the database, not a lease row).
        self.open = False
        #: Whether its lease row is in the database, and until when it was taken.
        self.leased = False
        self.until = 0.0
        #: Whether it holds the chat by its outbox rows (marked with its owner) as it delivers.
        self.delivering = False

    async def commit(self, writes: TurnWrites) -> None:
        if self.committed:
            raise StorageError(f"chat {self.conversation_id}: a turn commits once")
        self._store._commit(self, writes)
        self.committed = True

    async def settle(
        self,
        *,
        delivered: Sequence[int] = (),
        postponed: Sequence[Outgoing] = (),
        sent: Mapping[str, str] | None = None,
        release: bool,
    ) -> None:
        self._store._settle(self, delivered, postponed, sent or {}, release)


def _upgrade(db: sqlite3.Connection) -> None:
    """Bring a file written by an earlier Crossdesk to `SCHEMA_VERSION`, keeping every chat."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    first_release = (
        version == 0
        and db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bindings'"
        ).fetchone()
    )
    if first_release:
        from storage.upgrade import upgrade_first_release

        upgrade_first_release(db, create_tables)
        _report_columns(db)
        _search_columns(db)
    elif 0 < version < SCHEMA_VERSION:
        if version < 6:
            _report_columns(db)
        if version < 7:
            # Before anything calls `create_tables`, whose indexes name the new columns.
            _search_columns(db)
        if version < 5:
            _outbox_without_autoincrement(db)
        _held_columns(db)
    elif version > SCHEMA_VERSION:
        raise StorageError(
            f"the store was written by a newer Crossdesk (schema {version}; this one reads"
            f" {SCHEMA_VERSION})"
        )


def _outbox_without_autoincrement(db: sqlite3.Connection) -> None:
    """Schema 5's outbox: no AUTOINCREMENT and no index by due time (the rows, only messages
    not delivered yet, are kept with their ids)."""
    (table,) = db.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'"
    ).fetchone()
    if not table:
        return  # older still: `create_tables` makes it
    db.execute("DROP INDEX IF EXISTS outbox_by_due")
    db.execute("DROP INDEX IF EXISTS outbox_by_conversation")
    db.execute("ALTER TABLE outbox RENAME TO v4_outbox")
    create_tables(db)
    db.execute(
        "INSERT INTO outbox (id, conversation_id, due_at, attempts, entry)"
        " SELECT id, conversation_id, due_at, attempts, entry FROM v4_outbox"
    )
    db.execute("DROP TABLE v4_outbox")


def _held_columns(db: sqlite3.Connection) -> None:
    """Schema 8: the outbox rows a delivering turn holds its chat by (no lease row)."""
    columns = {name for _, name, *_ in db.execute("PRAGMA table_info(outbox)")}
    if columns and "held_by" not in columns:
        db.execute("ALTER TABLE outbox ADD COLUMN held_by TEXT")
        db.execute("ALTER TABLE outbox ADD COLUMN held_until REAL")


def _report_columns(db: sqlite3.Connection) -> None:
    """Schema 6: the columns the operations view filters on (when a session ended and why,
    when a transfer was made), filled in from the records every earlier file kept."""
    columns = {
        table: {name for _, name, *_ in db.execute(f"PRAGMA table_info({table})")}
        for table in ("sessions", "transfers")
    }
    if not columns["sessions"]:
        return  # older still: `create_tables` makes them
    if "ended_at" not in columns["sessions"]:
        db.execute("ALTER TABLE sessions ADD COLUMN ended_at TEXT")
        db.execute("ALTER TABLE sessions ADD COLUMN end_reason TEXT")
    rows = db.execute("SELECT id, record FROM sessions WHERE state != 'active'").fetchall()
    for session_id, record in rows:
        session = session_of(json.loads(record))
        db.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ?",
            (
                _utc(session.ended_at) if session.ended_at else None,
                session.end_reason.value if session.end_reason else None,
                session_id,
            ),
        )
    if columns["transfers"] and "at" not in columns["transfers"]:
        db.execute("ALTER TABLE transfers ADD COLUMN at TEXT")
    if columns["transfers"]:
        db.execute("UPDATE transfers SET at = json_extract(record, '$.at') WHERE at IS NULL")


def _search_columns(db: sqlite3.Connection) -> None:
    """Schema 7: the columns and index the operations view counts and filters on without
    reading records (the agent of every session; the live view's facts of the active ones, the
    only ones it counts), and the guest search's full-text index of every session's guest."""
    columns = {name for _, name, *_ in db.execute("PRAGMA table_info(sessions)")}
    if not columns:
        return  # older still: `create_tables` makes them
    for column in ("agent_id", "agent_state", "queued_at", "last_activity_at"):
        if column not in columns:
            db.execute(f"ALTER TABLE sessions ADD COLUMN {column} TEXT")
    db.execute(
        "UPDATE sessions SET agent_id = json_extract(record, '$.metadata.\"Session.Agent.Id\"')"
        " WHERE json_type(record, '$.metadata.\"Session.Agent.Id\"') = 'text'"
    )
    active = db.execute("SELECT id, record FROM sessions WHERE state = 'active'").fetchall()
    for session_id, record in active:
        facts = LiveFacts.of(session_of(json.loads(record)))
        db.execute(
            "UPDATE sessions SET agent_state = ?, queued_at = ?, last_activity_at = ? WHERE id = ?",
            (facts.agent_state, facts.queued_at, facts.last_activity_at, session_id),
        )
    db.execute(GUEST_SEARCH)
    db.execute(
        f"INSERT OR REPLACE INTO guest_search (rowid, name, email, upn) SELECT rowid, {_SEARCHED}"
        f" FROM sessions WHERE coalesce({_SEARCHED}) IS NOT NULL"
    )
