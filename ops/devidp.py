"""A local OpenID provider shaped like Entra ID, for development and tests of `/ops` sign-in.

It serves, over HTTPS on 127.0.0.1 in a thread of its own (msal calls it with blocking
`requests`): discovery (`/{tenant}/v2.0/.well-known/openid-configuration`), signing keys,
`/authorize` (a page to pick a persona of `ops.dev_personas`; the code is bound to the PKCE
S256 challenge, and the answer comes back as a `form_post`), `/token` (the code for an ID
token carrying the persona's `roles`, once, only with the right verifier and client secret) and
end-session. So development, tests and production run the same msal sign-in code.

Its `/token` also issues Entra-shaped **access tokens** for the API (`/ops/api/v1`), so scripts
and tests in development call it with a bearer token checked by the production code:
`grant_type=client_credentials` with a persona's sign-in name as `client_id` and the scope
`api://<client id>/.default` gives an app-only token (the persona standing for a script's
app registration, with its roles), and the development grant `urn:crossdesk:dev:persona` with
`username` and the scope `api://<client id>/Ops.Read` gives a delegated one, as the persona.

Started only when `CROSSDESK_OPS_AUTH=dev` on loopback: anyone who reaches it signs in as
anyone.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import ipaddress
import json
import secrets
import ssl
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

#: The development sign-in's app registration and directory (fixed, so a session cookie of a
#: dev run reads as one).
DEV_CLIENT_ID = "c0de0000-0000-4000-8000-00000000d0e5"
DEV_TENANT_ID = "d0e50000-0000-4000-8000-0000000c0de5"
#: The client a delegated development access token names as its caller (`azp`).
DEV_SCRIPT_CLIENT_ID = "5c417000-0000-4000-8000-00000000d0e5"
#: How long an ID token of the provider is valid.
TOKEN_LIFETIME = dt.timedelta(hours=1)
#: How long an authorization code may wait to be redeemed.
CODE_LIFETIME = dt.timedelta(minutes=5)
#: The development grant for a delegated access token as a persona (no browser).
PERSONA_GRANT = "urn:crossdesk:dev:persona"
#: The delegated scope of the API (ops/bearer.py's API_SCOPE).
API_SCOPE = "Ops.Read"


def b64_int(number: int) -> str:
    """A JWK's big-endian, unpadded base64url integer."""
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": kid,
        "n": b64_int(numbers.n),
        "e": b64_int(numbers.e),
        **extra,
    }


def self_signed_certificate(directory: Path, prefix: str = "identity") -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 valid for a day, and its key, written to `directory`; a
    client trusts the server by naming the certificate file as its CA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{prefix}-cert.pem", directory / f"{prefix}-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class LocalHttpsServer:
    """A threaded HTTPS server on 127.0.0.1 (a free port) with a self-signed certificate."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], directory: Path, prefix: str) -> None:
        self.cert_file, key_file = self_signed_certificate(directory, prefix)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True, slots=True)
class Persona:
    """Someone to sign in as: what their ID token says."""

    name: str
    username: str
    roles: tuple[str, ...] = ()

    @property
    def oid(self) -> str:
        """A stable object id per sign-in name."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crossdesk-dev:{self.username}"))

    @property
    def app_id(self) -> str:
        """The client id of the script app the persona stands for in app-only tokens."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crossdesk-dev-app:{self.username}"))

    @classmethod
    def named(cls, name: str, username: str | None = None, roles: Sequence[str] = ()) -> Persona:
        made = ".".join(name.lower().split()) + "@crossdesk.dev"
        return cls(name, username or made, tuple(roles))


@dataclass
class _Grant:
    persona: Persona
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    issued: dt.datetime


@dataclass
class DevIdentityProvider:
    """The local OpenID provider. `personas` are whom `/authorize` offers.

    Tests reach into it: `clock` is its time (an ID token's `iat`/`exp`), `claims` are merged
    into every ID token it issues (a wrong `tid` or `aud`), `forged_key` signs them instead of
    the published key when set, `refusals` lists why it refused a request, and `keys_served`
    counts the fetches of its keys."""

    personas: Sequence[Persona]
    directory: Path
    client_id: str = DEV_CLIENT_ID
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    tenant_id: str = DEV_TENANT_ID
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    claims: dict[str, Any] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    forged_key: rsa.RSAPrivateKey | None = None
    #: How many times its signing keys were fetched.
    keys_served: int = 0

    def __post_init__(self) -> None:
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        self._server = LocalHttpsServer(_handler(self), self.directory, "ops-dev-identity")
        self.url = self._server.url
        self.cert_file = self._server.cert_file

    @property
    def authority(self) -> str:
        """What `CROSSDESK_OPS_AUTHORITY` would name: the directory's authority URL."""
        return f"{self.url}/{self.tenant_id}"

    @property
    def issuer(self) -> str:
        return f"{self.authority}/v2.0"

    @property
    def v1_issuer(self) -> str:
        """The issuer of v1.0 tokens (Entra's `https://sts.windows.net/<tenant>/`)."""
        return f"{self.url}/sts/{self.tenant_id}/"

    @property
    def token_endpoint(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    def __enter__(self) -> DevIdentityProvider:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def metadata(self) -> dict[str, Any]:
        base = f"{self.authority}/oauth2/v2.0"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "end_session_endpoint": f"{base}/logout",
            "jwks_uri": f"{self.authority}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def v1_metadata(self) -> dict[str, Any]:
        """The v1.0 endpoint's discovery document: only its issuer differs that matters here."""
        return {**self.metadata(), "issuer": self.v1_issuer}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.signing_key, self.kid)]}

    def id_token(self, persona: Persona, nonce: str | None, audience: str) -> str:
        now = self.clock()
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "tid": self.tenant_id,
            "oid": persona.oid,
            "sub": persona.oid,
            "name": persona.name,
            "preferred_username": persona.username,
            "roles": list(persona.roles),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "ver": "2.0",
            **({"nonce": nonce} if nonce else {}),
            **self.claims,
        }
        key = self.forged_key or self.signing_key
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": self.kid})

    def access_token(
        self, persona: Persona, *, app_only: bool = False, claims: Mapping[str, Any] | None = None
    ) -> str:
        """A v2.0 access token for the app's API, signed with the published key: delegated
        (as `persona`, scope `Ops.Read`), or `app_only` (the persona's script app calling as
        itself); `claims` are merged in, a None removing one (tests)."""
        now = self.clock()
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "tid": self.tenant_id,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "roles": list(persona.roles),
            "ver": "2.0",
        }
        if app_only:
            app = persona.app_id
            body |= {"oid": app, "sub": app, "azp": app, "azpacr": "1", "idtyp": "app"}
        else:
            body |= {
                "oid": persona.oid,
                "sub": persona.oid,
                "azp": DEV_SCRIPT_CLIENT_ID,
                "azpacr": "0",
                "scp": API_SCOPE,
                "name": persona.name,
                "preferred_username": persona.username,
                "idtyp": "user",
            }
        body = {k: v for k, v in (body | dict(claims or {})).items() if v is not None}
        key = self.forged_key or self.signing_key
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": self.kid})

    def persona(self, username: str) -> Persona | None:
        return next((p for p in self.personas if p.username == username), None)

    # the endpoints' behaviour (called from the server's threads)

    def _refuse(self, reason: str) -> tuple[int, dict[str, Any]]:
        self.refusals.append(reason)
        return 400, {"error": "invalid_grant", "error_description": reason}

    def _authorization_problem(self, query: Mapping[str, str]) -> str | None:
        if query.get("client_id") != self.client_id:
            return "unknown client_id"
        if query.get("response_type") != "code":
            return "only response_type=code is supported"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return "a PKCE S256 code_challenge is required"
        redirect = urlsplit(query.get("redirect_uri", ""))
        host = redirect.hostname or ""
        if not (host == "localhost" or _is_loopback(host)):
            return "redirect_uri must be on loopback"
        return None

    def authorize(self, query: Mapping[str, str], persona_index: int) -> str:
        """A code for `personas[persona_index]`, bound to the request's PKCE challenge."""
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                self.personas[persona_index],
                query["client_id"],
                query["redirect_uri"],
                query["code_challenge"],
                query.get("nonce"),
                self.clock(),
            )
        return code

    def api_token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """An access token for the API: app-only (client credentials, the persona named by
        `client_id`) or delegated (the development grant, the persona named by `username`)."""
        app_only = form.get("grant_type") == "client_credentials"
        persona = self.persona(form.get("client_id" if app_only else "username", ""))
        if persona is None:
            return self._refuse("no persona of ops.dev_personas has that sign-in name")
        wanted = f"api://{self.client_id}/" + (".default" if app_only else API_SCOPE)
        if wanted not in form.get("scope", "").split():
            self.refusals.append(f"scope {wanted} not asked for")
            return 400, {"error": "invalid_scope", "error_description": f"ask for {wanted}"}
        return 200, {
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "access_token": self.access_token(persona, app_only=app_only),
        }

    def token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") in ("client_credentials", PERSONA_GRANT):
            return self.api_token(form)
        if form.get("grant_type") != "authorization_code":
            return self._refuse("only grant_type=authorization_code is supported")
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if grant is None:
            return self._refuse("unknown or used authorization code")
        if form.get("client_id") != grant.client_id or not secrets.compare_digest(
            form.get("client_secret", ""), self.client_secret
        ):
            return self._refuse("wrong client credentials")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._refuse("redirect_uri differs from the authorization request's")
        if self.clock() - grant.issued > CODE_LIFETIME:
            return self._refuse("authorization code expired")
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return self._refuse("PKCE verification failed: the code_verifier does not match")
        client_info = base64.urlsafe_b64encode(
            json.dumps({"uid": grant.persona.oid, "utid": self.tenant_id}).encode()
        ).decode()
        return 200, {
            "token_type": "Bearer",
            "scope": "openid profile",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "access_token": secrets.token_urlsafe(16),
            "id_token": self.id_token(grant.persona, grant.nonce, grant.client_id),
            "client_info": client_info,
        }

    def persona_page(self, query: Mapping[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in query.items()
        )
        buttons = "".join(
            f'<li><form method="post">{hidden}<button name="persona" value="{index}">'
            f"{html.escape(p.name)}</button> {html.escape(p.username)}"
            f" ({html.escape(', '.join(p.roles) or 'no roles')})</form></li>"
            for index, p in enumerate(self.personas)
        )
        return _page(
            "Sign in (development)",
            "<h1>Crossdesk development sign-in</h1><p>Sign in as:</p>"
            f"<ul>{buttons or '<li>No personas: add ops.dev_personas</li>'}</ul>",
        )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body>{body}</body></html>"
    )


def form_post_page(redirect_uri: str, fields: Mapping[str, str]) -> str:
    """The `form_post` answer: a form that a browser submits to the app (a button, and a
    script that presses it)."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return _page(
        "Signing in",
        f'<form method="post" action="{html.escape(redirect_uri)}">{inputs}'
        '<button type="submit">Continue</button></form>'
        "<script>document.forms[0].submit()</script>",
    )


def _handler(provider: DevIdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests carry codes and tokens: never logged

        def _send(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: Any) -> None:
            self._send(status, json.dumps(body), "application/json")

        def _route(self) -> tuple[str, dict[str, str]]:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            prefix = f"/{provider.tenant_id}"
            path = parts.path
            return (path.removeprefix(prefix) if path.startswith(prefix + "/") else ""), query

        def _form(self) -> dict[str, str]:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            return {k: v[0] for k, v in parse_qs(raw).items()}

        def do_GET(self) -> None:
            path, query = self._route()
            if path == "/v2.0/.well-known/openid-configuration":
                self._json(200, provider.metadata())
            elif path == "/.well-known/openid-configuration":
                self._json(200, provider.v1_metadata())
            elif path == "/discovery/v2.0/keys":
                with provider._lock:
                    provider.keys_served += 1
                self._json(200, provider.jwks())
            elif path == "/oauth2/v2.0/authorize":
                problem = provider._authorization_problem(query)
                if problem:
                    provider.refusals.append(problem)
                    self._send(400, _page("Refused", html.escape(problem)), "text/html")
                else:
                    self._send(200, provider.persona_page(query), "text/html")
            elif path == "/oauth2/v2.0/logout":
                back = query.get("post_logout_redirect_uri", "")
                link = f'<a href="{html.escape(back)}">Back to Crossdesk</a>' if back else ""
                self._send(200, _page("Signed out", f"<p>Signed out.</p>{link}"), "text/html")
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            path, _ = self._route()
            form = self._form()
            if path == "/oauth2/v2.0/token":
                self._json(*provider.token(form))
            elif path == "/oauth2/v2.0/authorize":
                problem = provider._authorization_problem(form)
                index = form.get("persona", "")
                if problem is None and not (
                    index.isdigit() and int(index) < len(provider.personas)
                ):
                    problem = "pick a persona"
                if problem:
                    provider.refusals.append(problem)
                    self._send(400, _page("Refused", html.escape(problem)), "text/html")
                    return
                code = provider.authorize(form, int(index))
                answer = {"code": code, "state": form.get("state", "")}
                if form.get("response_mode") == "form_post":
                    self._send(200, form_post_page(form["redirect_uri"], answer), "text/html")
                else:
                    self.send_response(302)
                    self.send_header("Location", f"{form['redirect_uri']}?{urlencode(answer)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
            else:
                self._json(404, {"error": "not_found"})

    return Handler
