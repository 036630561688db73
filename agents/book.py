"""The agents' records: how to reach each agent, whether they take chats, the chats they hold.

An agent's record is one small document, written version-guarded (`Store.save_agent`) so that
instances sharing a store never lose each other's changes: every change here reads the record,
changes it and saves it, again on a conflict. A chat is *reserved* for an agent on their record
before the guest's chat is told they accepted, so that the agent's `max_chats` is never
exceeded, however many accepts race on however many instances; the guest's chat decides who won
and the losers' reservations are released (`apply`). A reservation that outlived a crash is let
go when the agent is full and the chat shows they do not hold it (`reserve`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from agents.actions import AgentChange, Change
from agents.model import AgentDirectory
from agents.roster import AgentState, Roster
from errors import ConflictError
from storage.base import AgentRecord, Store

log = logging.getLogger(__name__)

#: Attempts at a version-guarded change before giving up (each conflict means another
#: instance changed the record in between: rare, and never for long).
ATTEMPTS = 20
#: How long a reservation is trusted without the chat confirming it: a turn that reserved a
#: chat has committed or died well within this.
RESERVATION_GRACE = 60.0


class AgentBook:
    """Reads and changes agents' records in a store."""

    def __init__(
        self,
        directory: AgentDirectory,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.store = store
        self.clock = clock

    async def roster(self, tenant_id: str, only: Collection[str] | None = None) -> Roster:
        """Every agent of the tenant's lists (or `only` those of them), as stored now."""
        lists = self.directory.lists.get(tenant_id, {})
        ids = list(dict.fromkeys(agent_id for ids in lists.values() for agent_id in ids))
        states = []
        for agent_id in ids:
            if only is not None and agent_id not in only:
                continue
            agent = self.directory.by_id.get(agent_id)
            if agent is None:
                continue
            record = await self.store.agent(agent_id)
            states.append(
                AgentState(
                    agent,
                    available=record.available,
                    reachable=not record.unreachable
                    and (record.reference is not None or agent.aad_object_id is not None),
                    chats=record.chats,
                    reference=record.reference,
                    last_offered=record.last_offered,
                )
            )
        return Roster(states, lists)

    async def record(self, agent_id: str) -> AgentRecord:
        return await self.store.agent(agent_id)

    async def change(self, agent_id: str, edit: Callable[[AgentRecord], bool]) -> AgentRecord:
        """Apply `edit` to the agent's record and save it (when `edit` says it changed it)."""
        for _ in range(ATTEMPTS):
            record = await self.store.agent(agent_id)
            if not edit(record):
                return record
            try:
                await self.store.save_agent(record)
            except ConflictError:
                continue
            return record
        raise ConflictError(f"agent {agent_id}: the record kept changing; gave up")

    async def remember(self, agent_id: str, reference: Mapping[str, Any]) -> AgentRecord:
        """Keep the agent's chat with the bot (they wrote to it: they can be reached there)."""
        conversation = str((reference.get("conversation") or {}).get("id") or "")

        def edit(record: AgentRecord) -> bool:
            if record.conversation_id == conversation and not record.unreachable:
                return False
            record.conversation_id = conversation
            record.reference = dict(reference)
            record.unreachable = False
            return True

        return await self.change(agent_id, edit)

    async def set_available(self, agent_id: str, available: bool) -> AgentRecord:
        def edit(record: AgentRecord) -> bool:
            if record.available == available:
                return False
            record.available = available
            return True

        return await self.change(agent_id, edit)

    async def set_focus(self, agent_id: str, conversation_id: str | None) -> AgentRecord:
        def edit(record: AgentRecord) -> bool:
            if record.focus == conversation_id:
                return False
            record.focus = conversation_id
            return True

        return await self.change(agent_id, edit)

    async def reserve(self, agent_id: str, conversation_id: str) -> bool | None:
        """Hold `conversation_id` for the agent before their accept runs: True when reserved
        now, False when they held it already, None when they are full."""
        max_chats = self.directory.by_id[agent_id].max_chats
        outcome: list[bool | None] = [None]
        stale: set[str] = set()

        def edit(record: AgentRecord) -> bool:
            if conversation_id in record.chats:
                outcome[0] = False
                return False
            kept = [c for c in record.chats if c not in stale]
            if len(kept) >= max_chats:
                outcome[0] = None
                return False
            record.chats = (*kept, conversation_id)
            record.held_at = {
                **{c: at for c, at in record.held_at.items() if c in kept},
                conversation_id: self.clock(),
            }
            outcome[0] = True
            return True

        record = await self.change(agent_id, edit)
        if outcome[0] is None and record.chats:
            # Full: let go of reservations no chat confirms, then try once more.
            stale = await self._unconfirmed(agent_id, record)
            if stale:
                await self.change(agent_id, edit)
        return outcome[0]

    async def _unconfirmed(self, agent_id: str, record: AgentRecord) -> set[str]:
        now = self.clock()
        stale = set()
        for chat in record.chats:
            if now - record.held_at.get(chat, 0.0) < RESERVATION_GRACE:
                continue
            history = await self.store.history(chat)
            live = [s for s in history.sessions if s.is_active]
            if not any(
                s.metadata.get("Session.Agent.Id") == agent_id
                and s.metadata.get("Session.Agent.State") == "connected"
                for s in live
            ):
                log.warning("agent %s: a chat they no longer hold was let go", agent_id)
                stale.add(chat)
        return stale

    async def release(self, agent_id: str, conversation_id: str) -> None:
        def edit(record: AgentRecord) -> bool:
            if conversation_id not in record.chats and record.focus != conversation_id:
                return False
            record.chats = tuple(c for c in record.chats if c != conversation_id)
            record.held_at = {c: at for c, at in record.held_at.items() if c != conversation_id}
            if record.focus == conversation_id:
                record.focus = None
            return True

        await self.change(agent_id, edit)

    async def apply(self, conversation_id: str, changes: Sequence[AgentChange]) -> None:
        """What a committed turn of `conversation_id` changed for agents."""
        for change in changes:
            if change.agent_id not in self.directory.by_id:
                continue
            match change.change:
                case Change.HOLD:
                    await self._hold(change.agent_id, conversation_id)
                case Change.RELEASE:
                    await self.release(change.agent_id, conversation_id)
                case Change.OFFERED:
                    await self._offered(change.agent_id)

    async def _hold(self, agent_id: str, conversation_id: str) -> None:
        def edit(record: AgentRecord) -> bool:
            if conversation_id not in record.chats:
                record.chats = (*record.chats, conversation_id)
            record.held_at = {**record.held_at, conversation_id: self.clock()}
            record.focus = conversation_id
            return True

        await self.change(agent_id, edit)

    async def _offered(self, agent_id: str) -> None:
        now = self.clock()

        def edit(record: AgentRecord) -> bool:
            record.last_offered = now
            return True

        await self.change(agent_id, edit)

    async def unreachable(self, agent_id: str, reason: str) -> None:
        """Teams refused a message to the agent (the app not installed, or blocked): skip them
        until they write to the bot again. Logged once, for the admin."""

        def edit(record: AgentRecord) -> bool:
            if record.unreachable:
                return False
            record.unreachable = True
            return True

        before = await self.store.agent(agent_id)
        await self.change(agent_id, edit)
        if not before.unreachable:
            log.warning(
                "agent %s cannot be reached in Teams (%s): they are skipped until they open"
                " Crossdesk in Teams (the app must be installed for them)",
                agent_id,
                reason,
            )

    async def moved(self, agent_id: str, reference: Mapping[str, Any]) -> None:
        """The agent's chat with the bot was created (or created again after Teams lost it)."""
        await self.remember(agent_id, reference)
