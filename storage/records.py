"""The one JSON shape of every record Crossdesk stores, shared by the backends and the export.

SQLite keeps each record as a JSON column beside the few columns it filters on; Cosmos DB keeps
it as the body of a document (plus `id`, `kind` and `seq`); `python app.py sessions` prints it.
Field names are those the first release wrote to Cosmos DB, so its documents still read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pipeline.session import (
    Direction,
    EndReason,
    FlowStep,
    Position,
    Session,
    SessionState,
    TranscriptEntry,
)
from pipeline.transfer import RefusedTransfer, TransferRecord
from storage.base import AgentRecord, AuditEntry, DeadLetter, Outgoing

Record = dict[str, Any]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _stamp(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def session_record(session: Session) -> Record:
    """A session without its pending flow and transcript (those are appended as log records)."""
    position = session.position
    return {
        "sessionId": session.id,
        "conversationId": session.conversation_id,
        "tenantId": session.tenant_id,
        "state": session.state.value,
        "startedAt": session.started_at.isoformat(),
        "endedAt": _stamp(session.ended_at),
        "hops": session.hops,
        "version": session.version,
        "metadata": session.metadata,
        "position": None
        if position is None
        else {
            "pipeline": position.pipeline,
            "stage": position.stage,
            "type": position.stage_type,
            "since": position.since.isoformat(),
            "kept": dict(position.kept),
        },
        "lastGuestAt": _stamp(session.last_guest_at),
        # What the operations view filters and counts on (read back, except `resolution`).
        "lastActivityAt": _stamp(session.last_activity_at),
        "stage": session.stage,
        "pipeline": session.pipeline,
        "endReason": session.end_reason.value if session.end_reason else None,
        "resolution": session.metadata.get("Session.Status.Resolution"),
        "journeyStartedAt": _stamp(session.journey_started_at),
    }


def session_of(record: Record) -> Session:
    """The session a `session_record` holds."""
    started_at = _time(record["startedAt"])
    assert started_at is not None, "a session record always has startedAt"
    position = record.get("position")
    return Session(
        id=record["sessionId"],
        conversation_id=record["conversationId"],
        tenant_id=record["tenantId"],
        state=SessionState(record["state"]),
        started_at=started_at,
        ended_at=_time(record.get("endedAt")),
        hops=record["hops"],
        version=record["version"],
        metadata=dict(record["metadata"]),
        # Sessions of the first release kept their position in their dialog state.
        position=_position_of(position) if position else _legacy_position(record),
        last_guest_at=_time(record.get("lastGuestAt")),
        last_activity_at=_time(record.get("lastActivityAt")),
        stage=record.get("stage"),
        pipeline=record.get("pipeline"),
        end_reason=_end_reason(record),
        journey_started_at=_time(record.get("journeyStartedAt")),
    )


#: Why sessions stored before the end reason was kept ended, by their resolution.
_RESOLUTION_REASONS = {
    "abandoned": EndReason.ABANDONED,
    "ended by guest": EndReason.GUEST_ENDED,
    "started over by guest": EndReason.GUEST_ENDED,
    "tenant no longer available": EndReason.NO_RESOLUTION,
    "closed by agent, unresolved": EndReason.NO_RESOLUTION,
}


def _end_reason(record: Record) -> EndReason | None:
    reason = record.get("endReason")
    if reason:
        return EndReason(reason)
    state = record["state"]
    if state == SessionState.ACTIVE.value:
        return None
    if state == SessionState.TRANSFERRED.value:
        return EndReason.TRANSFERRED
    resolution = (record.get("metadata") or {}).get("Session.Status.Resolution")
    if not resolution:
        return EndReason.NO_RESOLUTION
    return _RESOLUTION_REASONS.get(str(resolution), EndReason.RESOLVED)


def _position_of(item: Record) -> Position:
    since = _time(item["since"])
    assert since is not None
    return Position(item["pipeline"], item["stage"], item["type"], since, item.get("kept") or {})


def _legacy_position(record: Record) -> Position | None:
    try:
        document = record["botState"]["dialog"]["document"]
    except (KeyError, TypeError):
        return None
    started = _time(record["startedAt"])
    assert started is not None
    return legacy_position(record["tenantId"], started, document)


def legacy_position(tenant_id: str, started: datetime, dialog: Any) -> Position | None:
    """Where a session of the first release waits: its dialog state document held a dialog
    stack whose top named the pipeline (`pipeline:<tenant>:<pipeline>`) and the stage. The
    stage's type was not kept (""): the runtime checks the stage still waits before resuming."""
    try:
        top = dialog["stack"]["$dialogState"][-1]
        kind, tenant, pipeline = top["id"].split(":", 2)
        stage = top["state"]["stage"]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        return None
    if kind != "pipeline" or tenant != tenant_id or not isinstance(stage, str):
        return None
    return Position(pipeline, stage, "", started)


def outgoing_record(entry: Outgoing) -> Record:
    """An outbox entry (its `seq` and schedule are kept beside it)."""
    return {
        "activity": dict(entry.activity),
        "replyTo": entry.reply_to,
        "label": entry.label,
        "replaces": entry.replaces,
        **({"agent": entry.agent} if entry.agent else {}),
    }


def outgoing_of(item: Record, *, seq: int, attempts: int, due_at: float) -> Outgoing:
    return Outgoing(
        item["activity"],
        item.get("replyTo"),
        seq,
        attempts,
        due_at,
        item.get("label"),
        item.get("replaces"),
        item.get("agent"),
    )


def dead_letter_record(letter: DeadLetter) -> Record:
    """A dead letter: its entry (with the attempts made) and why and when it was given up."""
    return {
        "letterId": letter.id,
        "conversationId": letter.conversation_id,
        "entry": outgoing_record(letter.entry),
        "attempts": letter.entry.attempts,
        "reason": letter.reason,
        "at": letter.at,
    }


def dead_letter_of(item: Record) -> DeadLetter:
    entry = outgoing_of(item["entry"], seq=0, attempts=int(item.get("attempts", 0)), due_at=0.0)
    return DeadLetter(
        str(item["letterId"]),
        str(item["conversationId"]),
        entry,
        str(item.get("reason", "")),
        float(item.get("at", 0.0)),
    )


def agent_record(record: AgentRecord) -> Record:
    return {
        "agentId": record.agent_id,
        "conversation": record.conversation_id,
        "reference": dict(record.reference) if record.reference is not None else None,
        "available": record.available,
        "chats": list(record.chats),
        "focus": record.focus,
        "version": record.version,
        "unreachable": record.unreachable,
        "lastOffered": record.last_offered,
        "heldAt": dict(record.held_at),
    }


def agent_of(item: Record) -> AgentRecord:
    return AgentRecord(
        agent_id=item["agentId"],
        conversation_id=item.get("conversation"),
        reference=item.get("reference"),
        available=bool(item.get("available")),
        chats=tuple(item.get("chats") or ()),
        focus=item.get("focus"),
        version=int(item.get("version", 0)),
        unreachable=bool(item.get("unreachable")),
        last_offered=float(item.get("lastOffered") or 0.0),
        held_at={str(k): float(v) for k, v in (item.get("heldAt") or {}).items()},
    )


def flow_record(step: FlowStep) -> Record:
    return {
        "stage": step.stage_key,
        "type": step.stage_type,
        "pipeline": step.pipeline,
        "at": step.at.isoformat(),
    }


def flow_of(item: Record) -> FlowStep:
    return FlowStep(
        item["stage"], item["type"], item["pipeline"], datetime.fromisoformat(item["at"])
    )


def transcript_record(entry: TranscriptEntry) -> Record:
    return {
        "direction": entry.direction.value,
        "at": entry.at.isoformat(),
        "text": entry.text,
        "attachments": list(entry.attachments),
        "value": entry.value,
        "activityId": entry.activity_id,
        **({"author": entry.author} if entry.author else {}),
        **({"internal": True} if entry.internal else {}),
    }


def transcript_of(item: Record) -> TranscriptEntry:
    return TranscriptEntry(
        direction=Direction(item["direction"]),
        at=datetime.fromisoformat(item["at"]),
        text=item.get("text"),
        attachments=tuple(item.get("attachments") or ()),
        value=item.get("value"),
        activity_id=item.get("activityId"),
        author=item.get("author"),
        internal=bool(item.get("internal")),
    )


def transfer_record(record: TransferRecord) -> Record:
    return {
        "conversationId": record.conversation_id,
        "fromSessionId": record.from_session_id,
        "toSessionId": record.to_session_id,
        "fromTenantId": record.from_tenant_id,
        "toTenantId": record.to_tenant_id,
        "at": record.at.isoformat(),
        "activityId": record.activity_id,
        "hop": record.hop,
    }


def transfer_of(item: Record) -> TransferRecord:
    return TransferRecord(
        conversation_id=item["conversationId"],
        from_session_id=item["fromSessionId"],
        to_session_id=item["toSessionId"],
        from_tenant_id=item["fromTenantId"],
        to_tenant_id=item["toTenantId"],
        at=datetime.fromisoformat(item["at"]),
        activity_id=item.get("activityId"),
        hop=int(item.get("hop") or 0),
    )


def refused_record(record: RefusedTransfer) -> Record:
    """A transfer that could not be made."""
    return {
        "conversationId": record.conversation_id,
        "sessionId": record.session_id,
        "fromTenantId": record.from_tenant_id,
        "toTenantId": record.to_tenant_id,
        "reason": record.reason,
        "at": record.at.isoformat(),
        "hop": record.hop,
    }


def refused_of(item: Record) -> RefusedTransfer:
    return RefusedTransfer(
        conversation_id=item["conversationId"],
        session_id=item["sessionId"],
        from_tenant_id=item["fromTenantId"],
        to_tenant_id=item["toTenantId"],
        reason=item["reason"],
        at=datetime.fromisoformat(item["at"]),
        hop=int(item.get("hop") or 0),
    )


def audit_record(entry: AuditEntry) -> Record:
    return {
        "auditId": entry.id,
        "at": entry.at.isoformat(),
        "who": entry.who,
        "whoId": entry.who_id,
        "action": entry.action,
        "conversationId": entry.conversation_id,
        "tenants": list(entry.tenants),
    }


def audit_of(item: Record) -> AuditEntry:
    return AuditEntry(
        id=item["auditId"],
        at=datetime.fromisoformat(item["at"]),
        who=item["who"],
        who_id=item["whoId"],
        action=item["action"],
        conversation_id=item["conversationId"],
        tenants=tuple(item["tenants"]),
    )
