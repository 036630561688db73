"""Bearer access tokens for the JSON API `/ops/api/v1`: scripts call it with an Entra ID access
token issued for Crossdesk's own app registration, checked here as the web API it is.

The token is checked by the sign-in's code (`EntraSignIn.check`: RS256 with the directory's
published keys, cached; `iss`, `aud`, `tid`, `exp`/`nbf` by the view's clock), then read as
what Entra ID issues to an API:

- a **delegated** token (a person, through an app such as the Azure CLI) carries `scp` with
  the API's scope `Ops.Read`, the person's `oid` and sign-in name, and the app roles the person
  is assigned;
- an **app-only** token (client credentials) carries no `scp` (and `idtyp=app` when that
  optional claim is configured), and the app roles assigned to the calling application.

Both carry the calling application (`azp` in v2.0 tokens, `appid` in v1.0 ones), which ID tokens
do not: an ID token is never taken as an access token. Roles then map to a `Scope` by the same
`ops.roles` as a sign-in's (ops/access.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from errors import CrossdeskError
from ops.signin import EntraSignIn, Identity, ProviderUnreachable, SignInError

#: The delegated permission (scope) the API exposes, in "Expose an API" of the registration.
API_SCOPE = "Ops.Read"
#: RFC 6750's `b64token`: what may follow `Bearer `.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class TokenRefused(CrossdeskError):
    """A request's bearer token that was refused (401). The message says why, safe to show: it
    never holds the token."""


class InsufficientScope(CrossdeskError):
    """A valid access token that grants nothing here: a delegated token without the API's
    scope, or no role that `ops.roles` maps (403, RFC 6750's `insufficient_scope`)."""


class NotBearer(CrossdeskError):
    """An `Authorization` header of another scheme, or not a token at all (401, no error code:
    RFC 6750 §3.1)."""


@dataclass(frozen=True)
class ApiTokens:
    """Checks the access tokens of one app registration: `audiences` are its client id and
    its Application ID URI (`api://<client id>` unless set otherwise)."""

    signin: EntraSignIn
    audiences: tuple[str, ...]

    async def identify(self, authorization: str) -> Identity:
        """Who calls with this `Authorization` header value. Raises NotBearer, TokenRefused,
        InsufficientScope, or ProviderUnreachable (the provider's keys cannot be read)."""
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer":
            raise NotBearer("only Authorization: Bearer <access token> is accepted")
        if not _TOKEN.fullmatch(token):
            raise TokenRefused("the access token is malformed")
        try:
            claims = await self.signin.check(
                token,
                what="access token",
                audiences=self.audiences,
                issuers=await self.signin.issuers(),
                required=("oid",),
            )
        except ProviderUnreachable:
            raise  # not the token's fault
        except SignInError as refused:
            raise TokenRefused(str(refused)) from None
        return self._identity(claims)

    def _identity(self, claims: dict[str, object]) -> Identity:
        app_id = claims.get("azp") or claims.get("appid")
        if not isinstance(app_id, str) or not app_id:
            # ID tokens name no calling application.
            raise TokenRefused("not an access token: it names no calling application (azp)")
        roles_claim = claims.get("roles")
        roles = tuple(str(r) for r in roles_claim) if isinstance(roles_claim, list) else ()
        scopes = claims.get("scp")
        kind = claims.get("idtyp")
        if scopes is None:
            if kind not in (None, "app"):
                raise TokenRefused("an access token without scp must be an app's (idtyp)")
            return Identity(
                oid=str(claims["oid"]),
                name="",
                username="",
                tenant_id=str(claims["tid"]),
                roles=roles,
                app_id=app_id,
                app_only=True,
            )
        if kind not in (None, "user"):
            raise TokenRefused("an app's access token cannot carry delegated scopes (scp)")
        if not isinstance(scopes, str) or API_SCOPE not in scopes.split():
            raise InsufficientScope(f"the access token does not grant the scope {API_SCOPE} (scp)")
        username = next(
            (
                str(claims[name])
                for name in ("preferred_username", "upn", "unique_name")
                if isinstance(claims.get(name), str) and claims[name]
            ),
            "",
        )
        return Identity(
            oid=str(claims["oid"]),
            name=str(claims.get("name") or username),
            username=username,
            tenant_id=str(claims["tid"]),
            roles=roles,
            app_id=app_id,
        )
