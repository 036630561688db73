"""The pipeline runtime: the one owner of every turn of a chat.

A turn is a straight line: take the chat (`Store.chat_turn`: its lease, its active session
with the position where it waits) → open a session at the front door if there is none →
route the event (a command, a repair of a stranded chat, or the waiting stage's input) →
follow transitions and transfers until a stage waits or the chat ends → commit everything,
the replies to send included (the outbox), as one atomic write → deliver the outbox
(`dialogs/delivery.py`). Stages (`pipeline/stages/`) decide what to say and where to go; the
runtime records, moves and transfers. Nothing here touches the SDK: the Teams edge (`bots/`)
hands events in through a `Channel` and posts the outbox through a `Sender`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, assert_never

from agents.actions import AgentChange, AgentInput, AgentVerb, Change, ChatLine
from agents.book import AgentBook
from agents.roster import Roster
from dialogs.conversation import (
    ABANDONED,
    Command,
    acknowledged_after_end,
    after_end_reply,
    command_of,
    guest_small_talk,
    went_idle,
)
from dialogs.delivery import (
    ADAPTIVE_CARD,
    Delivery,
    SendResult,
    Sent,
    Undeliverable,
    outgoing,
    requeue,
)
from dialogs.repair import Stranded, locate
from errors import PipelineError, StorageError
from integrations.events import change_of, letter_id
from integrations.events import events as session_events
from locales import Catalog, catalog, language_of
from locales.small_talk import small_talk_reply
from pipeline.calls import Call, CallResult
from pipeline.config import Config, StageRef, Tenant
from pipeline.markdown import escape_markdown
from pipeline.session import (
    GUEST_FACTS,
    Direction,
    EndReason,
    Position,
    Session,
    SessionState,
    TranscriptEntry,
    iso,
    utc_now,
)
from pipeline.stages.base import (
    Finish,
    Goto,
    GuestInput,
    Outcome,
    Reply,
    StageContext,
    Transfer,
    Wait,
)
from pipeline.transfer import RefusedTransfer, TransferRecord, TransferRefused, plan_transfer
from storage.base import ChatHistory, ChatTurn, DeadLetter, Outgoing, Store, Timer, TurnWrites

log = logging.getLogger(__name__)

#: Stages entered in one turn before the runtime stops a pipeline that never waits.
MAX_STAGES_PER_TURN = 100
#: Where a session's agent part stands (`connected`: webhooks are told).
AGENT_STATE = "Session.Agent.State"
#: Metadata naming the agent who handed a chat to another tenant.
TRANSFERRED_BY = "Session.TransferredBy."


# what starts a turn


@dataclass(frozen=True, slots=True)
class GuestMessage:
    """The guest typed a message or clicked a card button."""

    text: str | None = None
    value: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChatOpened:
    """Teams shows the chat: the guest added the app (`reinstalled`: once more)."""

    reinstalled: bool = False


@dataclass(frozen=True, slots=True)
class Wake:
    """A turn Crossdesk starts itself (a timer, an admin): the waiting stage shows its prompt
    again. A chat with no active session is left alone."""


#: Chats one idle check looks at, at most (the next minute's check takes the rest).
IDLE_CHECKS = 500


@dataclass(frozen=True, slots=True)
class IdleCheck:
    """A turn the sweeper starts on a chat that looks idle: closed as abandoned if its guest
    has been silent past the idle timeout, and nothing said either way."""


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer a waiting stage set came due (see `pipeline.stages.base.After`)."""

    key: str
    session_id: str
    pipeline: str
    stage: str
    name: str
    data: Mapping[str, Any] = field(default_factory=dict)
    #: What the waiting stage's request came to, when the stage makes one before this timer
    #: (the runtime makes it: `StageBase.call`).
    result: CallResult | None = None

    @classmethod
    def of(cls, timer: Timer) -> TimerFired:
        event = timer.event
        return cls(
            timer.key,
            str(event.get("session", "")),
            str(event.get("pipeline", "")),
            str(event.get("stage", "")),
            str(event.get("name", "")),
            event.get("data") or {},
        )


@dataclass(frozen=True, slots=True)
class AgentAction:
    """An agent acts on the chat from their own chat with the bot (accepts it, writes to the
    guest, ends it…); `reference` is the agent's chat, where replies to them go."""

    action: AgentInput
    reference: Mapping[str, Any] | None = None


Event = GuestMessage | ChatOpened | Wake | IdleCheck | TimerFired | AgentAction


def _timer_event_id(timer: Timer) -> str:
    """The event id a timer's turn claims: once per setting of the timer."""
    return f"timer:{timer.key}@{timer.event.get('set') or repr(timer.due_at)}"


class Channel(Protocol):
    """What a turn knows of the event's chat and guest (the Teams edge, or a test); its
    replies go out through the outbox, to the conversation reference stored for the chat."""

    def facts(self) -> Mapping[str, Any]:
        """`Guest.*` metadata the event carries (none for a turn Crossdesk started)."""
        ...

    async def profile(self) -> Mapping[str, Any]:
        """More `Guest.*` metadata, looked up when a chat opens a session (may be empty)."""
        ...

    def reference(self) -> Mapping[str, Any] | None:
        """The conversation reference of the event, to keep for proactive messages."""
        ...

    def reply_to(self) -> str | None:
        """The id of the inbound activity the turn's replies answer (None: new messages)."""
        ...


class Unprompted:
    """The `Channel` of a turn Crossdesk starts itself: no guest facts, new messages to the
    stored conversation reference."""

    def facts(self) -> Mapping[str, Any]:
        return {}

    async def profile(self) -> Mapping[str, Any]:
        return {}

    def reference(self) -> Mapping[str, Any] | None:
        return None

    def reply_to(self) -> str | None:
        return None


class Caller(Protocol):
    """Makes the requests stages describe (`integrations.http.OutboundClient`)."""

    async def call(self, call: Call) -> CallResult: ...


def typed_command(event: Event, locale: Any) -> Command | None:
    """The command the guest typed, if the whole message is one."""
    if not isinstance(event, GuestMessage) or event.value is not None:
        return None
    return command_of(event.text, locale if isinstance(locale, str) else None)


# one turn's work


@dataclass(slots=True)
class _Turn:
    """What a turn has done so far: the session the chat is on, every session it changed, the
    rebinding, transfers, and the replies in the order they go out."""

    chat: ChatTurn
    event_id: str | None
    now: datetime
    session: Session | None
    changed: dict[str, Session] = field(default_factory=dict)
    bound: str | None = None
    reference: Mapping[str, Any] | None = None
    transfers: list[TransferRecord] = field(default_factory=list)
    refused: list[RefusedTransfer] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    entered: int = 0
    #: Whether this turn opened the chat's session (its pipeline then starts).
    opened: bool = False
    #: Timers the stages set in this turn, by key; the timer that started the turn, if one did.
    timers: dict[str, Timer] = field(default_factory=dict)
    fired: str | None = None
    #: The message that opened the session, to answer the new chat's first question with.
    opening: GuestInput | None = None
    #: What the guest is told before a new session's pipeline starts (an idle chat closed).
    notice: Reply | None = None
    #: The tenant's agents, loaded when the chat waits at a stage that works with agents.
    roster: Roster | None = None
    #: Where each agent's chat is, as the agent's own action showed it (fresher than stored).
    agent_chats: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    #: What the turn changed for agents, applied after its commit.
    agent_changes: list[AgentChange] = field(default_factory=list)
    #: The state and agent state of the session the chat was on when the turn began (what
    #: webhook events compare with).
    before: dict[str, tuple[SessionState, Any]] = field(default_factory=dict)

    @property
    def current(self) -> Session:
        assert self.session is not None, "the turn has a session from its first step"
        return self.session

    def track(self, session: Session) -> None:
        """Write `session` at the commit (replacing an older copy of it)."""
        self.changed[session.id] = session

    def move_to(self, session: Session) -> None:
        """Bind the chat to `session` (new, or the receiving end of a transfer)."""
        self.track(session)
        self.session = session
        self.bound = session.id

    def say(self, replies: Sequence[Reply]) -> None:
        """Send `replies` at the end of the turn; record those for the guest (and notes, which
        go to nobody) in the current transcript."""
        for reply in replies:
            if reply.typing:
                self.replies.append(reply)
                continue
            if reply.text is None and reply.card is None:
                continue
            if not reply.internal:
                self.replies.append(reply)
            if reply.agent is not None:
                continue
            self.current.record(
                TranscriptEntry(
                    Direction.OUT,
                    self.now,
                    text=reply.text,
                    attachments=(
                        ({"contentType": ADAPTIVE_CARD, "content": reply.card},)
                        if reply.card is not None
                        else ()
                    ),
                    author=reply.author,
                    internal=reply.internal,
                )
            )

    def writes(self, outbox: Sequence[Outgoing]) -> TurnWrites:
        # A stage's timers live while the chat waits at that stage of that session.
        waiting = {
            (s.id, s.position.pipeline, s.position.stage)
            for s in self.changed.values()
            if s.is_active and s.position is not None
        }

        def alive(timer: Timer) -> bool:
            event = timer.event
            return (event.get("session"), event.get("pipeline"), event.get("stage")) in waiting

        timers = [timer for timer in self.timers.values() if alive(timer)]
        kept = {timer.key for timer in timers}
        cancelled = [
            timer.key
            for timer in self.chat.timers
            if timer.key not in kept and (timer.key == self.fired or not alive(timer))
        ]
        return TurnWrites(
            sessions=list(self.changed.values()),
            bound_session_id=self.bound,
            reference=self.reference,
            transfers=self.transfers,
            refused=self.refused,
            outbox=outbox,
            timers=timers,
            cancel_timers=cancelled,
        )


class Runtime:
    """Runs turns of chats over one configuration and one store; `delivery` sends what they
    commit."""

    def __init__(
        self,
        config: Config,
        store: Store,
        delivery: Delivery,
        *,
        clock: Callable[[], datetime] = utc_now,
        caller: Caller | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.delivery = delivery
        self.clock = clock
        #: Makes the requests of `http_request` stages (None: every request fails, refused).
        self.caller = caller
        self.agents = AgentBook(config.agents, store, clock=lambda: self.clock().timestamp())

    async def run_turn(
        self, conversation_id: str, event: Event, *, event_id: str | None, channel: Channel
    ) -> bool:
        """Run one turn of a chat; False, having done nothing, when `event_id` already ran.

        `event_id` makes the turn exactly-once: an inbound activity's id, or a unique id a
        proactive caller chooses (e.g. a timer's), claimed in the turn's commit.
        """
        turn: _Turn | None = None
        async with self.store.chat_turn(conversation_id, event_id) as chat:
            if chat is not None:
                turn = await self._run(chat, event, channel)
        if turn is not None:
            await self._after(turn)
            return True
        log.info("chat %s: event %s ran before; ignored", conversation_id, event_id)
        # The channel re-delivers an event whose answer it did not get: if its turn committed
        # but died delivering, deliver what it left now rather than at the next sweep.
        await self.deliver_pending(conversation_id)
        return False

    async def deliver_pending(self, conversation_id: str) -> None:
        """Deliver what a chat's outbox holds (after the turn holding the chat, if one does:
        a dead process's lease expires within `LEASE_SECONDS`, well inside Teams' 15 s)."""
        async with self.store.chat_turn(conversation_id, None) as chat:
            if chat is not None and chat.outbox:
                await self.delivery.deliver(chat)

    async def _run(self, chat: ChatTurn, event: Event, channel: Channel) -> _Turn:
        """The turn's straight line, under the chat's lease."""
        turn = _Turn(chat, chat.event_id, self.clock(), chat.session)
        if chat.session is not None:
            metadata = chat.session.metadata
            turn.before[chat.session.id] = (chat.session.state, metadata.get(AGENT_STATE))
        if await self._take_in(turn, event, channel):
            history = await self._prepare(turn, event)
            if isinstance(event, TimerFired):
                event = await self._call(turn, event)
            self._route(
                turn,
                event if history is None else self._with_history(event, history, turn.current),
            )
        elif isinstance(event, AgentAction):
            self._gone(turn, event)
        outbox = [*await self._outbox(turn, channel), *self._events(turn)]
        await chat.commit(turn.writes(outbox))
        await self.delivery.deliver(chat)
        return turn

    def _events(self, turn: _Turn) -> list[Outgoing]:
        """Webhook events for what the turn did to its sessions (committed with the turn)."""
        hooks = self.config.file.webhooks
        if not hooks:
            return []
        changes = []
        for session in turn.changed.values():
            if session.version == 0:
                before = None
            else:
                now = (session.state, session.metadata.get(AGENT_STATE))
                before = turn.before.get(session.id, now)
            changes.append(change_of(session, before))
        return session_events(changes, hooks, now=turn.now)

    async def replay(self, letter: DeadLetter) -> None:
        """Put a dead letter back at the end of its chat's outbox and deliver it."""
        await requeue(self.store, letter)
        await self.deliver_pending(letter.conversation_id)

    async def keep_dead_letter(self, conversation_id: str, entry: Outgoing, reason: str) -> None:
        """`Delivery.dead_letter`: keep a webhook event the delivery gave up on."""
        letter = DeadLetter(
            letter_id(entry), conversation_id, entry, reason, self.clock().timestamp()
        )
        await self.store.keep_dead_letter(letter)

    async def _after(self, turn: _Turn) -> None:
        """After the commit, the lease let go: what the turn changed for agents, then the
        turns of timers it set to fire at once (a stage that needs the agents as stored)."""
        conversation_id = turn.chat.conversation_id
        if turn.agent_changes:
            try:
                await self.agents.apply(conversation_id, turn.agent_changes)
            except StorageError as error:
                # A reservation left behind is let go when the agent is next found full.
                log.error("chat %s: agents' records not updated: %s", conversation_id, error)
        now = turn.now.timestamp()
        for timer in turn.timers.values():
            if timer.due_at <= now:
                try:
                    await self.run_unprompted(
                        conversation_id,
                        TimerFired.of(timer),
                        event_id=_timer_event_id(timer),
                    )
                except (StorageError, PipelineError) as error:
                    # The timer stays stored and due: the sweeper runs it.
                    log.error("chat %s: a timer due now failed: %s", conversation_id, error)

    async def _prepare(self, turn: _Turn, event: Event) -> ChatHistory | None:
        """Load what the waiting stage needs beyond the chat: the tenant's agents, and for an
        agent's accept the chat's history (what the guest said in every tenant)."""
        session = turn.session
        if session is None or session.position is None:
            return None
        where = locate(self.config, session)
        if isinstance(where, Stranded) or not where.stage.uses_agents:
            return None
        needed = where.stage.agents_needed(session.position.kept)
        if needed is not None and isinstance(event, AgentAction):
            needed = {*needed, event.action.agent_id}
        turn.roster = await self.agents.roster(where.tenant.id, needed)
        if isinstance(event, AgentAction):
            if event.reference is not None:
                turn.agent_chats[event.action.agent_id] = event.reference
            if event.action.verb is AgentVerb.ACCEPT:
                return await self.store.history(turn.chat.conversation_id)
        return None

    async def _call(self, turn: _Turn, event: TimerFired) -> TimerFired:
        """Make the request the waiting stage asks for before its timer fires (inside the turn:
        a crash before the commit leaves the timer due, and the request is made again with the
        same idempotency key). The guest was shown a typing indicator when the chat got here."""
        session = turn.session
        position = session.position if session is not None else None
        if (
            session is None
            or position is None
            or event.session_id != session.id
            or (position.pipeline, position.stage) != (event.pipeline, event.stage)
        ):
            return event
        where = locate(self.config, session)
        if isinstance(where, Stranded):
            return event
        call = where.stage.call(self._context(turn, where), event.name)
        if call is None:
            return event
        if self.caller is None:
            result = CallResult(0, None, "refused: no outbound client")
        else:
            result = await self.caller.call(call)
        return replace(event, result=result)

    async def close_idle_chats(self) -> int:
        """Close the chats whose guest has been silent past their tenant's idle timeout, each
        in a turn of its own (exactly once across instances); chats that wait for an agent or
        have one are left to their stage. How many chats were looked at again."""
        now = self.clock()
        shortest = min(self.config.idle_timeout(t) for t in self.config.tenant_names)
        checked = 0
        for row in await self.store.reports.quiet(now - shortest, IDLE_CHECKS):
            if row.waiting or row.with_agent:
                continue
            if row.last_activity_at + self.config.idle_timeout(row.tenant_id) > now:
                continue
            stamp = int(row.last_activity_at.timestamp())
            await self.run_unprompted(
                row.conversation_id, IdleCheck(), event_id=f"idle:{row.session_id}:{stamp}"
            )
            checked += 1
        return checked

    async def fire_due_timers(self, limit: int = 100) -> int:
        """Run the turns of the timers due now (each exactly once, however many instances
        fire them); how many were found due."""
        due = await self.store.due_timers(self.clock().timestamp(), limit)
        for conversation_id, timer in due:
            await self.run_unprompted(
                conversation_id,
                TimerFired.of(timer),
                event_id=_timer_event_id(timer),
            )
        return len(due)

    async def run_unprompted(self, conversation_id: str, event: Event, *, event_id: str) -> bool:
        """Run a turn Crossdesk starts itself (a timer, an admin's command, an agent's action
        in another chat) on a chat by its conversation id; its replies go to the conversation
        reference stored for the chat. `event_id` makes it exactly-once across instances."""
        return await self.run_turn(conversation_id, event, event_id=event_id, channel=Unprompted())

    async def _outbox(self, turn: _Turn, channel: Channel) -> list[Outgoing]:
        if not turn.replies:
            return []
        reference = turn.reference or turn.chat.reference
        if reference is None and any(reply.agent is None for reply in turn.replies):
            raise PipelineError(
                f"chat {turn.chat.conversation_id} has no conversation reference to send to"
            )
        reply_to = channel.reply_to()
        entries = []
        for reply in turn.replies:
            if reply.agent is None:
                assert reference is not None
                entry = outgoing(reference, reply, reply_to)
            else:
                agent_chat = await self._agent_chat(turn, reply.agent, reference)
                if agent_chat is None:
                    log.warning("agent %s has no chat with the bot: message dropped", reply.agent)
                    continue
                entry = replace(outgoing(agent_chat, reply, None), agent=reply.agent)
            entries.append(replace(entry, label=reply.label, replaces=reply.replaces))
        return entries

    async def _agent_chat(
        self, turn: _Turn, agent_id: str, guest_chat: Mapping[str, Any] | None
    ) -> Mapping[str, Any] | None:
        """Where a message for the agent goes: their chat with the bot; for an agent who never
        wrote to it, a new one the channel creates for them in the guest's Teams tenant."""
        if agent_id in turn.agent_chats:
            return turn.agent_chats[agent_id]
        if turn.session is None or guest_chat is None:
            return None
        if turn.roster is None:
            turn.roster = await self.agents.roster(turn.current.tenant_id)
        state = turn.roster.get(agent_id)
        if state is not None and state.reference is not None:
            return state.reference
        agent = self.config.agents.by_id.get(agent_id)
        if agent is None or agent.aad_object_id is None:
            return None
        conversation = guest_chat.get("conversation") or {}
        return {
            "bot": guest_chat.get("bot"),
            "user": {"id": agent.aad_object_id, "name": agent.name},
            "conversation": {
                "id": "",
                "conversationType": "personal",
                **({"tenantId": conversation["tenantId"]} if conversation.get("tenantId") else {}),
            },
            "channelId": guest_chat.get("channelId"),
            "serviceUrl": guest_chat.get("serviceUrl"),
        }

    async def agent_delivery(self, entry: Outgoing, result: SendResult) -> None:
        """What a message for an agent came to (`Delivery.observe`): an agent Teams refuses is
        skipped from now on; a chat the channel created for them is kept."""
        agent_id = entry.agent
        if agent_id is None or agent_id not in self.config.agents.by_id:
            return
        try:
            match result:
                case Undeliverable(reason=reason):
                    await self.agents.unreachable(agent_id, reason)
                case Sent(conversation_id=str(created)):
                    activity = entry.activity
                    await self.agents.moved(
                        agent_id,
                        {
                            "bot": activity.get("from"),
                            "user": activity.get("recipient"),
                            "conversation": {**(activity.get("conversation") or {}), "id": created},
                            "channelId": activity.get("channelId"),
                            "serviceUrl": activity.get("serviceUrl"),
                        },
                    )
                case _:
                    pass
        except StorageError as error:
            log.error("agent %s: record not updated after a delivery: %s", agent_id, error)

    async def tell(
        self,
        conversation_id: str,
        reference: Mapping[str, Any],
        replies: Sequence[Reply],
        *,
        event_id: str | None,
    ) -> bool:
        """Answer an event in a chat that is no guest's (an agent's own chat with the bot):
        `replies` are sent once however often the event is delivered; False when it was."""
        async with self.store.chat_turn(conversation_id, event_id) as chat:
            if chat is None:
                return False
            reply_to = None
            entries = [
                replace(outgoing(reference, reply, reply_to), label=reply.label)
                for reply in replies
                if reply.text is not None or reply.card is not None
            ]
            await chat.commit(TurnWrites(outbox=entries))
            await self.delivery.deliver(chat)
        return True

    # the steps of a turn

    async def _take_in(self, turn: _Turn, event: Event, channel: Channel) -> bool:
        """Find the chat's session (closing it if it went idle; opening one at the front door
        if there is none) and record the event; False when the turn has nothing more to do."""
        reference = channel.reference()
        if reference is not None and reference != turn.chat.reference:
            turn.reference = reference
        if isinstance(event, TimerFired):
            turn.fired = event.key
        ended: Session | None = None
        if turn.session is not None:
            ended = self._close_if_idle(turn, turn.session)
        if isinstance(event, IdleCheck):
            return False
        if turn.session is None:
            if isinstance(event, Wake | TimerFired | AgentAction):
                return False
            if isinstance(event, GuestMessage):
                ended = ended or await self._last_session(turn)
                if self._after_end(turn, event, ended, channel.facts()):
                    return False
                if ended and ended.metadata.get("Session.Status.Resolution") == ABANDONED:
                    # Closed by a turn Crossdesk started: this message is the guest's first since.
                    turn.notice = self._idle_notice(ended)
            guest = {k: v for k, v in (ended.metadata if ended else {}).items() if k in GUEST_FACTS}
            facts = {**guest, **channel.facts(), "Guest.IsNew": not turn.chat.known}
            self._open_front_door(turn, {**facts, **await channel.profile()})
            turn.opened = True
            if isinstance(event, GuestMessage) and event.value is None and event.text:
                metadata = turn.current.metadata
                if not typed_command(event, metadata.get("Guest.Locale")) and not (
                    guest_small_talk(event.text, metadata)
                ):
                    turn.opening = GuestInput(text=event.text)
        session = turn.current
        turn.track(session)
        if isinstance(event, GuestMessage):
            # Install events carry less than messages (no name, no client info): complete.
            for key, value in channel.facts().items():
                session.metadata.setdefault(key, value)
            self._record(turn, session, event)
        return True

    def _record(self, turn: _Turn, session: Session, event: GuestMessage) -> None:
        session.record(
            TranscriptEntry(
                Direction.IN,
                turn.now,
                text=event.text,
                value=dict(event.value) if event.value is not None else None,
                activity_id=turn.event_id,
            )
        )

    def _close_if_idle(self, turn: _Turn, session: Session) -> Session | None:
        """Close the chat's session as abandoned if its guest has been silent for its
        tenant's idle timeout (as of when it went idle); the session, or None."""
        timeout = self.config.idle_timeout(session.tenant_id)
        idle_since = went_idle(session, timeout, turn.now)
        if idle_since is None:
            return None
        log.info(
            "chat %s: session %s idle since %s; closed as abandoned",
            session.conversation_id,
            session.id,
            iso(idle_since),
        )
        session.metadata["Session.Status.Resolution"] = ABANDONED
        session.end(SessionState.ENDED, idle_since, EndReason.ABANDONED)
        turn.track(session)
        turn.session = None
        turn.notice = self._idle_notice(session)
        return session

    def _idle_notice(self, session: Session) -> Reply:
        """The line that tells a guest their chat was closed for want of messages."""
        texts = self._texts(session)
        timeout = self.config.idle_timeout(session.tenant_id)
        duration = texts.duration(timeout)
        name = self._tenant_name(session)
        return Reply(text=texts.text("chat.idle_closed", tenant=name, duration=duration))

    async def _last_session(self, turn: _Turn) -> Session | None:
        """The chat's latest session when it has no active one (read only on that path)."""
        if not turn.chat.known:
            return None
        sessions = (await self.store.history(turn.chat.conversation_id)).sessions
        return sessions[-1] if sessions else None

    def _after_end(
        self, turn: _Turn, event: GuestMessage, ended: Session | None, facts: Mapping[str, Any]
    ) -> bool:
        """Answer a message to a chat that has ended when it starts nothing new: a click on
        one of its cards, 'end chat', or a thanks or OK soon after the end. Only the answer is
        kept (in the outbox): a turn writes the sessions it read, and an ended one is not."""
        metadata = {**(ended.metadata if ended else {}), **facts}
        locale = metadata.get("Guest.Locale")
        tenant = ended.tenant_id if ended else self.config.front_door.id
        texts = catalog(language_of(locale), self.config.default_language(tenant))
        kind = guest_small_talk(event.text, metadata) if event.value is None else None
        if GuestInput(value=event.value).submit is not None:
            reply = texts.text("chat.ended_card")
        elif acknowledged_after_end(kind, ended, turn.now) and kind is not None:
            reply = after_end_reply(kind, texts)
        elif typed_command(event, locale) is Command.END_CHAT:
            reply = texts.text("chat.nothing_to_end")
        else:
            return False
        turn.replies.append(Reply(text=reply))
        return True

    def _route(self, turn: _Turn, event: Event) -> None:
        """Do what the event asks of the chat's session."""
        session = turn.current
        if turn.opened:
            # The event that opened the session starts its pipeline (a message that says
            # something answers its first question, see `_follow`).
            if turn.notice is not None:
                turn.say([turn.notice])
            self._start(turn, self.config.front_door)
            return
        if isinstance(event, TimerFired):
            self._timer(turn, event)
            return
        if isinstance(event, AgentAction):
            self._agent(turn, event)
            return
        command = typed_command(event, session.metadata.get("Guest.Locale"))
        where = locate(self.config, session)
        if command is Command.END_CHAT:
            self._end_chat(turn, None if isinstance(where, Stranded) else where)
            return
        if isinstance(where, Stranded):
            self._repair(turn, where)
            return
        context = self._context(turn, where)
        match command:
            case Command.HELP:
                self._help(turn, where, context)
            case Command.START_OVER:
                self._start_over(turn, where)
            case Command.HUMAN:
                self._person_asked(turn, event, where, context)
            case None:
                self._resume(turn, event, where, context)
            case _:
                assert_never(command)

    def _agent(self, turn: _Turn, event: AgentAction) -> None:
        """An agent's action: the waiting stage decides (one that works with agents checks
        the agent may act on this chat)."""
        where = locate(self.config, turn.current)
        if isinstance(where, Stranded):
            self._gone(turn, event)
            return
        context = self._context(turn, where)
        self._follow(turn, where, where.stage.on_agent(context, event.action))

    def _gone(self, turn: _Turn, event: AgentAction) -> None:
        """An agent's action on a chat that ended (or never was)."""
        agent_id = event.action.agent_id
        if event.reference is not None:
            turn.agent_chats[agent_id] = event.reference
        turn.replies.append(Reply(text="That chat has ended: nothing was changed.", agent=agent_id))
        turn.agent_changes.append(AgentChange(agent_id, Change.RELEASE))

    def _resume(self, turn: _Turn, event: Event, ref: StageRef, context: StageContext) -> None:
        match event:
            case GuestMessage(text=text, value=value):
                metadata = turn.current.metadata
                kind = guest_small_talk(text, metadata) if value is None else None
                if kind is not None and ref.stage.hears_small_talk:
                    reply = small_talk_reply(kind, self._texts(turn.current), metadata)
                    turn.say([Reply(text=reply), *ref.stage.prompt(context)])
                    return
                outcome = ref.stage.on_input(context, GuestInput(text=text, value=value))
                self._follow(turn, ref, outcome)
            case ChatOpened(reinstalled=reinstalled):
                # A re-install (or a client that reloads) shows an empty chat: where it stands.
                if reinstalled and turn.current.last_guest_at is not None:
                    turn.say(ref.stage.prompt(context))
            case Wake():
                turn.say(ref.stage.prompt(context))
            case IdleCheck():
                raise AssertionError("an idle check ends in its chat's take-in")
            case TimerFired() | AgentAction():
                raise AssertionError("timers and agents' actions are routed apart")
            case _:
                assert_never(event)

    def _timer(self, turn: _Turn, event: TimerFired) -> None:
        """A stage's timer: the stage decides, if the chat still waits where it set it."""
        session = turn.current
        position = session.position
        if (
            position is None
            or event.session_id != session.id
            or (position.pipeline, position.stage) != (event.pipeline, event.stage)
        ):
            return  # the chat moved on: the timer is stale (and dropped with the commit)
        where = locate(self.config, session)
        if isinstance(where, Stranded):
            return
        context = self._context(turn, where)
        if event.result is not None:
            self._follow(turn, where, where.stage.on_result(context, event.result))
            return
        self._follow(turn, where, where.stage.on_timer(context, event.name, event.data))

    def _follow(self, turn: _Turn, ref: StageRef, outcome: Outcome) -> None:
        """Send the stage's replies and go where it says, until a stage waits or the chat ends."""
        while True:
            if turn.opening is not None and isinstance(outcome.next, Wait):
                # The new chat's first wait: a question takes the message that opened the chat
                # as its answer (without asking what was already said); elsewhere the message
                # stays in the transcript.
                opening, turn.opening = turn.opening, None
                if ref.stage.takes_opening_message:
                    turn.current.position = self._waiting(
                        turn.current, ref, outcome.next.keep, turn.now
                    )
                    outcome = ref.stage.on_input(self._context(turn, ref), opening)
                    continue
            turn.say(outcome.replies)
            turn.agent_changes.extend(outcome.agents)
            session = turn.current
            match outcome.next:
                case Wait(keep=keep):
                    session.position = self._waiting(session, ref, keep, turn.now)
                    for after in outcome.timers:
                        key = f"{session.id}/{ref.pipeline}/{ref.stage.key}/{after.name}"
                        event = {
                            "session": session.id,
                            "pipeline": ref.pipeline,
                            "stage": ref.stage.key,
                            "name": after.name,
                            "data": dict(after.data),
                            # Each setting of a timer fires once, whenever it is due.
                            "set": uuid.uuid4().hex,
                        }
                        due = turn.now.timestamp() + after.seconds
                        turn.timers[key] = Timer(key, due, event)
                    return
                case Goto(key=key):
                    if key is None:
                        session.end(SessionState.ENDED, turn.now, EndReason.NO_RESOLUTION)
                        return
                    ref = self.config.stage(ref.tenant.id, ref.pipeline, key)
                    outcome = self._enter(turn, ref)
                case Finish(resolution=resolution):
                    session.metadata["Session.Status.Resolution"] = resolution
                    # An agent may close a chat unresolved: the ending says what they said.
                    resolved = session.metadata.get("Session.Status.IsResolved") is not False
                    reason = EndReason.RESOLVED if resolved else EndReason.NO_RESOLUTION
                    session.end(SessionState.ENDED, turn.now, reason)
                    return
                case Transfer() as transfer:
                    ref, outcome = self._transfer(turn, ref, transfer)
                case _:
                    assert_never(outcome.next)

    @staticmethod
    def _waiting(
        session: Session, ref: StageRef, keep: Mapping[str, Any], now: datetime
    ) -> Position:
        """The position of a chat that waits at `ref` (waiting there since it first did)."""
        stage, before = ref.stage, session.position
        same = before is not None and (before.pipeline, before.stage) == (ref.pipeline, stage.key)
        since = before.since if same and before is not None else now
        return Position(ref.pipeline, stage.key, stage.type_name, since, dict(keep))

    def _enter(self, turn: _Turn, ref: StageRef) -> Outcome:
        turn.entered += 1
        if turn.entered > MAX_STAGES_PER_TURN:
            raise PipelineError(
                f"pipeline {ref.tenant.id}/{ref.pipeline} entered {MAX_STAGES_PER_TURN} stages"
                f" in one turn without waiting for the guest (last: {ref.stage.key})"
            )
        turn.current.enter(ref.stage.key, ref.stage.type_name, ref.pipeline, turn.now)
        return ref.stage.enter(self._context(turn, ref))

    def _start(self, turn: _Turn, tenant: Tenant) -> None:
        """Run `tenant`'s primary pipeline from its first stage."""
        ref = self.config.first_stage(tenant.id, tenant.primary_pipeline)
        self._follow(turn, ref, self._enter(turn, ref))

    def _transfer(self, turn: _Turn, ref: StageRef, transfer: Transfer) -> tuple[StageRef, Outcome]:
        """Hand the chat over (or tell the guest why not): where the turn goes on."""
        sending = turn.current
        plan = plan_transfer(
            self.config, sending, transfer.tenant_id, activity_id=turn.event_id, now=turn.now
        )
        if isinstance(plan, TransferRefused):
            log.warning(
                "transfer refused: session %s, stage %s/%s: %s",
                sending.id,
                ref.tenant.id,
                ref.stage.key,
                plan.reason,
            )
            turn.refused.append(
                RefusedTransfer(
                    conversation_id=sending.conversation_id,
                    session_id=sending.id,
                    from_tenant_id=sending.tenant_id,
                    to_tenant_id=transfer.tenant_id,
                    reason=plan.reason,
                    at=turn.now,
                    hop=sending.hops,
                )
            )
            return ref, Outcome([Reply(text=transfer.failure_text)], Goto(transfer.on_failure))
        log.info(
            "transferred session %s (%s) to session %s (%s)",
            plan.sending.id,
            plan.sending.tenant_id,
            plan.receiving.id,
            plan.receiving.tenant_id,
        )
        # Who handed the chat over (an agent) shows on both sides.
        plan.receiving.metadata.update(
            {k: v for k, v in plan.sending.metadata.items() if k.startswith(TRANSFERRED_BY)}
        )
        turn.track(plan.sending)
        turn.move_to(plan.receiving)
        turn.transfers.append(plan.record)
        context = self._context(turn, ref)
        turn.say([Reply(card=context.card(transfer.template, plan.card_data()))])
        target = self.config.tenants[plan.receiving.tenant_id]
        first = self.config.first_stage(target.id, target.primary_pipeline)
        return first, self._enter(turn, first)

    # commands and repairs

    def _help(self, turn: _Turn, ref: StageRef, context: StageContext) -> None:
        guidance = ref.stage.help(context)
        text = context.texts.text(
            "chat.help", tenant=ref.tenant.name, waiting_for=guidance.waiting_for
        )
        turn.say([Reply(text=text), *guidance.replies])

    def _person_asked(
        self, turn: _Turn, event: Event, ref: StageRef, context: StageContext
    ) -> None:
        """The guest asked for a person: where the waiting stage offers a way to one (a choice
        of that name, or the one leading to agents), take it; else say there is no one."""
        if isinstance(event, GuestMessage):
            stages = ref.tenant.pipelines[ref.pipeline].stages
            to_agents = frozenset(s.key for s in stages if s.uses_agents)
            guest = GuestInput(text=event.text, value=event.value)
            outcome = ref.stage.on_person_asked(context, guest, to_agents)
            if outcome is not None:
                self._follow(turn, ref, outcome)
                return
        self._no_person_here(turn, ref, context)

    def _no_person_here(self, turn: _Turn, ref: StageRef, context: StageContext) -> None:
        """The guest asked for a person: say plainly this chat has none, and where it is (at
        a stage that connects to agents, where that stands)."""
        guidance = ref.stage.help(context)
        if ref.stage.uses_agents:
            turn.say([Reply(text=guidance.waiting_for), *guidance.replies])
            return
        text = context.texts.text(
            "chat.human", tenant=ref.tenant.name, waiting_for=guidance.waiting_for
        )
        turn.say([Reply(text=text), *guidance.replies])

    def _end_chat(self, turn: _Turn, where: StageRef | None) -> None:
        session = turn.current
        if where is not None:
            leaving = where.stage.on_guest_leaving(self._context(turn, where))
            if isinstance(leaving.next, Goto) and leaving.next.key is not None:
                # The stage sends the guest on (e.g. to leave a message) instead of ending.
                self._follow(turn, where, leaving)
                return
            turn.say(leaving.replies)
            turn.agent_changes.extend(leaving.agents)
        text = self._texts(session).text("chat.ended_by_guest", tenant=self._tenant_name(session))
        turn.say([Reply(text=text)])
        session.metadata["Session.Status.Resolution"] = "ended by guest"
        session.end(SessionState.ENDED, turn.now, EndReason.GUEST_ENDED)

    def _start_over(self, turn: _Turn, where: StageRef) -> None:
        old = turn.current
        leaving = where.stage.on_guest_leaving(self._context(turn, where))
        turn.say(leaving.replies)
        turn.agent_changes.extend(leaving.agents)
        turn.say([Reply(text=self._texts(old).text("chat.start_over"))])
        old.metadata["Session.Status.Resolution"] = "started over by guest"
        old.end(SessionState.ENDED, turn.now, EndReason.GUEST_ENDED)
        guest = {k: v for k, v in old.metadata.items() if k in GUEST_FACTS}
        self._open_front_door(turn, {**guest, "Guest.IsNew": False})
        self._start(turn, self.config.front_door)

    def _repair(self, turn: _Turn, stranded: Stranded) -> None:
        """Move a stranded chat on, keeping its data, and tell the guest plainly."""
        session = turn.current
        log.warning("chat %s: %s", session.conversation_id, stranded.describe(self.config))
        texts = self._texts(session)
        if not stranded.to_front_door:
            tenant = self.config.tenants[session.tenant_id]
            turn.say([Reply(text=texts.text("chat.restarted", tenant=tenant.name))])
            self._start(turn, tenant)
            return
        front_door = self.config.front_door
        moved = texts.text(
            "chat.moved_to_front_door",
            tenant=self._tenant_name(session),
            front_door=front_door.name,
        )
        turn.say([Reply(text=moved)])
        session.metadata["Session.Status.Resolution"] = "tenant no longer available"
        session.end(SessionState.ENDED, turn.now, EndReason.NO_RESOLUTION)
        carried = {k: v for k, v in session.metadata.items() if not k.startswith("Session.")}
        self._open_front_door(turn, carried)
        self._start(turn, front_door)

    def _open_front_door(self, turn: _Turn, metadata: Mapping[str, Any]) -> None:
        """Open a session at the front door and bind the chat to it."""
        front_door = self.config.front_door
        session = Session.open(
            conversation_id=turn.chat.conversation_id,
            tenant_id=front_door.id,
            tenant_name=front_door.name,
            metadata=dict(metadata),
            now=turn.now,
        )
        log.info("session %s opened at the front door %s", session.id, front_door.id)
        turn.move_to(session)

    def _with_history(self, event: Event, history: ChatHistory, current: Session) -> Event:
        """An agent's accept, with what was said in the chat so far in every tenant it passed
        through: the current session and those it was transferred from, never an earlier
        chat of the same Teams conversation (one the guest ended, or started over from)."""
        assert isinstance(event, AgentAction)
        agents = self.config.agents.by_id
        by_id = {session.id: session for session in history.sessions}
        chain: list[Session] = []
        at: Session | None = by_id.get(current.id, current)
        while at is not None and all(at.id != s.id for s in chain):
            chain.append(at)
            at = by_id.get(str(at.metadata.get("Session.TransferredFrom.SessionId") or ""))
        lines = []
        for session in reversed(chain):
            tenant = str(session.metadata.get("Session.TenantName", session.tenant_id))
            guest = str(session.metadata.get("Guest.Name") or "Guest")
            for entry in history.transcripts.get(session.id, ()):
                if not entry.text:
                    continue
                text = escape_markdown(entry.text)
                if entry.direction is Direction.IN:
                    author = guest
                elif entry.author is not None and entry.author.startswith("agent:"):
                    agent = agents.get(entry.author.removeprefix("agent:"))
                    author = agent.name if agent else "Agent"
                    if entry.internal:
                        author += " (note)"
                    else:  # a relayed line, sent escaped after its author's name
                        text = entry.text.removeprefix(f"{escape_markdown(author)}: ")
                else:
                    continue
                lines.append(ChatLine(tenant, author, text, entry.at))
        return replace(event, action=replace(event.action, history=tuple(lines)))

    # helpers

    def _context(self, turn: _Turn, ref: StageRef) -> StageContext:
        session = turn.current
        position = session.position
        here = position and (position.pipeline, position.stage) == (ref.pipeline, ref.stage.key)
        kept = position.kept if here and position else {}
        return StageContext(
            self.config.templates,
            ref.tenant.id,
            ref.pipeline,
            ref.stage.key,
            session,
            turn.now,
            kept,
            default_language=self.config.default_language(ref.tenant.id),
            tenant_names=self.config.tenant_names,
            hours=self.config.hours,
            choice_names=self.config.choice_names(ref),
            roster=turn.roster,
        )

    def _texts(self, session: Session) -> Catalog:
        """Crossdesk's own texts for the session's guest."""
        return catalog(
            language_of(session.metadata.get("Guest.Locale")),
            self.config.default_language(session.tenant_id),
        )

    def _tenant_name(self, session: Session) -> str:
        tenant = self.config.tenants.get(session.tenant_id)
        if tenant is not None:
            return tenant.name
        return str(session.metadata.get("Session.TenantName", session.tenant_id))
