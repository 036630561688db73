"""Crossdesk: entry point, app factory and the `crossdesk` command.

`crossdesk run` (or `python app.py`) serves the bot on http://$HOST:$PORT/api/messages (default
127.0.0.1:3978); `crossdesk check [FILE]` checks a configuration; `crossdesk sessions` finds
chats; `crossdesk manifest` builds the Teams app package. `crossdesk --help` lists them all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import gc
import json
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

try:
    from aiohttp import web

    from bots.endpoint import BOT, ChannelSettings, TeamsEndpoint
    from bots.sender import ConnectorSender
    from bots.teams import CrossdeskBot
    from cards.options import SUBMIT_KEY
    from dialogs import Delivery, Runtime, Sweeper
    from dialogs.conversation import warm_up as warm_up_texts
    from dialogs.delivery import Pacer, requeue
    from dialogs.repair import Stranded, locate
    from errors import ConfigError, CrossdeskError
    from integrations.http import OutboundClient, OutboundPolicy
    from integrations.webhooks import WebhookSender
    from ops.settings import OpsSettings
    from pipeline.config import (
        EXAMPLE_CONFIG,
        Config,
        check_config,
        load_config,
        schema_text,
    )
    from pipeline.findings import Severity, count
    from pipeline.session import (
        Direction,
        Session,
        SessionState,
        TranscriptEntry,
        iso,
        utc_now,
    )
    from storage.base import LEASE_SECONDS, ChatHistory, DeadLetter, SessionSearch, Store
    from storage.export import conversation_export, export
    from storage.sqlite import SqliteStore
except ModuleNotFoundError as missing:
    if __name__ != "__main__":
        raise
    # `python app.py …` with a Python that lacks Crossdesk's packages: say what to run instead.
    print(
        f"Crossdesk's packages are not installed for {sys.executable} ({missing.name} is"
        " missing). Run `make run` once (it sets up .venv), then use .venv/bin/crossdesk …"
        " (or .venv/bin/python app.py …).",
        file=sys.stderr,
    )
    sys.exit(2)

log = logging.getLogger("crossdesk")


#: The Bot Framework's endpoint settings (sovereign and government clouds, a local identity
#: provider), read from the environment under the names its own configuration uses, and the
#: attribute each becomes for the SDK.
CHANNEL_ENDPOINT_SETTINGS = {
    "ChannelService": "CHANNEL_SERVICE",
    "OAuthUrl": "OAUTH_URL",
    "ToChannelFromBotLoginUrl": "TO_CHANNEL_FROM_BOT_LOGIN_URL",
    "ToChannelFromBotOAuthScope": "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE",
    "ToBotFromChannelTokenIssuer": "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER",
    "ToBotFromChannelOpenIdMetadataUrl": "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL",
    "ToBotFromEmulatorOpenIdMetadataUrl": "TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL",
    "CallerId": "CALLER_ID",
}


@dataclass(frozen=True)
class Settings:
    """Everything Crossdesk reads from the environment (Bot Framework names where they exist)."""

    app_id: str = ""
    app_password: str = field(default="", repr=False)
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    config_path: Path = EXAMPLE_CONFIG
    sqlite_path: Path = Path("crossdesk.sqlite3")
    host: str = "127.0.0.1"
    port: int = 3978
    allowed_directory_tenants: frozenset[str] = frozenset()
    storage: str = "sqlite"
    cosmos_endpoint: str = ""
    cosmos_key: str = field(default="", repr=False)
    cosmos_database: str = "crossdesk"
    #: How often each instance looks for messages left to deliver (0: never; tests sweep
    #: themselves).
    sweep_seconds: float = 2.0
    #: How long a chat's lease outlives a process that stopped renewing it.
    lease_seconds: float = LEASE_SECONDS
    #: Whether replies are paced under Teams' per-conversation limits (off only for a Bot
    #: Connector without them: benchmarks).
    pacing: bool = True
    #: Whether aiohttp logs a line per request (`aiohttp.access`, at INFO): off by default, as
    #: each line costs a turn about a twentieth of its CPU.
    access_log: bool = False
    #: Endpoint overrides for the SDK's authentication (tests point these at local servers).
    auth_endpoints: Mapping[str, str] = field(default_factory=dict)
    #: The operations view's sign-in; None: no `/ops` (`CROSSDESK_OPS_AUTH=off`).
    ops: OpsSettings | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        allowed = env.get("CROSSDESK_ALLOWED_DIRECTORY_TENANTS", "")
        try:
            port = int(env.get("PORT", "3978"))
        except ValueError:
            raise ConfigError([f"PORT: not a number: {env['PORT']!r}"]) from None
        host = env.get("HOST", "") or "127.0.0.1"
        return cls(
            app_id=env.get("MicrosoftAppId", ""),
            app_password=env.get("MicrosoftAppPassword", ""),
            app_type=env.get("MicrosoftAppType", "") or "MultiTenant",
            app_tenant_id=env.get("MicrosoftAppTenantId", ""),
            config_path=Path(env.get("CROSSDESK_CONFIG", "") or EXAMPLE_CONFIG),
            sqlite_path=Path(env.get("CROSSDESK_SQLITE_PATH", "") or "crossdesk.sqlite3"),
            host=host,
            port=port,
            allowed_directory_tenants=frozenset(t.strip() for t in allowed.split(",") if t.strip()),
            storage=env.get("CROSSDESK_STORAGE", "") or "sqlite",
            cosmos_endpoint=env.get("COSMOS_ENDPOINT", ""),
            cosmos_key=env.get("COSMOS_KEY", ""),
            cosmos_database=env.get("COSMOS_DATABASE", "") or "crossdesk",
            sweep_seconds=_seconds(env, "CROSSDESK_SWEEP_SECONDS", 2.0),
            lease_seconds=_seconds(env, "CROSSDESK_LEASE_SECONDS", LEASE_SECONDS) or LEASE_SECONDS,
            pacing=_switch(env, "CROSSDESK_PACING", True),
            access_log=_switch(env, "CROSSDESK_ACCESS_LOG", False),
            auth_endpoints={
                attribute: env[name].strip()
                for name, attribute in CHANNEL_ENDPOINT_SETTINGS.items()
                if env.get(name, "").strip()
            },
            ops=OpsSettings.from_env(env, host),
        )

    def channel(self) -> ChannelSettings:
        """What the Teams endpoint needs: the bot's identity and authentication endpoints."""
        return ChannelSettings(
            app_id=self.app_id,
            app_password=self.app_password,
            app_type=self.app_type,
            app_tenant_id=self.app_tenant_id,
            auth_endpoints=self.auth_endpoints,
        )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError([f"{name}: not a number of seconds: {value!r}"]) from None
    if seconds < 0:
        raise ConfigError([f"{name}: must not be negative: {value!r}"])
    return seconds


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ConfigError([f"{name}: on or off, not {env[name]!r}"])


async def open_store(settings: Settings) -> Store:
    """The configured backend (`CROSSDESK_STORAGE`: `sqlite`, the default, or `cosmos`)."""
    if settings.storage == "sqlite":
        return SqliteStore(settings.sqlite_path, lease_seconds=settings.lease_seconds)
    if settings.storage == "cosmos":
        required = {"COSMOS_ENDPOINT": settings.cosmos_endpoint, "COSMOS_KEY": settings.cosmos_key}
        missing = [
            f"{name}: required with CROSSDESK_STORAGE=cosmos"
            for name, value in required.items()
            if not value
        ]
        if missing:
            raise ConfigError(missing)
        # Imported here: the Azure SDK is only loaded by deployments that use it.
        from storage.cosmos import CosmosStore

        return await CosmosStore.open(
            settings.cosmos_endpoint,
            settings.cosmos_key,
            settings.cosmos_database,
            lease_seconds=settings.lease_seconds,
        )
    raise ConfigError(
        [f"CROSSDESK_STORAGE: unknown backend {settings.storage!r} (use sqlite or cosmos)"]
    )


STORE = web.AppKey("store", Store)
ENDPOINT = web.AppKey("endpoint", TeamsEndpoint)
RUNTIME = web.AppKey("runtime", Runtime)
SWEEPER = web.AppKey("sweeper", Sweeper)
OUTBOUND = web.AppKey("outbound", OutboundClient)
#: The operations view's sub-application, when `/ops` is served.
OPS_APP = web.AppKey("ops_app", web.Application)


def outbound_policy(config: Config) -> OutboundPolicy:
    """Where the configuration lets requests and webhooks go."""
    outbound = config.file.outbound
    allowed = frozenset(host.lower() for host in outbound.allowed_hosts)
    return OutboundPolicy(allowed, outbound.allow_private)


def create_app(
    settings: Settings,
    config: Config | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    live_interval: float | None = None,
) -> web.Application:
    """The aiohttp application; the configuration is validated here, before serving.

    `clock` is what turns take as the time (tests move it to see chats go idle or tenants
    close). `live_interval` is how often the operations view's live streams ask the store
    (default: by the store, ops/live.py; the benchmark shortens it)."""
    config = config or load_config(settings.config_path)
    # Bodies are read as sent: Teams never compresses one, and the endpoint refuses any that is
    # (aiohttp would otherwise decode it first and fail on a body that lies about it).
    app = web.Application(client_max_size=1024 * 1024, handler_args={"auto_decompress": False})
    endpoint = app[ENDPOINT] = TeamsEndpoint(settings.channel())

    async def resources(app: web.Application) -> AsyncIterator[None]:
        store = await open_store(settings)
        app[STORE] = store
        outbound = app[OUTBOUND] = OutboundClient(outbound_policy(config))
        delivery = Delivery(
            ConnectorSender(endpoint.authentication, settings.app_id),
            pacer=Pacer() if settings.pacing else Pacer(windows=()),
            webhooks=WebhookSender(outbound),
        )
        runtime = app[RUNTIME] = Runtime(config, store, delivery, clock=clock, caller=outbound)
        delivery.observe = runtime.agent_delivery
        delivery.dead_letter = runtime.keep_dead_letter
        app[SWEEPER] = Sweeper(
            store,
            delivery,
            interval=settings.sweep_seconds,
            timers=runtime.fire_due_timers,
            idle=runtime.close_idle_chats,
        )
        app[BOT] = CrossdeskBot(
            runtime, allowed_directory_tenants=settings.allowed_directory_tenants
        )
        yield
        await outbound.close()
        await store.close()

    sweeping: list[asyncio.Task[None]] = []

    async def warm_texts(app: web.Application) -> None:
        # The catalogs and word lists, read now rather than in the first guest's turn.
        await asyncio.to_thread(warm_up_texts)

    async def start_sweeping(app: web.Application) -> None:
        # After the store and the channel's connections are open (both start before this).
        if settings.sweep_seconds > 0:
            sweeping.append(asyncio.create_task(app[SWEEPER].run()))

    async def stop_sweeping(app: web.Application) -> None:
        # Before they close: shutdown handlers run before cleanup.
        for task in sweeping:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(resources)
    app.add_subapp("/api", endpoint.app())
    if settings.ops is not None:
        # Imported here: a bot without `/ops` never loads its web code.
        from ops.live import COSMOS_INTERVAL, SQLITE_INTERVAL
        from ops.pages import LIVE
        from ops.web import PREFIX, create_ops_app

        settings.ops.check(settings.host)
        ops_app = create_ops_app(
            settings.ops,
            config,
            lambda: app[STORE],
            clock=clock,
            live_interval=live_interval
            or (COSMOS_INTERVAL if settings.storage == "cosmos" else SQLITE_INTERVAL),
        )
        app.add_subapp(PREFIX, ops_app)
        app[OPS_APP] = ops_app
        hub = ops_app[LIVE]

        async def turn_done(request: web.Request, response: web.StreamResponse) -> None:
            # A turn of this instance has committed: the live view asks again at once.
            if request.method == "POST" and request.path == "/api/messages":
                hub.notify()

        app.on_response_prepare.append(turn_done)
    app.on_startup.append(warm_texts)
    app.on_startup.append(start_sweeping)
    app.on_shutdown.append(stop_sweeping)
    app.router.add_get("/healthz", healthz)
    return app


#: Tracked allocations between two young-generation collections (CPython's default: 700).
GC_YOUNG_THRESHOLD = 30_000


async def settle_garbage_collector(app: web.Application) -> None:
    """For a serving process, once started: set the start-up objects (modules, SDK classes, the
    configuration) aside from garbage collection, and collect the young generation less often.

    A turn allocates a few hundred container objects. With CPython's defaults (700) the collector
    runs every few turns, each run rescans the objects of every turn still in flight (tens of
    thousands at 200 chats) and full runs the ~100,000 start-up objects: a sixth of a turn's CPU
    and pauses of 50-150 ms. A finished turn leaves no reference cycle (bots/adapter.py), so a
    larger young generation delays almost nothing but those rescans (bench/README.md).
    Process-wide, so `main()` (and the benchmark) install it, not `create_app`.
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def access_logger(settings: Settings) -> logging.Logger | None:
    """The logger of aiohttp's per-request access log when `CROSSDESK_ACCESS_LOG` is on (as
    `web.run_app` has it by default), else None: no line per request."""
    return logging.getLogger("aiohttp.access") if settings.access_log else None


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _open_admin_store(settings: Settings) -> Store:
    """The configured store for an admin command: a SQLite file that is not there is an error
    (opening it would create an empty one and answer that nothing was found)."""
    path = settings.sqlite_path
    if settings.storage == "sqlite" and not path.is_file():
        relative = "" if path.is_absolute() else f", relative to the current folder {Path.cwd()}"
        raise CrossdeskError(
            f"no SQLite store at {path.absolute()} (CROSSDESK_SQLITE_PATH={path}{relative});"
            " point CROSSDESK_SQLITE_PATH (or --sqlite) at the file the bot writes"
        )
    return await open_store(settings)


def _when(text: str, now: datetime) -> datetime:
    """`7d`, `12h`, `30m`, `2w` ago, or an ISO date or time (UTC unless it names an offset)."""
    relative = re.fullmatch(r"(\d+)\s*([mhdw])", text.strip())
    if relative:
        unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[relative.group(2)]
        return now - timedelta(**{unit: int(relative.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: write e.g. 7d, 12h, 30m, 2026-03-01 or 2026-03-01T09:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _moment(text: str) -> datetime:
    return _when(text, datetime.now(UTC))


def _guest(session: Session) -> str:
    name = session.metadata.get("Guest.Name") or ""
    email = session.metadata.get("Guest.Email") or session.metadata.get("Guest.UserPrincipalName")
    return f"{name} <{email}>" if email else str(name)


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _summary(session: Session) -> dict[str, Any]:
    position = session.position
    return {
        "session": session.id,
        "conversation": session.conversation_id,
        "tenant": session.tenant_id,
        "state": session.state.value,
        "started": iso(session.started_at),
        "ended": iso(session.ended_at) if session.ended_at else None,
        "guest": {
            "name": session.metadata.get("Guest.Name"),
            "email": session.metadata.get("Guest.Email"),
            "userPrincipalName": session.metadata.get("Guest.UserPrincipalName"),
        },
        "waiting_at": None
        if position is None
        else {"pipeline": position.pipeline, "stage": position.stage},
    }


def _table(sessions: list[Session], search: SessionSearch, prog: str) -> str:
    if not sessions:
        return "no sessions match"
    rows = [("STARTED (UTC)", "SESSION", "TENANT", "STATE", "GUEST")]
    rows += [
        (_minute(s.started_at), s.id[:8], s.tenant_id, s.state.value, _guest(s)) for s in sessions
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    more = ", the newest; --limit shows more" if len(sessions) >= search.limit else ""
    lines.append(
        f"{count(len(sessions), 'session')}{more}; `{prog} sessions {sessions[0].id[:8]}`"
        " shows a session's chat"
    )
    return "\n".join(line.rstrip() for line in lines)


async def _chat_of(store: Store, wanted: str) -> ChatHistory | list[Session]:
    """The chat `wanted` names (a conversation id, or a session id or its beginning), or the
    sessions of several chats that its beginning matches."""
    if re.fullmatch(r"[0-9a-f]{4,32}", wanted):
        found = await store.search_sessions(SessionSearch(session=wanted, limit=20))
        chats = {session.conversation_id for session in found}
        if len(chats) > 1:
            return found
        if chats:
            return await store.history(chats.pop())
    return await store.history(wanted)


def _chat_view(history: ChatHistory) -> str:
    """A chat as an admin reads it: each session with its links, answers and transcript."""
    sessions = history.sessions
    lines = [
        f"chat {history.conversation_id}: {count(len(sessions), 'session')},"
        f" {count(len(history.transfers), 'transfer')}",
        f"guest: {_guest(sessions[-1])}",
    ]
    for number, session in enumerate(sessions, 1):
        meta = session.metadata
        name = meta.get("Session.TenantName", session.tenant_id)
        state = session.state.value
        if session.position is not None:
            state += f", waits at {session.position.pipeline}/{session.position.stage}"
        if to := meta.get("Session.TransferredTo.TenantId"):
            state += f" to {to}"
        came = meta.get("Session.TransferredFrom.TenantId")
        ended = f", ended {_minute(session.ended_at)}" if session.ended_at else ""
        lines += [
            "",
            f"{number}. {session.tenant_id} ({name}): {state}" + (f", from {came}" if came else ""),
            f"   session {session.id}, started {_minute(session.started_at)}{ended} UTC",
        ]
        answers = {
            k: v for k, v in sorted(meta.items()) if not k.startswith(("Guest.", "Session."))
        }
        if "Guest.Question" in meta:
            answers = {"Guest.Question": meta["Guest.Question"], **answers}
        if resolution := meta.get("Session.Status.Resolution"):
            answers["Session.Status.Resolution"] = resolution
        lines += [f"   {key}: {value}" for key, value in answers.items()]
        for entry in history.transcripts.get(session.id, ()):
            who = "guest" if entry.direction is Direction.IN else "bot  "
            lines.append(f"   {entry.at.astimezone(UTC):%H:%M}  {who}  {_said(entry)}")
    return "\n".join(lines)


def _said(entry: TranscriptEntry) -> str:
    """One transcript entry in a line: its text, the first words of a card, or a click."""
    if entry.text:
        return entry.text.replace("\n", " ")
    for attachment in entry.attachments:
        body = (attachment.get("content") or {}).get("body") or []
        texts = [b.get("text") for b in body if isinstance(b, dict) and b.get("text")]
        return f"[card] {texts[0] if texts else attachment.get('contentType', '')}"
    if entry.value is not None:
        submitted = entry.value.get(SUBMIT_KEY)
        choice = submitted.get("choice") if isinstance(submitted, dict) else None
        return f"[clicked] {choice}" if choice is not None else f"[submitted] {entry.value}"
    return ""


async def _sessions(settings: Settings, args: argparse.Namespace, prog: str) -> int:
    """`sessions`: find sessions across chats, or show one chat."""
    store = await _open_admin_store(settings)
    try:
        if args.conversation:  # the chat's export, as the first release printed it
            print(json.dumps(await conversation_export(store, args.conversation), indent=2))
            return 0
        if args.chat:
            found = await _chat_of(store, args.chat)
            if isinstance(found, list):
                print(
                    f"{args.chat!r} begins sessions of {count(len(found), 'chat')}; give more of"
                    " the session id:",
                    file=sys.stderr,
                )
                print(_table(found, SessionSearch(limit=len(found) + 1), prog), file=sys.stderr)
                return 1
            if not found.sessions:
                print(f"no chat or session {args.chat!r} in this store", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps(export(found), indent=2, ensure_ascii=False))
            else:
                print(_chat_view(found))
            return 0
        search = SessionSearch(
            started_from=args.since,
            started_before=args.until,
            tenant_id=args.tenant,
            state=SessionState(args.state) if args.state else None,
            guest=args.guest,
            limit=args.limit,
        )
        sessions = await store.search_sessions(search)
        if args.json:
            print(json.dumps([_summary(s) for s in sessions], indent=2, ensure_ascii=False))
        else:
            print(_table(sessions, search, prog))
        return 0
    finally:
        await store.close()


async def _webhooks(settings: Settings, args: argparse.Namespace, prog: str) -> int:
    """`webhooks dead` lists the events given up on; `webhooks replay ID|--all` queues them
    again (the running bot's sweeper delivers them)."""
    store = await _open_admin_store(settings)
    try:
        letters = await store.dead_letters(limit=10_000)
        if args.action == "dead":
            if args.json:
                print(json.dumps([_letter_summary(letter) for letter in letters], indent=2))
                return 0
            print(f"{'GIVEN UP (UTC)':<17} {'ID':<46} {'EVENT':<20} {'URL':<30} REASON")
            for letter in letters:
                summary = _letter_summary(letter)
                print(
                    f"{summary['givenUpUtc'][:16].replace('T', ' '):<17} {letter.id:<46}"
                    f" {summary['type']:<20} {summary['url']:<30} {letter.reason}"
                )
            print(
                f"{count(len(letters), 'dead letter')}; `{prog} webhooks replay ID` (or --all)"
                " sends one again"
            )
            return 0
        chosen = letters if args.all else [letter for letter in letters if letter.id in args.ids]
        unknown = sorted(set(args.ids) - {letter.id for letter in chosen})
        if args.all and not chosen:
            print("no dead letters to replay")
            return 0
        if unknown or not chosen:
            shown = ", ".join(unknown) if unknown else "nothing to replay"
            print(f"{prog} webhooks replay: no such dead letter: {shown}", file=sys.stderr)
            return 1
        for letter in chosen:
            await requeue(store, letter)
        print(
            f"{count(len(chosen), 'event')} queued again; the bot delivers them at its next sweep"
        )
        return 0
    finally:
        await store.close()


def _letter_summary(letter: DeadLetter) -> dict[str, Any]:
    activity = letter.entry.activity
    event = activity.get("event") or {}
    url = str(activity.get("url", ""))
    return {
        "id": letter.id,
        "conversationId": letter.conversation_id,
        "givenUpUtc": iso(datetime.fromtimestamp(letter.at, UTC)),
        "type": str(event.get("type", "")),
        "eventId": event.get("id"),
        "url": url.split("?", 1)[0],
        "attempts": letter.entry.attempts,
        "reason": letter.reason,
    }


async def _audit(settings: Settings, args: argparse.Namespace) -> int:
    """`ops audit`: the newest entries of the operations view's audit log."""
    store = await _open_admin_store(settings)
    try:
        entries = await store.audit_log(args.limit)
    finally:
        await store.close()
    if args.json:
        from ops.web import audit_json

        print(json.dumps([audit_json(e) for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("the audit log is empty: no one has been shown message text in /ops")
        return 0
    rows = [("WHEN (UTC)", "WHO", "ACTION", "TENANTS", "CHAT")]
    rows += [
        (_minute(e.at), e.who, e.action, ",".join(e.tenants), e.conversation_id) for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)), row[4])
    return 0


async def _stranded_chats(settings: Settings, config: Config) -> tuple[int, list[Stranded]]:
    """How many chats of the configured store are live, and those that `config` would move on
    (see dialogs/repair.py)."""
    store = await _open_admin_store(settings)
    live, stranded = 0, []
    try:
        async for session in store.live_sessions():
            live += 1
            where = locate(config, session)
            if isinstance(where, Stranded):
                stranded.append(where)
    finally:
        await store.close()
    return live, stranded


def _print_stranded(
    settings: Settings, config: Config, live: int, stranded: list[Stranded]
) -> None:
    store = (
        f"Cosmos DB {settings.cosmos_endpoint} database {settings.cosmos_database}"
        if settings.storage == "cosmos"
        else str(settings.sqlite_path)
    )
    if not stranded:
        print(f"{store}: all {live} live chats can resume where they wait")
        return
    print(f"{store}: {len(stranded)} of {live} live chats would move with this configuration:")
    for chat in stranded:
        print(f"  {chat.describe(config)}")


def _write_manifest(
    settings: Settings, config_file: Path | None, out: Path, version: str, domains: list[str]
) -> int:
    """`manifest`: the Teams app package, branded from the configuration's `teams_app`."""
    from manifest.package import PackageError, app_icons, build_manifest, write_package

    if not settings.app_id:
        print(
            "Cannot build the package: set MicrosoftAppId to the bot's Entra app id.",
            file=sys.stderr,
        )
        return 2
    path = config_file or settings.config_path
    report = check_config(path)
    if report.errors or report.parsed is None:
        print(f"Cannot build the package: {path} has errors (crossdesk check):", file=sys.stderr)
        for finding in report.errors:
            print(f"  {finding}", file=sys.stderr)
        return 2
    app = report.parsed.teams_app
    color, outline, _ = app_icons(app, path.parent)
    try:
        write_package(out, build_manifest(settings.app_id, version, domains, app), color, outline)
    except PackageError as error:
        print("The Teams app package was refused:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(
        f"{out}: manifest.json, color.png, outline.png ('{app.short_name}', bot {settings.app_id})"
    )
    return 0


def _schema(out: Path | None) -> int:
    text = schema_text()
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{out}: the configuration's JSON Schema")
    return 0


def _check(settings: Settings, file: Path | None, *, strict: bool, store: bool) -> int:
    """`check`: every finding, one line each, then a one-line summary; exit 1 when the
    configuration would not start (with `strict`, when it has warnings too)."""
    path = file or settings.config_path
    report = check_config(path)
    for finding in report.findings:
        print(f"{finding.severity}: {finding}")
    if store and report.config is not None:
        live, stranded = asyncio.run(_stranded_chats(settings, report.config))
        _print_stranded(settings, report.config, live, stranded)
    print(report.summary(strict))
    return 1 if report.failed(strict) else 0


def _serve(settings: Settings, *, strict: bool) -> int:
    """`run`: check the configuration, then serve until stopped."""
    report = check_config(settings.config_path)
    if report.failed(strict) or report.config is None:
        stopping = [f for f in report.findings if f.severity is not Severity.INFO]
        if not strict:
            stopping = report.errors
        print(
            f"Crossdesk cannot start; the configuration has {count(len(stopping), 'problem')}:",
            file=sys.stderr,
        )
        for finding in stopping:
            print(f"  {finding}", file=sys.stderr)
        return 2
    for finding in report.warnings:
        log.warning("configuration: %s", finding)
    app = create_app(settings, report.config)
    app.on_startup.append(settle_garbage_collector)
    auth = "on" if settings.app_id else "off (no MicrosoftAppId)"
    storage = (
        f"Cosmos DB {settings.cosmos_endpoint} database {settings.cosmos_database}"
        if settings.storage == "cosmos"
        else f"SQLite {settings.sqlite_path}"
    )
    url = f"http://{settings.host}:{settings.port}"

    def serving(_: str) -> None:
        # Called by aiohttp once the port is bound: never claim a port we did not get.
        log.info(
            "Crossdesk on %s/api/messages, config %s, %s, auth %s",
            url,
            settings.config_path,
            storage,
            auth,
        )
        if settings.ops is not None:
            log.info("Operations view on %s/ops/ (sign-in: %s)", url, settings.ops.mode)
            from ops.web import DEV_PROVIDER

            provider = app[OPS_APP].get(DEV_PROVIDER)
            if provider is not None:
                log.info(
                    "Development access tokens for scripts: POST %s (certificate %s; README,"
                    " Scripts: access tokens on the API)",
                    provider.token_endpoint,
                    provider.cert_file,
                )

    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            print=serving,
            access_log=access_logger(settings),
        )
    except CrossdeskError as error:
        # The store opens as the app starts (cleanup_ctx): a bad endpoint or key ends up here.
        print(f"Crossdesk cannot start: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        reason = (
            "the port is in use (another Crossdesk? set PORT to a free port)"
            if error.errno == errno.EADDRINUSE
            else error.strerror or str(error)
        )
        print(f"Crossdesk cannot listen on {url}: {reason}", file=sys.stderr)
        return 2
    return 0


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Crossdesk, the Teams help desk: serve the bot, check its configuration,"
        " find chats, build the Teams app package.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, aliases in (("run", ["serve"]),):
        run = commands.add_parser(name, aliases=aliases, help="serve the bot (the default command)")
        run.add_argument("--strict", action="store_true", help="refuse to start on warnings")
    check = commands.add_parser(
        "check", help="check a configuration: errors, warnings, notes, then a summary"
    )
    check.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="the configuration (default: CROSSDESK_CONFIG, else config/example.yaml)",
    )
    check.add_argument("--strict", action="store_true", help="count warnings as errors")
    check.add_argument(
        "--store",
        action="store_true",
        help="also list the live chats of the configured store this configuration would move",
    )
    sessions = commands.add_parser(
        "sessions",
        help="find chats: list and search sessions (newest first), or show one chat",
        description="Without CHAT: the sessions that match, newest first, as a table. With"
        " CHAT (a session id, its first characters, or a Teams conversation id): that chat's"
        " sessions, linked by their transfers, with what was said. Times are UTC.",
    )
    sessions.add_argument("chat", nargs="?", help="a session id (or its start) or conversation id")
    sessions.add_argument(
        "--since", type=_moment, help="started at or after: 7d, 12h, 30m ago, or 2026-03-01"
    )
    sessions.add_argument("--until", type=_moment, help="started before: the forms of --since")
    sessions.add_argument("--tenant", help="in this tenant (its id)")
    sessions.add_argument(
        "--state", choices=[state.value for state in SessionState], help="in this state"
    )
    sessions.add_argument("--guest", help="part of the guest's name or email, in any case")
    sessions.add_argument(
        "--limit", type=_positive, default=50, help="at most this many (default 50)"
    )
    sessions.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    sessions.add_argument(
        "--sqlite", type=Path, help="the SQLite store (default: CROSSDESK_SQLITE_PATH)"
    )
    sessions.add_argument(
        "--conversation", help="print this conversation's sessions in full as JSON"
    )
    hooks = commands.add_parser(
        "webhooks",
        help="webhook events given up on: list them (dead), send them again (replay)",
        description="`dead` lists the webhook events the bot gave up on (oldest first);"
        " `replay ID…` or `replay --all` puts them back in their chats' outboxes, and the"
        " running bot delivers them at its next sweep.",
    )
    hook_actions = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    dead = hook_actions.add_parser("dead", help="list dead letters")
    dead.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    replay = hook_actions.add_parser("replay", help="send dead letters again")
    replay.add_argument("ids", nargs="*", metavar="ID", help="dead letter ids (see `dead`)")
    replay.add_argument("--all", action="store_true", help="every dead letter")
    for action in (dead, replay):
        action.add_argument(
            "--sqlite", type=Path, help="the SQLite store (default: CROSSDESK_SQLITE_PATH)"
        )
    ops = commands.add_parser("ops", help="the operations view: ops audit (see ops --help)")
    ops_commands = ops.add_subparsers(dest="ops_command", metavar="OPS_COMMAND", required=True)
    audit = ops_commands.add_parser(
        "audit",
        help="who was shown message text in /ops: the newest entries of the audit log",
        description="Every view of a chat's message text in the operations view, newest first:"
        " when (UTC), who, what, which chat and whose transcripts.",
    )
    audit.add_argument("--limit", type=_positive, default=50, help="at most this many (default 50)")
    audit.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    audit.add_argument(
        "--sqlite", type=Path, help="the SQLite store (default: CROSSDESK_SQLITE_PATH)"
    )
    commands.add_parser(
        "cards",
        help="preview and check card templates: cards render|check|functions (see cards --help)",
        add_help=False,
    ).add_argument("arguments", nargs=argparse.REMAINDER)
    schema = commands.add_parser(
        "schema", help="print the configuration's JSON Schema (for editors), or write it"
    )
    schema.add_argument("--out", type=Path, help="write it to this file instead")
    package = commands.add_parser("manifest", help="build the Teams app package to sideload")
    package.add_argument(
        "--config",
        type=Path,
        help="the configuration whose teams_app brands it (default: CROSSDESK_CONFIG)",
    )
    package.add_argument("--out", type=Path, default=Path("crossdesk.zip"), help="the zip to write")
    package.add_argument("--version", default="1.0.0", help="the app version (semver)")
    package.add_argument(
        "--domain", action="append", default=[], help="a valid domain (repeatable)"
    )
    return parser


#: A log line: time, level, logger and message (never a guest's text: see README, Security).
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str, *, serving: bool) -> None:
    """Log `LOG_FORMAT` lines at `level` on stderr. A serving bot's lines name no thread,
    process or source line, so the logging module is told not to look those up for every
    record (the logging HOWTO's "Optimization"): a third of what a line costs."""
    if serving:
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False
        logging._srcfile = None
    logging.basicConfig(level=level, format=LOG_FORMAT)


def main(argv: list[str] | None = None) -> int:
    """The `crossdesk` command (also `python app.py`); returns the exit code."""
    prog = "crossdesk" if Path(sys.argv[0]).name == "crossdesk" else "python app.py"
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["cards"]:
        # Everything after `cards` is the card tool's own (its --help too).
        from cards.__main__ import main as cards

        return cards(argv[1:])
    args = _parser(prog).parse_args(argv)
    command = args.command or "run"
    serving = command in ("run", "serve")
    level = os.environ.get("LOG_LEVEL", "INFO" if serving else "WARNING")
    configure_logging(level, serving=serving)
    try:
        settings = Settings.from_env()
        if serving:
            return _serve(settings, strict=getattr(args, "strict", False))
        if command == "check":
            return _check(settings, args.file, strict=args.strict, store=args.store)
        if command == "sessions":
            if args.sqlite is not None:
                settings = replace(settings, storage="sqlite", sqlite_path=args.sqlite)
            return asyncio.run(_sessions(settings, args, prog))
        if command == "webhooks":
            if args.sqlite is not None:
                settings = replace(settings, storage="sqlite", sqlite_path=args.sqlite)
            return asyncio.run(_webhooks(settings, args, prog))
        if command == "ops":
            if args.sqlite is not None:
                settings = replace(settings, storage="sqlite", sqlite_path=args.sqlite)
            return asyncio.run(_audit(settings, args))
        if command == "manifest":
            return _write_manifest(settings, args.config, args.out, args.version, args.domain)
        if command == "schema":
            return _schema(args.out)
    except ConfigError as error:
        print(f"{prog} {command}: the settings have problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except CrossdeskError as error:
        print(f"{prog} {command}: {error}", file=sys.stderr)
        return 2
    raise AssertionError(f"unhandled command {command}")


if __name__ == "__main__":
    sys.exit(main())
