"""Cosmos DB round trips per Crossdesk turn: a plain pipeline turn, and a transfer.

`python bench/bench_cosmos.py [--chats N]` starts the Cosmos DB test server
(tests/support/cosmos_server.js; `npm ci` installs it), serves Crossdesk in this process on
Cosmos DB storage with a fake Bot Connector, all on 127.0.0.1 and ports chosen at run time,
drives N chats through the help desk → HR scenario one turn at a time, and counts every request
the server receives during each turn. A turn is its own requests (take the lease, read the
chat, commit) plus one per reply it delivers (each recorded before the next is sent). Targets:
at most 3 of its own per plain turn and per transfer. Prints the figures; exits 1 if a target
is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"plain": 3, "transfer": 3}
#: Which scenario step is which kind of turn.
KINDS = {
    "install": "install",
    "question": "plain",
    "transfer": "transfer",
    "detail": "plain",
    "close": "plain",
}


async def measure(chats: int, workdir: Path) -> dict[str, list[tuple[dict[str, int], float, int]]]:
    """Per kind of turn: the server's request counts and the wall time of every turn."""
    sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the app is at the root
    import aiohttp
    from aiohttp import web

    from app import Settings, create_app
    from tests.storage.scenario import help_desk_to_hr
    from tests.support.config import TEST_CONFIG
    from tests.support.connector import FakeConnector, Received
    from tests.support.cosmos import EMULATOR_KEY, CosmosServer, database_name
    from tests.support.teams import TeamsChat

    server = CosmosServer.start(log=workdir / "cosmos-server.log")
    connector = FakeConnector()
    await connector.start()
    database = database_name()
    settings = Settings(
        config_path=TEST_CONFIG,
        # Turns only: the sweeper's own queries would land in random turns' counts.
        sweep_seconds=0.0,
        storage="cosmos",
        cosmos_endpoint=server.url,
        cosmos_key=EMULATOR_KEY,
        cosmos_database=database,
    )
    runner = web.AppRunner(create_app(settings), access_log=None)
    figures: dict[str, list[tuple[dict[str, int], float, int]]] = defaultdict(list)
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/api/messages"
        async with aiohttp.ClientSession() as http:
            for _ in range(chats):
                before = await server.requests(database)
                started = time.perf_counter()

                async def count(step: str, received: list[Received]) -> None:
                    nonlocal before, started
                    elapsed = time.perf_counter() - started
                    after = await server.requests(database)
                    delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                    counts = {k: v for k, v in delta.items() if v}
                    figures[KINDS[step]].append((counts, elapsed, len(received)))
                    before = after
                    started = time.perf_counter()

                await help_desk_to_hr(TeamsChat(http, url, connector), [url], count)
    finally:
        await runner.cleanup()
        await connector.stop()
        server.stop()
    return figures


def report(figures: dict[str, list[tuple[dict[str, int], float, int]]], chats: int) -> bool:
    """Print the table; True if every target is met."""
    print(f"Cosmos DB round trips per Crossdesk turn ({chats} chats, help desk → HR scenario)")
    print()
    print(
        "| turn | turns | round trips (min / median / max) | of which deliveries | by kind"
        " | target (turn's own) | ms (median) |"
    )
    print("|---|---|---|---|---|---|---|")
    met = True
    for kind in ("install", "plain", "transfer"):
        rows = figures[kind]
        totals = [counts["total"] for counts, _, _ in rows]
        own = [counts["total"] - replies for counts, _, replies in rows]
        kinds: dict[str, list[int]] = defaultdict(list)
        for counts, _, _ in rows:
            for name, value in counts.items():
                if name != "total":
                    kinds[name].append(value)
        breakdown = ", ".join(
            f"{name} {statistics.median(values):g}" for name, values in sorted(kinds.items())
        )
        target = TARGETS.get(kind)
        ok = target is None or max(own) <= target
        met = met and ok
        print(
            f"| {kind} | {len(rows)} | {min(totals)} / {statistics.median(totals):g} /"
            f" {max(totals)} | {statistics.median(r for _, _, r in rows):g} | {breakdown}"
            f" | {f'≤ {target}' if target else '—'}{'' if ok else ' MISSED'}"
            f" | {statistics.median(t for _, t, _ in rows) * 1000:.1f} |"
        )
    print()
    print(
        "round trips: every request the Cosmos DB server received during the turn; deliveries:"
        " the replies it delivered, one write each."
    )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_cosmos.py", description=__doc__)
    parser.add_argument("--chats", type=int, default=10, help="chats to run (default 10)")
    args = parser.parse_args(argv)
    # The fake connector knows no Teams members: the bot's look-up warnings are expected noise.
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="crossdesk-bench-cosmos-") as workdir:
        figures = asyncio.run(measure(args.chats, Path(workdir)))
    return 0 if report(figures, args.chats) else 1


if __name__ == "__main__":
    sys.exit(main())
