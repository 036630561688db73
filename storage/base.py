"""The storage contract every backend (SQLite, Cosmos DB) implements. No SDK here."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol
from urllib.parse import quote, unquote

from pipeline.session import FlowStep, Session, TranscriptEntry
from pipeline.transfer import TransferPlan, TransferRecord

#: How long a chat turn may hold the chat's lease before another instance may take it over.
#: Teams gives up on a turn after ~15 s, so a live turn never needs longer.
LEASE_SECONDS = 30.0

_SESSION_STATE = "session"


def session_state_key(session: Session, name: str) -> str:
    """The state key of a document that belongs to `session` (e.g. its dialog stack).

    Keys name the conversation and the session, so a backend can keep the document with the
    session: on Cosmos DB it lives in the session's own item and is read and written with it.
    """
    return f"{_SESSION_STATE}/{quote(session.conversation_id, safe='')}/{session.id}/{name}"


def parse_session_state_key(key: str) -> tuple[str, str, str] | None:
    """`(conversation_id, session_id, name)` of a `session_state_key`, else None."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] != _SESSION_STATE or not all(parts[1:]):
        return None
    return unquote(parts[1]), parts[2], parts[3]


class SessionStore(Protocol):
    """Sessions, their flow and transcript, Teams conversation bindings, transfer records,
    inbound activity ids for de-duplication, and the SDK's state documents with ETags.

    Every update is guarded: a session saved from a stale copy is re-read and this writer's
    changes are re-applied on top (so neither writer's change is lost), and only changes that
    cannot both hold (two writers ending or transferring the same session, a stale state-document
    ETag) raise `ConflictError`.
    """

    def chat_turn(
        self, conversation_id: str, activity_id: str | None
    ) -> AbstractAsyncContextManager[bool]:
        """Run one turn of a chat exclusively, across every instance sharing the store.

        Claims `activity_id` (when given) and takes the chat's lease in one step, waiting while
        another turn of the chat holds the lease (at most until it expires, `LEASE_SECONDS`).
        Yields False, holding nothing, when the activity was claimed before (a re-delivery:
        the turn must do nothing). On a normal exit the lease is released; a backend may hold
        the turn's session and state writes until then and commit them with the release as one
        atomic step. When the turn raises, the claim is released as well, so that Teams'
        re-delivery can run it, and writes the backend still holds are dropped.
        """
        ...

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
        """Write metadata and state, append pending flow and transcript, bump `version`.

        If the stored session moved on since `session` was read, the store re-reads it and
        re-applies this copy's changes (metadata keys set or removed, the state) on top, and
        `session` then holds the merged result; `ConflictError` only if both copies changed the
        state (e.g. one ended the session and the other transferred it)."""
        ...

    async def commit_transfer(self, plan: TransferPlan) -> None:
        """Atomically: save the sending session, insert the receiving one, rebind the
        conversation and store the transfer record. `ConflictError`, with nothing written, if
        the sending session was already transferred or ended."""
        ...

    async def get_session(self, conversation_id: str, session_id: str) -> Session | None:
        """One session of a Teams conversation (the conversation locates it: on Cosmos DB it is
        the partition key, so the read is a point read, never a cross-partition query)."""
        ...

    async def sessions_of(self, conversation_id: str) -> list[Session]:
        """Every session of a Teams conversation, oldest first."""
        ...

    async def flow(self, conversation_id: str, session_id: str) -> list[FlowStep]: ...

    async def transcript(self, conversation_id: str, session_id: str) -> list[TranscriptEntry]: ...

    async def transfers_of(self, conversation_id: str) -> list[TransferRecord]: ...

    async def read_state(self, keys: list[str]) -> dict[str, tuple[dict[str, Any], str]]:
        """State documents with their ETags; missing keys are absent from the result."""
        ...

    async def write_state(self, key: str, document: dict[str, Any], etag: str | None) -> str:
        """Write a state document; with an `etag` only if it still matches (else
        `ConflictError`), with `None` or `"*"` unconditionally. Returns the new ETag.
        A `session_state_key` needs its session to exist (else `StorageError`)."""
        ...

    async def delete_state(self, keys: list[str]) -> None: ...

    async def close(self) -> None: ...
