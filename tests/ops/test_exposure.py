"""How /ops is exposed: cookie flags on loopback and off it, and no start-up off loopback
without sign-in."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app import Settings, create_app
from errors import ConfigError
from ops.devidp import DevIdentityProvider, Persona
from ops.settings import OpsSettings, SignInMode
from tests.ops.conftest import StartOps

ROOT = Path(__file__).resolve().parent.parent.parent
#: An address no interface here has (TEST-NET-1): were the check missing, binding would fail
#: rather than listen anywhere but loopback.
EXPOSED = "192.0.2.10"


def cookie_attributes(header: str) -> tuple[str, set[str]]:
    name = header.split("=", 1)[0]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
    return name, attributes


def set_cookie(header_values: list[str], name: str) -> str:
    (value,) = [h for h in header_values if h.startswith(f"{name}=")]
    return value


async def test_on_loopback_cookies_are_httponly_samesite_and_the_session_not_secure(
    start_ops: StartOps,
) -> None:
    ops = await start_ops()
    browser = ops.browser()
    response, _ = await browser.get("/ops/auth/login")
    flow = set_cookie(response.headers.getall("Set-Cookie"), "crossdesk_ops_flow")
    assert "Path=/ops/auth" in flow and "SameSite=None" in flow
    assert {"httponly", "secure", "max-age"} <= cookie_attributes(flow)[1]

    answer = await browser.pick(response.headers["Location"], "Hana Hr")
    response, _ = await browser.deliver(answer)
    assert response.status == 303 and response.headers["Location"] == "/ops/"
    session = set_cookie(response.headers.getall("Set-Cookie"), "crossdesk_ops")
    assert "SameSite=Lax" in session and "Path=/" in session
    _, attributes = cookie_attributes(session)
    assert "httponly" in attributes and "secure" not in attributes and "domain" not in attributes


@pytest.fixture
def entra(tmp_path: Path) -> Iterator[DevIdentityProvider]:
    """An Entra-shaped directory for Crossdesk configured as in production."""
    with DevIdentityProvider(
        [Persona.named("Hana Hr", roles=["Crossdesk.Manager.HR"])], tmp_path
    ) as idp:
        yield idp


async def test_off_loopback_the_session_cookie_is_secure_with_the_host_prefix(
    start_ops: StartOps, entra: DevIdentityProvider
) -> None:
    """With Entra ID sign-in configured as in production (here against the local provider),
    and Crossdesk told it listens off loopback."""
    settings = OpsSettings(
        SignInMode.ENTRA,
        loopback=False,
        client_id=entra.client_id,
        client_secret=entra.client_secret,
        tenant_id=entra.tenant_id,
        session_key=Fernet.generate_key().decode(),
        authority=entra.authority,
        ca_file=entra.cert_file,
    )
    ops = await start_ops(settings, provider=entra, host="ops.contoso.example")
    browser = ops.browser()
    response, _ = await browser.get("/ops/auth/login")
    flow = set_cookie(response.headers.getall("Set-Cookie"), "__Secure-crossdesk_ops_flow")
    assert {"httponly", "secure"} <= cookie_attributes(flow)[1]

    response, _ = await browser.deliver(await browser.pick(response.headers["Location"], "Hana Hr"))
    assert response.status == 303
    session = set_cookie(response.headers.getall("Set-Cookie"), "__Host-crossdesk_ops")
    _, attributes = cookie_attributes(session)
    assert {"httponly", "secure", "samesite", "path"} <= attributes and "domain" not in attributes
    assert "SameSite=Lax" in session and "Path=/" in session
    status, me = await browser.json("/ops/api/v1/me")
    assert (status, me["name"], me["scope"]["departments"]) == (200, "Hana Hr", ["hr"])


def test_run_refuses_to_start_off_loopback_without_sign_in() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROSSDESK_OPS_")}
    result = subprocess.run(
        [sys.executable, "app.py", "run"],
        env={**env, "HOST": EXPOSED, "PORT": "3978"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"/ops would listen on HOST={EXPOSED} without sign-in" in result.stderr
    assert "CROSSDESK_OPS_AUTH=off to serve the bot without /ops" in result.stderr


@pytest.mark.parametrize(
    ("env", "problems"),
    [
        pytest.param(
            {"CROSSDESK_OPS_AUTH": "dev"},
            [
                "CROSSDESK_OPS_AUTH=dev lets anyone sign in as anyone: only on loopback, not on"
                f" HOST={EXPOSED}"
            ],
            id="development sign-in",
        ),
        pytest.param(
            {"CROSSDESK_OPS_CLIENT_ID": "c1", "CROSSDESK_OPS_SESSION_KEY": "short"},
            [
                f"{name}: required for /ops sign-in with Entra ID (HOST={EXPOSED} is not loopback)"
                for name in ("CROSSDESK_OPS_CLIENT_SECRET", "CROSSDESK_OPS_TENANT_ID")
            ]
            + [
                "CROSSDESK_OPS_SESSION_KEY: not a key for session cookies; make one with python"
                ' -c "from cryptography.fernet import Fernet;'
                ' print(Fernet.generate_key().decode())"',
            ],
            id="Entra ID half configured",
        ),
    ],
)
def test_off_loopback_sign_in_must_be_complete(env: dict[str, str], problems: list[str]) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"HOST": EXPOSED, **env})
    assert refused.value.problems == problems


def test_off_loopback_the_bot_alone_may_run_and_on_loopback_dev_is_the_default() -> None:
    assert Settings.from_env({"HOST": EXPOSED, "CROSSDESK_OPS_AUTH": "off"}).ops is None
    local = Settings.from_env({}).ops
    assert local is not None and local.mode is SignInMode.DEV


def test_the_app_refuses_development_sign_in_off_loopback() -> None:
    with pytest.raises(ConfigError) as refused:
        create_app(Settings(host=EXPOSED, ops=OpsSettings(SignInMode.DEV)))
    assert "only on loopback" in refused.value.problems[0]
