"""Outbound Bot Framework credentials, built once and reused across turns.

The SDK's stock factory builds a new credentials object, and with it a new msal application
with an empty token cache, for every incoming activity, so it fetches a fresh token from Entra
on every turn. Here one credentials object per (scope, login endpoint) keeps one msal
application whose cache serves the token until it nears expiry.

msal talks to Entra synchronously (authority discovery when the application is built, the token
request when the cached token nears expiry); both run in a worker thread, so the event loop
never waits on Entra.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from botframework.connector.auth import (
    AuthenticationConstants,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from msal import ConfidentialClientApplication

#: msal serves a cached token until it is this close to expiry, then fetches a new one.
_MSAL_EXPIRY_MARGIN = 300.0


class CachedAppCredentials(MicrosoftAppCredentials):
    """App id + secret credentials whose msal application (and token cache) lives as long as
    they do. Build them in a worker thread: msal discovers the authority over HTTP."""

    def __init__(
        self,
        app_id: str,
        password: str,
        tenant_id: str | None,
        oauth_scope: str,
        login_endpoint: str,
        validate_authority: bool,
    ) -> None:
        super().__init__(app_id, password, channel_auth_tenant=tenant_id, oauth_scope=oauth_scope)
        public = AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX
        if login_endpoint and not login_endpoint.lower().startswith(public):
            self.oauth_endpoint = login_endpoint
        # instance_discovery=False: the authority is known, not one to look up in Entra's list.
        self._msal = ConfidentialClientApplication(
            client_id=app_id,
            client_credential=password,
            authority=self.oauth_endpoint,
            validate_authority=validate_authority,
            instance_discovery=False,
        )
        self._token: tuple[str, float] | None = None
        self._refreshing = asyncio.Lock()

    def _cached(self) -> str | None:
        """The token msal would answer from its cache, without asking msal."""
        token = self._token
        if token is not None and time.monotonic() < token[1] - _MSAL_EXPIRY_MARGIN:
            return token[0]
        return None

    async def access_token(self) -> str:
        """The token for outbound calls; when it nears expiry, one worker thread fetches the
        next one while concurrent turns wait for it (one request to Entra, not one per turn)."""
        token = self._cached()
        if token is not None:
            return token
        async with self._refreshing:
            token = self._cached()
            if token is None:
                token = await asyncio.to_thread(self.get_access_token)
        return token

    def get_access_token(self, force_refresh: bool = False) -> str:
        """The token, synchronously (the SDK's contract); msal may call Entra here."""
        token = None if force_refresh else self._cached()
        if token is not None:
            return token
        scope = (
            self.oauth_scope
            if self.oauth_scope.endswith("/.default")
            else self.oauth_scope + "/.default"
        )
        # acquire_token_for_client answers from the cache until the token nears expiry.
        started = time.monotonic()
        result: dict[str, Any] = self._msal.acquire_token_for_client(scopes=[scope])
        if "access_token" in result:
            token = str(result["access_token"])
            self._token = (token, started + float(result.get("expires_in", 0)))
            return token
        raise PermissionError(
            f"cannot get a Bot Framework token for app {self.microsoft_app_id}:"
            f" {result.get('error', 'unknown error')}"
        )


class CachedCredentialFactory(ServiceClientCredentialsFactory):
    """`ServiceClientCredentialsFactory` handing out long-lived, token-caching credentials."""

    def __init__(self, app_id: str, password: str, tenant_id: str | None = None) -> None:
        self.app_id = app_id
        self.password = password
        self.tenant_id = tenant_id or None
        self._credentials: dict[tuple[str, str, bool], MicrosoftAppCredentials] = {}
        self._building = asyncio.Lock()

    async def is_valid_app_id(self, app_id: str) -> bool:
        return app_id == self.app_id

    async def is_authentication_disabled(self) -> bool:
        return not self.app_id

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> MicrosoftAppCredentials:
        if not self.app_id:
            return MicrosoftAppCredentials.empty()
        if app_id != self.app_id:
            raise PermissionError("the activity is for another app id")
        key = (oauth_scope or "", login_endpoint or "", validate_authority)
        credentials = self._credentials.get(key)
        if credentials is None:
            async with self._building:
                credentials = self._credentials.get(key)
                if credentials is None:
                    credentials = await asyncio.to_thread(
                        CachedAppCredentials, app_id, self.password, self.tenant_id, *key
                    )
                    self._credentials[key] = credentials
        return credentials
