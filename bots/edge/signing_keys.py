"""The channel's token-signing keys, fetched off the event loop and kept fresh.

The SDK validates every inbound JWT against signing keys it caches per OpenID metadata URL
(`JwtTokenExtractor.metadataCache`), and fetches them with blocking `requests` calls on the event
loop: at the first request after start-up, again once the keys are a day old, and when a token
names an unknown key (at most hourly). Each fetch is two HTTPS round trips to Microsoft during
which every chat waits. `SigningKeys` fetches them in a worker thread when the app starts and
refreshes them well before they are a day old, so the SDK's own refresh does not come due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import requests
from botframework.connector.auth import AuthenticationConstants
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor

log = logging.getLogger(__name__)

#: Keys older than this are fetched again (the SDK fetches them itself at one day).
REFRESH_AFTER = timedelta(hours=12)
#: How often the keeper looks at the keys' age.
CHECK_EVERY = 600.0
#: Seconds one fetch may take before it is given up (the SDK's own fetch waits forever).
FETCH_TIMEOUT = 30.0


def channel_metadata_url(endpoints: dict[str, str]) -> str:
    """The OpenID metadata URL the SDK uses for channel (Teams) tokens with these overrides."""
    return endpoints.get("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL") or (
        AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
    )


def _fetch(url: str) -> list[dict[str, Any]]:
    """The signing keys an OpenID metadata document points to (blocking: run in a thread)."""
    metadata = requests.get(url, timeout=FETCH_TIMEOUT)
    metadata.raise_for_status()
    keys = requests.get(metadata.json()["jwks_uri"], timeout=FETCH_TIMEOUT)
    keys.raise_for_status()
    return list(keys.json()["keys"])


class SigningKeys:
    """Keeps the SDK's cached signing keys fresh from a worker thread.

    `start()` fetches the keys of `urls` before the app serves, then a background task refreshes
    every cached metadata entry (including ones the SDK added itself, e.g. for emulator tokens)
    once it is `REFRESH_AFTER` old. A failed fetch is logged and leaves the SDK's own
    (blocking) refresh as the fallback.
    """

    def __init__(self, urls: Iterable[str]) -> None:
        self.urls = tuple(urls)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for url in self.urls:
            JwtTokenExtractor.get_open_id_metadata(url)
        await self.refresh_stale()
        self._task = asyncio.create_task(self._keep_fresh(), name="crossdesk-signing-keys")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def refresh_stale(self) -> None:
        """Fetch again every cached entry older than `REFRESH_AFTER`."""
        due = datetime.now() - REFRESH_AFTER
        for metadata in list(JwtTokenExtractor.metadataCache.values()):
            if metadata.last_updated >= due:
                continue
            try:
                keys = await asyncio.to_thread(_fetch, metadata.url)
            except (requests.RequestException, ValueError, KeyError) as error:
                log.warning(
                    "cannot fetch the signing keys of %s (%s); the SDK will fetch them itself",
                    metadata.url,
                    type(error).__name__,
                )
                continue
            # Same order as the SDK's own refresh: the age first, then the keys.
            metadata.last_updated = datetime.now()
            metadata.keys = keys

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            await self.refresh_stale()
