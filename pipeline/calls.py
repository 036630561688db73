"""Requests a pipeline makes to other systems, described, never made, here (no IO, no SDK).

An `http_request` stage describes a `Call`; the runtime (`dialogs/`) makes it through the
outbound client (`integrations/http.py`) and hands the stage a `CallResult`. Secrets are written
`${env:NAME}` in the configuration and stay `Secret` parts of a call's URL and headers until
the client sends it, so they never reach a session, its export or a log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

#: `${env:NAME}`: a value the client takes from its environment when it sends the request.
ENV_REFERENCE = re.compile(r"\$\{\s*env:([A-Za-z_][A-Za-z0-9_]*)\s*\}")
#: Methods a retry cannot repeat the effect of (RFC 9110, 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class Secret:
    """A part of a URL or header the client reads from its environment (`${env:NAME}`)."""

    name: str


#: A text as a call carries it: plain parts and secrets, in order.
Pieces = tuple[str | Secret, ...]


def env_names(text: str) -> list[str]:
    """The environment variables `text` names with `${env:NAME}`."""
    return ENV_REFERENCE.findall(text)


def without_env(text: str) -> str:
    """`text` with every `${env:…}` left out (what the templating engine gets to check)."""
    return ENV_REFERENCE.sub("", text)


def pieces(text: str, render: Callable[[str], str]) -> Pieces:
    """`text` split at its `${env:…}`, each other part rendered by `render` (metadata bindings).

    A rendered value can never become a secret: only the configuration's own text names one."""
    parts: list[str | Secret] = []
    at = 0
    for match in ENV_REFERENCE.finditer(text):
        if match.start() > at:
            parts.append(render(text[at : match.start()]))
        parts.append(Secret(match.group(1)))
        at = match.end()
    if at < len(text):
        parts.append(render(text[at:]))
    return tuple(parts)


def shown(parts: Pieces) -> str:
    """A call's text as logs may show it: secrets as `${env:NAME}`, never their values."""
    return "".join(p if isinstance(p, str) else f"${{env:{p.name}}}" for p in parts)


def host_of(url: str) -> str | None:
    """`host` or `host:port` (lower case) of an absolute http(s) URL; None if it is not one."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


def allowed(host: str, allowed_hosts: frozenset[str]) -> bool:
    """Whether `host` (`name` or `name:port`) is one the configuration lets requests reach: the
    name itself (any port) or the name with that port."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") and ":" in host else host
    return host in allowed_hosts or name in allowed_hosts


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request a stage asks for: the method, URL and headers (plain and secret parts),
    a JSON body (None: none), how long one attempt may take and how many times it may be
    tried again when that is safe."""

    method: str
    url: Pieces
    headers: Mapping[str, Pieces] = field(default_factory=dict)
    body: Any = None
    timeout: float = 10.0
    retries: int = 2
    #: Sent as `Idempotency-Key`, so a service can tell a repeated request from a new one.
    idempotency_key: str | None = None

    @property
    def idempotent(self) -> bool:
        return self.method in IDEMPOTENT_METHODS

    def secrets(self) -> Iterator[str]:
        for parts in (self.url, *self.headers.values()):
            yield from (p.name for p in parts if isinstance(p, Secret))


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a call came to: the HTTP status (0 when there was no answer), the answer's JSON
    (None when it had none), and a short reason when it failed (never the answer's body)."""

    status: int
    body: Any = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason and 200 <= self.status < 300


def json_lookup(data: Mapping[str, Any], path: str) -> Any:
    """A value in `data` by a dotted path (`result.number`), or None."""
    node: Any = data
    for step in path.split("."):
        if isinstance(node, Mapping) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node
