"""Crossdesk: entry point and app factory.

`python app.py` serves the bot on http://$HOST:$PORT/api/messages (default 127.0.0.1:3978);
`python app.py sessions --conversation ID` prints a chat's sessions as JSON;
`python app.py check` validates the configuration and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from bots.endpoint import BOT, ChannelSettings, TeamsEndpoint
from bots.sender import ConnectorSender
from bots.teams import CrossdeskBot
from dialogs import Delivery, Runtime, Sweeper
from dialogs.delivery import Pacer
from dialogs.repair import Stranded, locate
from errors import ConfigError, CrossdeskError
from pipeline.config import EXAMPLE_CONFIG, Config, load_config
from storage.base import LEASE_SECONDS, Store
from storage.export import conversation_export
from storage.sqlite import SqliteStore

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
    #: Endpoint overrides for the SDK's authentication (tests point these at local servers).
    auth_endpoints: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        allowed = env.get("CROSSDESK_ALLOWED_DIRECTORY_TENANTS", "")
        try:
            port = int(env.get("PORT", "3978"))
        except ValueError:
            raise ConfigError([f"PORT: not a number: {env['PORT']!r}"]) from None
        return cls(
            app_id=env.get("MicrosoftAppId", ""),
            app_password=env.get("MicrosoftAppPassword", ""),
            app_type=env.get("MicrosoftAppType", "") or "MultiTenant",
            app_tenant_id=env.get("MicrosoftAppTenantId", ""),
            config_path=Path(env.get("CROSSDESK_CONFIG", "") or EXAMPLE_CONFIG),
            sqlite_path=Path(env.get("CROSSDESK_SQLITE_PATH", "") or "crossdesk.sqlite3"),
            host=env.get("HOST", "") or "127.0.0.1",
            port=port,
            allowed_directory_tenants=frozenset(t.strip() for t in allowed.split(",") if t.strip()),
            storage=env.get("CROSSDESK_STORAGE", "") or "sqlite",
            cosmos_endpoint=env.get("COSMOS_ENDPOINT", ""),
            cosmos_key=env.get("COSMOS_KEY", ""),
            cosmos_database=env.get("COSMOS_DATABASE", "") or "crossdesk",
            sweep_seconds=_seconds(env, "CROSSDESK_SWEEP_SECONDS", 2.0),
            lease_seconds=_seconds(env, "CROSSDESK_LEASE_SECONDS", LEASE_SECONDS) or LEASE_SECONDS,
            pacing=_switch(env, "CROSSDESK_PACING", True),
            auth_endpoints={
                attribute: env[name].strip()
                for name, attribute in CHANNEL_ENDPOINT_SETTINGS.items()
                if env.get(name, "").strip()
            },
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


def create_app(settings: Settings, config: Config | None = None) -> web.Application:
    """The aiohttp application; the configuration is validated here, before serving."""
    config = config or load_config(settings.config_path)
    # Bodies are read as sent: Teams never compresses one, and the endpoint refuses any that is
    # (aiohttp would otherwise decode it first and fail on a body that lies about it).
    app = web.Application(client_max_size=1024 * 1024, handler_args={"auto_decompress": False})
    endpoint = app[ENDPOINT] = TeamsEndpoint(settings.channel())

    async def resources(app: web.Application) -> AsyncIterator[None]:
        store = await open_store(settings)
        app[STORE] = store
        delivery = Delivery(
            ConnectorSender(endpoint.authentication, settings.app_id),
            pacer=Pacer() if settings.pacing else Pacer(windows=()),
        )
        runtime = app[RUNTIME] = Runtime(config, store, delivery)
        app[SWEEPER] = Sweeper(store, delivery, interval=settings.sweep_seconds)
        app[BOT] = CrossdeskBot(
            runtime, allowed_directory_tenants=settings.allowed_directory_tenants
        )
        yield
        await store.close()

    sweeping: list[asyncio.Task[None]] = []

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


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _print_sessions(settings: Settings, conversation_id: str) -> None:
    store = await open_store(settings)
    try:
        print(json.dumps(await conversation_export(store, conversation_id), indent=2))
    finally:
        await store.close()


async def _stranded_chats(settings: Settings, config: Config) -> tuple[int, list[Stranded]]:
    """How many chats of the configured store are live, and those that `config` would move on
    (see dialogs/repair.py)."""
    if settings.storage == "sqlite" and not settings.sqlite_path.exists():
        raise CrossdeskError(f"no SQLite store at {settings.sqlite_path} (CROSSDESK_SQLITE_PATH)")
    store = await open_store(settings)
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


def _write_manifest(settings: Settings, out: Path, version: str, domains: list[str]) -> int:
    from manifest.package import PackageError, build_manifest, write_package

    if not settings.app_id:
        print(
            "Cannot build the package: set MicrosoftAppId to the bot's Entra app id.",
            file=sys.stderr,
        )
        return 2
    try:
        write_package(out, build_manifest(settings.app_id, version, domains))
    except PackageError as error:
        print("The Teams app package was refused:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    print(f"{out}: manifest.json, color.png, outline.png (bot {settings.app_id})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python app.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve the bot (the default)")
    check = commands.add_parser("check", help="validate the configuration and exit")
    check.add_argument(
        "--store",
        action="store_true",
        help="also list the live chats of the configured store this configuration would move",
    )
    sessions = commands.add_parser("sessions", help="print a chat's sessions as JSON")
    sessions.add_argument("--conversation", required=True, help="the Teams conversation id")
    package = commands.add_parser("manifest", help="build the Teams app package to sideload")
    package.add_argument("--out", type=Path, default=Path("crossdesk.zip"), help="the zip to write")
    package.add_argument("--version", default="1.0.0", help="the app version (semver)")
    package.add_argument(
        "--domain", action="append", default=[], help="a valid domain (repeatable)"
    )
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        if args.command == "sessions":
            asyncio.run(_print_sessions(settings, args.conversation))
            return 0
        if args.command == "manifest":
            return _write_manifest(settings, args.out, args.version, args.domain)
        config = load_config(settings.config_path)
        if args.command == "check":
            print(f"{settings.config_path}: OK ({len(config.tenants)} tenants)")
            if args.store:
                live, stranded = asyncio.run(_stranded_chats(settings, config))
                _print_stranded(settings, config, live, stranded)
            return 0
        app = create_app(settings, config)
        app.on_startup.append(settle_garbage_collector)
    except ConfigError as error:
        print("Crossdesk cannot start; the configuration has problems:", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    except CrossdeskError as error:
        print(f"Crossdesk cannot start: {error}", file=sys.stderr)
        return 2
    auth = "on" if settings.app_id else "off (no MicrosoftAppId)"
    storage = (
        f"Cosmos DB {settings.cosmos_endpoint} database {settings.cosmos_database}"
        if settings.storage == "cosmos"
        else f"SQLite {settings.sqlite_path}"
    )
    log.info(
        "Crossdesk on http://%s:%d/api/messages, config %s, %s, auth %s",
        settings.host,
        settings.port,
        settings.config_path,
        storage,
        auth,
    )
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None)
    except CrossdeskError as error:
        # The store opens as the app starts (cleanup_ctx): a bad endpoint or key ends up here.
        print(f"Crossdesk cannot start: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
