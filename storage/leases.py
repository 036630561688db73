"""A chat's lease, taken, waited for and renewed the same way on every backend. No SDK, no
I/O of its own: each backend gives the one step that tries to take it."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar

from errors import StorageError


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


class Held(Protocol):
    """What a backend's turn object tells the shared lease code."""

    @property
    def holding(self) -> bool: ...


H = TypeVar("H", bound=Held)


@asynccontextmanager
async def leased_turn(
    waits: LeaseWaits,
    conversation_id: str,
    attempt: Callable[[], Awaitable[tuple[TurnStart, H | None]]],
    *,
    lease_seconds: float,
    wait: bool,
    renew: Callable[[H], Awaitable[bool]],
    release: Callable[[H], Awaitable[None]],
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> AsyncIterator[H | None]:
    """A chat turn under the chat's lease, the same way on every backend.

    Tries `attempt` (claim check + lease + read, the backend's one step) until it leases the
    chat or finds the event claimed; with `wait` False it tries once. While the block runs the
    lease is renewed every third of `lease_seconds` (`renew` answers False once it was lost),
    so only a dead process's lease expires; on leaving, a turn still holding it `release`s it
    and this process's waiters for the chat are woken. `sleep` (tests) times the renewals
    instead of the event loop's clock.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (2 * lease_seconds if wait else 0.0)
    delay = 0.01
    while True:
        outcome, turn = await attempt()
        if outcome is not TurnStart.BUSY or not wait:
            break
        if loop.time() >= deadline:
            raise StorageError(
                f"the chat {conversation_id} stayed busy for {2 * lease_seconds:.0f} s;"
                " another turn holds its lease"
            )
        await waits.wait(conversation_id, delay * random.uniform(0.5, 1.0))
        delay = min(delay * 2, 0.2)
    if turn is None:
        yield None
        return

    async def heartbeat(held: H, first: bool = False) -> None:
        if first:  # an injected `sleep` times the first renewal too
            await pause(lease_seconds / 3)
        while True:
            if not held.holding or not await renew(held):
                return
            await pause(lease_seconds / 3)

    pause = sleep or asyncio.sleep
    # Most turns end well before their first renewal is due: a timer starts the heartbeat
    # then, rather than a task per turn that sleeps and is cancelled.
    beating: asyncio.Task[None] | None = None
    due: asyncio.TimerHandle | None = None

    def start(held: H) -> None:
        nonlocal beating
        beating = asyncio.create_task(heartbeat(held))

    if sleep is None:
        due = loop.call_later(lease_seconds / 3, start, turn)
    else:
        beating = asyncio.create_task(heartbeat(turn, first=True))
    try:
        yield turn
    finally:
        if due is not None:
            due.cancel()
        if beating is not None:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        try:
            if turn.holding:
                await release(turn)
        finally:
            waits.released(conversation_id)
