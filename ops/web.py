"""The operations view's web app, mounted at `/ops`: sign-in, the JSON API, the pages.

Every request but sign-in's own needs a session cookie: pages without one are sent to sign in,
the API answers 401. The API alone also takes an Entra ID access token instead
(`Authorization: Bearer`, ops/bearer.py), for scripts; a request that carries the header is
judged by it alone, never by a cookie beside it. A person's scope is resolved from their roles
on each request, by the configuration in force, so a changed role mapping applies at once.
Every answer carries a strict Content-Security-Policy and is never cached.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web
from cryptography.fernet import Fernet

from ops.access import scope_of
from ops.bearer import API_SCOPE, ApiTokens, InsufficientScope, NotBearer, TokenRefused
from ops.cookies import SealedCookie
from ops.devidp import DevIdentityProvider, Persona
from ops.settings import OpsSettings, SignInMode
from ops.signin import EntraSignIn, Identity, ProviderUnreachable, SignInError
from pipeline.config import Config
from storage.base import AuditEntry, Store
from storage.export import scoped_export
from storage.reports import LiveSnapshot
from storage.scope import Scope

log = logging.getLogger(__name__)

PREFIX = "/ops"
#: How long a browser may take between leaving for the provider and coming back.
FLOW_LIFETIME = timedelta(minutes=10)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The view's own script and style, and the vendored libraries (ops/assets.py): public files,
#: served without sign-in (the sign-in pages use them too).
STATIC = Path(__file__).resolve().parent / "static"
#: Audit entries an admin gets at most in one answer.
AUDIT_LIMIT = 1000
#: The realm of the API's `WWW-Authenticate` challenges.
REALM = "crossdesk-ops"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person of a request and what they may see."""

    identity: Identity
    scope: Scope


VIEWER = web.RequestKey("ops_viewer", Viewer)


class OpsView:
    """The running view: sign-in, cookies, templates, and where the data comes from."""

    def __init__(
        self,
        settings: OpsSettings,
        config: Config,
        store: Callable[[], Store],
        signin: EntraSignIn,
        session_key: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.config = config
        self._store = store
        self.signin = signin
        self.tokens = ApiTokens(signin, settings.api_audiences(signin.client_id))
        self.clock = clock
        fernet = Fernet(session_key.encode())
        secure = not settings.loopback
        self.session = SealedCookie(
            "__Host-crossdesk_ops" if secure else "crossdesk_ops",
            fernet,
            timedelta(hours=settings.session_hours),
            clock,
            path="/",
            secure=secure,
            samesite="Lax",
        )
        # The provider posts its answer back (form_post) from its own site: only a
        # `SameSite=None` cookie comes with it, and browsers take those only `Secure`
        # (loopback counts as a secure origin to them).
        self.flow = SealedCookie(
            "__Secure-crossdesk_ops_flow" if secure else "crossdesk_ops_flow",
            fernet,
            FLOW_LIFETIME,
            clock,
            path=f"{PREFIX}/auth",
            secure=True,
            samesite="None",
        )
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    @property
    def store(self) -> Store:
        return self._store()

    def viewer(self, request: web.Request) -> Viewer | None:
        value = self.session.read(request)
        if value is None:
            return None
        try:
            identity = Identity.from_json(value)
        except (KeyError, TypeError):
            return None
        return self.viewer_of(identity)

    def viewer_of(self, identity: Identity) -> Viewer:
        """What `identity` sees, by its roles and the configuration in force."""
        return Viewer(identity, scope_of(identity.roles, self.config.file.ops.roles))

    def base_url(self, request: web.Request) -> str:
        return self.settings.public_url or f"{request.scheme}://{request.host}"

    def render(self, name: str, status: int = 200, **values: Any) -> web.Response:
        body = self.templates.get_template(name).render(**values)
        return web.Response(text=body, status=status, content_type="text/html")


OPS = web.AppKey("ops", OpsView)
DEV_PROVIDER = web.AppKey("ops_dev_provider", DevIdentityProvider)


def _view(request: web.Request) -> OpsView:
    return request.app[OPS]


def _viewer(request: web.Request) -> Viewer:
    return request[VIEWER]


def _safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path of the view, never elsewhere."""
    if (
        target
        and (target == PREFIX or target.startswith(f"{PREFIX}/"))
        and "\\" not in target
        and not target.startswith(f"{PREFIX}/auth/")
    ):
        return target
    return f"{PREFIX}/"


def _redirect(location: str, status: int = 302) -> web.Response:
    """A redirect that cookies can be set on (aiohttp's are exceptions, to be raised)."""
    return web.Response(status=status, headers={"Location": location})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


# middleware and headers


@web.middleware
async def _signed_in(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Everything but sign-in needs a session: the API answers 401, pages send to sign-in. On
    the API an `Authorization` header, when present, is the only credential considered."""
    path = request.path.removeprefix(PREFIX)
    if path.startswith(("/auth/", "/static/")):
        return await handler(request)
    api = path.startswith("/api/")
    if api and "Authorization" in request.headers:
        outcome = await _bearer(request)
        if isinstance(outcome, web.StreamResponse):
            return outcome
        request[VIEWER] = outcome
        return await handler(request)
    # Pages know only the session cookie: a bearer token there is not a credential.
    viewer = _view(request).viewer(request)
    if viewer is None:
        if api:
            return _challenge(
                401, "sign in first: open /ops/ in a browser, or send an access token (README)"
            )
        raise web.HTTPFound(f"{PREFIX}/auth/login?{urlencode({'next': request.rel_url.path_qs})}")
    request[VIEWER] = viewer
    return await handler(request)


async def _bearer(request: web.Request) -> Viewer | web.Response:
    """The viewer of an API request's bearer token, or the answer refusing it."""
    view = _view(request)
    try:
        identity = await view.tokens.identify(request.headers["Authorization"])
    except NotBearer as other:
        return _challenge(401, str(other))
    except TokenRefused as refused:
        log.info("ops API: bearer token refused: %s", refused)
        return _challenge(401, str(refused), "invalid_token")
    except InsufficientScope as refused:
        log.info("ops API: bearer token refused: %s", refused)
        return _challenge(403, str(refused), "insufficient_scope")
    except ProviderUnreachable as failure:
        log.warning("ops API: bearer tokens cannot be checked: %s", failure)
        return _error(503, f"access tokens cannot be checked now: {failure}")
    viewer = view.viewer_of(identity)
    if viewer.scope.empty:
        log.info(
            "ops API: %s has no role of ops.roles (%s)", identity.who, ", ".join(identity.roles)
        )
        return _challenge(
            403, "the access token carries no app role that ops.roles maps", "insufficient_scope"
        )
    log.debug("ops API: bearer caller %s (%s)", identity.who, ", ".join(identity.roles))
    return viewer


def _challenge(status: int, reason: str, error: str | None = None) -> web.Response:
    """An RFC 6750 refusal: the `WWW-Authenticate: Bearer` challenge, with its `error` code
    unless the request carried no bearer token at all, and the reason in JSON like every error
    of the API."""
    challenge = f'Bearer realm="{REALM}"'
    if error is not None:
        challenge += f', error="{error}"'
        if error == "insufficient_scope":
            challenge += f', scope="{API_SCOPE}"'
    return web.json_response(
        {"error": reason}, status=status, headers={"WWW-Authenticate": challenge}
    )


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    static = request.path.startswith(f"{PREFIX}/static/")
    # Static files are revalidated (ETag, Last-Modified); everything else is never stored.
    response.headers["Cache-Control"] = "no-cache" if static else "no-store"


# sign-in


async def login(request: web.Request) -> web.StreamResponse:
    view = _view(request)
    redirect_uri = f"{view.base_url(request)}{PREFIX}/auth/callback"
    try:
        flow = await view.signin.start(redirect_uri)
    except SignInError as refused:
        log.warning("ops sign-in cannot start: %s", refused)
        return view.render("signin_failed.html", status=503, reason=str(refused))
    response = _redirect(flow["auth_uri"])
    view.flow.write(response, {"flow": flow, "next": _safe_next(request.query.get("next"))})
    return response


async def callback(request: web.Request) -> web.StreamResponse:
    view = _view(request)
    form = await request.post()
    answer = {key: value for key, value in form.items() if isinstance(value, str)}
    started = view.flow.read(request)
    if started is None or not isinstance(started.get("flow"), dict):
        log.warning("ops sign-in refused: no sign-in flow in this browser (or it expired)")
        return view.render(
            "signin_failed.html",
            status=400,
            reason="this sign-in was not started in this browser, or took too long",
        )
    try:
        identity = await view.signin.finish(started["flow"], answer)
    except SignInError as refused:
        log.warning("ops sign-in refused: %s", refused)
        response = view.render("signin_failed.html", status=400, reason=str(refused))
        view.flow.clear(response)
        return response
    log.info("ops sign-in: %s (%s)", identity.username or identity.oid, ", ".join(identity.roles))
    response = _redirect(_safe_next(started.get("next")), 303)
    view.flow.clear(response)
    view.session.write(response, identity.as_json())
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    view = _view(request)
    back = f"{view.base_url(request)}{PREFIX}/auth/signed-out"
    target = await view.signin.end_session_url(back) or back
    response = _redirect(target, 303)
    view.session.clear(response)
    return response


async def signed_out(request: web.Request) -> web.StreamResponse:
    return _view(request).render("signed_out.html")


# pages


async def landing(request: web.Request) -> web.StreamResponse:
    view, viewer = _view(request), _viewer(request)
    names = view.config.tenant_names
    scope = viewer.scope
    return view.render(
        "landing.html",
        current="/ops/me",
        charts=False,
        identity=viewer.identity,
        scope=scope,
        departments=[names[t] for t in scope.visible(names)],
        transcripts=[names[t] for t in names if scope.reads_transcripts(t)],
        reports=[names[t] for t in names if scope.reports_on(t)],
    )


# the JSON API


async def me(request: web.Request) -> web.StreamResponse:
    viewer = _viewer(request)
    return web.json_response({**viewer.identity.as_json(), "scope": viewer.scope.as_json()})


async def conversation(request: web.Request) -> web.StreamResponse:
    view, viewer = _view(request), _viewer(request)
    conversation_id = request.match_info["conversation"]
    history = await view.store.history(conversation_id)
    shown = scoped_export(history, viewer.scope, view.config.tenant_names)
    if shown is None:
        return _error(404, "no such chat")
    if shown["transcripts_shown"]:
        await audit(view, viewer, "view", conversation_id, shown["transcripts_shown"])
    return web.json_response(shown)


async def audit(
    view: OpsView, viewer: Viewer, action: str, conversation_id: str, tenants: list[str]
) -> None:
    """Record that `viewer` was shown the message text of `tenants` in a chat."""
    identity = viewer.identity
    await view.store.record_audit(
        AuditEntry(
            id=uuid.uuid4().hex,
            at=view.clock(),
            who=identity.who,
            who_id=identity.oid,
            action=action,
            conversation_id=conversation_id,
            tenants=tuple(tenants),
        )
    )


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at.isoformat(),
        "who": entry.who,
        "whoId": entry.who_id,
        "action": entry.action,
        "conversation": entry.conversation_id,
        "tenants": list(entry.tenants),
    }


async def audit_log(request: web.Request) -> web.StreamResponse:
    view, viewer = _view(request), _viewer(request)
    if not viewer.scope.admin:
        return _error(403, "the audit log is for admins")
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= AUDIT_LIMIT:
        return _error(400, f"limit: a whole number from 1 to {AUDIT_LIMIT}")
    entries = await view.store.audit_log(int(raw))
    return web.json_response({"entries": [audit_json(entry) for entry in entries]})


def create_ops_app(
    settings: OpsSettings,
    config: Config,
    store: Callable[[], Store],
    *,
    clock: Callable[[], datetime],
    live_interval: float = 2.0,
) -> web.Application:
    """The `/ops` sub-application. With the development sign-in it starts the local provider
    (its personas from `ops.dev_personas`) as it starts, and stops it with the app. Its
    `LiveHub` (`ops.pages.LIVE`) asks the store every `live_interval` seconds while anyone
    watches the live view."""
    # Imported here: the pages import this module's keys.
    from ops.admin import add_admin
    from ops.live import LiveHub
    from ops.pages import LIVE, add_pages, reports_of

    app = web.Application(middlewares=[_signed_in])
    app.on_response_prepare.append(_headers)

    async def signing_in(app: web.Application) -> AsyncIterator[None]:
        if settings.mode is SignInMode.DEV:
            with tempfile.TemporaryDirectory(prefix="crossdesk-ops-") as directory:
                personas = [
                    Persona.named(p.name, p.username, p.roles) for p in config.file.ops.dev_personas
                ]
                with DevIdentityProvider(personas, Path(directory)) as provider:
                    app[DEV_PROVIDER] = provider
                    signin = EntraSignIn(
                        client_id=provider.client_id,
                        client_secret=provider.client_secret,
                        tenant_id=provider.tenant_id,
                        authority=provider.authority,
                        clock=clock,
                        ca_file=provider.cert_file,
                    )
                    key = settings.session_key or Fernet.generate_key().decode()
                    app[OPS] = OpsView(settings, config, store, signin, key, clock)
                    # Not INFO: start-up runs before the port is bound, and a start that fails
                    # there says so in one line (`Operations view on …` follows a bind).
                    log.debug(
                        "/ops signs in with the development provider at %s (%d personas)",
                        provider.url,
                        len(personas),
                    )
                    yield
                    signin.close()
        else:
            signin = EntraSignIn(
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                tenant_id=settings.tenant_id,
                authority=settings.authority_url(),
                clock=clock,
                ca_file=settings.ca_file,
            )
            key = settings.session_key or Fernet.generate_key().decode()
            app[OPS] = OpsView(settings, config, store, signin, key, clock)
            yield
            signin.close()

    app.cleanup_ctx.append(signing_in)

    async def live() -> LiveSnapshot:
        # One snapshot of every department; each stream shows it as its viewer's scope allows.
        return await reports_of(store()).live(Scope.of(admin=True), clock())

    hub = app[LIVE] = LiveHub(live, clock, live_interval)

    async def closing_streams(app: web.Application) -> None:
        await hub.close()

    app.on_shutdown.append(closing_streams)
    app.router.add_static("/static/", STATIC, append_version=False)
    add_pages(app)
    add_admin(app)
    app.router.add_get("/me", landing)
    app.router.add_get("/auth/login", login)
    app.router.add_post("/auth/callback", callback)
    app.router.add_post("/auth/logout", logout)
    app.router.add_get("/auth/signed-out", signed_out)
    app.router.add_get("/api/v1/me", me)
    app.router.add_get("/api/v1/conversations/{conversation}", conversation)
    app.router.add_get("/api/v1/audit", audit_log)
    return app
