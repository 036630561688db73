"""Sign-in to the operations view: the OpenID Connect code flow with PKCE through msal, and the
ID token checked here (msal no longer validates ID tokens).

msal is synchronous (it calls the provider with `requests`), so every call runs in a worker
thread. The flow (`state`, `nonce`, PKCE verifier) lives only in the browser's encrypted flow
cookie between the redirect and the callback; no token is kept after sign-in. The same token
check, with the same cached keys, serves the API's access tokens (ops/bearer.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import jwt
import msal
import requests
from jwt.algorithms import RSAAlgorithm

from errors import CrossdeskError

log = logging.getLogger(__name__)

#: Clock skew tolerated between the identity provider and Crossdesk.
LEEWAY = timedelta(minutes=2)
#: How long the signing keys are kept before they are fetched again.
KEYS_LIFETIME = timedelta(hours=24)
#: The least time between two fetches of the keys for an unknown key id: a token with a made-up
#: `kid` (anyone can send one to the API) must not make Crossdesk call the provider each time.
KEYS_REFETCH_AFTER = timedelta(minutes=5)
#: The time a call to the identity provider may take.
TIMEOUT_SECONDS = 15.0


class SignInError(CrossdeskError):
    """A sign-in (or a token) that was refused; the message is safe to show (it never holds a
    token)."""


class ProviderUnreachable(SignInError):
    """The identity provider's metadata or signing keys cannot be read: no fault of the token
    or of the person signing in."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who signed in, as the ID token says: object id, name, sign-in name, directory, roles."""

    oid: str
    name: str
    username: str
    tenant_id: str
    roles: tuple[str, ...]
    #: The application an access token was issued to (its `azp`/`appid`); empty for a sign-in.
    app_id: str = ""
    #: Whether an application calls as itself (client credentials), with no person behind it.
    app_only: bool = False

    @property
    def who(self) -> str:
        """The caller as the audit log names them: a person's sign-in name, or `app:<id>`."""
        if self.app_only:
            return f"app:{self.app_id}"
        return self.username or self.name

    def as_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "oid": self.oid,
            "name": self.name,
            "username": self.username,
            "tid": self.tenant_id,
            "roles": list(self.roles),
        }
        if self.app_id:
            value |= {"app": self.app_id, "appOnly": self.app_only}
        return value

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Identity:
        roles = value.get("roles")
        return cls(
            oid=str(value["oid"]),
            name=str(value.get("name", "")),
            username=str(value.get("username", "")),
            tenant_id=str(value["tid"]),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
            app_id=str(value.get("app", "")),
            app_only=value.get("appOnly") is True,
        )


class _ForgetfulCache(msal.TokenCache):  # type: ignore[misc]
    """msal's cache, keeping nothing: the view needs the ID token once, never a token later."""

    def add(self, event: Any, now: Any = None) -> None:
        return None


def _nonce_hash(nonce: str) -> str:
    """What msal sends as the request's nonce, so what the ID token must carry."""
    return hashlib.sha256(nonce.encode("ascii")).hexdigest()


class EntraSignIn:
    """The code flow against one directory (`authority`) for one app registration.

    `ca_file` replaces the system's trusted CAs for the provider (the local provider's
    self-signed certificate); `clock` is the time ID tokens are checked against."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        tenant_id: str,
        authority: str,
        clock: Callable[[], datetime],
        ca_file: Path | None = None,
    ) -> None:
        self.client_id = client_id
        self.tenant_id = tenant_id
        self.authority = authority.rstrip("/")
        self._secret = client_secret
        self._clock = clock
        self._http = requests.Session()
        if ca_file is not None:
            # REQUESTS_CA_BUNDLE would otherwise override `verify` (requests' trust_env).
            self._http.trust_env = False
            self._http.verify = str(ca_file)
        self._app: Any = None
        self._metadata: dict[str, Any] | None = None
        self._v1_issuer: str | None = None
        self._keys: dict[str, Any] = {}
        self._keys_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._keys_lock = asyncio.Lock()

    def close(self) -> None:
        self._http.close()

    # the provider

    def _get_json(self, url: str) -> dict[str, Any]:
        response = self._http.get(url, timeout=TIMEOUT_SECONDS)
        response.raise_for_status()
        return cast(dict[str, Any], response.json())

    async def _ready(self) -> tuple[Any, dict[str, Any]]:
        """msal's app and the provider's metadata, made on first use."""
        async with self._lock:
            if self._app is None or self._metadata is None:
                try:
                    self._metadata = await asyncio.to_thread(
                        self._get_json, f"{self.authority}/v2.0/.well-known/openid-configuration"
                    )
                    self._app = await asyncio.to_thread(
                        msal.ConfidentialClientApplication,
                        self.client_id,
                        client_credential=self._secret,
                        authority=self.authority,
                        validate_authority=False,
                        instance_discovery=False,
                        http_client=self._http,
                        token_cache=_ForgetfulCache(),
                        timeout=TIMEOUT_SECONDS,
                    )
                except (requests.RequestException, ValueError) as failure:
                    raise ProviderUnreachable(
                        f"the identity provider at {self.authority} cannot be reached:"
                        f" {type(failure).__name__}"
                    ) from None
            return self._app, self._metadata

    async def issuers(self) -> tuple[str, ...]:
        """The issuers of this directory's tokens: the v2.0 endpoint's (`…/v2.0`), and the
        v1.0 one's (`https://sts.windows.net/<tenant>/` in Entra ID), which Entra ID puts in the
        access tokens of an API whose `accessTokenAcceptedVersion` is unset. Both are read from
        the provider's discovery documents, so sovereign clouds need no table here."""
        _, metadata = await self._ready()
        v2 = str(metadata["issuer"])
        async with self._lock:
            if self._v1_issuer is None:
                try:
                    v1 = await asyncio.to_thread(
                        self._get_json, f"{self.authority}/.well-known/openid-configuration"
                    )
                    issuer = str(v1["issuer"])
                except (requests.RequestException, ValueError, KeyError) as failure:
                    raise ProviderUnreachable(
                        f"the identity provider's v1.0 metadata at {self.authority} cannot be"
                        f" read: {type(failure).__name__}"
                    ) from None
                # Only the directory's own issuer (Entra's "common" metadata has a template).
                self._v1_issuer = issuer if f"/{self.tenant_id}/" in issuer else ""
        return (v2, self._v1_issuer) if self._v1_issuer else (v2,)

    async def _signing_key(self, kid: str, what: str) -> Any:
        """The provider's key `kid`, from keys cached for a day and fetched again when an
        unknown key id arrives (keys roll over), at most every few minutes."""
        _, metadata = await self._ready()
        async with self._keys_lock:
            now = self._clock()
            age = None if self._keys_at is None else now - self._keys_at
            if (
                age is None
                or age > KEYS_LIFETIME
                or (kid not in self._keys and age > KEYS_REFETCH_AFTER)
            ):
                try:
                    jwks = await asyncio.to_thread(self._get_json, str(metadata["jwks_uri"]))
                except (requests.RequestException, ValueError, KeyError):
                    raise ProviderUnreachable(
                        "the identity provider's signing keys cannot be read"
                    ) from None
                self._keys = {
                    str(jwk["kid"]): RSAAlgorithm.from_jwk(jwk)
                    for jwk in jwks.get("keys", [])
                    if isinstance(jwk, dict) and jwk.get("kty") == "RSA" and "kid" in jwk
                }
                self._keys_at = now
        if kid not in self._keys:
            raise SignInError(f"the {what} is signed with a key the provider does not publish")
        return self._keys[kid]

    # the flow

    async def start(self, redirect_uri: str) -> dict[str, Any]:
        """A new flow: `auth_uri` to send the browser to, and what the callback needs."""
        app, _ = await self._ready()
        flow = await asyncio.to_thread(
            app.initiate_auth_code_flow,
            scopes=[],
            redirect_uri=redirect_uri,
            response_mode="form_post",
        )
        return cast(dict[str, Any], flow)

    async def finish(self, flow: dict[str, Any], answer: Mapping[str, str]) -> Identity:
        """Redeem the provider's answer (`code`, `state`) for an ID token, check it, and say
        who signed in. Raises SignInError."""
        app, metadata = await self._ready()
        if "error" in answer:
            raise SignInError(f"the identity provider refused: {answer.get('error')}")
        try:
            result = await asyncio.to_thread(
                app.acquire_token_by_auth_code_flow, flow, dict(answer)
            )
        except ValueError as failure:
            # msal's own checks: "state mismatch", a flow without state.
            raise SignInError(
                f"the sign-in answer does not match this browser's: {failure}"
            ) from None
        except RuntimeError:
            raise SignInError("the ID token's nonce is not this sign-in's") from None
        except requests.RequestException as failure:
            raise SignInError(
                f"the identity provider cannot be reached: {type(failure).__name__}"
            ) from None
        if "error" in result:
            raise SignInError(f"the identity provider refused the code: {result['error']}")
        token = result.get("id_token")
        if not isinstance(token, str):
            raise SignInError("the identity provider sent no ID token")
        claims = await self.validate(token, str(metadata["issuer"]))
        if claims.get("nonce") != _nonce_hash(str(flow.get("nonce", ""))):
            raise SignInError("the ID token's nonce is not this sign-in's")
        roles = claims.get("roles")
        return Identity(
            oid=str(claims["oid"]),
            name=str(claims.get("name") or claims.get("preferred_username") or ""),
            username=str(claims.get("preferred_username") or ""),
            tenant_id=str(claims["tid"]),
            roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
        )

    async def validate(self, token: str, issuer: str) -> dict[str, Any]:
        """The claims of an ID token signed by the provider (RS256), for this app (`aud`), from
        this directory (`iss`, `tid`), valid now by the clock. Raises SignInError."""
        return await self.check(
            token,
            what="ID token",
            audiences=(self.client_id,),
            issuers=(issuer,),
            required=("oid",),
        )

    async def check(
        self,
        token: str,
        *,
        what: str,
        audiences: tuple[str, ...],
        issuers: tuple[str, ...],
        required: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The claims of a token (`what`: "ID token", "access token") signed with RS256 by one
        of the provider's published keys, for one of `audiences`, from one of `issuers` and
        this directory (`tid`), valid now by the clock, with the `required` claims. Raises
        SignInError (ProviderUnreachable when the keys cannot be read)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SignInError(f"the {what} is malformed") from None
        # Checked before any key is chosen: `none`, and HS256 with the public key as its
        # secret, never reach the signature check.
        if header.get("alg") != "RS256":
            raise SignInError(f"the {what} is not signed with RS256")
        key = await self._signing_key(str(header.get("kid", "")), what)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=audiences,
                issuer=issuers,
                options={
                    "verify_exp": False,  # checked below, by the injected clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "aud", "exp", "tid", *required],
                },
            )
        except jwt.InvalidSignatureError:
            raise SignInError(f"the {what}'s signature is not the provider's") from None
        except jwt.InvalidAudienceError:
            raise SignInError(f"the {what} is for another app (aud)") from None
        except jwt.InvalidIssuerError:
            raise SignInError(f"the {what} is from another issuer (iss)") from None
        except jwt.MissingRequiredClaimError as missing:
            raise SignInError(f"the {what} has no {missing.claim!r} claim") from None
        except jwt.PyJWTError as failure:
            raise SignInError(f"the {what} is invalid: {type(failure).__name__}") from None
        now = self._clock().timestamp()
        leeway = LEEWAY.total_seconds()
        try:
            expires, starts = float(claims["exp"]), float(claims.get("nbf", now))
        except (TypeError, ValueError):
            raise SignInError(f"the {what}'s exp or nbf is not a time") from None
        if expires + leeway < now:
            raise SignInError(f"the {what} has expired")
        if starts - leeway > now:
            raise SignInError(f"the {what} is not valid yet")
        if claims["tid"] != self.tenant_id:
            raise SignInError(f"the {what} is from another directory (tid)")
        return claims

    async def end_session_url(self, back: str) -> str | None:
        """Where to send the browser to sign out of the provider too, then come `back`."""
        try:
            _, metadata = await self._ready()
        except SignInError:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str):
            return None
        return f"{endpoint}?{urlencode({'post_logout_redirect_uri': back})}"
