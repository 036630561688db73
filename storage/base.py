"""The storage contract every backend (SQLite, Cosmos DB) implements. No SDK here.

Everything a chat changes happens in a turn: `Store.chat_turn` gives the turn the chat (its
active session, with the position where it waits, and the conversation reference) under a
lease no other turn of the chat can hold at the same time, on any instance; the turn commits
everything it changed as one atomic step (`ChatTurn.commit`), together with the claim of the
event that started it and the release of the lease. A turn that does not commit writes
nothing and claims nothing, so a re-delivery of its event runs it again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pipeline.session import FlowStep, Session, SessionState, TranscriptEntry
from pipeline.transfer import TransferRecord

#: How long a chat turn may hold the chat's lease before another turn may take it over.
#: Teams gives up on a turn after ~15 s, so a live turn never needs longer.
LEASE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class TurnWrites:
    """Everything one turn changed in its chat.

    `sessions` are the sessions the turn opened (version 0) or changed, each with the flow steps
    and transcript entries it added; `bound_session_id` rebinds the chat (a new session or a
    transfer); `reference` is the conversation reference to keep for proactive messages.
    """

    sessions: Sequence[Session] = ()
    bound_session_id: str | None = None
    reference: Mapping[str, Any] | None = None
    transfers: Sequence[TransferRecord] = ()


class ChatTurn(Protocol):
    """One turn of one chat, holding the chat's lease: what the turn reads, and its commit."""

    @property
    def conversation_id(self) -> str: ...

    @property
    def session(self) -> Session | None:
        """The active session the chat is bound to, if any."""
        ...

    @property
    def known(self) -> bool:
        """Whether the chat was seen before (False for a guest's very first turn)."""
        ...

    @property
    def reference(self) -> Mapping[str, Any] | None:
        """The conversation reference stored for the chat (for proactive messages)."""
        ...

    async def commit(self, writes: TurnWrites) -> None:
        """Write `writes`, claim the turn's event and release the lease, atomically.

        Sessions are version-guarded: `ConflictError`, with nothing written, if a session (or
        the chat's lease) changed hands since the turn began, which only a turn that outlived
        its lease can meet. Afterwards each written session's `version` is the stored one and
        its pending flow and transcript are empty. A turn commits at most once.
        """
        ...


@dataclass(frozen=True, slots=True)
class ChatHistory:
    """Everything stored about one chat, for the export and admin commands."""

    conversation_id: str
    reference: Mapping[str, Any] | None
    #: Oldest first.
    sessions: Sequence[Session]
    flows: Mapping[str, Sequence[FlowStep]] = field(default_factory=dict)
    transcripts: Mapping[str, Sequence[TranscriptEntry]] = field(default_factory=dict)
    transfers: Sequence[TransferRecord] = ()


#: Who a `SessionSearch.guest` text is looked for in.
GUEST_SEARCHED = ("Guest.Name", "Guest.Email", "Guest.UserPrincipalName")


@dataclass(frozen=True, slots=True)
class SessionSearch:
    """What `Store.search_sessions` looks for; every criterion given must hold.

    `started_from` (inclusive) and `started_before` (exclusive) bound when a session started;
    `guest` is part of the guest's name, email or user principal name, in any case; `session`
    is a session id or its beginning. At most `limit` sessions are returned.
    """

    started_from: datetime | None = None
    started_before: datetime | None = None
    tenant_id: str | None = None
    state: SessionState | None = None
    guest: str | None = None
    session: str | None = None
    limit: int = 50

    def matches(self, session: Session) -> bool:
        """Whether `session` meets every criterion (backends may narrow coarsely first)."""
        started = session.started_at
        if self.started_from is not None and started < self.started_from:
            return False
        if self.started_before is not None and started >= self.started_before:
            return False
        if self.tenant_id is not None and session.tenant_id != self.tenant_id:
            return False
        if self.state is not None and session.state is not self.state:
            return False
        if self.session is not None and not session.id.startswith(self.session):
            return False
        if self.guest:
            wanted = self.guest.casefold()
            facts = (session.metadata.get(key) for key in GUEST_SEARCHED)
            return any(isinstance(f, str) and wanted in f.casefold() for f in facts)
        return True


class Store(Protocol):
    """Where chats are kept: their sessions, flows, transcripts, bindings and transfers."""

    def chat_turn(
        self, conversation_id: str, event_id: str | None
    ) -> AbstractAsyncContextManager[ChatTurn | None]:
        """Run one turn of a chat exclusively, across every instance sharing the store.

        Takes the chat's lease, waiting while another turn holds it (at most until it expires).
        Yields None, holding nothing, when `event_id` was claimed by a committed turn already (a
        re-delivery: the turn must do nothing). Leaving the block without a commit, normally or
        by an exception, releases the lease and writes nothing.
        """
        ...

    async def history(self, conversation_id: str) -> ChatHistory:
        """Everything stored about a chat (no sessions for a chat never seen)."""
        ...

    def live_sessions(self) -> AsyncIterator[Session]:
        """Every active session of every chat (an admin's look across chats, not a turn's)."""
        ...

    async def search_sessions(self, search: SessionSearch) -> list[Session]:
        """Sessions of every chat that match `search`, newest start first, at most
        `search.limit` of them (an admin's look across chats, never a turn's)."""
        ...

    async def close(self) -> None: ...
