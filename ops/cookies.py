"""Encrypted cookies of the operations view: the short-lived sign-in flow and the session.

Both are Fernet tokens (AES-CBC + HMAC, with their time of issue) of a JSON value; each is
refused when its issue time is further back than its lifetime, by the view's clock (injected:
tests move it), or when it was not made with the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from cryptography.fernet import Fernet, InvalidToken


@dataclass(frozen=True)
class SealedCookie:
    """One cookie: its name and attributes, its lifetime, and the key that seals it."""

    name: str
    fernet: Fernet
    lifetime: timedelta
    clock: Callable[[], datetime]
    path: str = "/"
    secure: bool = True
    samesite: str = "Lax"

    def read(self, request: web.Request) -> dict[str, Any] | None:
        """The value, or None when the cookie is missing, forged, or too old."""
        raw = request.cookies.get(self.name)
        if not raw:
            return None
        try:
            plain = self.fernet.decrypt_at_time(
                raw.encode(),
                int(self.lifetime.total_seconds()),
                int(self.clock().timestamp()),
            )
            value = json.loads(plain)
        except (InvalidToken, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def write(self, response: web.StreamResponse, value: dict[str, Any]) -> None:
        token = self.fernet.encrypt_at_time(
            json.dumps(value, separators=(",", ":")).encode(), int(self.clock().timestamp())
        )
        response.set_cookie(
            self.name,
            token.decode(),
            max_age=int(self.lifetime.total_seconds()),
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )

    def clear(self, response: web.StreamResponse) -> None:
        response.set_cookie(
            self.name,
            "",
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            path=self.path,
            secure=self.secure,
            httponly=True,
            samesite=self.samesite,
        )
