"""Upgrading a SQLite file written by Crossdesk's first release (schema 0) to today's tables.

The first release kept a session's fields in columns and where its chat waited in a separate
bot-state document (the dialog stack). Every row is carried over inside the transaction that
opens the store: sessions become records with their position, flow steps and transcript
entries become records, bindings become chats, claimed activity ids become claims.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

from pipeline.session import Session, SessionState
from storage.records import legacy_position, session_record

_RENAMED = ("sessions", "flow", "transcript", "transfers")
_OLD_INDEXES = (
    "sessions_by_conversation",
    "flow_by_session",
    "transcript_by_session",
    "transfers_by_conversation",
)


def upgrade_first_release(
    db: sqlite3.Connection, create_tables: Callable[[sqlite3.Connection], None]
) -> None:
    """Move a first-release file's rows into today's tables (made by `create_tables`), in the
    caller's transaction."""
    for index in _OLD_INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {index}")
    for table in _RENAMED:
        db.execute(f"ALTER TABLE {table} RENAME TO v1_{table}")
    db.execute("DELETE FROM leases")
    create_tables(db)

    dialogs = {}
    for key, document in db.execute("SELECT key, document FROM state"):
        parts = key.split("/", 3)
        if len(parts) == 4 and parts[0] == "session" and parts[3] == "dialog":
            dialogs[(unquote(parts[1]), parts[2])] = json.loads(document)
    rows = db.execute(
        "SELECT id, conversation_id, tenant_id, state, started_at, ended_at, hops, version,"
        " metadata FROM v1_sessions ORDER BY rowid"
    ).fetchall()
    for id_, conversation_id, tenant_id, state, started, ended, hops, version, metadata in rows:
        started_at = datetime.fromisoformat(started)
        session = Session(
            id=id_,
            conversation_id=conversation_id,
            tenant_id=tenant_id,
            state=SessionState(state),
            started_at=started_at,
            ended_at=datetime.fromisoformat(ended) if ended else None,
            hops=hops,
            version=version,
            metadata=json.loads(metadata),
        )
        dialog = dialogs.get((conversation_id, id_))
        if session.is_active and dialog is not None:
            session.position = legacy_position(tenant_id, started_at, dialog)
        db.execute(
            "INSERT INTO sessions (id, conversation_id, tenant_id, state, started_at, version,"
            " record) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                id_,
                conversation_id,
                tenant_id,
                state,
                started,
                version,
                json.dumps(session_record(session), ensure_ascii=False, separators=(",", ":")),
            ),
        )
    db.execute(
        "INSERT INTO flow (id, session_id, record) SELECT id, session_id, json_object("
        "'stage', stage_key, 'type', stage_type, 'pipeline', pipeline, 'at', at) FROM v1_flow"
    )
    db.execute(
        "INSERT INTO transcript (id, session_id, record) SELECT id, session_id, json_object("
        "'direction', direction, 'at', at, 'text', text, 'attachments', json(attachments),"
        " 'value', json(value), 'activityId', activity_id) FROM v1_transcript"
    )
    db.execute("INSERT INTO chats SELECT conversation_id, session_id, reference FROM bindings")
    db.execute(
        "INSERT INTO transfers (id, conversation_id, from_session_id, record)"
        " SELECT id, conversation_id, from_session_id, json_object('conversationId',"
        " conversation_id, 'fromSessionId', from_session_id, 'toSessionId', to_session_id,"
        " 'fromTenantId', from_tenant_id, 'toTenantId', to_tenant_id, 'at', at,"
        " 'activityId', activity_id) FROM v1_transfers"
    )
    db.execute(
        "INSERT INTO claims SELECT conversation_id, activity_id,"
        " (julianday(at) - 2440587.5) * 86400.0 FROM inbound"
    )
    for table in ("v1_flow", "v1_transcript", "v1_transfers", "bindings", "v1_sessions"):
        db.execute(f"DROP TABLE {table}")
    db.execute("DROP TABLE inbound")
    db.execute("DROP TABLE state")
