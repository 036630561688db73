"""`python -m bench --live-views N`: what N open live views cost the store.

Serves Crossdesk (`create_app`, SQLite, the operations view with its development sign-in) on
127.0.0.1, signs an admin in once through the real sign-in flow (the local OpenID provider's
page, msal, the callback that sets the session cookie), then opens N event streams
`GET /ops/api/v1/stream` over HTTP with that cookie, as N open Live pages would. The live
interval is shortened (0.25 s) so the run takes seconds; the store's report queries are counted
by a wrapper around its `live`.

Two phases of the same number of intervals:

- quiet: nobody chats; the claim checked is one store query per interval per instance,
  whatever N (the streams share one snapshot);
- busy: guests chat through `/api/messages` (install, a question, a transfer to Legal), so the
  snapshots change; each turn this instance serves makes it ask once more at once (a turn's
  cost, not a view's), so the claim is at most one query per interval plus one per turn.

It prints the queries per interval of each phase and how many events each client received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

#: The benchmark's live interval (seconds): short, so many intervals pass in a few seconds.
INTERVAL = 0.25
#: Guest chats driven in the busy phase (three turns each).
CHATS = 4


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    queries: int = 0
    turns: int = 0
    events: list[int] = field(default_factory=list)

    def intervals(self, interval: float) -> float:
        return self.seconds / interval

    def per_interval(self, interval: float) -> float:
        return self.queries / self.intervals(interval)

    def within(self, interval: float) -> bool:
        # One query per interval (and one as the phase's first interval starts), one per turn.
        return self.queries <= self.intervals(interval) + 1 + self.turns


class Streams:
    """N open event streams of the live view, counting the `live` events each received."""

    def __init__(self, http: aiohttp.ClientSession, url: str, viewers: int) -> None:
        self.events = [0] * viewers
        self._opened = [asyncio.Event() for _ in range(viewers)]
        self._tasks = [asyncio.create_task(self._read(http, url, i)) for i in range(viewers)]

    async def _read(self, http: aiohttp.ClientSession, url: str, index: int) -> None:
        async with http.get(url) as response:
            if response.status != 200 or response.content_type != "text/event-stream":
                raise RuntimeError(f"stream {index}: {response.status} {response.content_type}")
            async for line in response.content:
                if line.startswith(b"event: live"):
                    self.events[index] += 1
                    self._opened[index].set()

    async def opened(self) -> None:
        """Every stream has received its first snapshot."""
        waits = [asyncio.create_task(event.wait()) for event in self._opened]
        done, _ = await asyncio.wait(
            [*waits, *self._tasks], return_when=asyncio.FIRST_EXCEPTION, timeout=30
        )
        for task in done:
            if task in self._tasks:
                task.result()  # a stream that failed to open says why
        if not all(event.is_set() for event in self._opened):
            raise RuntimeError("not every stream received its first snapshot within 30 s")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _session_cookie(base: str, ca_file: Path, persona: str) -> str:
    """The session cookie (`name=value`) of `persona`, signed in as a browser would."""
    from tests.ops.conftest import Browser

    browser = Browser(base, ca_file)
    try:
        await browser.sign_in(persona)
        (cookie,) = (c for c in browser.http.cookie_jar if c.key == "crossdesk_ops")
        return f"{cookie.key}={cookie.value}"
    finally:
        await browser.close()


async def _guest_chats(http: aiohttp.ClientSession, url: str, connector: Any, chats: int) -> int:
    """Guests chat: each installs, asks, and is transferred to Legal. Returns the turns."""
    from tests.support.teams import TeamsChat, choice_value, guest

    turns = 0
    for number in range(chats):
        chat = TeamsChat(http, url, connector, who=guest(f"Guest {number}", f"29:1bench{number}"))
        await chat.install()
        options = await chat.say("A question about an NDA")
        await chat.submit(choice_value(options, "Legal"))
        turns += 3
    return turns


async def measure(viewers: int, intervals: int, interval: float, chats: int) -> list[Phase]:
    from app import STORE, Settings, create_app
    from ops.devidp import DevIdentityProvider
    from ops.settings import OpsSettings, SignInMode
    from ops.web import DEV_PROVIDER
    from storage.reports import LiveSnapshot
    from storage.scope import Scope
    from tests.ops.conftest import ops_config
    from tests.support.connector import FakeConnector

    with tempfile.TemporaryDirectory(prefix="crossdesk-bench-live-") as directory:
        connector = FakeConnector()
        await connector.start()
        settings = Settings(
            host="127.0.0.1",
            config_path=ops_config(Path(directory)),
            sqlite_path=Path(directory) / "live.sqlite3",
            sweep_seconds=0.0,
            ops=OpsSettings(SignInMode.DEV),
        )
        app = create_app(settings, live_interval=interval)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"

        queries = 0
        reports = app[STORE].reports
        live: Callable[[Scope, datetime], Awaitable[LiveSnapshot]] = reports.live

        async def counted(scope: Scope, now: datetime) -> LiveSnapshot:
            nonlocal queries
            queries += 1
            return await live(scope, now)

        setattr(reports, "live", counted)  # noqa: B010 (a method replaced on one instance)

        provider: DevIdentityProvider | None = None
        for resource in app.router.resources():
            sub = getattr(resource, "_app", None)
            if sub is not None and DEV_PROVIDER in sub:
                provider = sub[DEV_PROVIDER]
        assert provider is not None, "the operations view runs without its development sign-in"

        phases: list[Phase] = []
        cookie = await _session_cookie(base, provider.cert_file, "Ada Admin")
        # One connection per stream (no pool limit), each with the signed-in session.
        http = aiohttp.ClientSession(
            headers={"Cookie": cookie}, connector=aiohttp.TCPConnector(limit=0)
        )
        guests = aiohttp.ClientSession()
        streams = Streams(http, f"{base}/ops/api/v1/stream", viewers)
        try:
            await streams.opened()
            for name in ("quiet", "busy"):
                phase = Phase(name)
                before_events = list(streams.events)
                queries = 0
                started = time.monotonic()
                if name == "busy":
                    phase.turns = await _guest_chats(
                        guests, f"{base}/api/messages", connector, chats
                    )
                await asyncio.sleep(max(0.0, started + interval * intervals - time.monotonic()))
                phase.seconds = time.monotonic() - started
                phase.queries = queries
                phase.events = [a - b for a, b in zip(streams.events, before_events, strict=True)]
                phases.append(phase)
        finally:
            await streams.close()
            await http.close()
            await guests.close()
            await runner.cleanup()
            await connector.stop()
    return phases


def report(
    viewers: int, intervals: int = 20, interval: float = INTERVAL, chats: int = CHATS
) -> int:
    """Print the figures; exit status 1 if the views cost more than one query per interval
    (plus one per turn the instance served)."""
    # The fake connector knows no Teams members: the bot's look-up warnings are expected noise.
    logging.basicConfig(level=logging.ERROR)
    phases = asyncio.run(measure(viewers, intervals, interval, chats))
    print(
        f"{viewers} live views: {viewers} event streams GET /ops/api/v1/stream over HTTP,"
        f" one signed-in admin session, live interval {interval:g} s"
    )
    print()
    print(
        "| phase | seconds | intervals | guest turns | store queries | per interval"
        " | events per client (min / median / max) | within |"
    )
    print("|---|---|---|---|---|---|---|---|")
    ok = True
    for phase in phases:
        within = phase.within(interval)
        ok = ok and within
        print(
            f"| {phase.name} | {phase.seconds:.2f} | {phase.intervals(interval):.1f}"
            f" | {phase.turns} | {phase.queries} | {phase.per_interval(interval):.2f}"
            f" | {min(phase.events)} / {statistics.median(phase.events):g} / {max(phase.events)}"
            f" | {'yes' if within else 'NO'} |"
        )
    print()
    print(
        "one store query per interval per instance, whatever the number of views"
        " (plus one per turn this instance served):",
        "yes" if ok else "NO",
    )
    return 0 if ok else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(report(50))
