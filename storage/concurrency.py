"""What every backend does the same way when writers meet: re-apply a stale session's changes,
and wait for a chat's lease. No SDK, no I/O of its own.

Re-applying needs to know what a writer changed, so a store remembers the session as it handed
it out (`SessionBaselines`, keyed by session id and version): the difference between that and
the writer's copy is the writer's change, and it is applied on top of whatever is stored now.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from errors import ConflictError, StorageError
from pipeline.session import Session, SessionState
from storage.base import LEASE_SECONDS


@dataclass(frozen=True, slots=True)
class SessionSnapshot:
    """A session's mutable part as a store handed it out at one version."""

    version: int
    state: SessionState
    ended_at: datetime | None
    metadata: dict[str, Any]

    @classmethod
    def of(cls, session: Session) -> SessionSnapshot:
        return cls(
            session.version, session.state, session.ended_at, copy.deepcopy(session.metadata)
        )


class SessionBaselines:
    """The last few thousand sessions a store handed out or wrote, by (id, version).

    Only this process's own reads are remembered (nothing another instance would need): they
    let a stale save re-apply its changes instead of failing. An evicted baseline makes such a
    save a `ConflictError`, never a blind overwrite.
    """

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._snapshots: OrderedDict[tuple[str, int], SessionSnapshot] = OrderedDict()

    def remember(self, session: Session) -> None:
        key = (session.id, session.version)
        self._snapshots[key] = SessionSnapshot.of(session)
        self._snapshots.move_to_end(key)
        while len(self._snapshots) > self._capacity:
            self._snapshots.popitem(last=False)

    def get(self, session_id: str, version: int) -> SessionSnapshot | None:
        return self._snapshots.get((session_id, version))


def reapply(mine: Session, base: SessionSnapshot | None, stored: Session) -> None:
    """Re-apply what `mine` changed since `base` on top of `stored`, in `mine`.

    Metadata keys `mine` set or removed win over the stored ones; keys only the other writer
    changed are kept; the state follows whoever changed it. Afterwards `mine` holds the merged
    session at `stored.version`. `ConflictError` if both changed the state, or if the baseline
    is unknown (then nobody can tell which keys were this writer's).
    """
    if base is None:
        raise ConflictError(
            f"session {mine.id} changed since it was read (version {mine.version}, stored"
            f" {stored.version}) and this copy's changes can no longer be told apart"
        )
    changes_state = (mine.state, mine.ended_at) != (base.state, base.ended_at)
    if changes_state and (stored.state, stored.ended_at) != (base.state, base.ended_at):
        raise ConflictError(
            f"session {mine.id} is {stored.state.value} now; it cannot also become"
            f" {mine.state.value}"
        )
    merged = copy.deepcopy(stored.metadata)
    for key, value in mine.metadata.items():
        if key not in base.metadata or base.metadata[key] != value:
            merged[key] = value
    for key in base.metadata.keys() - mine.metadata.keys():
        merged.pop(key, None)
    if not changes_state:
        mine.state, mine.ended_at = stored.state, stored.ended_at
    mine.metadata = merged
    mine.version = stored.version


_MISSING: Any = object()


def carry_over(receiving: Session, base: SessionSnapshot, stored: Session) -> None:
    """Give a transfer's receiving session what another writer changed on the sending session
    after the transfer was planned (the plan copied the sender's metadata before that)."""
    for key in base.metadata.keys() | stored.metadata.keys():
        if key.startswith("Session."):
            continue
        planned = base.metadata.get(key, _MISSING)
        now = stored.metadata.get(key, _MISSING)
        if now == planned or receiving.metadata.get(key, _MISSING) != planned:
            continue
        if now is _MISSING:
            receiving.metadata.pop(key, None)
        else:
            receiving.metadata[key] = now


class TurnStart(enum.Enum):
    """The outcome of one attempt to start a chat turn."""

    LEASED = "leased"
    DUPLICATE = "duplicate"
    BUSY = "busy"


class LeaseWaits:
    """Wakes the turns waiting in this process for a chat as soon as this process releases the
    chat's lease; a turn waiting for another process's lease polls with a capped backoff."""

    def __init__(self) -> None:
        self._released: dict[str, asyncio.Event] = {}

    def released(self, conversation_id: str) -> None:
        event = self._released.pop(conversation_id, None)
        if event is not None:
            event.set()

    async def wait(self, conversation_id: str, seconds: float) -> None:
        event = self._released.setdefault(conversation_id, asyncio.Event())
        # On a timeout the holder is elsewhere (or slow): the caller tries again.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


async def start_turn(
    waits: LeaseWaits,
    conversation_id: str,
    attempt: Callable[[], Awaitable[TurnStart]],
    *,
    max_wait: float = 2 * LEASE_SECONDS,
) -> bool:
    """Try `attempt` until it leases the chat (True) or finds the activity claimed (False).

    Between attempts it waits for this process's holder to release the lease, or for a short,
    growing, jittered delay (the holder may be another instance). `StorageError` after
    `max_wait` seconds of a busy chat.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_wait
    delay = 0.01
    while True:
        outcome = await attempt()
        if outcome is not TurnStart.BUSY:
            return outcome is TurnStart.LEASED
        if loop.time() >= deadline:
            raise StorageError(
                f"the chat {conversation_id} stayed busy for {max_wait:.0f} s; another turn"
                " holds its lease"
            )
        await waits.wait(conversation_id, delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, 0.2)
