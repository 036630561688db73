"""The storage contract every backend (SQLite, Cosmos DB) implements. No SDK here.

Everything a chat changes happens in a turn: `Store.chat_turn` gives the turn the chat (its
active session, with the position where it waits, the conversation reference and the messages
not yet delivered) under a lease no other turn of the chat can hold at the same time, on any
instance; the turn commits everything it changed as one atomic step (`ChatTurn.commit`),
together with the messages it means to send (the outbox) and the claim of the event that
started it. A turn that does not commit writes nothing and claims nothing, so a re-delivery of
its event runs it again. After the commit the turn, still holding the lease, delivers the
outbox in order and records each delivery (`ChatTurn.settle`); what it cannot deliver stays
for a later turn or for `Store.due_chats`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.session import FlowStep, Session, SessionState, TranscriptEntry
from pipeline.transfer import RefusedTransfer, TransferRecord

if TYPE_CHECKING:
    from storage.reports import ReportStore

#: How long a chat's lease lasts without renewal. A live turn renews it while it runs (every
#: third of this), so only a dead process's lease expires, and a waiting turn takes it over
#: well inside the 15 s after which Teams re-delivers an activity.
LEASE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message a turn committed to send: an entry of the chat's outbox.

    `activity` is the Bot Framework activity to post (its `conversation` and `serviceUrl` say
    where), `reply_to` the inbound activity it answers (or None for a new message). With
    `label`, the id the channel gives the message is kept under that label in the chat
    (`ChatTurn.sent`); with `replaces`, the entry updates the message sent under that label in
    place instead of posting a new one. `seq` orders a chat's entries (the store assigns it at
    the commit); `attempts` and `due_at` (epoch seconds) pace the retries of an entry that
    could not be delivered yet.
    """

    activity: Mapping[str, Any]
    reply_to: str | None = None
    seq: int = 0
    attempts: int = 0
    due_at: float = 0.0
    label: str | None = None
    replaces: str | None = None
    #: The agent the message is for, when it goes to an agent's chat rather than the guest's
    #: (what the channel answers tells whether the agent can be reached).
    agent: str | None = None

    @property
    def conversation_id(self) -> str:
        """Where the entry goes; "" for a chat with an agent the channel has yet to create."""
        return str((self.activity.get("conversation") or {}).get("id") or "")


@dataclass(frozen=True, slots=True)
class Timer:
    """A turn to run on the chat at `due_at` (epoch seconds), exactly once: `key` names it in
    its chat (setting a key again moves it), `event` is what the turn is told (JSON)."""

    key: str
    due_at: float
    event: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AgentRecord:
    """What Crossdesk keeps of an agent between turns: how to reach them (their personal chat
    with the bot; `unreachable` once Teams refused it, until the agent writes again), whether
    they take chats, the guest chats they hold and the one their messages go to, and when a
    chat was last offered to them (epoch seconds; hunts start with whoever waited longest).
    `version` guards every write (0: never stored)."""

    agent_id: str
    conversation_id: str | None = None
    reference: Mapping[str, Any] | None = None
    available: bool = False
    chats: tuple[str, ...] = ()
    focus: str | None = None
    version: int = 0
    unreachable: bool = False
    last_offered: float = 0.0
    #: When each held chat was taken (epoch seconds).
    held_at: Mapping[str, float] = field(default_factory=dict)


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
    #: Transfers the turn tried and could not make (for the operations view).
    refused: Sequence[RefusedTransfer] = ()
    #: Messages to send, in order, after the commit (the store gives them their `seq`).
    outbox: Sequence[Outgoing] = ()
    #: Timers to set (or move) and keys of timers to drop; drops apply before sets.
    timers: Sequence[Timer] = ()
    cancel_timers: Sequence[str] = ()


class ChatTurn(Protocol):
    """One turn of one chat, holding the chat's lease: what the turn reads, and its commit."""

    @property
    def conversation_id(self) -> str: ...

    @property
    def event_id(self) -> str | None:
        """The event the turn runs (claimed at its commit), if any."""
        ...

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

    @property
    def holding(self) -> bool:
        """Whether the turn still holds the chat's lease."""
        ...

    @property
    def outbox(self) -> Sequence[Outgoing]:
        """The chat's undelivered messages, oldest first: those earlier turns left, and after
        the commit this turn's too."""
        ...

    @property
    def timers(self) -> Sequence[Timer]:
        """The chat's timers, as the turn found them."""
        ...

    @property
    def sent(self) -> Mapping[str, str]:
        """Ids the channel gave the chat's labelled messages, by label (`Outgoing.label`)."""
        ...

    async def commit(self, writes: TurnWrites) -> None:
        """Write `writes` (its outbox too) and claim the turn's event, atomically.

        The lease stays held while the chat has undelivered messages (deliver them, then
        `settle`); otherwise it is released with the commit. Sessions are version-guarded:
        `ConflictError`, with nothing written, if a session (or the chat's lease) changed hands
        since the turn began, which only a turn that outlived its lease can meet. Afterwards
        each written session's `version` is the stored one and its pending flow and transcript
        are empty. A turn commits at most once.
        """
        ...

    async def settle(
        self,
        *,
        delivered: Sequence[int] = (),
        postponed: Sequence[Outgoing] = (),
        sent: Mapping[str, str] | None = None,
        release: bool,
    ) -> None:
        """Record deliveries: the entries `delivered` (their `seq`; delivered, or given up on)
        leave the outbox; `postponed` entries are stored with their new `attempts` and
        `due_at`; `sent` keeps the ids of labelled messages; `release` ends the turn's hold on
        the chat."""
        ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An outbox entry the delivery gave up on (a webhook event whose receiver kept failing or
    refused it), kept for an admin to list and replay: `id` names it across chats, `at` is when
    it was given up (epoch seconds) and `reason` why."""

    id: str
    conversation_id: str
    entry: Outgoing
    reason: str
    at: float


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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One look at message text in the operations view: who, when, which chat, what they did
    (`view` or `export`) and whose transcripts (tenant ids) it showed. Never the text itself."""

    id: str
    at: datetime
    who: str
    who_id: str
    action: str
    conversation_id: str
    tenants: tuple[str, ...]


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
        self, conversation_id: str, event_id: str | None, *, wait: bool = True
    ) -> AbstractAsyncContextManager[ChatTurn | None]:
        """Run one turn of a chat exclusively, across every instance sharing the store.

        Takes the chat's lease, waiting while another turn holds it (at most until it expires),
        and renews it while the block runs. Yields None, holding nothing, when `event_id` was
        claimed by a committed turn already (a re-delivery: the turn must do nothing). Leaving
        the block releases the lease; without a commit, normally or by an exception, nothing
        is written. `event_id` None runs a turn that claims nothing (e.g. a delivery); with
        `wait` False, a chat another turn holds yields None at once.
        """
        ...

    async def due_chats(self, now: float, limit: int) -> list[str]:
        """Chats with outbox entries due by `now` (epoch seconds) that no turn holds: the
        deliveries a crashed or postponing turn left behind."""
        ...

    async def agent(self, agent_id: str) -> AgentRecord:
        """The agent's record (a new one, version 0, for an agent never stored)."""
        ...

    async def save_agent(self, record: AgentRecord) -> None:
        """Store `record` if nobody stored the agent since it was read (`version`), and bump
        its version; else `ConflictError`, nothing written: read it again and retry."""
        ...

    async def due_timers(self, now: float, limit: int) -> list[tuple[str, Timer]]:
        """(conversation id, timer) of timers due by `now`, earliest first: each is run as a
        turn of its chat, whose commit drops it."""
        ...

    async def history(self, conversation_id: str) -> ChatHistory:
        """Everything stored about a chat (no sessions for a chat never seen)."""
        ...

    async def keep_dead_letter(self, letter: DeadLetter) -> None:
        """Keep `letter` (once: keeping one with the same id again changes nothing)."""
        ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """Dead letters of every chat, oldest first (an admin's look, never a turn's)."""
        ...

    async def drop_dead_letter(self, letter: DeadLetter) -> None:
        """Forget `letter` (replayed); nothing happens when it is not kept."""
        ...

    def live_sessions(self) -> AsyncIterator[Session]:
        """Every active session of every chat (an admin's look across chats, not a turn's)."""
        ...

    async def search_sessions(self, search: SessionSearch) -> list[Session]:
        """Sessions of every chat that match `search`, newest start first, at most
        `search.limit` of them (an admin's look across chats, never a turn's)."""
        ...

    @property
    def reports(self) -> ReportStore:
        """The operations view's questions (live, history, reports), within a `Scope`."""
        ...

    async def record_audit(self, entry: AuditEntry) -> None:
        """Append `entry` to the audit log (never changed or removed by Crossdesk)."""
        ...

    async def audit_log(self, limit: int) -> list[AuditEntry]:
        """The newest `limit` entries of the audit log, newest first."""
        ...

    async def close(self) -> None: ...
