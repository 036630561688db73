"""The embedded default backend: one SQLite file, no server, no account.

Each method runs one short transaction synchronously: SQLite answers in microseconds on a
local file (WAL mode, no fsync per commit), so handing the work to a thread would cost more
than it saves, and because no method awaits in the middle of a transaction, coroutines never
see each other's half-written state.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from errors import ConflictError, StorageError
from pipeline.session import Direction, FlowStep, Session, SessionState, TranscriptEntry
from pipeline.transfer import TransferPlan, TransferRecord
from storage.base import LEASE_SECONDS, parse_session_state_key
from storage.concurrency import (
    LeaseWaits,
    SessionBaselines,
    SessionSnapshot,
    TurnStart,
    carry_over,
    reapply,
    start_turn,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    hops INTEGER NOT NULL,
    version INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_conversation ON sessions (conversation_id);
CREATE TABLE IF NOT EXISTS flow (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    stage_key TEXT NOT NULL,
    stage_type TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS flow_by_session ON flow (session_id);
CREATE TABLE IF NOT EXISTS transcript (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    direction TEXT NOT NULL,
    at TEXT NOT NULL,
    activity_id TEXT,
    text TEXT,
    attachments TEXT NOT NULL,
    value TEXT
);
CREATE INDEX IF NOT EXISTS transcript_by_session ON transcript (session_id);
CREATE TABLE IF NOT EXISTS bindings (
    conversation_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id),
    reference TEXT
);
CREATE TABLE IF NOT EXISTS transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    from_session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id),
    to_session_id TEXT NOT NULL UNIQUE REFERENCES sessions (id),
    from_tenant_id TEXT NOT NULL,
    to_tenant_id TEXT NOT NULL,
    at TEXT NOT NULL,
    activity_id TEXT
);
CREATE INDEX IF NOT EXISTS transfers_by_conversation ON transfers (conversation_id);
CREATE TABLE IF NOT EXISTS inbound (
    conversation_id TEXT NOT NULL,
    activity_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (conversation_id, activity_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    etag INTEGER NOT NULL,
    document TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
    conversation_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until REAL NOT NULL
) WITHOUT ROWID;
"""

log = logging.getLogger(__name__)

#: Teams re-delivers within minutes; remembering inbound ids for a day is ample.
INBOUND_RETENTION = timedelta(days=1)
_PRUNE_EVERY = 1000


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class _LeaseBusy(Exception):
    """Rolls back a turn's claim when another turn holds the chat's lease."""


class SqliteStore:
    """`SessionStore` on one SQLite database file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise StorageError(f"cannot open the SQLite store at {self.path}: {error}") from None
        self._claims = 0
        self._baselines = SessionBaselines()
        self._waits = LeaseWaits()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # chat turns: one at a time per chat, also across processes sharing the file

    @asynccontextmanager
    async def chat_turn(self, conversation_id: str, activity_id: str | None) -> AsyncIterator[bool]:
        owner = uuid.uuid4().hex
        leased = await start_turn(
            self._waits,
            conversation_id,
            lambda: self._start_turn(conversation_id, activity_id, owner),
        )
        if not leased:
            yield False
            return
        failed = True
        try:
            yield True
            failed = False
        finally:
            with self._transaction() as db:
                db.execute(
                    "DELETE FROM leases WHERE conversation_id = ? AND owner = ?",
                    (conversation_id, owner),
                )
                if failed and activity_id:
                    db.execute(
                        "DELETE FROM inbound WHERE conversation_id = ? AND activity_id = ?",
                        (conversation_id, activity_id),
                    )
            self._waits.released(conversation_id)

    async def _start_turn(
        self, conversation_id: str, activity_id: str | None, owner: str
    ) -> TurnStart:
        """Claim the activity and take the lease in one transaction (neither if the lease is
        held: the claim belongs to whichever turn gets to run)."""
        now = time.time()
        try:
            with self._transaction() as db:
                if activity_id and not self._claim(db, conversation_id, activity_id):
                    return TurnStart.DUPLICATE
                row = db.execute(
                    "SELECT until FROM leases WHERE conversation_id = ?", (conversation_id,)
                ).fetchone()
                if row is not None and row[0] > now:
                    raise _LeaseBusy
                if row is not None:
                    log.warning(
                        "chat %s: took over a lease whose turn ran for more than %.0f s",
                        conversation_id,
                        LEASE_SECONDS,
                    )
                db.execute(
                    "INSERT OR REPLACE INTO leases VALUES (?, ?, ?)",
                    (conversation_id, owner, now + LEASE_SECONDS),
                )
        except _LeaseBusy:
            return TurnStart.BUSY
        return TurnStart.LEASED

    # inbound de-duplication

    async def claim_activity(self, conversation_id: str, activity_id: str) -> bool:
        with self._transaction() as db:
            return self._claim(db, conversation_id, activity_id)

    def _claim(self, db: sqlite3.Connection, conversation_id: str, activity_id: str) -> bool:
        now = datetime.now(UTC)
        inserted = db.execute(
            "INSERT OR IGNORE INTO inbound VALUES (?, ?, ?)",
            (conversation_id, activity_id, now.isoformat()),
        ).rowcount
        self._claims += 1
        if self._claims % _PRUNE_EVERY == 0:
            db.execute("DELETE FROM inbound WHERE at < ?", ((now - INBOUND_RETENTION).isoformat(),))
        return inserted == 1

    async def release_activity(self, conversation_id: str, activity_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "DELETE FROM inbound WHERE conversation_id = ? AND activity_id = ?",
                (conversation_id, activity_id),
            )

    # sessions

    async def bound_session(self, conversation_id: str) -> Session | None:
        row = self._db.execute(
            "SELECT s.* FROM bindings b JOIN sessions s ON s.id = b.session_id"
            " WHERE b.conversation_id = ?",
            (conversation_id,),
        ).fetchone()
        return self._session(row) if row else None

    async def start_session(self, session: Session, reference: dict[str, Any] | None) -> None:
        with self._transaction() as db:
            self._insert(db, session)
            db.execute(
                "INSERT INTO bindings VALUES (?, ?, ?) ON CONFLICT (conversation_id) DO UPDATE"
                " SET session_id = excluded.session_id,"
                " reference = coalesce(excluded.reference, reference)",
                (session.conversation_id, session.id, _dump(reference) if reference else None),
            )
        self._committed(session)

    async def save_session(self, session: Session) -> None:
        with self._transaction() as db:
            self._update(db, session)
        self._committed(session)

    async def commit_transfer(self, plan: TransferPlan) -> None:
        record = plan.record
        try:
            with self._transaction() as db:
                merged = self._update(db, plan.sending)
                if merged is not None:
                    carry_over(plan.receiving, *merged)
                self._insert(db, plan.receiving)
                db.execute(
                    "UPDATE bindings SET session_id = ? WHERE conversation_id = ?",
                    (plan.receiving.id, record.conversation_id),
                )
                db.execute(
                    "INSERT INTO transfers (conversation_id, from_session_id, to_session_id,"
                    " from_tenant_id, to_tenant_id, at, activity_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.conversation_id,
                        record.from_session_id,
                        record.to_session_id,
                        record.from_tenant_id,
                        record.to_tenant_id,
                        record.at.isoformat(),
                        record.activity_id,
                    ),
                )
        except sqlite3.IntegrityError as error:
            if "UNIQUE" not in str(error):
                raise
            raise ConflictError(f"session {plan.sending.id} was already transferred") from None
        self._committed(plan.sending, plan.receiving)

    def _insert(self, db: sqlite3.Connection, session: Session) -> None:
        db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session.id,
                session.conversation_id,
                session.tenant_id,
                session.state.value,
                session.started_at.isoformat(),
                session.ended_at.isoformat() if session.ended_at else None,
                session.hops,
                session.version + 1,
                _dump(session.metadata),
            ),
        )
        self._append(db, session)

    def _update(
        self, db: sqlite3.Connection, session: Session
    ) -> tuple[SessionSnapshot, Session] | None:
        """Write `session`; if it is stale, re-apply its changes on the stored row first.
        Returns the baseline and stored session it was merged with, if it was."""
        merged = None
        if not self._write(db, session):
            row = db.execute("SELECT * FROM sessions WHERE id = ?", (session.id,)).fetchone()
            if row is None:
                raise ConflictError(f"session {session.id} does not exist")
            stored = self._session(row)
            base = self._baselines.get(session.id, session.version)
            reapply(session, base, stored)
            assert base is not None
            merged = (base, stored)
            if not self._write(db, session):
                raise ConflictError(f"session {session.id} changed while it was merged")
        self._append(db, session)
        return merged

    @staticmethod
    def _write(db: sqlite3.Connection, session: Session) -> bool:
        return (
            db.execute(
                "UPDATE sessions SET state = ?, ended_at = ?, metadata = ?, version = version + 1"
                " WHERE id = ? AND version = ?",
                (
                    session.state.value,
                    session.ended_at.isoformat() if session.ended_at else None,
                    _dump(session.metadata),
                    session.id,
                    session.version,
                ),
            ).rowcount
            == 1
        )

    def _append(self, db: sqlite3.Connection, session: Session) -> None:
        if session.pending_flow:
            db.executemany(
                "INSERT INTO flow (session_id, stage_key, stage_type, pipeline, at)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (session.id, s.stage_key, s.stage_type, s.pipeline, s.at.isoformat())
                    for s in session.pending_flow
                ],
            )
        if session.pending_transcript:
            db.executemany(
                "INSERT INTO transcript (session_id, direction, at, activity_id, text,"
                " attachments, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        session.id,
                        e.direction.value,
                        e.at.isoformat(),
                        e.activity_id,
                        e.text,
                        _dump(list(e.attachments)),
                        _dump(e.value) if e.value is not None else None,
                    )
                    for e in session.pending_transcript
                ],
            )

    def _committed(self, *sessions: Session) -> None:
        for session in sessions:
            session.version += 1
            session.pending_flow.clear()
            session.pending_transcript.clear()
            self._baselines.remember(session)

    async def get_session(self, conversation_id: str, session_id: str) -> Session | None:
        row = self._db.execute(
            "SELECT * FROM sessions WHERE id = ? AND conversation_id = ?",
            (session_id, conversation_id),
        ).fetchone()
        return self._session(row) if row else None

    async def sessions_of(self, conversation_id: str) -> list[Session]:
        rows = self._db.execute(
            "SELECT * FROM sessions WHERE conversation_id = ? ORDER BY started_at, rowid",
            (conversation_id,),
        ).fetchall()
        return [self._session(row) for row in rows]

    def _session(self, row: tuple[Any, ...]) -> Session:
        """A session from its row, remembered as the baseline of later saves."""
        id_, conversation_id, tenant_id, state, started, ended, hops, version, metadata = row
        started_at = _time(started)
        assert started_at is not None
        session = Session(
            id=id_,
            conversation_id=conversation_id,
            tenant_id=tenant_id,
            state=SessionState(state),
            started_at=started_at,
            ended_at=_time(ended),
            hops=hops,
            version=version,
            metadata=json.loads(metadata),
        )
        self._baselines.remember(session)
        return session

    async def flow(self, conversation_id: str, session_id: str) -> list[FlowStep]:
        rows = self._db.execute(
            "SELECT f.stage_key, f.stage_type, f.pipeline, f.at FROM flow f"
            " JOIN sessions s ON s.id = f.session_id"
            " WHERE f.session_id = ? AND s.conversation_id = ? ORDER BY f.id",
            (session_id, conversation_id),
        ).fetchall()
        return [
            FlowStep(key, kind, pipeline, datetime.fromisoformat(at))
            for key, kind, pipeline, at in rows
        ]

    async def transcript(self, conversation_id: str, session_id: str) -> list[TranscriptEntry]:
        rows = self._db.execute(
            "SELECT t.direction, t.at, t.text, t.attachments, t.value, t.activity_id"
            " FROM transcript t JOIN sessions s ON s.id = t.session_id"
            " WHERE t.session_id = ? AND s.conversation_id = ? ORDER BY t.id",
            (session_id, conversation_id),
        ).fetchall()
        return [
            TranscriptEntry(
                direction=Direction(direction),
                at=datetime.fromisoformat(at),
                text=text,
                attachments=tuple(json.loads(attachments)),
                value=json.loads(value) if value is not None else None,
                activity_id=activity_id,
            )
            for direction, at, text, attachments, value, activity_id in rows
        ]

    async def transfers_of(self, conversation_id: str) -> list[TransferRecord]:
        rows = self._db.execute(
            "SELECT conversation_id, from_session_id, to_session_id, from_tenant_id, to_tenant_id,"
            " at, activity_id FROM transfers WHERE conversation_id = ? ORDER BY id",
            (conversation_id,),
        ).fetchall()
        return [
            TransferRecord(c, f, t, ft, tt, datetime.fromisoformat(at), a)
            for c, f, t, ft, tt, at, a in rows
        ]

    # the SDK's state documents

    async def read_state(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(
            f"SELECT key, etag, document FROM state WHERE key IN ({marks})", keys
        ).fetchall()
        return {key: (json.loads(document), str(etag)) for key, etag, document in rows}

    async def write_state(self, key: str, document: dict[str, Any], etag: str | None) -> str:
        with self._transaction() as db:
            owner = parse_session_state_key(key)
            if (
                owner is not None
                and not db.execute(
                    "SELECT 1 FROM sessions WHERE conversation_id = ? AND id = ?", owner[:2]
                ).fetchone()
            ):
                raise StorageError(f"state '{key}' belongs to a session that does not exist")
            row = db.execute("SELECT etag FROM state WHERE key = ?", (key,)).fetchone()
            if etag not in (None, "*") and (row is None or str(row[0]) != etag):
                raise ConflictError(f"state '{key}' changed since it was read")
            new_etag = (row[0] if row else 0) + 1
            db.execute(
                "INSERT INTO state VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET etag = excluded.etag, document = excluded.document",
                (key, new_etag, _dump(document)),
            )
        return str(new_etag)

    async def delete_state(self, keys: list[str]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM state WHERE key = ?", [(key,) for key in keys])

    async def close(self) -> None:
        self._db.close()
