"""Waiting for a chat's lease, the same way on every backend. No SDK, no I/O of its own."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
from collections.abc import Awaitable, Callable

from errors import StorageError
from storage.base import LEASE_SECONDS


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
