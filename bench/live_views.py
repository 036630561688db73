"""`python -m bench --live-views N`: what N open live views cost the store.

Opens the operations view's `LiveHub` on a real SQLite store, subscribes N viewers as the live
page's event streams do (each with its own scope), lets them watch for a few intervals, and
counts the store's live queries. The claim checked: one query per interval per instance,
whatever N (the streams share one snapshot)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ops.live import SQLITE_INTERVAL, HubClosed, LiveHub
from storage.reports import LiveSnapshot
from storage.scope import Scope
from storage.sqlite import SqliteStore


async def measure(viewers: int, intervals: int, interval: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="crossdesk-bench-live-") as directory:
        store = SqliteStore(Path(directory) / "live.sqlite3")
        queries = 0

        async def live() -> LiveSnapshot:
            nonlocal queries
            queries += 1
            return await store.reports.live(Scope.of(admin=True), datetime.now(UTC))

        hub = LiveHub(live, lambda: datetime.now(UTC), interval)
        shown = [0] * viewers
        scopes = [Scope.of(departments=[f"t{i % 5}"]) for i in range(viewers)]

        async def watch(index: int) -> None:
            with contextlib.suppress(HubClosed):
                async with hub.subscribe() as subscriber:
                    while True:
                        snapshot = await subscriber.next(interval * 2)
                        if snapshot is not None:
                            snapshot.for_scope(scopes[index])
                            shown[index] += 1

        started = time.monotonic()
        watchers = [asyncio.create_task(watch(i)) for i in range(viewers)]
        await asyncio.sleep(interval * intervals)
        elapsed = time.monotonic() - started
        await hub.close()
        await asyncio.gather(*watchers)
        await store.close()
    return {
        "viewers": viewers,
        "seconds": elapsed,
        "intervals": elapsed / interval,
        "queries": queries,
        "per_interval": queries / (elapsed / interval),
        "min_snapshots_per_viewer": min(shown),
    }


def report(viewers: int, intervals: int = 10, interval: float = SQLITE_INTERVAL) -> int:
    """Print the figures; exit status 1 if the views cost more than one query per interval
    (plus the first, as the first viewer arrives)."""
    figures = asyncio.run(measure(viewers, intervals, interval))
    print(
        f"{figures['viewers']:g} live views for {figures['seconds']:.1f} s"
        f" ({figures['intervals']:.1f} intervals of {interval:g} s): {figures['queries']:g} store"
        f" queries, {figures['per_interval']:.2f} per interval; each view got at least"
        f" {figures['min_snapshots_per_viewer']:g} snapshots."
    )
    within = figures["queries"] <= figures["intervals"] + 1
    print("one store query per interval per instance:", "yes" if within else "NO")
    return 0 if within else 1
