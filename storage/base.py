"""The storage contract every backend (SQLite, Cosmos DB) implements. No SDK here."""

from __future__ import annotations

from typing import Any, Protocol

from pipeline.errors import CrossdeskError
from pipeline.session import FlowStep, Session, TranscriptEntry
from pipeline.transfer import TransferPlan, TransferRecord


class StorageError(CrossdeskError):
    """The store cannot do what was asked (unreachable, misconfigured, corrupt)."""


class ConflictError(StorageError):
    """Someone else changed the item since it was read (ETag/version mismatch)."""


class SessionStore(Protocol):
    """Sessions, their flow and transcript, Teams conversation bindings, transfer records,
    inbound activity ids for de-duplication, and the SDK's state documents with ETags."""

    async def claim_activity(self, conversation_id: str, activity_id: str) -> bool:
        """Record an inbound activity id; False if it was already claimed (a re-delivery)."""
        ...

    async def release_activity(self, conversation_id: str, activity_id: str) -> None:
        """Forget a claim whose turn failed, so that Teams' re-delivery can run it."""
        ...

    async def bound_session(self, conversation_id: str) -> Session | None:
        """The session the Teams conversation is bound to (active or not), if any."""
        ...

    async def start_session(self, session: Session, reference: dict[str, Any] | None) -> None:
        """Insert a new session and bind its conversation to it, atomically."""
        ...

    async def save_session(self, session: Session) -> None:
        """Write metadata and state, append pending flow and transcript; `ConflictError` if the
        stored version is not `session.version` (then `version` is bumped on success)."""
        ...

    async def commit_transfer(self, plan: TransferPlan) -> None:
        """Atomically: save the sending session, insert the receiving one, rebind the
        conversation and store the transfer record. `ConflictError` if the sending session
        changed or was already transferred."""
        ...

    async def get_session(self, session_id: str) -> Session | None: ...

    async def sessions_of(self, conversation_id: str) -> list[Session]:
        """Every session of a Teams conversation, oldest first."""
        ...

    async def flow(self, session_id: str) -> list[FlowStep]: ...

    async def transcript(self, session_id: str) -> list[TranscriptEntry]: ...

    async def transfers_of(self, conversation_id: str) -> list[TransferRecord]: ...

    async def read_state(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """State documents with their ETags; missing keys are absent from the result."""
        ...

    async def write_state(self, key: str, document: dict[str, Any], etag: str | None) -> str:
        """Write a state document; with an `etag` only if it still matches (else
        `ConflictError`), with `None` or `"*"` unconditionally. Returns the new ETag."""
        ...

    async def delete_state(self, keys: list[str]) -> None: ...

    async def close(self) -> None: ...
