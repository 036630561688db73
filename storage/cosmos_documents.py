"""The documents Crossdesk keeps in Azure Cosmos DB. Pure data, no I/O.

Every document of a Teams conversation lives in the `chats` container in the logical partition
of its conversation id, so that everything a turn writes fits in one transactional batch:

    head                 the binding: which session the chat is on, the conversation reference,
                         counters that order sessions and transfers
    lease                present while a turn of the chat runs (the chat's lease)
    session-<id>         one session: state, metadata, where its chat waits
    log-<id>-<version>   the flow steps and transcript entries one turn added to a session
    transfer-<from id>   the record of one transfer (its id makes a second transfer impossible)
    refused-<id>-<n>     a transfer that could not be made (from, target, reason)
    inbound-<event>      a claimed event (an inbound activity id, or a proactive turn's id),
                         written by the turn that ran it; expires after a day
    out-<seq>            a message a turn committed to send and that is not delivered yet
    sent-<label>         the id the channel gave a labelled message (to update it in place)
    timer-<key>          a turn to run on the chat at `dueAt`

Bodies are the shared records of `storage/records.py` plus `id`, `kind` and `seq`;
`storage/COSMOS.md` explains the layout.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC
from typing import Any

from pipeline.session import FlowStep, Session, TranscriptEntry
from pipeline.transfer import RefusedTransfer, TransferRecord
from storage.base import (
    GUEST_SEARCHED,
    AgentRecord,
    AuditEntry,
    DeadLetter,
    Outgoing,
    SessionSearch,
    Timer,
)
from storage.records import (
    agent_record,
    audit_of,
    audit_record,
    dead_letter_record,
    flow_record,
    outgoing_of,
    outgoing_record,
    refused_record,
    session_record,
    transcript_record,
    transfer_record,
)

CHATS = "chats"
CHATS_PARTITION = "/conversationId"

#: Only what the queries filter or sort on is indexed (`id` always is): metadata and
#: transcripts stay out of the index, so a write costs a handful of RUs however much a
#: session carries.
CHATS_INDEXING: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [
        {"path": "/kind/?"},
        {"path": "/state/?"},
        {"path": "/sessionId/?"},
        {"path": "/seq/?"},
        # The operations view's range filters and keyset paging (never a turn's).
        {"path": "/tenantId/?"},
        {"path": "/startedAt/?"},
        {"path": "/endedAt/?"},
        {"path": "/at/?"},
    ],
    "excludedPaths": [{"path": "/*"}],
    "compositeIndexes": [
        [
            {"path": "/startedAt", "order": "descending"},
            {"path": "/sessionId", "order": "descending"},
        ],
    ],
}

HEAD = "head"
LEASE = "lease"
#: Claims outlive Teams' re-deliveries (minutes) by far; Cosmos DB deletes them afterwards.
CLAIM_TTL_SECONDS = 24 * 3600

#: What a turn reads: the head, the active session(s), the undelivered messages, and the claim
#: of its event if any.
TURN_QUERY = (
    "SELECT * FROM c WHERE c.kind = 'head' OR (c.kind = 'session' AND c.state = 'active')"
    " OR c.kind = 'out' OR c.kind = 'timer' OR c.kind = 'sent' OR c.id = @claim"
)
#: Timers due of every chat (a cross-partition query, for the sweeper).
TIMERS_QUERY = (
    "SELECT c.conversationId, c.key, c.dueAt, c.event FROM c"
    " WHERE c.kind = 'timer' AND c.dueAt <= @now"
)
#: Undelivered messages and leases of every chat (a cross-partition query, for the sweeper).
DUE_QUERY = (
    "SELECT c.conversationId, c.kind, c.dueAt, c.until FROM c"
    " WHERE c.kind = 'out' OR c.kind = 'lease'"
)
#: Everything of a chat that the export shows.
#: Dead letters of every chat (a cross-partition query, for admin commands only).
DEAD_LETTERS_QUERY = "SELECT * FROM c WHERE c.kind = 'dead'"
HISTORY_QUERY = "SELECT * FROM c WHERE c.kind IN ('head', 'session', 'log', 'transfer')"
#: The audit log's entries (a cross-partition query over the days' partitions, for admins).
AUDIT_QUERY = "SELECT * FROM c WHERE c.kind = 'audit'"
#: Audit entries share a partition per day: appends spread over days, and no chat's partition
#: grows with its audit entries.
AUDIT_PARTITION_PREFIX = "audit:"

#: Active sessions of every chat (a cross-partition query, for admin commands only).
LIVE_QUERY = "SELECT * FROM c WHERE c.kind = 'session' AND c.state = 'active'"


def search_query(search: SessionSearch) -> tuple[str, list[dict[str, Any]]]:
    """The cross-partition query (and its parameters) for `Store.search_sessions`: an admin's
    look across chats, never a turn's. It filters on the indexed `kind`, `state` and `sessionId`
    and scans for the rest; Cosmos DB cannot sort on the unindexed `startedAt`, so the store
    keeps the newest itself."""
    clauses = ["c.kind = 'session'"]
    parameters: list[dict[str, Any]] = []

    def where(clause: str, name: str, value: Any) -> None:
        clauses.append(clause)
        parameters.append({"name": name, "value": value})

    if search.started_from is not None:
        where("c.startedAt >= @from", "@from", search.started_from.astimezone(UTC).isoformat())
    if search.started_before is not None:
        where("c.startedAt < @before", "@before", search.started_before.astimezone(UTC).isoformat())
    if search.tenant_id is not None:
        where("c.tenantId = @tenant", "@tenant", search.tenant_id)
    if search.state is not None:
        where("c.state = @state", "@state", search.state.value)
    if search.session:
        where("STARTSWITH(c.sessionId, @session)", "@session", search.session)
    if search.guest:
        facts = " OR ".join(
            f'CONTAINS(LOWER(c.metadata["{key}"]), @guest)' for key in GUEST_SEARCHED
        )
        where(f"({facts})", "@guest", search.guest.lower())
    return f"SELECT * FROM c WHERE {' AND '.join(clauses)}", parameters


_PLAIN_ID = re.compile(r"[A-Za-z0-9._:@=+-]{1,200}")


def safe_id(raw: str) -> str:
    """`raw` if it can be (part of) a Cosmos DB id as it is, else its SHA-256.

    Ids may not contain `/ \\ ? #` and are limited in length; Teams' activity ids can contain
    anything.
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


def claim_id(event_id: str) -> str:
    return f"inbound-{safe_id(event_id)}"


def session_document(session: Session, *, seq: int, version: int) -> dict[str, Any]:
    """The `session-<id>` document for `session` as stored at `version`."""
    body = session_record(session)
    body.update(id=session_doc_id(session.id), kind="session", seq=seq, version=version)
    return body


def log_document(
    session: Session,
    version: int,
    flow: list[FlowStep],
    transcript: list[TranscriptEntry],
) -> dict[str, Any]:
    """What one turn added to `session`, stored under the version that turn wrote."""
    return {
        "id": log_id(session.id, version),
        "conversationId": session.conversation_id,
        "kind": "log",
        "sessionId": session.id,
        "seq": version,
        "flow": [flow_record(step) for step in flow],
        "transcript": [transcript_record(entry) for entry in transcript],
    }


def transfer_document(record: TransferRecord, *, seq: int) -> dict[str, Any]:
    body = transfer_record(record)
    body.update(id=transfer_id(record.from_session_id), kind="transfer", seq=seq)
    return body


def refused_document(record: RefusedTransfer, *, number: str) -> dict[str, Any]:
    """A transfer that could not be made (`number` keeps two refusals of a session apart)."""
    body = refused_record(record)
    body.update(id=f"refused-{safe_id(record.session_id)}-{number}", kind="refused")
    return body


def head_document(
    conversation_id: str,
    session_id: str,
    reference: Any,
    *,
    sessions: int,
    transfers: int,
    sent: int,
) -> dict[str, Any]:
    """The binding of a chat to its current session (`sessions`, `transfers` and `sent` count
    sessions, transfer records and outbox entries, and give them their `seq`)."""
    return {
        "id": HEAD,
        "conversationId": conversation_id,
        "kind": "head",
        "sessionId": session_id,
        "reference": reference,
        "sessions": sessions,
        "transfers": transfers,
        "sent": sent,
    }


def out_id(seq: int) -> str:
    return f"out-{seq:010d}"


def out_document(conversation_id: str, entry: Outgoing) -> dict[str, Any]:
    """An outbox entry: what to post, where, and when to try (again)."""
    return {
        **outgoing_record(entry),
        "id": out_id(entry.seq),
        "conversationId": conversation_id,
        "kind": "out",
        "seq": entry.seq,
        "dueAt": entry.due_at,
        "attempts": entry.attempts,
    }


def out_of(document: dict[str, Any]) -> Outgoing:
    return outgoing_of(
        document,
        seq=int(document["seq"]),
        attempts=int(document.get("attempts", 0)),
        due_at=float(document.get("dueAt", 0.0)),
    )


def sent_document(conversation_id: str, label: str, activity_id: str) -> dict[str, Any]:
    return {
        "id": f"sent-{safe_id(label)}",
        "conversationId": conversation_id,
        "kind": "sent",
        "label": label,
        "activityId": activity_id,
    }


#: The partition of an agent's record: beside the chats, never one of them.
AGENT_PARTITION_PREFIX = "agent:"
AGENT = "agent"


def dead_letter_document(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter, in its chat's partition."""
    body = dead_letter_record(letter)
    body.update(id=safe_id(f"dead.{letter.id}"), kind="dead")
    return body


def agent_partition(agent_id: str) -> str:
    return AGENT_PARTITION_PREFIX + agent_id


def agent_document(record: AgentRecord, version: int) -> dict[str, Any]:
    body = agent_record(record)
    body.update(
        id=AGENT, conversationId=agent_partition(record.agent_id), kind="agent", version=version
    )
    return body


def timer_id(key: str) -> str:
    return f"timer-{safe_id(key)}"


def timer_document(conversation_id: str, timer: Timer) -> dict[str, Any]:
    return {
        "id": timer_id(timer.key),
        "conversationId": conversation_id,
        "kind": "timer",
        "key": timer.key,
        "dueAt": timer.due_at,
        "event": dict(timer.event),
    }


def timer_of(document: dict[str, Any]) -> Timer:
    return Timer(str(document["key"]), float(document["dueAt"]), document.get("event") or {})


def claim_document(conversation_id: str, event_id: str, at: float) -> dict[str, Any]:
    return {
        "id": claim_id(event_id),
        "conversationId": conversation_id,
        "kind": "inbound",
        "activityId": event_id,
        "at": at,
        "ttl": CLAIM_TTL_SECONDS,
    }


def lease_document(conversation_id: str, owner: str, until: float, ttl: int) -> dict[str, Any]:
    """The chat's lease, held by `owner` until `until` (epoch seconds on the holder's clock);
    `ttl` removes a crashed holder's lease long after it expired."""
    return {
        "id": LEASE,
        "conversationId": conversation_id,
        "kind": "lease",
        "owner": owner,
        "until": until,
        "ttl": ttl,
    }


def without_system_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A document as Crossdesk wrote it, without Cosmos DB's `_rid`, `_etag`, `_ts`…"""
    return {key: value for key, value in document.items() if not key.startswith("_")}


def audit_document(entry: AuditEntry) -> dict[str, Any]:
    body = audit_record(entry)
    day = entry.at.astimezone(UTC).date().isoformat()
    body.update(id=entry.id, conversationId=AUDIT_PARTITION_PREFIX + day, kind="audit")
    # The body's conversationId is the partition key; the chat's id stays in its own field.
    body["chat"] = entry.conversation_id
    return body


def audit_of_document(document: dict[str, Any]) -> AuditEntry:
    return audit_of({**document, "conversationId": document["chat"]})
