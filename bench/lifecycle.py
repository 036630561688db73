"""How every benchmark bot process starts, stops and reports, whatever serves it.

Standard library only: the benchmark's peers (`bench/peers/`) run in their own virtual
environments, where neither Crossdesk's dependencies nor aiohttp need to exist.

The protocol with `bench/run.py`: the bot binds a free port on 127.0.0.1, prints
`listening <port>`, serves until SIGTERM, SIGINT or the end of its stdin (so it never outlives
the benchmark that started it), then prints one `callbacks {...}` line (`CallbackTimes`).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time


class CallbackTimes:
    """How long each event-loop callback ran: while one runs, every other chat waits.

    Each callback is timed on the wall clock and on this thread's CPU clock, which stands
    still while the OS runs other processes, so a busy machine does not pass for blocking.
    A benchmark-only wrapper around asyncio's `Handle._run`; Crossdesk itself never does this.
    """

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def install(self) -> None:
        original = asyncio.events.Handle._run
        wall, cpu = self.wall, self.cpu

        def timed(handle: asyncio.events.Handle) -> None:
            started, used = time.perf_counter(), time.thread_time()
            original(handle)
            wall.append(time.perf_counter() - started)
            cpu.append(time.thread_time() - used)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]

    def report(self) -> str:
        """`callbacks {"cpu_p99": s, "cpu_max": s, "wall_max": s, "over_10ms": n, ...}`."""

        def p99(values: list[float]) -> float:
            ordered = sorted(values) or [0.0]
            return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

        figures = {
            "count": len(self.cpu),
            "cpu_p99": p99(self.cpu),
            "cpu_max": max(self.cpu, default=0.0),
            "wall_max": max(self.wall, default=0.0),
            "cpu_over_10ms": sum(1 for value in self.cpu if value > 0.010),
        }
        return f"callbacks {json.dumps(figures)}"


def announce(port: int) -> None:
    """Tell the benchmark where the bot listens."""
    print(f"listening {port}", flush=True)


async def stopped() -> None:
    """Return on SIGTERM, SIGINT or the end of stdin (the benchmark that started us is gone)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    watch = asyncio.ensure_future(reader.read())
    watch.add_done_callback(lambda _: stop.set())
    try:
        await stop.wait()
    finally:
        watch.cancel()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)
