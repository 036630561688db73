"""With MicrosoftAppId set, every request needs a valid Bot Framework JWT; failures get 401."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from app import CHANNEL_ENDPOINT_SETTINGS, Settings
from tests.conftest import RunningBot, StartBot
from tests.support.export import chat_export
from tests.support.identity import APP_ID, FakeIdentity
from tests.support.teams import TeamsChat


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_token_is_served_and_outbound_tokens_are_cached(
    secured: RunningBot, identity: FakeIdentity
) -> None:
    chat = secured.chat()
    chat.headers = bearer(identity.mint(APP_ID, secured.connector.url))
    greeting = await chat.install()
    await chat.say("Where is my payslip?")
    assert (
        "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team."
        in greeting.texts()
    )
    sent = chat.received()
    assert len(sent) == 3
    assert {r.authorization for r in sent} == {"Bearer outbound-token-1"}
    assert identity.token_requests == 1


def forged(identity: FakeIdentity, url: str) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return identity.mint(APP_ID, url, key=other)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda i, url: {}, id="no header"),
        pytest.param(lambda i, url: {"Authorization": "Bearer garbage"}, id="garbage"),
        pytest.param(lambda i, url: bearer(forged(i, url)), id="forged signature"),
        pytest.param(lambda i, url: bearer(i.mint("another-app", url)), id="wrong audience"),
        pytest.param(
            lambda i, url: bearer(
                i.mint(APP_ID, url, exp=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
            ),
            id="expired",
        ),
        pytest.param(
            lambda i, url: bearer(
                jwt.encode({"iss": "https://api.botframework.com", "aud": APP_ID}, "k" * 32)
            ),
            id="HS256",
        ),
        pytest.param(
            lambda i, url: bearer(i.mint(APP_ID, "https://evil.example/")),
            id="other service url",
        ),
    ],
)
async def test_failed_authentication_gets_401_and_runs_nothing(
    secured: RunningBot, identity: FakeIdentity, headers: object
) -> None:
    chat: TeamsChat = secured.chat()
    response = await chat.post(
        chat.activity("message", text="hello"), headers=headers(identity, secured.connector.url)
    )  # type: ignore[operator]
    assert response.status == 401
    assert secured.connector.received == []
    assert (await chat_export(secured, chat.conversation_id))["sessions"] == []


async def test_the_bot_frameworks_endpoint_settings_come_from_the_environment(
    start_bot: StartBot, identity: FakeIdentity
) -> None:
    """The settings a sovereign cloud or a local identity provider needs, under the names the
    Bot Framework's own configuration uses: with them the bot validates against, and gets its
    tokens from, the identity service they name (here a local one), and nowhere else."""
    names = {attribute: name for name, attribute in CHANNEL_ENDPOINT_SETTINGS.items()}
    env = {names[attribute]: url for attribute, url in identity.sdk_endpoints().items()}
    env.update(MicrosoftAppId=APP_ID, MicrosoftAppPassword="s3cret")
    settings = Settings.from_env(env)
    assert dict(settings.auth_endpoints) == identity.sdk_endpoints()
    bot = await start_bot(settings)

    chat = bot.chat()
    chat.headers = bearer(identity.mint(APP_ID, bot.connector.url))
    greeting = await chat.install()
    assert greeting.saying(
        "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team."
    )
    assert {r.authorization for r in chat.received()} == {"Bearer outbound-token-1"}
    forgery = bot.chat()
    response = await forgery.post(
        forgery.activity("message", text="hello"),
        headers=bearer(forged(identity, bot.connector.url)),
    )
    assert response.status == 401
