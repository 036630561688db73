"""Outbound Bot Framework credentials, built once and reused across turns.

The SDK's stock factory builds a new credentials object, and with it a new msal application
with an empty token cache, for every incoming activity, so it fetches a fresh token from Entra
on every turn. Here one credentials object per (scope, login endpoint) keeps one msal
application whose cache serves the token until it nears expiry.
"""

from __future__ import annotations

from typing import Any

from botframework.connector.auth import (
    AuthenticationConstants,
    MicrosoftAppCredentials,
    ServiceClientCredentialsFactory,
)
from msal import ConfidentialClientApplication


class _CachedAppCredentials(MicrosoftAppCredentials):
    """App id + secret credentials whose msal application (and token cache) lives as long as
    they do."""

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

    def get_access_token(self, force_refresh: bool = False) -> str:
        scope = (
            self.oauth_scope
            if self.oauth_scope.endswith("/.default")
            else self.oauth_scope + "/.default"
        )
        # acquire_token_for_client answers from the cache until the token nears expiry.
        result: dict[str, Any] = self._msal.acquire_token_for_client(scopes=[scope])
        if "access_token" in result:
            return str(result["access_token"])
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
            credentials = self._credentials[key] = _CachedAppCredentials(
                app_id, self.password, self.tenant_id, *key
            )
        return credentials
