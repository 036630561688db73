"""Fixtures of the operations view: Crossdesk with `/ops` on 127.0.0.1, signing in through its
local OpenID provider (ops/devidp.py) with msal, as a browser would, and chats seeded by
driving the bot with Teams-shaped activities."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app import Settings
from ops.devidp import DevIdentityProvider
from ops.settings import OpsSettings, SignInMode
from ops.web import DEV_PROVIDER, PREFIX
from tests.conftest import RunningBot, StartBot
from tests.support.config import desk_config, tenant, write_config
from tests.support.teams import TeamsChat, choice_value

ROLES: dict[str, Any] = {
    "Crossdesk.Admin": {"admin": True},
    "Crossdesk.Manager.HR": {"departments": ["hr"]},
    "Crossdesk.Reader.HR": {"departments": ["hr"], "transcripts": ["hr"]},
    "Crossdesk.Analyst": {"reports": ["*"]},
}
PERSONAS: list[dict[str, Any]] = [
    {"name": "Ada Admin", "username": "ada@contoso.example", "roles": ["Crossdesk.Admin"]},
    {"name": "Hana Hr", "username": "hana@contoso.example", "roles": ["Crossdesk.Manager.HR"]},
    {"name": "Rita Reader", "username": "rita@contoso.example", "roles": ["Crossdesk.Reader.HR"]},
    {"name": "Ana Lyst", "username": "ana@contoso.example", "roles": ["Crossdesk.Analyst"]},
]


def ops_config(directory: Path) -> Path:
    """The tests' desk (Help Desk → IT, HR, Legal) with the roles and personas above."""
    config = desk_config()
    config["ops"] = {"roles": ROLES, "dev_personas": PERSONAS}
    # Legal takes chats from the Help Desk and HR only: the Admin page shows the refusals.
    tenant(config, "legal")["accepts_transfers_from"] = ["helpdesk", "hr"]
    return write_config(directory, config, "ops.yaml")


@dataclass
class Form:
    """A form of a page: where it posts and the fields a click on its button sends."""

    action: str | None
    fields: dict[str, str]
    buttons: list[tuple[str, str, str]]  # name, value, text


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action"), {}, []))
        elif tag == "input" and self.forms and "name" in a:
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms:
            self._button = [a.get("name", ""), a.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.forms:
            name, value, text = self._button
            self.forms[-1].buttons.append((name, value, text.strip()))
            self._button = None


def forms(page: str) -> list[Form]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


@dataclass
class Answer:
    """The provider's form_post answer, as its page would post it to Crossdesk."""

    action: str
    fields: dict[str, str]


class Browser:
    """One browser: its own cookies (loopback counts as a secure origin, as browsers do),
    trusting the local provider's certificate, following no redirect by itself."""

    def __init__(self, base: str, ca_file: Path) -> None:
        self.base = base
        jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=[base])
        context = ssl.create_default_context(cafile=str(ca_file))
        self.http = aiohttp.ClientSession(
            cookie_jar=jar, connector=aiohttp.TCPConnector(ssl=context)
        )

    async def close(self) -> None:
        await self.http.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else f"{self.base}{path}"

    async def get(self, path: str) -> tuple[aiohttp.ClientResponse, str]:
        async with self.http.get(self.url(path), allow_redirects=False) as response:
            return response, await response.text()

    async def post(self, path: str, data: dict[str, str]) -> tuple[aiohttp.ClientResponse, str]:
        async with self.http.post(self.url(path), data=data, allow_redirects=False) as response:
            return response, await response.text()

    async def json(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.url(path), allow_redirects=False) as response:
            return response.status, await response.json()

    async def start_sign_in(self, next_path: str = f"{PREFIX}/") -> str:
        """Open sign-in: the provider's authorize URL it sends the browser to."""
        response, _ = await self.get(f"{PREFIX}/auth/login?next={next_path}")
        assert response.status == 302, response.status
        return response.headers["Location"]

    async def pick(self, authorize_url: str, persona: str) -> Answer:
        """On the provider's page, sign in as `persona`: the answer it posts back."""
        response, page = await self.get(authorize_url)
        assert response.status == 200, page
        chosen = [
            (form, value)
            for form in forms(page)
            for name, value, text in form.buttons
            if name == "persona" and text == persona
        ]
        assert chosen, f"no persona {persona!r} offered"
        form, value = chosen[0]
        response, page = await self.post(authorize_url, {**form.fields, "persona": value})
        assert response.status == 200, page
        (answer,) = forms(page)
        assert answer.action is not None
        return Answer(answer.action, answer.fields)

    async def deliver(self, answer: Answer) -> tuple[aiohttp.ClientResponse, str]:
        """The provider's page posts its answer to Crossdesk's callback."""
        return await self.post(answer.action, answer.fields)

    async def sign_in(self, persona: str) -> aiohttp.ClientResponse:
        answer = await self.pick(await self.start_sign_in(), persona)
        response, page = await self.deliver(answer)
        assert response.status == 303, page
        return response


@dataclass
class RunningOps:
    bot: RunningBot
    base: str
    provider: DevIdentityProvider
    browsers: list[Browser]

    def browser(self) -> Browser:
        browser = Browser(self.base, self.provider.cert_file)
        self.browsers.append(browser)
        return browser

    def chat(self, **kwargs: Any) -> TeamsChat:
        return self.bot.chat(**kwargs)


StartOps = Callable[..., Awaitable[RunningOps]]


@pytest.fixture
async def start_ops(start_bot: StartBot, tmp_path: Path) -> AsyncIterator[StartOps]:
    browsers: list[Browser] = []

    async def start(
        ops: OpsSettings | None = None,
        clock: Callable[[], datetime] | None = None,
        provider: DevIdentityProvider | None = None,
        host: str = "127.0.0.1",
    ) -> RunningOps:
        settings = Settings(host=host, ops=ops or OpsSettings(SignInMode.DEV))
        bot = await start_bot(settings, config=ops_config(tmp_path), clock=clock)
        base = bot.url.removesuffix("/api/messages")
        dev = provider or _dev_provider(bot)
        return RunningOps(bot, base, dev, browsers)

    yield start
    for browser in browsers:
        await browser.close()


def _dev_provider(bot: RunningBot) -> DevIdentityProvider:
    for resource in bot.app.router.resources():
        app = getattr(resource, "_app", None)
        if app is not None and DEV_PROVIDER in app:
            provider: DevIdentityProvider = app[DEV_PROVIDER]
            return provider
    raise AssertionError("no development provider: /ops runs with Entra ID sign-in")


@pytest.fixture
async def ops(start_ops: StartOps) -> RunningOps:
    return await start_ops()


# chats, driven through the bot as Teams would


async def chat_to_legal_through_hr(ops: RunningOps) -> TeamsChat:
    """Help Desk → Human Resources → Legal, with something typed at each."""
    chat = ops.chat()
    await chat.install()
    options = await chat.say("My payslip is wrong")
    hr = await chat.submit(choice_value(options, "HR"))
    assert "Is this about leave, pay, or something else? Tell us a little more." in hr.texts()
    more = await chat.say("Overtime for March is missing")
    await chat.submit(choice_value(more, "I also have a legal question"))
    await chat.say("Is my contract's overtime clause legal")
    return chat


async def chat_straight_to_legal(ops: RunningOps) -> TeamsChat:
    """Help Desk → Legal."""
    chat = ops.chat()
    await chat.install()
    options = await chat.say("A question about an NDA")
    await chat.submit(choice_value(options, "Legal"))
    await chat.say("The NDA a supplier sent me")
    return chat


def with_ops(settings: Settings, **changes: Any) -> Settings:
    assert settings.ops is not None
    return replace(settings, ops=replace(settings.ops, **changes))
