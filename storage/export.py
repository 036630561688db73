"""A chat as plain JSON, for the admin `sessions` command and for tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline.session import iso
from storage.base import ChatHistory, Store
from storage.scope import Scope


async def conversation_export(store: Store, conversation_id: str) -> dict[str, Any]:
    """Every session of a Teams conversation in order, with metadata, flow and transcript, and
    the chat's transfer records."""
    return export(await store.history(conversation_id))


def export(history: ChatHistory) -> dict[str, Any]:
    """`history` as JSON."""
    sessions = []
    for session in history.sessions:
        position = session.position
        sessions.append(
            {
                "id": session.id,
                "tenant": session.tenant_id,
                "state": session.state.value,
                "started": iso(session.started_at),
                "ended": iso(session.ended_at) if session.ended_at else None,
                "waiting_at": None
                if position is None
                else {"pipeline": position.pipeline, "stage": position.stage},
                "metadata": dict(sorted(session.metadata.items())),
                "flow": [
                    {
                        "stage": step.stage_key,
                        "type": step.stage_type,
                        "pipeline": step.pipeline,
                        "at": iso(step.at),
                    }
                    for step in history.flows.get(session.id, ())
                ],
                "transcript": [
                    {
                        "direction": entry.direction.value,
                        "at": iso(entry.at),
                        "text": entry.text,
                        "attachments": list(entry.attachments),
                        "value": entry.value,
                        **({"author": entry.author} if entry.author else {}),
                        **({"internal": True} if entry.internal else {}),
                    }
                    for entry in history.transcripts.get(session.id, ())
                ],
            }
        )
    transfers = [
        {
            "from": record.from_session_id,
            "to": record.to_session_id,
            "fromTenant": record.from_tenant_id,
            "toTenant": record.to_tenant_id,
            "at": iso(record.at),
        }
        for record in history.transfers
    ]
    return {"conversation": history.conversation_id, "sessions": sessions, "transfers": transfers}


#: Metadata a person who sees a session but not its messages is shown: who the guest is and
#: the session's own facts, never what the guest or an agent wrote.
VISIBLE_WITHOUT_TRANSCRIPT = ("Guest.Name",)
_SESSION_FACTS_HIDDEN = ("Session.Feedback.Comment", "Session.Status.ResolutionNotes")


def _visible_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in metadata.items()
        if key in VISIBLE_WITHOUT_TRANSCRIPT
        or (key.startswith("Session.") and not key.startswith(_SESSION_FACTS_HIDDEN))
    }


def _span(started: str, ended: str | None) -> str:
    start = datetime.fromisoformat(started).astimezone(UTC)
    if ended is None:
        return f"since {start:%Y-%m-%d %H:%M} UTC"
    end = datetime.fromisoformat(ended).astimezone(UTC)
    last = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"from {start:%Y-%m-%d %H:%M} to {last} UTC"


def scoped_export(
    history: ChatHistory, scope: Scope, tenant_names: Mapping[str, str]
) -> dict[str, Any] | None:
    """`export(history)` as `scope` may see it, or None when it sees none of the chat's sessions.

    A session of a tenant outside the scope shows only which tenant handled it and when
    ("handled by Legal from 2026-03-02 10:02 to 10:15 UTC"); one inside it shows metadata and flow,
    and its transcript (and everything the guest typed, answers included) only when the scope
    reads that tenant's transcripts (`transcript` is null otherwise). `transcripts_shown`
    lists the tenants whose message text the answer holds (what an audit entry records)."""
    if not any(scope.sees(session.tenant_id) for session in history.sessions):
        return None
    full = export(history)
    sessions: list[dict[str, Any]] = []
    shown: list[str] = []
    visible_ids: set[str] = set()
    for item, session in zip(full["sessions"], history.sessions, strict=True):
        tenant = session.tenant_id
        name = tenant_names.get(tenant, tenant)
        if not scope.sees(tenant):
            sessions.append(
                {
                    "tenant": tenant,
                    "tenantName": name,
                    "state": item["state"],
                    "started": item["started"],
                    "ended": item["ended"],
                    "redacted": True,
                    "summary": f"handled by {name} {_span(item['started'], item['ended'])}",
                }
            )
            continue
        visible_ids.add(session.id)
        item["tenantName"] = name
        if scope.reads_transcripts(tenant):
            if tenant not in shown:
                shown.append(tenant)
        else:
            item["metadata"] = _visible_metadata(item["metadata"])
            item["transcript"] = None
        sessions.append(item)
    transfers = [
        {
            **transfer,
            "from": transfer["from"] if transfer["from"] in visible_ids else None,
            "to": transfer["to"] if transfer["to"] in visible_ids else None,
        }
        for transfer in full["transfers"]
    ]
    return {
        "conversation": history.conversation_id,
        "sessions": sessions,
        "transfers": transfers,
        "transcripts_shown": shown,
    }
