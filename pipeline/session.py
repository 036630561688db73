"""Sessions: one visit of a guest to one tenant, with its metadata, flow and transcript."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Who the guest is, as Teams tells it (Chime's key names); what a guest answers is not here.
GUEST_FACTS = (
    "Guest.Id",
    "Guest.Name",
    "Guest.GivenName",
    "Guest.Surname",
    "Guest.Email",
    "Guest.UserPrincipalName",
    "Guest.AadObjectId",
    "Guest.TenantId",
    "Guest.ChannelId",
    "Guest.Locale",
    "Guest.Timezone",
    "Guest.Platform",
)


class SessionState(enum.StrEnum):
    """Where a session stands. `transferred` is an ending of its own, not a drop or a resolution."""

    ACTIVE = "active"
    TRANSFERRED = "transferred"
    ENDED = "ended"


class EndReason(enum.StrEnum):
    """How a session ended, for the operations view's reports and filters."""

    #: An end stage (or an agent who marked the chat resolved) closed it.
    RESOLVED = "resolved"
    #: It went on in another tenant (a session of its own there).
    TRANSFERRED = "transferred"
    #: The guest ended it (`end chat`, `start over`).
    GUEST_ENDED = "guest_ended"
    #: The pipeline ran out, an agent closed it unresolved, or its tenant went away.
    NO_RESOLUTION = "no_resolution"
    #: The guest went silent for the tenant's idle timeout.
    ABANDONED = "abandoned"


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
    #: Who wrote it when not the guest (in) or the bot (out): `agent:<id>` for an agent's
    #: message relayed to the guest or an agent's note.
    author: str | None = None
    #: A note between agents: kept in the transcript, never shown to the guest.
    internal: bool = False


@dataclass(frozen=True, slots=True)
class Position:
    """Where a chat waits in its session's tenant: the pipeline, the stage (with its type, so a
    configuration that changed the stage's type is noticed), what the stage keeps while it
    waits, and since when."""

    pipeline: str
    stage: str
    stage_type: str
    since: datetime
    kept: Mapping[str, Any] = field(default_factory=dict)


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
    `Session.TransferredTo.TenantName`); `position` is where an active session's chat waits.
    New flow steps and transcript entries wait in the `pending_*` lists until the turn commits
    them; stored ones are read with the store.
    """

    id: str
    conversation_id: str
    tenant_id: str
    state: SessionState
    started_at: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
    ended_at: datetime | None = None
    hops: int = 0
    #: The store's version of this session; 0 for a session no turn has committed yet.
    version: int = 0
    position: Position | None = None
    #: When the guest last wrote to this session (None: not yet).
    last_guest_at: datetime | None = None
    #: When anything was last said in the session, by anyone (None: nothing yet).
    last_activity_at: datetime | None = None
    #: The stage last entered and its pipeline (where an ended session stopped).
    stage: str | None = None
    pipeline: str | None = None
    #: Why the session ended (None while active, and for sessions stored before it was kept).
    end_reason: EndReason | None = None
    #: When the chat's first session of this visit started (the session a transfer chain
    #: began with); None for that first session itself.
    journey_started_at: datetime | None = None
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
            last_activity_at=started,
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
    def visit_started_at(self) -> datetime:
        """When the chat's visit began: this session's start, or the start of the session a
        chain of transfers to it began with."""
        return self.journey_started_at or self.started_at

    @property
    def is_active(self) -> bool:
        return self.state is SessionState.ACTIVE

    def end(
        self, state: SessionState, now: datetime | None = None, reason: EndReason | None = None
    ) -> None:
        """Close the session with `state` (transferred or ended) and why (a transfer's reason
        is `transferred`; an ending without one had no resolution)."""
        self.state = state
        self.ended_at = now or utc_now()
        if state is SessionState.TRANSFERRED:
            self.end_reason = EndReason.TRANSFERRED
        else:
            self.end_reason = reason or EndReason.NO_RESOLUTION
        self.position = None
        self.metadata["Session.State"] = state.value
        self.metadata["Session.EndedUtc"] = iso(self.ended_at)

    def enter(self, stage_key: str, stage_type: str, pipeline: str, now: datetime) -> None:
        """Note in the flow that the chat reached a stage."""
        self.pending_flow.append(FlowStep(stage_key, stage_type, pipeline, now))
        self.stage, self.pipeline = stage_key, pipeline

    def record(self, entry: TranscriptEntry) -> None:
        """Add a message to the transcript; a guest's message also marks the guest active."""
        self.pending_transcript.append(entry)
        if not entry.internal:
            self.last_activity_at = max(entry.at, self.last_activity_at or entry.at)
        if entry.direction is Direction.IN:
            self.last_guest_at = entry.at
