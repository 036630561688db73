"""A chat as plain JSON, for the admin `sessions` command and for tests."""

from __future__ import annotations

from typing import Any

from pipeline.session import iso
from storage.base import ChatHistory, Store


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
