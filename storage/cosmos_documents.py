"""The documents Crossdesk keeps in Azure Cosmos DB, and how sessions become documents.

Pure data, no I/O: `storage/cosmos.py` reads and writes these; `storage/COSMOS.md` explains the
layout. Every document of a Teams conversation lives in the `chats` container in the logical
partition of its conversation id, so that everything a turn or a transfer writes fits in one
transactional batch:

    head                 the binding: which session the chat is on, the conversation reference,
                         counters that order sessions and transfers
    lease                present while a turn of the chat runs (the chat's lease)
    session-<id>         one session: state, metadata, and its SDK state (e.g. the dialog stack)
    log-<id>-<version>   the flow steps and transcript entries one save appended to a session
    transfer-<from id>   the record of one transfer (its id makes a second transfer impossible)
    inbound-<activity>   a claimed inbound activity id (expires after a day)

SDK state documents whose key names no session live in the `state` container, one per key.
"""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime
from typing import Any

from pipeline.session import Direction, FlowStep, Session, SessionState, TranscriptEntry
from pipeline.transfer import TransferRecord
from storage.base import LEASE_SECONDS

CHATS = "chats"
STATE = "state"
CHATS_PARTITION = "/conversationId"
STATE_PARTITION = "/id"

#: Only what the queries filter or sort on is indexed: metadata, transcripts and state stay out
#: of the index, so a write costs a handful of RUs however much a session carries.
CHATS_INDEXING: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [
        {"path": "/kind/?"},
        {"path": "/state/?"},
        {"path": "/sessionId/?"},
        {"path": "/seq/?"},
    ],
    "excludedPaths": [{"path": "/*"}],
}
#: State documents are only ever read by id.
STATE_INDEXING: dict[str, Any] = {"indexingMode": "none", "automatic": False}

HEAD = "head"
LEASE = "lease"
#: Claims outlive Teams' re-deliveries (minutes) by far; Cosmos DB deletes them afterwards.
INBOUND_TTL_SECONDS = 24 * 3600

#: The head and the bound session, plus any other active session: what a turn needs.
TURN_QUERY = "SELECT * FROM c WHERE c.kind = 'head' OR (c.kind = 'session' AND c.state = 'active')"
SESSIONS_QUERY = "SELECT * FROM c WHERE c.kind = 'session' ORDER BY c.seq"
LOGS_QUERY = "SELECT * FROM c WHERE c.kind = 'log' AND c.sessionId = @session ORDER BY c.seq"
TRANSFERS_QUERY = "SELECT * FROM c WHERE c.kind = 'transfer' ORDER BY c.seq"

_PLAIN_ID = re.compile(r"[A-Za-z0-9._:@=+-]{1,200}")


def safe_id(raw: str) -> str:
    """`raw` if it can be (part of) a Cosmos DB id as it is, else its SHA-256.

    Ids may not contain `/ \\ ? #` and are limited in length; Teams' activity ids and SDK state
    keys can contain anything.
    """
    if _PLAIN_ID.fullmatch(raw) and not raw.startswith("sha256."):
        return raw
    return "sha256." + hashlib.sha256(raw.encode()).hexdigest()


def session_doc_id(session_id: str) -> str:
    return f"session-{safe_id(session_id)}"


def log_id(session_id: str, version: int) -> str:
    return f"log-{safe_id(session_id)}-{version:010d}"


def transfer_id(from_session_id: str) -> str:
    return f"transfer-{safe_id(from_session_id)}"


def inbound_id(activity_id: str) -> str:
    return f"inbound-{safe_id(activity_id)}"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def session_document(session: Session, *, seq: int, bot_state: dict[str, Any]) -> dict[str, Any]:
    """The `session-<id>` document for `session` at `session.version`."""
    return {
        "id": session_doc_id(session.id),
        "conversationId": session.conversation_id,
        "kind": "session",
        "sessionId": session.id,
        "seq": seq,
        "tenantId": session.tenant_id,
        "state": session.state.value,
        "startedAt": session.started_at.isoformat(),
        "endedAt": session.ended_at.isoformat() if session.ended_at else None,
        "hops": session.hops,
        "version": session.version,
        "metadata": session.metadata,
        "botState": bot_state,
    }


def session_of(document: dict[str, Any]) -> Session:
    """The session a `session-<id>` document holds (without pending flow or transcript)."""
    started_at = _time(document["startedAt"])
    assert started_at is not None
    return Session(
        id=document["sessionId"],
        conversation_id=document["conversationId"],
        tenant_id=document["tenantId"],
        state=SessionState(document["state"]),
        started_at=started_at,
        ended_at=_time(document.get("endedAt")),
        hops=document["hops"],
        version=document["version"],
        metadata=dict(document["metadata"]),
    )


def log_document(
    session: Session, flow: list[FlowStep], transcript: list[TranscriptEntry]
) -> dict[str, Any]:
    """What one save appended to `session`, stored under the version it was saved at."""
    return {
        "id": log_id(session.id, session.version),
        "conversationId": session.conversation_id,
        "kind": "log",
        "sessionId": session.id,
        "seq": session.version,
        "flow": [flow_json(step) for step in flow],
        "transcript": [transcript_json(entry) for entry in transcript],
    }


def flow_json(step: FlowStep) -> dict[str, Any]:
    return {
        "stage": step.stage_key,
        "type": step.stage_type,
        "pipeline": step.pipeline,
        "at": step.at.isoformat(),
    }


def flow_of(item: dict[str, Any]) -> FlowStep:
    return FlowStep(
        item["stage"], item["type"], item["pipeline"], datetime.fromisoformat(item["at"])
    )


def transcript_json(entry: TranscriptEntry) -> dict[str, Any]:
    return {
        "direction": entry.direction.value,
        "at": entry.at.isoformat(),
        "text": entry.text,
        "attachments": list(entry.attachments),
        "value": entry.value,
        "activityId": entry.activity_id,
    }


def transcript_of(item: dict[str, Any]) -> TranscriptEntry:
    return TranscriptEntry(
        direction=Direction(item["direction"]),
        at=datetime.fromisoformat(item["at"]),
        text=item.get("text"),
        attachments=tuple(item.get("attachments") or ()),
        value=item.get("value"),
        activity_id=item.get("activityId"),
    )


def transfer_document(record: TransferRecord, *, seq: int) -> dict[str, Any]:
    return {
        "id": transfer_id(record.from_session_id),
        "conversationId": record.conversation_id,
        "kind": "transfer",
        "seq": seq,
        "fromSessionId": record.from_session_id,
        "toSessionId": record.to_session_id,
        "fromTenantId": record.from_tenant_id,
        "toTenantId": record.to_tenant_id,
        "at": record.at.isoformat(),
        "activityId": record.activity_id,
    }


def transfer_of(document: dict[str, Any]) -> TransferRecord:
    return TransferRecord(
        conversation_id=document["conversationId"],
        from_session_id=document["fromSessionId"],
        to_session_id=document["toSessionId"],
        from_tenant_id=document["fromTenantId"],
        to_tenant_id=document["toTenantId"],
        at=datetime.fromisoformat(document["at"]),
        activity_id=document.get("activityId"),
    )


def head_document(
    conversation_id: str,
    session_id: str,
    reference: dict[str, Any] | None,
    *,
    sessions: int,
    transfers: int,
) -> dict[str, Any]:
    """The binding of a chat to its current session (`sessions`/`transfers` count both)."""
    return {
        "id": HEAD,
        "conversationId": conversation_id,
        "kind": "head",
        "sessionId": session_id,
        "reference": reference,
        "sessions": sessions,
        "transfers": transfers,
    }


def inbound_document(conversation_id: str, activity_id: str) -> dict[str, Any]:
    return {
        "id": inbound_id(activity_id),
        "conversationId": conversation_id,
        "kind": "inbound",
        "activityId": activity_id,
        "at": time.time(),
        "ttl": INBOUND_TTL_SECONDS,
    }


def lease_document(conversation_id: str, owner: str) -> dict[str, Any]:
    """The chat's lease, held by `owner` until `until` (epoch seconds on the holder's clock)."""
    return {
        "id": LEASE,
        "conversationId": conversation_id,
        "kind": "lease",
        "owner": owner,
        "until": time.time() + LEASE_SECONDS,
        # Long after any live turn; only a crashed holder's lease is ever left for TTL to remove.
        "ttl": int(LEASE_SECONDS * 10),
    }


def state_document(key: str, document: dict[str, Any]) -> dict[str, Any]:
    return {"id": safe_id(key), "key": key, "document": document}


def without_system_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A document as Crossdesk wrote it, without Cosmos DB's `_rid`, `_etag`, `_ts`…"""
    return {key: value for key, value in document.items() if not key.startswith("_")}
