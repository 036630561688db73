"""Where a turn's time goes: a sampling profile of one bot under the benchmark's load, by layer.

`python -m bench.profile --target plain --chats 10` serves the bot as `python -m bench` does,
drives it with the load generator and, once the chats run, attaches py-spy (from the
benchmark's tooling environment, `bench/peers/tools.txt`, built on first use) for `--seconds`
at `--rate` samples a second. It prints a Markdown table: each layer of the turn with its share
of the bot's samples and its most sampled functions (file and function; for SQLite, the
statement's source line), then the garbage collector's share of CPU time, which no stack shows
(measured by `gc.callbacks` in the bot, `bench/lifecycle.py`). `--raw PATH` keeps py-spy's
collapsed stacks; `--from-raw PATH` classifies a kept file again without running anything.

Samples are of the bot's event-loop thread at work: samples of it waiting in epoll and of idle
worker threads (blocked on their queue), which py-spy on this kind of machine does not always
tell from work, are counted apart. A sample is
charged to the first layer in `LAYERS` whose rule matches its stack, so the order decides:
a JSON encoder called by the store counts as JSON, an aiohttp client call made by the SDK's
send path counts as the aiohttp client.
"""

from __future__ import annotations

import argparse
import asyncio
import linecache
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.peers import TOOLS, PeerUnavailable
from bench.run import ROOT, TARGETS, Settings, Target, measure


@dataclass(frozen=True)
class Frame:
    """One frame of a sampled stack: function, file (as py-spy prints it) and line."""

    function: str
    file: str
    line: int

    @property
    def where(self) -> str:
        """`file:function`, the file relative to the checkout or to site-packages."""
        return f"{_short(self.file)}:{self.function}"


def _short(path: str) -> str:
    path = re.sub(r"^.*/site-packages/|^.*/lib/python3\.\d+/", "", path)
    root = str(ROOT) + "/"
    return path[len(root) :] if path.startswith(root) else path


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(raw: str) -> list[tuple[list[Frame], int]]:
    """py-spy's raw (collapsed) output: one `frame;frame;… count` line per distinct stack."""
    stacks = []
    for text in raw.splitlines():
        if not text.strip():
            continue
        stack, count = text.rsplit(" ", 1)
        frames = []
        for item in stack.split(";"):
            match = _FRAME.match(item)
            if match is None:
                frames.append(Frame(item, "", 0))
            else:
                line = match["line"]
                frames.append(Frame(match["function"], match["file"], int(line) if line else 0))
        stacks.append((frames, int(count)))
    return stacks


Rule = Callable[[list[Frame]], bool]


def anywhere(file: str, function: str = "") -> Rule:
    """A frame of the stack is in a file matching `file` (and a function matching
    `function`)."""
    in_file, named = re.compile(file), re.compile(function)
    return lambda frames: any(in_file.search(f.file) and named.search(f.function) for f in frames)


def leaf(file: str, function: str = "") -> Rule:
    """The innermost frame is in a file matching `file` (a C call there: a SQLite statement,
    a socket write, shows as that frame)."""
    in_file, named = re.compile(file), re.compile(function)
    return lambda frames: bool(
        frames and in_file.search(frames[-1].file) and named.search(frames[-1].function)
    )


_STDLIB = re.compile(r"/lib/python3\.\d+/(?!site-packages/)|^<")


def owned_by(file: str) -> Rule:
    """The innermost frame outside the standard library is in a file matching `file`: whose
    code the time was spent for, when no more specific layer took it."""
    in_file = re.compile(file)

    def rule(frames: list[Frame]) -> bool:
        owner = next((f for f in reversed(frames) if not _STDLIB.search(f.file)), None)
        return owner is not None and bool(in_file.search(owner.file))

    return rule


def either(*rules: Rule) -> Rule:
    return lambda frames: any(rule(frames) for rule in rules)


#: The layers of a turn, in the order a sample is matched against them: first what a sample
#: is inside of, wherever (a log call, the member look-up, the send path), then what its
#: innermost frame does (JSON, a SQLite call), then whose code it ran for.
LAYERS: tuple[tuple[str, Rule], ...] = (
    ("the benchmark's statement counter", anywhere(r"/bench/targets\.py", r"StatementCounts")),
    ("access log (aiohttp's, one line per request)", anywhere(r"/aiohttp/web_log\.py")),
    ("other logging (INFO lines)", anywhere(r"/logging/__init__\.py")),
    (
        "member look-up on installs (a direct GET, cached; before: TeamsInfo.get_member)",
        anywhere(r"/bots/guest\.py", r"member_metadata|MemberLookup|_member"),
    ),
    ("JSON (json.dumps/loads, wherever called)", leaf(r"/json/")),
    (
        "SQLite statements and commits (sqlite3's C calls)",
        either(leaf(r"/storage/(sqlite|leases)\.py"), leaf(r"/bench/targets\.py", r"limit_app")),
    ),
    ("store: records, copies and checks in Python (storage/)", anywhere(r"/storage/")),
    (
        "aiohttp client: the reply POST (request, connection, socket write, response)",
        anywhere(r"/aiohttp/(client|connector|client_reqrep|client_proto)\.py"),
    ),
    (
        "activity parse: body, JSON → Activity (bots/edge/wire.py, msrest, isodate)",
        either(
            anywhere(r"/bots/edge/wire\.py", r"activity_from_json"),
            anywhere(r"/aiohttp/web_request\.py"),
        ),
    ),
    (
        "SDK send path: TurnContext.send_activities, its hooks and deepcopies, msrest, connector",
        either(
            anywhere(r"/botbuilder/core/turn_context\.py", r"send_activit|_emit"),
            anywhere(r"/bots/edge/adapter\.py", r"_emit"),
            anywhere(r"/bots/teams\.py", r"TeamsChannel\.send"),
            anywhere(r"/bots/edge/connector\.py|/msrest/|/botframework/connector/"),
        ),
    ),
    (
        "Crossdesk runtime, stages and cards (dialogs/, pipeline/, cards/)",
        owned_by(r"/(dialogs|pipeline|cards)/"),
    ),
    (
        "SDK turn: adapter, middleware, handler dispatch (botbuilder, bots/)",
        owned_by(r"/botbuilder/|/botframework/|/bots/|/microsoft_agents/|/microsoft_teams/"),
    ),
    (
        "aiohttp server: HTTP parse, routing, response, socket write",
        owned_by(r"/aiohttp/|/yarl/|/multidict/"),
    ),
    ("asyncio event loop and the rest", lambda frames: True),
)


#: What some layers are made of, each sample of the layer charged to its first matching part.
FACETS: dict[str, tuple[tuple[str, Rule], ...]] = {
    "SDK send path": (
        ("deepcopy/copy", anywhere(r"/copy\.py$")),
        ("msrest", anywhere(r"/msrest/")),
        ("isodate", anywhere(r"/isodate/")),
        ("reply serializer (bots/edge/wire.py)", anywhere(r"/bots/edge/wire\.py")),
        ("connector (bots/edge/connector.py)", anywhere(r"/bots/edge/connector\.py")),
        ("TurnContext, hooks, reply building", lambda frames: True),
    ),
    "aiohttp client": (
        ("socket write", leaf(r"/asyncio/selector_events\.py", r"write")),
        ("request, headers, URL, response", lambda frames: True),
    ),
    "aiohttp server": (
        ("socket write", leaf(r"/asyncio/selector_events\.py", r"write")),
        ("HTTP parse, routing, response", lambda frames: True),
    ),
    "activity parse": (
        ("msrest, isodate (timestamps)", anywhere(r"/msrest/|/isodate/")),
        ("bots/edge/wire.py plans", anywhere(r"/bots/edge/wire\.py")),
        ("body read", lambda frames: True),
    ),
    "member look-up": (
        ("the GET on aiohttp's client", anywhere(r"/aiohttp/(client\w*|connector)\.py")),
        ("msrest client, request and model", anywhere(r"/msrest/")),
        ("the request, token and JSON (bots/edge/connector.py), TeamsInfo", lambda frames: True),
    ),
}


@dataclass
class Layer:
    """One layer's samples and where in it they fell."""

    title: str
    samples: int = 0
    functions: Counter[str] = field(default_factory=Counter)
    parts: Counter[str] = field(default_factory=Counter)

    def facets(self) -> tuple[tuple[str, Rule], ...]:
        return next((parts for name, parts in FACETS.items() if self.title.startswith(name)), ())


def classify(stacks: list[tuple[list[Frame], int]]) -> tuple[list[Layer], int, int]:
    """The event-loop thread's samples by layer (each layer's functions by the innermost
    frame, SQLite's by statement line), its total, and the samples of other threads."""
    layers = [Layer(title) for title, _ in LAYERS]
    total = others = 0
    for frames, count in stacks:
        if (frames and frames[0].function.startswith("Thread._bootstrap")) or _idle(frames):
            others += count
            continue
        total += count
        for layer, (_, rule) in zip(layers, LAYERS, strict=True):
            if rule(frames):
                layer.samples += count
                layer.functions[_detail(layer.title, frames)] += count
                part = next((name for name, part in layer.facets() if part(frames)), None)
                if part is not None:
                    layer.parts[part] += count
                break
    return layers, total, others


def _idle(frames: list[Frame]) -> bool:
    """The event loop waiting in epoll: idle, though py-spy may not tell it on this kind of
    machine."""
    return bool(frames) and frames[-1].function.endswith("Selector.select")


def _detail(title: str, frames: list[Frame]) -> str:
    inner = frames[-1]
    if title.startswith("SQLite"):
        source = linecache.getline(inner.file, inner.line).strip() if inner.line else ""
        return f"{inner.where}:{inner.line} `{source[:70]}`"
    if title.startswith("JSON"):
        caller = next((f for f in reversed(frames) if "/json/" not in f.file), inner)
        return f"{inner.function} from {caller.where}"
    return inner.where


def report(
    layers: list[Layer], total: int, others: int, gc_share: float | None, top: int = 4
) -> str:
    """The Markdown table of `classify`'s result."""
    rows = [
        "| layer | share of samples | of which | most sampled (innermost frame) |",
        "|---|---:|---|---|",
    ]
    for layer in sorted(layers, key=lambda layer: -layer.samples):
        if not layer.samples:
            continue
        parts = ", ".join(
            f"{name} {count / total * 100:.1f}%" for name, count in layer.parts.most_common()
        )
        where = "; ".join(
            f"{name} {count / total * 100:.1f}%" for name, count in layer.functions.most_common(top)
        )
        rows.append(
            f"| {layer.title} | {layer.samples / total * 100:.1f}% | {parts or '-'} | {where} |"
        )
    rows.append("")
    rows.append(
        f"{total} samples of the event-loop thread at work ({others} more of it waiting in epoll"
        " or of idle worker threads, left out); garbage collector: "
        + ("not measured" if gc_share is None else f"{gc_share * 100:.1f}% of the bot's CPU time")
        + " (gc.callbacks; the collector runs inside whatever allocation triggers it, so its"
        " time is also inside the layers above)."
    )
    return "\n".join(rows)


async def record(
    target: Target, chats: int, seconds: float, rate: int, raw: Path
) -> dict[str, object]:
    """Run `target` under load and py-spy; the load generator's figures (`attached`: py-spy's
    own last words)."""
    py_spy = TOOLS.bin("py-spy")
    settings = Settings((chats,), 1, seconds + 8.0, 1.0, 30.0, 0.0)

    async def attach(pid: int) -> str:
        await asyncio.sleep(4.0)
        spy = await asyncio.create_subprocess_exec(
            str(py_spy),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--full-filenames",
            "--output",
            str(raw),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await spy.communicate()
        finally:
            if spy.returncode is None:
                spy.kill()
                await spy.wait()
        said = [line for line in out.decode(errors="replace").splitlines() if "Samples" in line]
        return said[-1].removeprefix("py-spy> ").strip() if said else f"exit {spy.returncode}"

    flags = ("--no-callback-times",) + (("--count-statements",) if target.stateful else ())
    return await measure(target, chats, settings, attach=attach, bot_args=flags)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    keys = [target.key for target in TARGETS]
    parser.add_argument("--target", choices=keys, default="plain")
    parser.add_argument("--chats", type=int, default=10, help="concurrent chats")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long py-spy samples")
    parser.add_argument("--rate", type=int, default=100, help="samples a second")
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    parser.add_argument("--from-raw", type=Path, help="classify this kept file; run nothing")
    parser.add_argument("--top", type=int, default=4, help="functions shown per layer")
    args = parser.parse_args(argv)

    gc_share = None
    if args.from_raw is not None:
        raw = args.from_raw
    else:
        try:
            TOOLS.ensure()
        except PeerUnavailable as error:
            print(f"cannot profile: {error}", file=sys.stderr)
            return 3
        target = next(target for target in TARGETS if target.key == args.target)
        raw = args.raw or Path(tempfile.mkdtemp(prefix="crossdesk-profile-")) / "stacks.txt"
        result = asyncio.run(record(target, args.chats, args.seconds, args.rate, raw))
        gc_share = result["gc_share"]
        cpu = result["bot_cpu_per_turn"]
        print(
            f"{target.title}, {args.chats} chats: {result['throughput']:.0f} turns/s,"
            f" {'-' if not isinstance(cpu, float) else f'{cpu * 1000:.2f}'} ms CPU/turn"
            f" (under the profiler); py-spy: {result['attached']}"
        )
        statements = result["statements"]
        statuses = result["statuses"]
        if statements and isinstance(statements, dict) and isinstance(statuses, dict):
            activities = sum(statuses.values())
            print(
                f"SQLite statements per activity ({activities} activities):"
                f" {sum(statements.values()) / activities:.1f}, of which "
                + ", ".join(
                    f"{word} {count / activities:.2f}"
                    for word, count in sorted(statements.items(), key=lambda item: -item[1])
                )
            )
        print()
    layers, total, others = classify(parse(raw.read_text()))
    print(
        report(layers, total, others, gc_share if isinstance(gc_share, float) else None, args.top)
    )
    if args.raw is None and args.from_raw is None:
        raw.unlink(missing_ok=True)
        raw.parent.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
