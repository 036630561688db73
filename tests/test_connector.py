"""The kept-alive transport answers, retries and fails exactly as the SDK's own (requests in a
thread pool), side by side against the same local Bot Connector."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from hypothesis import given, settings
from hypothesis import strategies as st
from msrest.exceptions import ClientRequestError, HttpOperationError

from bots.edge.connector import ChannelHttp, make_retry_policy_linear


@dataclass
class ScriptedConnector:
    """Answers each route with the next scripted status (then 200) and counts the attempts."""

    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    attempts: int = 0
    url: str = ""
    connections: set[int] = field(default_factory=set)
    #: Each request as the Bot Connector reads it: method, path (decoded), the headers a bot
    #: sets, the body.
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def answer(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if request.transport is not None:
            self.connections.add(id(request.transport))
        body = await request.read()
        named = ("Accept", "Content-Type", "Content-Length", "User-Agent", "x-ms-conversation-id")
        headers = {name: request.headers[name] for name in named if name in request.headers}
        self.seen.append((request.method, request.path, headers, body))
        if self.script:
            status, headers = self.script.pop(0)
            body = {"error": {"code": "ServiceError", "message": f"scripted {status}"}}
            return web.json_response(body, status=status, headers=headers)
        if request.method == "GET":
            return web.json_response({"id": "29:1a", "name": "Megan Bowen"})
        return web.json_response({"id": "bot-activity-1"}, status=200)


@pytest.fixture
async def channel() -> AsyncIterator[ScriptedConnector]:
    connector = ScriptedConnector()
    app = web.Application()
    app.router.add_route("*", "/v3/conversations/{conversation}/{rest:.*}", connector.answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    connector.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield connector
    await runner.cleanup()


Call = Callable[[ConnectorClient], Awaitable[Any]]


def member(client: ConnectorClient) -> Any:
    return client.conversations.get_conversation_member("a:1chat", "29:1a")


def reply(client: ConnectorClient) -> Any:
    return client.conversations.reply_to_activity(
        "a:1chat", "1:in", Activity(type="message", text="Hello")
    )


def send(client: ConnectorClient) -> Any:
    return client.conversations.send_to_conversation(
        "a:1chat", Activity(type="message", text="Hello again")
    )


def reply_raw(client: ConnectorClient) -> Any:
    return client.conversations.reply_to_activity(
        "a:1chat", "1:in", Activity(type="message", text="Hello"), raw=True
    )


def update(client: ConnectorClient) -> Any:
    return client.conversations.update_activity(
        "a:1chat", "1:out", Activity(type="message", text="Edited")
    )


async def outcome(call: Call, client: ConnectorClient, channel: ScriptedConnector) -> Any:
    """What the caller sees, and how many requests reached the connector."""
    try:
        result = await call(client)
    except HttpOperationError as error:
        seen: Any = (type(error).__name__, error.message)
    except ClientRequestError as error:
        seen = type(error).__name__
    else:
        seen = (result.output if hasattr(result, "output") else result).serialize()
    return seen, channel.attempts


AFTER = {"Retry-After": "0"}


@pytest.mark.parametrize(
    ("call", "script"),
    [
        pytest.param(member, [(503, AFTER)], id="GET 503 is retried"),
        pytest.param(member, [(429, AFTER)], id="GET 429 with Retry-After is retried"),
        pytest.param(member, [(429, {})], id="GET 429 without Retry-After is not"),
        pytest.param(member, [(404, {})], id="GET 404 is not retried"),
        pytest.param(update, [(502, AFTER)], id="PUT 502 is retried"),
        pytest.param(reply, [(500, {})], id="POST 500 is never re-sent"),
        pytest.param(reply, [(503, AFTER)], id="POST 503 is never re-sent"),
        pytest.param(reply, [], id="POST 200"),
        pytest.param(send, [], id="POST a new message 200"),
        pytest.param(send, [(502, {})], id="POST a new message 502"),
        pytest.param(reply_raw, [], id="POST raw=True"),
    ],
)
async def test_the_kept_alive_transport_behaves_as_the_sdks_own(
    channel: ScriptedConnector, call: Call, script: list[tuple[int, dict[str, str]]]
) -> None:
    make_retry_policy_linear()
    stock = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=channel.url)
    channel.script = list(script)
    expected = await outcome(call, stock, channel)

    kept = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=channel.url)
    http = ChannelHttp()
    await http.start()
    http.adopt(kept)
    channel.script, channel.attempts = list(script), 0
    try:
        assert await outcome(call, kept, channel) == expected
    finally:
        await http.close()


async def test_a_dead_connector_fails_as_a_client_request_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from urllib3.util.retry import Retry

    monkeypatch.setattr(Retry, "get_backoff_time", lambda self: 0.0)  # no back-off waits
    with socket.socket() as unused:  # a free port, closed again: nothing listens there
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    kept = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=f"http://127.0.0.1:{port}")
    http = ChannelHttp()
    await http.start()
    http.adopt(kept)
    try:
        with pytest.raises(ClientRequestError):
            await reply(kept)
    finally:
        await http.close()


def test_proxies_come_from_the_environment_as_with_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.internal.example")
    http = ChannelHttp()
    assert http.proxy_for("https://smba.trafficmanager.net/emea/v3/x") == (
        "http://proxy.example:3128"
    )
    assert http.proxy_for("https://bot.internal.example/v3/x") is None
    assert http.proxy_for("http://127.0.0.1:3978/v3/x") is None


HELLO = Activity(type="message", text="Hellö", locale="de-DE", reply_to_id="1:in")


def reply_json(client: ConnectorClient) -> Any:
    return client.conversations.post_activity("a:1chat", "1:in", HELLO.serialize())


def send_json(client: ConnectorClient) -> Any:
    return client.conversations.post_activity("a:1chat", None, HELLO.serialize())


def reply_model(client: ConnectorClient) -> Any:
    return client.conversations.reply_to_activity("a:1chat", "1:in", HELLO)


def send_model(client: ConnectorClient) -> Any:
    return client.conversations.send_to_conversation("a:1chat", HELLO)


@pytest.mark.parametrize(
    ("json_call", "model_call", "script"),
    [
        pytest.param(reply_json, reply_model, [], id="reply 200"),
        pytest.param(send_json, send_model, [], id="new message 200"),
        pytest.param(reply_json, reply_model, [(503, AFTER)], id="reply 503, never re-sent"),
        pytest.param(send_json, send_model, [(429, AFTER)], id="new message 429"),
        pytest.param(reply_json, reply_model, [(403, {})], id="reply 403"),
    ],
)
async def test_an_outbox_entry_is_posted_as_the_sdk_posts_the_activity(
    channel: ScriptedConnector,
    json_call: Call,
    model_call: Call,
    script: list[tuple[int, dict[str, str]]],
) -> None:
    """The same request (URL, headers, the same JSON in the body) and the same answer or error
    as the SDK's own `reply_to_activity` / `send_to_conversation` of the activity, from its
    JSON. The body's text is compact UTF-8 (the SDK's has spaces and `\\u` escapes)."""
    make_retry_policy_linear()
    stock = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=channel.url)
    channel.script = list(script)
    expected = await outcome(model_call, stock, channel)
    sent = channel.seen[:]

    kept = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=channel.url)
    http = ChannelHttp()
    await http.start()
    http.adopt(kept)
    channel.script, channel.attempts, channel.seen = list(script), 0, []
    try:
        assert await outcome(json_call, kept, channel) == expected
    finally:
        await http.close()
    assert [read(request) for request in channel.seen] == [read(request) for request in sent]
    for _, _, headers, body in channel.seen:
        assert headers["Content-Length"] == str(len(body))
        assert "Hellö".encode() in body


def read(request: tuple[str, str, dict[str, str], bytes]) -> Any:
    """A request as the Bot Connector reads it: method, path, headers but the length, JSON."""
    method, path, headers, body = request
    named = {name: value for name, value in headers.items() if name != "Content-Length"}
    return method, path, named, json.loads(body)


@settings(max_examples=200, deadline=None)
@given(
    base=st.sampled_from(
        [
            "https://smba.trafficmanager.net/emea/",
            "https://smba.trafficmanager.net/amer",
            "http://127.0.0.1:3978//_connector/",
            "https://host.example:8443/a/b/../c",
        ]
    ),
    conversation=st.text(max_size=12) | st.sampled_from([".", "..", "a:1x/../..", "19:x@thread"]),
    activity=st.none() | st.text(max_size=12) | st.sampled_from([".", "..", "1:x?y#z;p"]),
)
def test_the_activities_url_is_msrests(base: str, conversation: str, activity: str | None) -> None:
    client = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=base)
    operations = client.conversations
    template = (
        operations.send_to_conversation if activity is None else operations.reply_to_activity
    ).metadata["url"]
    expected = client._client.format_url(
        template,
        conversationId=client._serialize.url("conversation_id", conversation, "str"),
        activityId=client._serialize.url("activity_id", activity, "str")
        if activity is not None
        else None,
    )
    http = ChannelHttp()
    http.adopt(client)
    assert client.conversations._activities_url(conversation, activity) == expected
    assert client.conversations._activities_url(conversation, activity) == expected  # cached


@settings(max_examples=200, deadline=None)
@given(
    base=st.sampled_from(
        ["https://smba.trafficmanager.net/emea/", "http://127.0.0.1:3978//_connector/"]
    ),
    conversation=st.text(max_size=12) | st.sampled_from([".", "..", "a:1x/../..", "19:x@thread"]),
    member=st.text(max_size=12) | st.sampled_from([".", "..", "29:1a?b#c", "8:orgid:x/y"]),
)
def test_the_member_url_is_msrests(base: str, conversation: str, member: str) -> None:
    client = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=base)
    expected = client._client.format_url(
        client.conversations.get_conversation_member.metadata["url"],
        conversationId=client._serialize.url("conversation_id", conversation, "str"),
        memberId=client._serialize.url("member_id", member, "str"),
    )
    http = ChannelHttp()
    http.adopt(client)
    assert client.conversations._member_url(conversation, member) == expected
