"""The operations view's settings: how people sign in, read from the environment (secrets
only from there), and the rule that `/ops` never listens off loopback without sign-in."""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from errors import ConfigError

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
#: How long a sign-in lasts.
SESSION_HOURS = 8.0


class SignInMode(enum.StrEnum):
    #: Entra ID, the organisation's own app registration.
    ENTRA = "entra"
    #: The local OpenID provider (ops/devidp.py) with `ops.dev_personas`; loopback only.
    DEV = "dev"


def is_loopback(host: str) -> bool:
    """Whether `host` (HOST) only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class OpsSettings:
    """How `/ops` signs people in.

    `loopback` says whether Crossdesk listens on loopback only: off it, cookies are `Secure`
    with the `__Host-` prefix. `ca_file` is a CA certificate to trust for the identity
    provider instead of the system's (tests); `public_url` is the base URL people open, when a
    proxy in front changes it (the redirect URI is `{public_url}/ops/auth/callback`)."""

    mode: SignInMode
    loopback: bool = True
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    tenant_id: str = ""
    #: A Fernet key (`Fernet.generate_key()`); empty on loopback: one made per process.
    session_key: str = field(default="", repr=False)
    authority: str = ""
    public_url: str = ""
    ca_file: Path | None = None
    session_hours: float = SESSION_HOURS
    #: The registration's Application ID URI, when "Expose an API" set one other than
    #: `api://<client id>`: an access token for the API names it or the client id (`aud`).
    api_audience: str = ""

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] = os.environ, host: str = "127.0.0.1"
    ) -> OpsSettings | None:
        """The settings, or None with `CROSSDESK_OPS_AUTH=off` (no `/ops`). Raises ConfigError
        naming every variable to set when `/ops` would listen off loopback without sign-in."""
        loopback = is_loopback(host)
        chosen = env.get("CROSSDESK_OPS_AUTH", "").strip().lower()
        client_id = env.get("CROSSDESK_OPS_CLIENT_ID", "").strip()
        if chosen == "off":
            return None
        if chosen not in ("", "entra", "dev"):
            raise ConfigError(
                [f"CROSSDESK_OPS_AUTH: entra, dev or off, not {env['CROSSDESK_OPS_AUTH']!r}"]
            )
        mode = SignInMode(chosen) if chosen else None
        if mode is None:
            if client_id:
                mode = SignInMode.ENTRA
            elif loopback:
                mode = SignInMode.DEV
            else:
                raise ConfigError(
                    [
                        f"/ops would listen on HOST={host} without sign-in: register an Entra"
                        " app for it and set CROSSDESK_OPS_CLIENT_ID, CROSSDESK_OPS_CLIENT_SECRET,"
                        " CROSSDESK_OPS_TENANT_ID and CROSSDESK_OPS_SESSION_KEY (README,"
                        " Operations view), or CROSSDESK_OPS_AUTH=off to serve the bot without"
                        " /ops"
                    ]
                )
        settings = cls(
            mode=mode,
            loopback=loopback,
            client_id=client_id,
            client_secret=env.get("CROSSDESK_OPS_CLIENT_SECRET", ""),
            tenant_id=env.get("CROSSDESK_OPS_TENANT_ID", "").strip(),
            session_key=env.get("CROSSDESK_OPS_SESSION_KEY", "").strip(),
            authority=env.get("CROSSDESK_OPS_AUTHORITY", "").strip().rstrip("/"),
            public_url=env.get("CROSSDESK_OPS_URL", "").strip().rstrip("/"),
            api_audience=env.get("CROSSDESK_OPS_API_AUDIENCE", "").strip(),
        )
        settings.check(host)
        return settings

    def check(self, host: str) -> None:
        """Raise ConfigError (every problem, one line each) unless these settings may serve
        `/ops` on `host`."""
        problems: list[str] = []
        if self.mode is SignInMode.DEV:
            if not self.loopback or not is_loopback(host):
                problems.append(
                    f"CROSSDESK_OPS_AUTH=dev lets anyone sign in as anyone: only on loopback,"
                    f" not on HOST={host}"
                )
        else:
            required = {
                "CROSSDESK_OPS_CLIENT_ID": self.client_id,
                "CROSSDESK_OPS_CLIENT_SECRET": self.client_secret,
                "CROSSDESK_OPS_TENANT_ID": self.tenant_id,
            }
            if not is_loopback(host):
                required["CROSSDESK_OPS_SESSION_KEY"] = self.session_key
            problems += [
                f"{name}: required for /ops sign-in with Entra ID" + _off_loopback(host)
                for name, value in required.items()
                if not value
            ]
            if self.authority and not self.authority.startswith("https://"):
                problems.append(
                    f"CROSSDESK_OPS_AUTHORITY: must be https://, not {self.authority!r}"
                )
        if self.session_key:
            try:
                Fernet(self.session_key.encode())
            except ValueError:
                problems.append(
                    "CROSSDESK_OPS_SESSION_KEY: not a key for session cookies; make one with"
                    ' python -c "from cryptography.fernet import Fernet;'
                    ' print(Fernet.generate_key().decode())"'
                )
        if problems:
            raise ConfigError(problems)

    def api_audiences(self, client_id: str) -> tuple[str, ...]:
        """What an access token for the API may name as its audience (`aud`): the client id
        (v2.0 tokens always do) and the Application ID URI (v1.0 tokens name the resource as
        the script asked for it)."""
        return (client_id, self.api_audience or f"api://{client_id}")

    def authority_url(self) -> str:
        """The directory's authority: CROSSDESK_OPS_AUTHORITY, else Entra's for the tenant."""
        return self.authority or f"{DEFAULT_AUTHORITY_HOST}/{self.tenant_id}"


def _off_loopback(host: str) -> str:
    return "" if is_loopback(host) else f" (HOST={host} is not loopback)"
