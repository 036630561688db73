"""How every benchmark bot process starts, stops and reports, whatever serves it.

Standard library only: the benchmark's peers (`bench/peers/`) run in their own virtual
environments, where neither Crossdesk's dependencies nor aiohttp need to exist.

The protocol with `bench/run.py`: the bot binds a free port on 127.0.0.1, prints
`listening <port>` (`CallbackTimes.announce`), serves until SIGTERM, SIGINT or the end of its
stdin (so it never outlives the benchmark that started it), then prints one `callbacks {...}`
line (`CallbackTimes.report`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sys
import time
from array import array

#: Callback CPU times are counted in bins of 10 µs up to 1 s (longer ones in the last bin; the
#: maximum is kept exactly): memory stays the same however long the bot runs.
_BIN_SECONDS = 1e-5
_BINS = 100_000


class CallbackTimes:
    """How long each event-loop callback ran: while one runs, every other chat waits. And how
    much of the process's CPU time went to the garbage collector, from the moment it serves.

    Each callback is timed on the wall clock and on this thread's CPU clock, which stands
    still while the OS runs other processes, so a busy machine does not pass for blocking.
    A benchmark-only wrapper around asyncio's `Handle._run` and a `gc.callbacks` entry;
    Crossdesk itself never does this. Figures are kept in a fixed histogram, not a list of
    every callback, so that the RSS soak measures the bot and not this.
    """

    def __init__(self) -> None:
        self.cpu_bins = array("Q", bytes(8 * _BINS))
        self.cpu_max = 0.0
        self.wall_max = 0.0
        self.gc_seconds = 0.0
        self.gc_collections = [0, 0, 0]
        self._gc_started = 0.0
        self._serving_since = 0.0

    def install(self, *, callbacks: bool = True) -> None:
        """Time the garbage collector and, unless `callbacks` is false (under a profiler,
        where the wrapper would stand in every stack), every event-loop callback."""
        gc.callbacks.append(self._collection)
        if not callbacks:
            return
        original = asyncio.events.Handle._run
        bins, last = self.cpu_bins, _BINS - 1

        def timed(handle: asyncio.events.Handle) -> None:
            started, used = time.perf_counter(), time.thread_time()
            original(handle)
            wall = time.perf_counter() - started
            cpu = time.thread_time() - used
            bins[min(int(cpu / _BIN_SECONDS), last)] += 1
            if cpu > self.cpu_max:
                self.cpu_max = cpu
            if wall > self.wall_max:
                self.wall_max = wall

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]

    def _collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.thread_time()
        else:
            self.gc_seconds += time.thread_time() - self._gc_started
            self.gc_collections[info["generation"]] += 1

    def announce(self, port: int) -> None:
        """Tell the benchmark where the bot listens; callbacks, the garbage collector's time
        and the process's CPU time count from here (start-up aside)."""
        for index in range(_BINS):
            self.cpu_bins[index] = 0
        self.cpu_max = self.wall_max = 0.0
        self.gc_seconds = 0.0
        self.gc_collections = [0, 0, 0]
        self._serving_since = time.process_time()
        print(f"listening {port}", flush=True)

    def report(self) -> str:
        """`callbacks {"cpu_p99": s, "cpu_max": s, "wall_max": s, "cpu_over_10ms": n,
        "gc_seconds": s, "gc_collections": [n0, n1, n2], "cpu_seconds": s, ...}`; the p99 is
        the upper edge of its 10 µs bin."""
        count = sum(self.cpu_bins)
        p99, seen = 0.0, 0
        for index, number in enumerate(self.cpu_bins):
            seen += number
            if number and seen >= 0.99 * count:
                p99 = (index + 1) * _BIN_SECONDS
                break
        figures = {
            "count": count,
            "cpu_p99": min(p99, self.cpu_max),
            "cpu_max": self.cpu_max,
            "wall_max": self.wall_max,
            "cpu_over_10ms": sum(self.cpu_bins[int(0.010 / _BIN_SECONDS) :]),
            "gc_seconds": self.gc_seconds,
            "gc_collections": self.gc_collections,
            "cpu_seconds": time.process_time() - self._serving_since,
        }
        return f"callbacks {json.dumps(figures)}"


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
