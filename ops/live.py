"""The live view's one source: a `LiveHub` per instance asks the store for a snapshot once per
interval while anyone watches, and hands the same snapshot to every open stream (each shows
it as its viewer's scope allows). However many people watch, an instance asks the store once
per interval; with nobody watching it asks nothing. `notify()` (after a turn of this instance)
asks at once, so a chat shows up within a moment on the instance that served it; polling keeps
the other instances right.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from storage.reports import LiveSnapshot

log = logging.getLogger(__name__)

#: How often an instance asks its store while anyone watches (seconds).
SQLITE_INTERVAL = 2.0
COSMOS_INTERVAL = 5.0
#: How often an idle stream says it is still there (proxies close silent connections).
HEARTBEAT = 15.0


class HubClosed(Exception):
    """The instance is shutting down: every stream ends."""


class Subscriber:
    """One open stream: the newest snapshot it has not shown yet."""

    def __init__(self) -> None:
        self._latest: LiveSnapshot | None = None
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, snapshot: LiveSnapshot) -> None:
        # Only the newest matters: a slow reader skips the ones it missed.
        self._latest = snapshot
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next(self, wait: float) -> LiveSnapshot | None:
        """The next snapshot, or None after `wait` seconds without one; raises HubClosed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), wait)
        if self.closed:
            raise HubClosed
        self._ready.clear()
        snapshot, self._latest = self._latest, None
        return snapshot


class LiveHub:
    """Polls `source` every `interval` seconds while it has subscribers and fans each snapshot
    out to all of them. `queries` counts the snapshots asked for (the benchmark reads it)."""

    def __init__(
        self,
        source: Callable[[], Awaitable[LiveSnapshot]],
        clock: Callable[[], datetime],
        interval: float = SQLITE_INTERVAL,
    ) -> None:
        self._source = source
        self._clock = clock
        self.interval = interval
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._latest: LiveSnapshot | None = None
        self._asked_at: float | None = None
        self._closed = False
        self.queries = 0

    @property
    def watching(self) -> int:
        return len(self._subscribers)

    async def _ask(self) -> LiveSnapshot:
        self.queries += 1
        snapshot = await self._source()
        self._latest = snapshot
        self._asked_at = asyncio.get_running_loop().time()
        return snapshot

    async def current(self) -> LiveSnapshot:
        """A snapshot no older than one interval (a page's first paint): the one the streams
        were just given, or a new one."""
        now = asyncio.get_running_loop().time()
        fresh = self._asked_at is not None and now - self._asked_at < self.interval
        if self._latest is not None and fresh:
            return self._latest
        return await self._ask()

    def notify(self) -> None:
        """Something changed here (a turn committed): ask again now, if anyone watches."""
        if self._subscribers:
            self._wake.set()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscriber]:
        if self._closed:
            raise HubClosed
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="crossdesk-live-hub")
        elif self._latest is not None:
            subscriber.offer(self._latest)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)

    async def _poll(self) -> None:
        while self._subscribers and not self._closed:
            try:
                snapshot = await self._ask()
            except Exception:
                # The store's error is logged once per interval; the streams keep what they show.
                log.exception("live view: the store did not answer")
            else:
                for subscriber in list(self._subscribers):
                    subscriber.offer(snapshot)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def close(self) -> None:
        """End every stream and stop polling (the instance shuts down)."""
        self._closed = True
        for subscriber in list(self._subscribers):
            subscriber.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
