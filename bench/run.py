"""Crossdesk's turn cost against the physical limit and the SDKs people would pick instead.

`python -m bench` (or `python bench/run.py`) runs, for every level of concurrent chats and for
several rounds, every configuration each in fresh processes (the bot, and the load generator
with its fake Bot Connector), alternating their order every round so the machine's drift
cancels, then prints the medians as a Markdown table and checks the targets. The floors (raw
aiohttp echo, the stateful limit bot), the SDK echoes (botbuilder 4.17.1, Microsoft 365 Agents
SDK, Teams SDK v2) and Crossdesk's turns (plain, fresh chats, transfer) run in the same rounds.
The Agents and Teams SDK echoes run in virtual environments built on first use
(`bench/peers/`); when one cannot be built the run goes on without it and says why. `--quick`
finishes in a few minutes (one round, short windows); `--json PATH` also writes every raw
figure.

Everything runs on 127.0.0.1 on ports chosen at run time; every process it starts it stops, and
each stateful bot gets a fresh SQLite file in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.peers import PEERS, PeerUnavailable

ROOT = Path(__file__).resolve().parent.parent
CONFIGS_DIR = Path(__file__).resolve().parent / "config"


@dataclass(frozen=True)
class Target:
    """One configuration to measure: which bot, on what, and how many replies it sends."""

    key: str
    title: str
    kind: str
    install_replies: int
    turn_replies: int
    #: Timed messages per chat after its (untimed) install: long chats, so that the figures
    #: are those of the turn measured, not of chat starts; a transfer chat may hop 100 times.
    turns: int
    config: Path | None = None
    #: The checkout whose code serves the bot (another one: a baseline to compare with).
    tree: Path = ROOT
    #: Whether each chat's install is a timed turn too (fresh chats: every activity counts).
    time_install: bool = False
    #: Relay chats: each connected to a human agent, its messages relayed both ways.
    relay: bool = False

    @property
    def stateful(self) -> bool:
        """Whether the bot keeps a SQLite file (a fresh one per run)."""
        return self.kind in ("crossdesk", "limit", "limit-delivered")


FLOOR = Target("floor", "raw aiohttp echo (floor)", "floor", 0, 1, 200)
LIMIT = Target(
    "limit", "limit: parse + 3 SQLite writes in 1 transaction + POST", "limit", 0, 1, 200
)
#: The limit with Crossdesk's delivery guarantee: the reply in the outbox until its POST was
#: answered (a second transaction per reply).
LIMIT_DELIVERED = Target(
    "limit-delivered",
    "limit + the reply in an outbox, deleted after its POST (2 transactions)",
    "limit-delivered",
    0,
    1,
    200,
)
SDK = Target("sdk", "bare botbuilder 4.17.1 echo", "sdk", 0, 1, 200)
AGENTS = Target("agents", "Microsoft 365 Agents SDK 1.9 echo", "agents", 0, 1, 200)
TEAMS = Target("teams", "Teams SDK v2 (2.1) echo", "teams", 0, 1, 200)
PLAIN = Target(
    "plain", "Crossdesk plain pipeline turn", "crossdesk", 1, 1, 200, CONFIGS_DIR / "plain.yaml"
)
#: Chats that are always new: the install (greeting: two replies), "hi" and an answer (one
#: reply each, the last ends the chat), all three timed; then the next chat.
FRESH = Target(
    "fresh",
    "Crossdesk fresh chats (install, hi, answer)",
    "crossdesk",
    2,
    1,
    2,
    CONFIGS_DIR / "fresh.yaml",
    time_install=True,
)
TRANSFER = Target(
    "transfer", "Crossdesk transfer turn", "crossdesk", 1, 2, 50, CONFIGS_DIR / "transfer.yaml"
)
#: Chats connected to a human agent: the install queues the guest (a waiting card), the one
#: agent offered accepts (untimed); then every message is relayed, alternately the guest's to
#: the agent's chat and the agent's to the guest's (one reply each); the guest ends the chat.
RELAY = Target(
    "relay",
    "Crossdesk agent-relay turn",
    "crossdesk",
    1,
    1,
    200,
    CONFIGS_DIR / "relay.yaml",
    relay=True,
)
TARGETS = (FLOOR, LIMIT, LIMIT_DELIVERED, SDK, AGENTS, TEAMS, PLAIN, FRESH, TRANSFER, RELAY)


def baseline_targets(tree: Path) -> tuple[Target, ...]:
    """Crossdesk's plain and transfer turns served by another checkout (e.g. the last release,
    from `git worktree add ../before <commit>`), measured in the same run as this one's."""
    try:
        label = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        label = tree.name
    config = tree / "bench" / "config"
    # Fresh chats, where the checkout has their configuration (the first release has not).
    fresh = (
        (
            replace(
                FRESH,
                key="fresh-before",
                title=f"{FRESH.title}, baseline {label}",
                config=config / "fresh.yaml",
                tree=tree,
            ),
        )
        if (config / "fresh.yaml").is_file()
        else ()
    )
    return (
        *fresh,
        Target(
            "plain-before",
            f"Crossdesk plain pipeline turn, baseline {label}",
            "crossdesk",
            1,
            1,
            200,
            config / "plain.yaml",
            tree,
        ),
        Target(
            "transfer-before",
            f"Crossdesk transfer turn, baseline {label}",
            "crossdesk",
            1,
            2,
            50,
            config / "transfer.yaml",
            tree,
        ),
    )


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure."""

    levels: tuple[int, ...]
    rounds: int
    duration: float
    warmup_min: float
    warmup_max: float
    soak_seconds: float


#: The soak run uses 2-turn chats, so that thousands of chats finish.
FULL = Settings((1, 10, 50, 200), 3, 10.0, 1.0, 40.0, 180.0)
QUICK = Settings((1, 10, 50, 200), 1, 1.5, 0.3, 15.0, 5.0)
#: Chats the soak lets finish before it judges RSS: bounded caches fill first (the SQLite
#: store's 4096 session baselines, SQLite's page cache, the young GC generation).
SOAK_WARM_CHATS = 4000


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of a non-empty list."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    if process.stdin is not None:
        process.stdin.close()
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        process.kill()
        await process.wait()


async def measure(
    target: Target,
    chats: int,
    settings: Settings,
    *,
    duration: float | None = None,
    turns: int | None = None,
    attach: Callable[[int], Awaitable[Any]] | None = None,
    bot_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One run: start the bot, drive it with `chats` chats, stop it; the load generator's
    figures. `attach(pid)`, if given, runs beside the load generator once the bot listens
    (a profiler); what it returns is the result's `attached`."""
    scratch = Path(tempfile.mkdtemp(prefix="crossdesk-bench-"))
    log = (scratch / "bot.log").open("wb")
    args = [sys.executable, "-m", "bench.targets", target.kind]
    if target.config is not None:
        args += ["--config", str(target.config)]
    if target.stateful:
        args += ["--sqlite", str(scratch / "bench.sqlite3")]
    args += bot_args
    bot = await asyncio.create_subprocess_exec(
        *args,
        cwd=target.tree,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    callbacks: dict[str, Any] = {}
    statements: dict[str, int] = {}

    async def drain(stdout: asyncio.StreamReader) -> None:
        # Some bots log every request to stdout (uvicorn's access log): read it all along,
        # so the pipe never fills and blocks them; keep the `callbacks` line.
        async for raw in stdout:
            line = raw.decode(errors="replace")
            if line.startswith("callbacks "):
                callbacks.update(json.loads(line.split(" ", 1)[1]))
            elif line.startswith("statements "):
                statements.update(json.loads(line.split(" ", 1)[1]))

    reader: asyncio.Future[None] | None = None
    try:
        assert bot.stdout is not None
        line = (await asyncio.wait_for(bot.stdout.readline(), 60)).decode()
        if not line.startswith("listening "):
            log.flush()
            raise RuntimeError(
                f"{target.key} did not start: {(scratch / 'bot.log').read_text()[-2000:]}"
            )
        reader = asyncio.ensure_future(drain(bot.stdout))
        url = f"http://127.0.0.1:{int(line.split()[1])}/api/messages"
        window = duration or settings.duration
        loadgen = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.loadgen",
            f"--bot={url}",
            f"--pid={bot.pid}",
            f"--chats={chats}",
            f"--duration={window}",
            f"--warmup-min={settings.warmup_min}",
            f"--warmup-max={settings.warmup_max}",
            f"--turns={turns or target.turns}",
            f"--install-replies={target.install_replies}",
            f"--turn-replies={target.turn_replies}",
            *(["--time-install"] if target.time_install else []),
            *(["--relay"] if target.relay else []),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        attached = asyncio.ensure_future(attach(bot.pid)) if attach is not None else None
        try:
            out, err = await asyncio.wait_for(
                loadgen.communicate(), settings.warmup_max + window + 120
            )
            extra = await attached if attached is not None else None
        finally:
            if attached is not None:
                attached.cancel()
            await _stop(loadgen)
        if loadgen.returncode != 0:
            raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
        result: dict[str, Any] = json.loads(out)
        result["attached"] = extra
    finally:
        await _stop(bot)
        if reader is not None:
            try:
                await asyncio.wait_for(reader, 10)
            except TimeoutError:
                reader.cancel()
        log.close()
        bot_log = (scratch / "bot.log").read_text(errors="replace")
        shutil.rmtree(scratch, ignore_errors=True)
    result["bot_log_tail"] = bot_log[-1500:]
    latencies = result.pop("latencies")
    http = result.pop("http_latencies")
    result["turns_measured"] = len(latencies)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
        result[name] = percentile(latencies, q) if latencies else None
    result["http_p99"] = percentile(http, 0.99) if http else None
    result["callback_cpu_p99"] = callbacks.get("cpu_p99")
    result["callback_cpu_max"] = callbacks.get("cpu_max")
    cpu = callbacks.get("cpu_seconds")
    result["gc_share"] = callbacks.get("gc_seconds", 0.0) / cpu if cpu else None
    result["gc_collections"] = callbacks.get("gc_collections")
    result["statements"] = statements
    return result


def rss_slope(samples: list[list[int]]) -> float | None:
    """Least-squares RSS growth in KiB per 1000 finished chats, over the samples taken after
    `SOAK_WARM_CHATS` chats finished; None if too few chats finished after that."""
    points = [(float(chats), float(rss)) for chats, rss in samples if chats >= SOAK_WARM_CHATS]
    if len(points) < 3 or points[-1][0] - points[0][0] < 1000:
        return None
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    return slope * 1000 / 1024


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians over the rounds of one (target, level), with summed statuses and errors."""
    summary: dict[str, Any] = {
        name: _median([run[name] for run in runs])
        for name in (
            "p50",
            "p90",
            "p99",
            "max",
            "http_p99",
            "throughput",
            "bot_cpu_per_turn",
            "callback_cpu_p99",
            "callback_cpu_max",
            "gc_share",
        )
    }
    summary["rss_mb"] = _median([run["rss"] / 2**20 for run in runs])
    summary["connections"] = max(run["connector_connections"] for run in runs)
    summary["turns"] = sum(run["turns_measured"] for run in runs)
    statuses: dict[str, int] = {}
    errors: dict[str, int] = {}
    for run in runs:
        for code, count in run["statuses"].items():
            statuses[code] = statuses.get(code, 0) + count
        for reason, count in run["errors"].items():
            errors[reason] = errors.get(reason, 0) + count
    summary["statuses"] = statuses
    summary["errors"] = errors
    return summary


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} x {model}, Python {platform.python_version()}"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f}" if value < 10 else f"{value * 1000:.0f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def table(
    results: dict[tuple[str, int], dict[str, Any]],
    settings: Settings,
    targets: tuple[Target, ...] = TARGETS,
) -> str:
    rows = [
        "| chats | bot | turns/s | p50 ms | p90 ms | p99 ms | max ms | bot CPU ms/turn"
        " | callback CPU p99 / max ms | GC % of CPU | RSS MB | conns | timed turns | HTTP statuses"
        " | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for level in settings.levels:
        for target in targets:
            s = results.get((target.key, level))
            if s is None:
                continue
            statuses = " ".join(f"{k}: {v}" for k, v in sorted(s["statuses"].items()))
            errors = ", ".join(f"{k}: {v}" for k, v in sorted(s["errors"].items())) or "0"
            cpu, gc_share = s["bot_cpu_per_turn"], s["gc_share"]
            rows.append(
                f"| {level} | {target.title} | {s['throughput']:.0f} | {_ms(s['p50'])}"
                f" | {_ms(s['p90'])} | {_ms(s['p99'])} | {_ms(s['max'])}"
                f" | {'-' if cpu is None else f'{cpu * 1000:.2f}'}"
                f" | {_ms(s['callback_cpu_p99'])} / {_ms(s['callback_cpu_max'])}"
                f" | {'-' if gc_share is None else f'{gc_share * 100:.1f}'}"
                f" | {s['rss_mb']:.0f}"
                f" | {s['connections']} | {s['turns']} | {statuses} | {errors} |"
            )
    return "\n".join(rows)


def _times(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.1f}x"


def verdicts(
    results: dict[tuple[str, int], dict[str, Any]],
    settings: Settings,
    soak: dict[str, Any] | None,
) -> list[str]:
    """The targets, each with the measured figure and whether it was met."""

    def get(key: str, level: int, name: str) -> float | None:
        summary = results.get((key, level))
        return None if summary is None else summary[name]

    def verdict(met: bool | None) -> str:
        return "inconclusive" if met is None else "met" if met else "MISSED"

    top = max(settings.levels)
    # Near the physical limit, against what users would pick instead.
    lines = []
    for level in settings.levels:
        for key, label, bound in (
            ("plain", "plain turn", 2.0),
            ("fresh", "turn of fresh chats (install, hi, answer)", 2.5),
            ("transfer", "transfer turn", 3.0),
        ):
            ratio = _ratio(
                get(key, level, "bot_cpu_per_turn"), get("limit", level, "bot_cpu_per_turn")
            )
            lines.append(
                f"- bot CPU per {label} / the limit bot's at {level} chats: {_times(ratio)}"
                f" (target <= {bound:g}x): {verdict(None if ratio is None else ratio <= bound)}"
            )
    # For reference (no target): against the limit bot that also keeps each reply until it
    # was delivered, as Crossdesk does.
    for level in settings.levels:
        kept = get("limit-delivered", level, "bot_cpu_per_turn")
        if kept is None:
            continue
        turns = ", ".join(
            f"{label} {_times(_ratio(get(key, level, 'bot_cpu_per_turn'), kept))}"
            for key, label in (
                ("plain", "plain"),
                ("fresh", "fresh chats"),
                ("transfer", "transfer"),
            )
        )
        lines.append(
            f"- bot CPU per turn / the delivery-recording limit bot's at {level} chats: {turns}"
            f" (its own / the limit bot's:"
            f" {_times(_ratio(kept, get('limit', level, 'bot_cpu_per_turn')))})"
        )
    for level in (10, 200):
        if level in settings.levels:
            ratio = _ratio(get("plain", level, "throughput"), get("agents", level, "throughput"))
            lines.append(
                f"- plain turn throughput / Agents SDK echo's at {level} chats: {_times(ratio)}"
                f" (target >= 2x): {verdict(None if ratio is None else ratio >= 2)}"
            )
    ratio = _ratio(get("plain", top, "p99"), get("agents", top, "p99"))
    lines.append(
        f"- p99 of a plain turn at {top} chats: {_ms(get('plain', top, 'p99'))} ms, Agents SDK"
        f" echo {_ms(get('agents', top, 'p99'))} ms, ratio"
        f" {'-' if ratio is None else f'{ratio:.2f}'} (target <= 0.5):"
        f" {verdict(None if ratio is None else ratio <= 0.5)}"
    )
    # The earlier targets, against the bare botbuilder echo and the stateless floor.
    for level in (10, 200):
        if level in settings.levels:
            ratio = _ratio(get("plain", level, "throughput"), get("sdk", level, "throughput"))
            lines.append(
                f"- plain turn throughput / bare SDK echo's at {level} chats: {_times(ratio)}"
                f" (target >= 5x): {verdict(None if ratio is None else ratio >= 5)}"
            )
    for level in settings.levels:
        plain = get("plain", level, "bot_cpu_per_turn")
        ratio = _ratio(plain, get("floor", level, "bot_cpu_per_turn"))
        lines.append(
            f"- bot CPU per plain turn / floor's at {level} chats: {_times(ratio)}"
            f" (target <= 5x): {verdict(None if ratio is None else ratio <= 5)}"
        )
    ratio = _ratio(get("plain", top, "p99"), get("sdk", top, "p99"))
    lines.append(
        f"- p99 of a plain turn at {top} chats: {_ms(get('plain', top, 'p99'))} ms, bare SDK"
        f" echo {_ms(get('sdk', top, 'p99'))} ms, ratio"
        f" {'-' if ratio is None else f'{ratio:.2f}'} (target < 0.25):"
        f" {verdict(None if ratio is None else ratio < 0.25)}"
    )
    for level in settings.levels:
        for key in ("plain", "fresh", "transfer"):
            before = results.get((f"{key}-before", level))
            if before is None:
                continue
            now = get(key, level, "bot_cpu_per_turn")
            ratio = _ratio(now, before["bot_cpu_per_turn"])
            speed = _ratio(get(key, level, "throughput"), before["throughput"])
            lines.append(
                f"- {key} {'chats' if key == 'fresh' else 'turn'} against the baseline at"
                f" {level} chats: bot CPU per turn"
                f" {_times(ratio)}, throughput {_times(speed)} (target: no slower, CPU ratio"
                f" <= 1.05): {verdict(None if ratio is None else ratio <= 1.05)}"
            )
    for level in settings.levels:
        relay, plain = (
            get("relay", level, "bot_cpu_per_turn"),
            get("plain", level, "bot_cpu_per_turn"),
        )
        if relay is not None:
            lines.append(
                f"- agent-relay turn at {level} chats: bot CPU {_ms(relay)} ms per turn,"
                f" {_times(_ratio(relay, plain))} the plain turn's ({_ms(plain)} ms); p50"
                f" {_ms(get('relay', level, 'p50'))} ms, plain {_ms(get('plain', level, 'p50'))} ms"
            )
    for level in settings.levels:
        for key in ("plain", "transfer"):
            longest = get(key, level, "callback_cpu_max")
            lines.append(
                f"- longest event-loop callback of a {key} turn at {level} chats: {_ms(longest)}"
                f" ms of CPU (the floor's: {_ms(get('floor', level, 'callback_cpu_max'))} ms;"
                f" target: under 10 ms, no chat waits on another's turn):"
                f" {verdict(None if longest is None else longest < 0.010)}"
            )
    one = results.get(("plain", 1))
    if one is not None:
        lines.append(
            f"- TCP connections Crossdesk opened to the connector host over a 1-chat run:"
            f" {one['connections']} (target 1): {verdict(one['connections'] == 1)}"
        )
    if soak is not None:
        slope = soak["slope_kib_per_1000_chats"]
        lines.append(
            f"- RSS against finished chats (plain, {soak['chats']} chats of {soak['turns']}"
            f" turns, {soak['finished']} chats finished): {soak['rss_start_mb']:.1f} MB at the"
            f" start, "
            + "".join(f"{mb:.1f} MB at {mark} chats, " for mark, mb in soak["rss_at_mb"].items())
            + f"{soak['rss_end_mb']:.1f} MB at the end, "
            f"{'-' if slope is None else f'{slope:+.0f} KiB'} per 1000 finished chats after the"
            f" first {SOAK_WARM_CHATS} (target: flat, under 256 KiB):"
            f" {verdict(None if slope is None else abs(slope) < 256)}"
        )
    return lines


async def run(
    settings: Settings, only: set[str] | None, targets_all: tuple[Target, ...] = TARGETS
) -> dict[str, Any]:
    targets = [t for t in targets_all if only is None or t.key in only]
    unavailable = {}
    for target in [t for t in targets if t.kind in PEERS]:
        try:
            await asyncio.to_thread(PEERS[target.kind].environment.ensure)
        except PeerUnavailable as error:
            unavailable[target.key] = str(error)
            print(f"left out {target.key}: {error}", file=sys.stderr, flush=True)
            targets.remove(target)
    raw: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for round_number in range(settings.rounds):
        order = targets if round_number % 2 == 0 else targets[::-1]
        for level in settings.levels:
            for target in order:
                result = await measure(target, level, settings)
                raw.setdefault((target.key, level), []).append(result)
                print(
                    f"round {round_number + 1}/{settings.rounds} {level:>3} chats"
                    f" {target.key:<8} {result['throughput']:7.0f} turns/s"
                    f"  p99 {_ms(result['p99']):>6} ms"
                    f"  cpu {_ms(result['bot_cpu_per_turn']):>5} ms/turn"
                    f"  conns {result['connector_connections']}",
                    file=sys.stderr,
                    flush=True,
                )
    soak = None
    if settings.soak_seconds and (only is None or "plain" in only):
        # Short chats, so many finish: RSS must not grow with them (state lives in the store).
        result = await measure(PLAIN, 50, settings, duration=settings.soak_seconds, turns=2)
        samples = result["rss_samples"]
        milestones = {}
        for mark in (1000, SOAK_WARM_CHATS):
            later = [rss for chats, rss in samples if chats >= mark]
            if later:
                milestones[mark] = later[0] / 2**20
        soak = {
            "chats": 50,
            "turns": 2,
            "finished": samples[-1][0] if samples else 0,
            "rss_start_mb": samples[0][1] / 2**20 if samples else 0.0,
            "rss_at_mb": milestones,
            "rss_end_mb": result["rss"] / 2**20,
            "slope_kib_per_1000_chats": rss_slope(samples),
            "samples": samples,
        }
    summaries = {key: summarize(runs) for key, runs in raw.items()}
    return {"raw": raw, "summaries": summaries, "soak": soak, "unavailable": unavailable}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one short round (about a minute)")
    parser.add_argument("--rounds", type=int, help="rounds per configuration (median taken)")
    parser.add_argument("--duration", type=float, help="measuring window per run, seconds")
    parser.add_argument("--levels", help="comma-separated concurrent chat counts")
    parser.add_argument("--soak", type=float, help="seconds of the RSS soak run (0: none)")
    parser.add_argument(
        "--only",
        help="comma-separated targets: " + ",".join(t.key for t in TARGETS) + " (and"
        " plain-before,transfer-before and fresh-before with --baseline)",
    )
    parser.add_argument("--json", type=Path, help="also write every raw figure here")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of Crossdesk whose plain and transfer turns to measure too",
    )
    parser.add_argument(
        "--live-views",
        type=int,
        metavar="N",
        help="only count the store queries of N open live views of the operations view",
    )
    args = parser.parse_args(argv)
    if args.live_views:
        from bench.live_views import report

        return report(args.live_views)
    targets = TARGETS + (baseline_targets(args.baseline.resolve()) if args.baseline else ())
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = Settings(**{**vars(settings), "rounds": args.rounds})
    if args.duration:
        settings = Settings(**{**vars(settings), "duration": args.duration})
    if args.levels:
        levels = tuple(int(level) for level in args.levels.split(","))
        settings = Settings(**{**vars(settings), "levels": levels})
    if args.soak is not None:
        settings = Settings(**{**vars(settings), "soak_seconds": args.soak})
    only = set(args.only.split(",")) if args.only else None

    started = dt.datetime.now(dt.UTC)
    load = os.getloadavg()
    outcome = asyncio.run(run(settings, only, targets))
    command = "python -m bench" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    print(f"## {started:%Y-%m-%d %H:%M} UTC — {machine()}")
    print()
    print(
        f"`{command}`: {settings.rounds} round(s) per cell (medians), {settings.duration:g} s"
        f" window, chats of {PLAIN.turns} timed turns ({TRANSFER.turns} for transfers) after"
        f" an untimed install, fresh chats of {FRESH.turns + 1} timed turns (the install too),"
        f" load average at start {load[0]:.2f}/{load[1]:.2f}."
    )
    print()
    print(table(outcome["summaries"], settings, targets))
    print()
    for key, reason in outcome["unavailable"].items():
        print(f"Not measured: {key} ({reason}).")
        print()
    for line in verdicts(outcome["summaries"], settings, outcome["soak"]):
        print(line)
    if args.json:
        serializable = {
            "started": started.isoformat(),
            "machine": machine(),
            "settings": vars(settings),
            "raw": {f"{k}@{level}": runs for (k, level), runs in outcome["raw"].items()},
            "soak": outcome["soak"],
            "unavailable": outcome["unavailable"],
        }
        args.json.write_text(json.dumps(serializable, indent=1))
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
