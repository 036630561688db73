"""A chat's sessions as plain JSON, for the admin `sessions` command and for tests."""

from __future__ import annotations

from typing import Any

from pipeline.session import iso
from storage.base import SessionStore


async def conversation_export(store: SessionStore, conversation_id: str) -> dict[str, Any]:
    """Every session of a Teams conversation in order, with metadata, flow and transcript, and
    the chat's transfer records."""
    sessions = []
    for session in await store.sessions_of(conversation_id):
        flow = await store.flow(conversation_id, session.id)
        transcript = await store.transcript(conversation_id, session.id)
        sessions.append(
            {
                "id": session.id,
                "tenant": session.tenant_id,
                "state": session.state.value,
                "started": iso(session.started_at),
                "ended": iso(session.ended_at) if session.ended_at else None,
                "metadata": dict(sorted(session.metadata.items())),
                "flow": [
                    {
                        "stage": step.stage_key,
                        "type": step.stage_type,
                        "pipeline": step.pipeline,
                        "at": iso(step.at),
                    }
                    for step in flow
                ],
                "transcript": [
                    {
                        "direction": entry.direction.value,
                        "at": iso(entry.at),
                        "text": entry.text,
                        "attachments": list(entry.attachments),
                        "value": entry.value,
                    }
                    for entry in transcript
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
        for record in await store.transfers_of(conversation_id)
    ]
    return {"conversation": conversation_id, "sessions": sessions, "transfers": transfers}
