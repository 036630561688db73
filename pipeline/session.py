"""Sessions: one visit of a guest to one tenant, with its metadata, flow and transcript."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class SessionState(enum.StrEnum):
    """Where a session stands. `transferred` is an ending of its own, not a drop or a resolution."""

    ACTIVE = "active"
    TRANSFERRED = "transferred"
    ENDED = "ended"


class Direction(enum.StrEnum):
    """Who a transcript entry came from."""

    IN = "in"
    OUT = "out"


@dataclass(frozen=True, slots=True)
class FlowStep:
    """A stage the session entered, and when."""

    stage_key: str
    stage_type: str
    pipeline: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    """One message into or out of the chat while this session was active."""

    direction: Direction
    at: datetime
    text: str | None = None
    attachments: tuple[dict[str, Any], ...] = ()
    value: dict[str, Any] | None = None
    activity_id: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_session_id() -> str:
    return uuid.uuid4().hex


def iso(moment: datetime) -> str:
    """The timestamp format used in metadata (`Session.StartedUtc`) and storage."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class Session:
    """One visit of a guest to one tenant.

    `metadata` holds dotted keys exactly as templates address them (`Guest.Name`,
    `Session.TransferredTo.TenantName`). New flow steps and transcript entries wait in the
    `pending_*` lists until the store appends them; stored ones are read with the store.
    """

    id: str
    conversation_id: str
    tenant_id: str
    state: SessionState
    started_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    ended_at: datetime | None = None
    hops: int = 0
    version: int = 0
    pending_flow: list[FlowStep] = field(default_factory=list)
    pending_transcript: list[TranscriptEntry] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        *,
        conversation_id: str,
        tenant_id: str,
        tenant_name: str,
        metadata: dict[str, Any] | None = None,
        hops: int = 0,
        now: datetime | None = None,
    ) -> Session:
        """A new active session with its `Session.*` metadata filled in."""
        started = now or utc_now()
        session = cls(
            id=new_session_id(),
            conversation_id=conversation_id,
            tenant_id=tenant_id,
            state=SessionState.ACTIVE,
            started_at=started,
            metadata=dict(metadata or {}),
            hops=hops,
        )
        session.metadata.update(
            {
                "Session.SessionId": session.id,
                "Session.TenantId": tenant_id,
                "Session.TenantName": tenant_name,
                "Session.State": SessionState.ACTIVE.value,
                "Session.StartedUtc": iso(started),
            }
        )
        return session

    @property
    def is_active(self) -> bool:
        return self.state is SessionState.ACTIVE

    def end(self, state: SessionState, now: datetime | None = None) -> None:
        """Close the session with `state` (transferred or ended)."""
        self.state = state
        self.ended_at = now or utc_now()
        self.metadata["Session.State"] = state.value
        self.metadata["Session.EndedUtc"] = iso(self.ended_at)

    def enter(self, stage_key: str, stage_type: str, pipeline: str) -> None:
        self.pending_flow.append(FlowStep(stage_key, stage_type, pipeline, utc_now()))

    def record(self, entry: TranscriptEntry) -> None:
        self.pending_transcript.append(entry)
