"""Session events for webhooks: what an event holds (schema `crossdesk.session-event/1`) and the
outbox entries a turn adds for them (no IO here).

A turn that starts, connects, transfers or ends a session puts one outbox entry per event and
subscribed webhook into the chat's outbox, in the same commit as everything else it did; the
delivery (`dialogs/delivery.py`) posts them in order per chat on a lane of their own, through
`integrations/webhooks.py`. An entry names the webhook's secret by its environment variable,
never its value.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from integrations.model import Webhook
from pipeline.session import Session, SessionState, iso
from pipeline.transfer import FROM, LINK_FIELDS, TO
from storage.base import Outgoing

SCHEMA = "crossdesk.session-event/1"
#: The `type` of an outbox entry that is a webhook event (not a Bot Framework activity).
WEBHOOK_ACTIVITY = "crossdesk/webhook"


@dataclass(frozen=True, slots=True)
class SessionChange:
    """What a turn did to one session, as events see it."""

    session: Session
    started: bool
    connected: bool
    transferred: bool
    ended: bool

    def types(self) -> list[str]:
        flags = (
            ("session.started", self.started),
            ("session.connected", self.connected),
            ("session.transferred", self.transferred),
            ("session.ended", self.ended),
        )
        return [name for name, happened in flags if happened]


def change_of(session: Session, before: tuple[SessionState, Any] | None) -> SessionChange:
    """What became of `session` in a turn, given its state and agent state before it (None:
    the turn opened it)."""
    state_before, agent_before = before if before is not None else (None, None)
    agent_now = session.metadata.get("Session.Agent.State")
    return SessionChange(
        session,
        started=before is None,
        connected=agent_now == "connected" and agent_before != "connected",
        transferred=session.state is SessionState.TRANSFERRED
        and state_before is not SessionState.TRANSFERRED,
        ended=session.state is SessionState.ENDED and state_before is not SessionState.ENDED,
    )


def _link(metadata: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    values = {name[0].lower() + name[1:]: metadata.get(prefix + name) for name in LINK_FIELDS}
    return values if any(values.values()) else None


def event_body(
    kind: str, session: Session, hook: Webhook, *, event_id: str, now: datetime
) -> dict[str, Any]:
    """The event as JSON (schema `crossdesk.session-event/1`, documented in the README)."""
    metadata = session.metadata
    agent = metadata.get("Session.Agent.Id")
    return {
        "schema": SCHEMA,
        "id": event_id,
        "type": kind,
        "occurredUtc": iso(now),
        "conversationId": session.conversation_id,
        "session": {
            "id": session.id,
            "tenantId": session.tenant_id,
            "tenantName": metadata.get("Session.TenantName"),
            "state": session.state.value,
            "startedUtc": iso(session.started_at),
            "endedUtc": iso(session.ended_at) if session.ended_at else None,
            "resolution": metadata.get("Session.Status.Resolution"),
        },
        "transferredFrom": _link(metadata, FROM),
        "transferredTo": _link(metadata, TO),
        "guest": {
            "directoryTenantId": metadata.get("Guest.TenantId"),
            "aadObjectId": metadata.get("Guest.AadObjectId"),
        },
        "agent": (
            {"id": agent, "name": metadata.get("Session.Agent.Name")} if agent is not None else None
        ),
        "metadata": {key: metadata[key] for key in hook.metadata if key in metadata},
    }


def events(
    changes: Iterable[SessionChange], hooks: Sequence[Webhook], *, now: datetime
) -> list[Outgoing]:
    """The outbox entries for a turn's session changes: one per event and subscribed webhook,
    in the order they happened."""
    entries: list[Outgoing] = []
    for change in changes:
        for kind in change.types():
            event_id = f"evt_{uuid.uuid4().hex}"
            for hook in hooks:
                if kind not in hook.events:
                    continue
                activity = {
                    "type": WEBHOOK_ACTIVITY,
                    "url": hook.url,
                    "secret": hook.secret_name,
                    "conversation": {"id": change.session.conversation_id},
                    "event": event_body(kind, change.session, hook, event_id=event_id, now=now),
                }
                entries.append(Outgoing(activity))
    return entries


def is_webhook(entry: Outgoing) -> bool:
    """Whether an outbox entry is a webhook event."""
    return entry.activity.get("type") == WEBHOOK_ACTIVITY


def letter_id(entry: Outgoing) -> str:
    """The id of a webhook event's dead letter: its event and its webhook."""
    event = entry.activity.get("event") or {}
    url = str(entry.activity.get("url", ""))
    return f"{event.get('id', 'evt')}.{hashlib.sha256(url.encode()).hexdigest()[:8]}"
