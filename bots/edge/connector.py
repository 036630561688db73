"""Outbound calls to the Bot Connector: clients built once, HTTP on kept-alive connections.

The stock `CloudAdapter` builds a new `ConnectorClient` and a new user-token client (with its
`TokenApiClient`) for every incoming activity. Each build constructs msrest's
`ClientRetryPolicy`, whose list comprehension is quadratic (~4 ms of CPU on the event loop,
twice per turn), and each reply then goes through `requests` in the default thread pool on a
new TCP connection. Here:

- `CachingBotFrameworkAuthentication` wraps the SDK's authentication: one connector factory and
  one user-token client per bot app id; the factory keeps one `ConnectorClient` per
  (service URL, audience), so the retry policy is built once per client, not per turn (and
  `make_retry_policy_linear` makes that one build, and the SDK's other ones, cheap);
- the connector clients it keeps send through `ChannelHttp`: one aiohttp session (kept-alive
  connections, on the event loop, no thread hop) that applies the same retry rules the SDK's
  `requests` transport applies, and an Authorization header whose token is refreshed in a
  worker thread, never on the event loop.

Authentication itself (validating the inbound JWT) is the SDK's, unchanged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import ssl
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlsplit

import aiohttp
import requests.utils
from botbuilder.schema import Activity
from botframework.connector import models
from botframework.connector.aio import ConnectorClient
from botframework.connector.aio.operations_async import ConversationsOperations
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from msrest.exceptions import ClientRequestError
from msrest.pipeline import (
    AsyncHTTPPolicy,
    AsyncHTTPSender,
    AsyncPipeline,
    Request,
    Response,
)
from msrest.pipeline.universal import RawDeserializer
from msrest.serialization import Deserializer, Serializer
from msrest.universal_http import ClientRequest
from msrest.universal_http.async_abc import AsyncClientResponse
from msrest.universal_http.requests import ClientRetryPolicy
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

import jsontext
from bots.edge.credentials import CachedAppCredentials
from bots.edge.wire import FastDeserializer, FastSerializer


def make_retry_policy_linear() -> None:
    """Make building an msrest client cheap: about 4 ms of CPU less, each time.

    Every msrest client (`ConnectorClient`, `TokenApiClient`, the `TeamsConnectorClient` that
    `TeamsInfo`'s team calls build per call) builds a `ClientRetryPolicy`, whose status list is
    `[i for i in range(999) if i not in safe_codes]` against a 501-element list: half a million
    comparisons on the event loop. With `safe_codes` a frozenset of the same codes the list is
    the same; msrest only ever tests membership in it. Process-wide and idempotent.
    """
    ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)


#: Connector clients kept per bot app id. Teams uses a handful of service URLs (one per region);
#: the bound only matters when auth is off and anyone may name any service URL.
MAX_CLIENTS = 64


class ChannelHttp:
    """The one aiohttp session every kept connector client sends through.

    Created on the event loop by `start()` (the app's startup; the CA bundle is loaded in a
    worker thread) and closed by `close()`. Certificates are checked against the same bundle
    `requests` uses (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, else certifi's), and proxies come
    from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...), as with the SDK's own transport, but
    read once per host: aiohttp's `trust_env` re-reads them and `~/.netrc` in a worker thread
    on every request.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._starting = asyncio.Lock()
        self._proxies: dict[tuple[str, str], str | None] = {}

    async def start(self) -> aiohttp.ClientSession:
        async with self._starting:
            if self._session is None or self._session.closed:
                bundle = (
                    os.environ.get("REQUESTS_CA_BUNDLE")
                    or os.environ.get("CURL_CA_BUNDLE")
                    or requests.utils.DEFAULT_CA_BUNDLE_PATH
                )
                context = await asyncio.to_thread(ssl.create_default_context, cafile=bundle)
                self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
            return self._session

    def proxy_for(self, url: str) -> str | None:
        """The environment's proxy for `url` (None: connect directly), looked up once per host."""
        origin = url.split("/", 3)[:3]  # scheme, "", host[:port]: the cache key, parsed cheaply
        key = (origin[0], origin[-1])
        if key not in self._proxies:
            # What requests does: the environment's proxies, unless the host is exempt.
            parts = urlsplit(url)
            proxies = urllib.request.getproxies()
            bypass = urllib.request.proxy_bypass(parts.hostname or "")
            self._proxies[key] = None if bypass else proxies.get(parts.scheme)
        return self._proxies[key]

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            return await self.start()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def adopt(self, client: Any) -> None:
        """Make an msrest client (`ConnectorClient`) send through this session.

        The client's operations read `config.pipeline` at every call, so replacing it is
        enough; its credentials and configuration (user agent, timeouts, retry policy) stay.
        """
        config = client.config
        # No model of the Bot Connector API declares a constraint (`_validation` is empty), so
        # msrest's client-side validation of each outbound activity checks nothing, at a third
        # of the serialization's cost; the planned (de)serializers do the rest in a fraction.
        serializer = FastSerializer(client._serialize.dependencies)
        serializer.client_side_validation = False
        deserializer = FastDeserializer(client._deserialize.dependencies)
        for part in [client, *vars(client).values()]:
            if isinstance(getattr(part, "_serialize", None), Serializer):
                part._serialize = serializer
            if isinstance(getattr(part, "_deserialize", None), Deserializer):
                part._deserialize = deserializer
        token = _BearerTokenPolicy(config.credentials)
        sender = _ChannelSender(self, config)
        config.pipeline = AsyncPipeline(
            [config.user_agent_policy, token, RawDeserializer(), config.http_logger_policy],
            sender,
        )
        if isinstance(client, ConnectorClient):
            client.conversations = _Conversations(client, token, sender)


class _BearerTokenPolicy(AsyncHTTPPolicy):
    """Sets the bot's token on each request, as the SDK's credentials do on a requests session,
    but without blocking the event loop when the token must be fetched."""

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    async def send(self, request: Request, **kwargs: Any) -> Response:
        await self.authorize(request.http_request)
        return cast(Response, await self.next.send(request, **kwargs))

    async def authorize(self, http_request: ClientRequest) -> None:
        credentials = self._credentials
        app_id = getattr(credentials, "microsoft_app_id", None)
        if app_id and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID:
            if isinstance(credentials, CachedAppCredentials):
                token = await credentials.access_token()
            else:
                # Other credentials (managed identity) fetch synchronously: off the loop.
                token = await asyncio.to_thread(credentials.get_access_token)
            http_request.headers["Authorization"] = f"Bearer {token}"


@functools.lru_cache(maxsize=4096)
def _segment(conversation_id: str) -> str:
    """A conversation id quoted as a path segment, as msrest quotes it. A chat's id recurs in
    every message the bot sends it, and quoting one of Teams' (a hundred characters or more,
    with a `:`) byte by byte costs more than the rest of the URL."""
    return quote(conversation_id, safe="")


class _Conversations(ConversationsOperations):
    """The two calls behind every message the bot sends, straight to the transport.

    They do what the generated operations do (the same URL, formatted by msrest, the same
    headers, body, retries, result and `ErrorResponseException`) without msrest's pipeline hops
    per request: the policy chain, a pipeline context, a second parse of the answer; about
    80 µs of a turn's CPU. With custom headers, `raw=True`, per-call options or msrest's HTTP
    logging on, the generated code runs instead. Every other operation is the generated one.
    """

    def __init__(self, client: Any, token: _BearerTokenPolicy, sender: _ChannelSender) -> None:
        super().__init__(client._client, client.config, client._serialize, client._deserialize)
        self._token = token
        self._sender = sender
        self._prefix: str | None = None

    async def send_to_conversation(
        self,
        conversation_id: str,
        activity: Activity,
        *,
        custom_headers: dict[str, str] | None = None,
        raw: bool = False,
        **operation_config: Any,
    ) -> Any:
        if custom_headers or raw or operation_config or self.config.enable_http_logger:
            return await super().send_to_conversation(
                conversation_id,
                activity,
                custom_headers=custom_headers,
                raw=raw,
                **operation_config,
            )
        url = self._client.format_url(
            ConversationsOperations.send_to_conversation.metadata["url"],
            conversationId=self._serialize.url("conversation_id", conversation_id, "str"),
        )
        headers = {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
        return await self._post(url, headers, activity)

    async def reply_to_activity(
        self,
        conversation_id: str,
        activity_id: str,
        activity: Activity,
        *,
        custom_headers: dict[str, str] | None = None,
        raw: bool = False,
        **operation_config: Any,
    ) -> Any:
        if custom_headers or raw or operation_config or self.config.enable_http_logger:
            return await super().reply_to_activity(
                conversation_id,
                activity_id,
                activity,
                custom_headers=custom_headers,
                raw=raw,
                **operation_config,
            )
        url = self._client.format_url(
            ConversationsOperations.reply_to_activity.metadata["url"],
            conversationId=self._serialize.url("conversation_id", conversation_id, "str"),
            activityId=self._serialize.url("activity_id", activity_id, "str"),
        )
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json; charset=utf-8",
            "x-ms-conversation-id": conversation_id,
        }
        return await self._post(url, headers, activity)

    async def post_activity(
        self, conversation_id: str, reply_to: str | None, activity: dict[str, Any]
    ) -> Any:
        """Post an activity already in its JSON form (an outbox entry): the URL, headers, body,
        token and transport of `reply_to_activity` (with `reply_to`) or `send_to_conversation`,
        without building a model only to serialize it back, nor msrest's request and answer
        objects (the answer is read for the new activity's id only; a refusal raises
        `ErrorResponseException` as the generated code does)."""
        headers = {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
        if reply_to:
            url = self._activities_url(conversation_id, reply_to)
            headers["x-ms-conversation-id"] = conversation_id
        else:
            url = self._activities_url(conversation_id, None)
        # As msrest's `ClientRequest.add_content`, but in UTF-8 (the Content-Type says so).
        data = jsontext.dumps_bytes(activity)
        headers["Content-Length"] = str(len(data))
        # What the pipeline's policies would add: the user agent and the bot's token.
        held = _Headers(headers)
        self.config.user_agent_policy.on_request(Request(held))
        await self._token.authorize(held)
        raw = await self._sender.exchange("POST", url, data, {**self.config.headers, **headers})
        if raw.status not in (200, 201, 202):
            response = _ChannelResponse(ClientRequest("POST", url, headers, data=data), raw)
            await response.load_body()
            raise models.ErrorResponseException(self._deserialize, response)
        body = await raw.read()
        try:
            answer = json.loads(body) if body.strip() else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return None
        return models.ResourceResponse(id=answer.get("id"))

    def _activities_url(self, conversation_id: str, activity_id: str | None) -> str:
        """msrest's URL of `send_to_conversation` (`activity_id` None) or `reply_to_activity`
        (`format_url` of the template with `Serializer.url` of each id) from a prefix computed
        once: `urljoin` there leaves an id quoted with no safe characters as it is, unless it is
        empty, `.` or `..` (dropped or resolved), which go through msrest itself."""
        ids = (conversation_id,) if activity_id is None else (conversation_id, activity_id)
        if not all(type(part) is str and part not in ("", ".", "..") for part in ids):
            arguments = {
                "conversationId": self._serialize.url("conversation_id", conversation_id, "str")
            }
            if activity_id is None:
                template = ConversationsOperations.send_to_conversation.metadata["url"]
            else:
                template = ConversationsOperations.reply_to_activity.metadata["url"]
                arguments["activityId"] = self._serialize.url("activity_id", activity_id, "str")
            return cast(str, self._client.format_url(template, **arguments))
        url = f"{self._conversations()}{_segment(conversation_id)}/activities"
        return url if activity_id is None else f"{url}/{quote(activity_id, safe='')}"

    def _member_url(self, conversation_id: str, member_id: str) -> str:
        """msrest's URL of `get_conversation_member`, the same way as `_activities_url`."""
        ids = (conversation_id, member_id)
        if not all(type(part) is str and part not in ("", ".", "..") for part in ids):
            return cast(
                str,
                self._client.format_url(
                    ConversationsOperations.get_conversation_member.metadata["url"],
                    conversationId=self._serialize.url("conversation_id", conversation_id, "str"),
                    memberId=self._serialize.url("member_id", member_id, "str"),
                ),
            )
        conversation = _segment(conversation_id)
        return f"{self._conversations()}{conversation}/members/{quote(member_id, safe='')}"

    def _conversations(self) -> str:
        """The URL of the conversations, ending in "/", as msrest joins it to the base URL."""
        if self._prefix is None:
            self._prefix = self._client.format_url("/v3/conversations/{id}", id="x")[:-1]
        return self._prefix

    async def put_activity(
        self, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> Any:
        """Update a message the bot sent, from its JSON form: the URL, headers, token and
        transport of `update_activity`."""
        url = self._client.format_url(
            ConversationsOperations.update_activity.metadata["url"],
            conversationId=self._serialize.url("conversation_id", conversation_id, "str"),
            activityId=self._serialize.url("activity_id", activity_id, "str"),
        )
        headers = {"Accept": "application/json", "Content-Type": "application/json; charset=utf-8"}
        request = self._client.put(url, {}, headers, {**activity, "id": activity_id})
        return await self._send_request(request)

    async def member_json(self, conversation_id: str, member_id: str) -> Any:
        """A member of a conversation as the Bot Connector answers it (JSON): the URL, headers,
        token, transport and errors of `get_conversation_member`, without building a model
        only to read its fields (TeamsInfo.get_member builds two, and re-serializes one)."""
        request = self._client.get(
            self._member_url(conversation_id, member_id), {}, {"Accept": "application/json"}
        )
        self.config.user_agent_policy.on_request(Request(request))
        await self._token.authorize(request)
        response = (await self._sender.send(Request(request), stream=False)).http_response
        if response.status_code != 200:
            raise models.ErrorResponseException(self._deserialize, response)
        return json.loads(response.body())

    # The generated code reads the URL template off the method it runs in.
    send_to_conversation.metadata = ConversationsOperations.send_to_conversation.metadata  # type: ignore[attr-defined]
    reply_to_activity.metadata = ConversationsOperations.reply_to_activity.metadata  # type: ignore[attr-defined]

    async def _post(self, url: str, headers: dict[str, str], activity: Activity) -> Any:
        return await self._send_json(url, headers, self._serialize.body(activity, "Activity"))

    async def _send_json(self, url: str, headers: dict[str, str], body: Any) -> Any:
        return await self._send_request(self._client.post(url, {}, headers, body))

    async def _send_request(self, request: ClientRequest) -> Any:
        # What the pipeline's policies would add: the user agent and the bot's token.
        self.config.user_agent_policy.on_request(Request(request))
        await self._token.authorize(request)
        response = (await self._sender.send(Request(request), stream=False)).http_response
        if response.status_code not in (200, 201, 202):
            raise models.ErrorResponseException(self._deserialize, response)
        return self._deserialize("ResourceResponse", response)


class _ChannelResponse(AsyncClientResponse):
    """An aiohttp response as msrest reads it (an empty body is a valid body)."""

    def __init__(self, request: ClientRequest, response: aiohttp.ClientResponse) -> None:
        super().__init__(request, response)
        self.status_code = response.status
        self.headers = response.headers
        self.reason = response.reason
        self._body = b""

    async def load_body(self) -> None:
        self._body = await self.internal_response.read()

    def body(self) -> bytes:
        return self._body


class _Headers:
    """The part of a request msrest's user-agent policy and the token policy write to."""

    __slots__ = ("headers",)

    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


@dataclass(frozen=True, slots=True)
class _Answered:
    """What urllib3's `Retry` reads of a response to decide on and time a retry."""

    status: int
    headers: Any

    def get_redirect_location(self) -> bool:
        return False


class _ChannelSender(AsyncHTTPSender):
    """Sends msrest requests on the shared session with the SDK transport's retry rules.

    The rules are the `urllib3.Retry` msrest configures (`config.retry_policy()`), applied by
    that same object: connection failures are retried for every method, read failures and
    408/5xx answers (except 501/505) only for idempotent methods, honouring Retry-After,
    3 attempts at most with exponential back-off. As with `requests`, a POST (a reply) that
    reached the server is never re-sent.
    """

    def __init__(self, http: ChannelHttp, config: Any) -> None:
        self._http = http
        self._config = config
        seconds = config.connection.timeout
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)

    async def __aenter__(self) -> _ChannelSender:
        return self

    async def __aexit__(self, *exc_details: object) -> None:
        return None

    async def send(self, request: Request, **kwargs: Any) -> Response:
        http_request: ClientRequest = request.http_request
        if http_request.files:
            raise ClientRequestError("multipart uploads are not supported by this transport")
        headers = {**self._config.headers, **http_request.headers}
        raw = await self.exchange(http_request.method, http_request.url, http_request.data, headers)
        response = _ChannelResponse(http_request, raw)
        if not kwargs.get("stream", True):
            await response.load_body()
        return Response(request, response)

    async def exchange(
        self, method: str, url: str, data: Any, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        """One request with the retry rules above: the answer that ends the retries."""
        config = self._config
        retry: Retry = config.retry_policy()
        session = await self._http.session()
        proxy = self._http.proxy_for(url)
        while True:
            try:
                raw = await session.request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=bool(config.redirect_policy),
                    max_redirects=config.redirect_policy.max_redirects,
                    ssl=bool(config.connection.verify),
                    proxy=proxy,
                )
            except aiohttp.ClientConnectorError as error:
                retry = _count(retry, method, url, error, ConnectTimeoutError(str(error)))
                await asyncio.sleep(retry.get_backoff_time())
                continue
            except (aiohttp.ClientError, TimeoutError) as error:
                retry = _count(retry, method, url, error, ProtocolError(str(error)))
                await asyncio.sleep(retry.get_backoff_time())
                continue
            if retry.is_retry(method, raw.status, bool(raw.headers.get("Retry-After"))):
                answered = cast(Any, _Answered(raw.status, raw.headers))
                await raw.read()
                raw.release()
                try:
                    retry = retry.increment(method, url, response=answered)
                except MaxRetryError as error:
                    raise ClientRequestError(
                        f"{method} {url}: {raw.status} after retrying", error
                    ) from error
                # As `Retry.sleep`: the server's Retry-After if it gave one, else the back-off.
                delay = None
                if retry.respect_retry_after_header:
                    delay = retry.get_retry_after(answered)
                await asyncio.sleep(delay or retry.get_backoff_time())
                continue
            return raw


def _count(retry: Retry, method: str, url: str, error: Exception, as_urllib3: Exception) -> Retry:
    """The next `Retry` after a failed attempt, or `ClientRequestError` if none is left."""
    try:
        return retry.increment(method, url, error=as_urllib3)
    except (MaxRetryError, ConnectTimeoutError, ProtocolError):
        raise ClientRequestError(f"{method} {url}: {error!r}", error) from error


class CachingConnectorFactory(ConnectorFactory):
    """Keeps the connector clients the SDK's factory builds, one per (service URL, audience).

    No audience means the cloud's default one (`default_audience`), as in the SDK's factory:
    replies (inbound audience given) and proactive messages (none) share a client.
    """

    def __init__(self, inner: ConnectorFactory, http: ChannelHttp, default_audience: str) -> None:
        self._inner = inner
        self._http = http
        self._default_audience = default_audience
        self._clients: OrderedDict[tuple[str, str], ConnectorClient] = OrderedDict()
        self._building = asyncio.Lock()

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url, audience or self._default_audience)
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        async with self._building:
            client = self._clients.get(key)
            if client is None:
                client = await self._inner.create(service_url, audience)
                self._http.adopt(client)
                self._clients[key] = client
                while len(self._clients) > MAX_CLIENTS:
                    self._clients.popitem(last=False)
        return client


def _app_id(claims_identity: ClaimsIdentity) -> str | None:
    """The bot's app id in an identity, read as the SDK's own factories read it; None for
    none (anonymous inbound claims have no audience, proactive ones an empty one)."""
    app_id = claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    if app_id is None:
        app_id = claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    return cast(str | None, app_id) or None


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):
    """The SDK's authentication, with its outbound clients built once and reused.

    Validation is delegated unchanged; only the connector factory in the result and the
    user-token client are swapped for kept ones, per bot app id (a factory and a token client
    depend on nothing else: the cloud's scope and endpoints are fixed per instance).
    """

    def __init__(self, inner: BotFrameworkAuthentication, http: ChannelHttp) -> None:
        self.inner = inner
        self.http = http
        self._factories: dict[str | None, CachingConnectorFactory] = {}
        self._user_token_clients: dict[str | None, UserTokenClient] = {}

    def _factory(self, app_id: str | None, build: Any) -> CachingConnectorFactory:
        factory = self._factories.get(app_id)
        if factory is None:
            factory = self._factories[app_id] = CachingConnectorFactory(
                build(), self.http, self.get_originating_audience()
            )
        return factory

    async def authenticate_request(
        self, activity: Activity, auth_header: str
    ) -> AuthenticateRequestResult:
        result = await self.inner.authenticate_request(activity, auth_header)
        inner_factory = result.connector_factory
        if inner_factory is not None:
            app_id = _app_id(result.claims_identity)
            result.connector_factory = self._factory(app_id, lambda: inner_factory)
        return result

    async def authenticate_streaming_request(
        self, auth_header: str, channel_id_header: str
    ) -> AuthenticateRequestResult:
        return await self.inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._factory(
            _app_id(claims_identity),
            lambda: self.inner.create_connector_factory(claims_identity),
        )

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = _app_id(claims_identity)
        client = self._user_token_clients.get(app_id)
        if client is None:
            client = await self.inner.create_user_token_client(claims_identity)
            self._user_token_clients[app_id] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self.inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return cast(str, self.inner.get_originating_audience())

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self.inner.authenticate_channel_request(auth_header)
