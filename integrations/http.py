"""Crossdesk's HTTP client for other systems: ticket systems (`http_request`) and webhooks.

Every request goes through `OutboundClient`, which refuses what the configuration does not
allow before anything is sent: a host not in `outbound.allowed_hosts`, a redirect to another
host, and (unless `allow_private`) a name that resolves to a loopback, private, link-local or
otherwise non-public address, checked on the addresses the connection really uses (a resolver
of its own, so a name cannot resolve one way for the check and another for the connection).
Secrets (`${env:NAME}`) are read from the environment as the request is built and appear
nowhere else: logs show the method, the host and the path, never headers, query or bodies.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from pipeline.calls import Call, CallResult, Pieces, Secret, allowed, host_of

log = logging.getLogger(__name__)

#: The most of an answer read (a ticket system's answer is small; anything more is cut off).
MAX_ANSWER_BYTES = 1024 * 1024
#: Same-host redirects followed at most.
MAX_REDIRECTS = 3
#: The longest Retry-After honoured; a service asking for longer has failed the request.
MAX_RETRY_AFTER = 30.0


class Refused(Exception):
    """A request the outbound policy does not allow (the reason says which rule)."""


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """Where requests may go: the allowed hosts (`name` or `name:port`, lower case) and
    whether they may resolve to non-public addresses."""

    allowed_hosts: frozenset[str] = frozenset()
    allow_private: bool = False

    def check_url(self, url: str) -> str:
        """The URL's `host[:port]`, or `Refused` when requests may not go there."""
        host = host_of(url)
        if host is None:
            raise Refused("not an absolute http(s) URL")
        if not allowed(host, self.allowed_hosts):
            raise Refused(f"host {host} is not allowed")
        name = urlsplit(url).hostname or ""
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return host  # a name: checked when it is resolved
        self.check_address(address)
        return host

    def check_address(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if self.allow_private or address.is_global:
            return
        raise Refused(f"address {address} is not public (set outbound.allow_private to allow it)")


class _GuardedResolver(AbstractResolver):
    """Resolves names as aiohttp would, refusing every non-public address the policy forbids."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            try:
                self._policy.check_address(ipaddress.ip_address(result["host"]))
            except Refused as refused:
                raise _RefusedAddress(str(refused)) from None
        return results

    async def close(self) -> None:
        await self._resolver.close()


class _RefusedAddress(OSError):
    """Raised inside aiohttp's connector (which wraps OSErrors) for a refused address."""


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as the client keeps it: status, Retry-After (seconds) and the body."""

    status: int
    retry_after: float | None
    body: bytes


class OutboundClient:
    """Makes `Call`s (and webhook posts) under an `OutboundPolicy`, with bounded retries:
    idempotent requests after a timeout, a broken connection or a 5xx; any request after 429
    or 503 with a Retry-After of at most `MAX_RETRY_AFTER` seconds. `sleep` is injected."""

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        environment: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.policy = policy
        self.environment = os.environ if environment is None else environment
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self.policy))
            # No proxies from the environment: the policy is about where requests really go.
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def resolve(self, parts: Pieces) -> str:
        """A text of a call with its secrets read from the environment."""
        secrets = [p.name for p in parts if isinstance(p, Secret)]
        missing = [name for name in secrets if name not in self.environment]
        if missing:
            raise Refused(f"${{env:{missing[0]}}} is not set")
        return "".join(p if isinstance(p, str) else self.environment[p.name] for p in parts)

    async def call(self, call: Call) -> CallResult:
        """Make `call`; never raises for anything the other system or the network does."""
        try:
            url = self.resolve(call.url)
            headers = {name: self.resolve(value) for name, value in call.headers.items()}
        except Refused as refused:
            return CallResult(0, None, f"refused: {refused}")
        headers.setdefault("Accept", "application/json")
        if call.idempotency_key:
            headers.setdefault("Idempotency-Key", call.idempotency_key)
        data = None
        if call.body is not None:
            data = json.dumps(call.body, ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
        where = _shown(url)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout(call.timeout):
                    answer = await self.send(call.method, url, headers, data)
            except Refused as refused:
                log.warning("%s %s refused: %s", call.method, where, refused)
                return CallResult(0, None, f"refused: {refused}")
            except TimeoutError:
                status, reason, wait = 0, f"no answer within {call.timeout:g} s", None
                retry = call.idempotent
            except aiohttp.ClientError as failure:
                status, reason, wait = 0, f"cannot connect ({type(failure).__name__})", None
                retry = call.idempotent
            else:
                status = answer.status
                if answer.status < 400:
                    log.info("%s %s: %d", call.method, where, answer.status)
                    return CallResult(answer.status, _json(answer.body))
                reason, wait = f"HTTP {answer.status}", answer.retry_after
                asked = answer.status in (429, 503) and wait is not None
                retry = asked or (call.idempotent and answer.status >= 500)
                if wait is not None and wait > MAX_RETRY_AFTER:
                    reason, retry = f"{reason}, asked to wait {wait:g} s", False
                if not retry:
                    log.warning("%s %s: %s", call.method, where, reason)
                    return CallResult(answer.status, None, reason)
            if not retry or attempt > call.retries:
                log.warning("%s %s: %s (attempt %d)", call.method, where, reason, attempt)
                return CallResult(status, None, reason)
            delay = wait if wait is not None else backoff(attempt)
            log.info("%s %s: %s; again in %.1f s", call.method, where, reason, delay)
            await self.sleep(delay)

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
    ) -> Answer:
        """One request (following redirects on the same host only; the caller bounds its time);
        `Refused` or `aiohttp.ClientError` when it gets no answer."""
        for _ in range(MAX_REDIRECTS + 1):
            host = self.policy.check_url(url)
            try:
                async with self._http().request(
                    method, url, headers=headers, data=data, allow_redirects=False
                ) as response:
                    body = await response.content.read(MAX_ANSWER_BYTES)
                    location = response.headers.get("Location")
                    status = response.status
                    retry_after = _retry_after(response.headers.get("Retry-After"))
            except aiohttp.ClientConnectorError as failure:
                if isinstance(failure.os_error, _RefusedAddress):
                    raise Refused(str(failure.os_error)) from None
                raise
            if status not in (301, 302, 303, 307, 308) or not location:
                return Answer(status, retry_after, body)
            target = urljoin(url, location)
            if host_of(target) != host:
                raise Refused(f"redirect to another host ({host_of(target) or 'none'})")
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, data = "GET", None
            url = target
        raise Refused(f"more than {MAX_REDIRECTS} redirects")


def backoff(attempt: int, first: float = 0.5, most: float = 8.0) -> float:
    """Exponential back-off with jitter for the `attempt`-th retry."""
    growth: float = 2.0 ** max(0, attempt - 1)
    return min(most, first * growth) * random.uniform(0.5, 1.0)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _shown(url: str) -> str:
    """A URL as logs show it: scheme and host only (a path or query may bind metadata)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
