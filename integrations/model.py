"""The configuration of what Crossdesk calls: the hosts it may reach and the webhooks it posts
session events to (no IO here; `pipeline/config.py` includes these models)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from pipeline.stages.base import METADATA_KEY

#: The events a webhook can subscribe to, in the order a chat's sessions meet them.
EventType = Literal["session.started", "session.connected", "session.transferred", "session.ended"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Outbound(_Model):
    """Where `http_request` stages and webhooks may send requests: nowhere not listed here."""

    allowed_hosts: Annotated[
        list[str],
        Field(
            description="Host names (any port) or `name:port` that requests and webhooks may"
            " reach, e.g. contoso.service-now.com; redirects to any other host are refused."
        ),
    ] = []
    allow_private: Annotated[
        bool,
        Field(
            description="true: allowed hosts may resolve to loopback, private or link-local"
            " addresses (a ticket system on this machine or the intranet); false refuses them."
        ),
    ] = False


class Webhook(_Model):
    """A URL told of sessions starting, reaching an agent, being transferred and ending."""

    url: Annotated[
        str, Field(description="Where events are POSTed: an http(s) URL on an allowed host.")
    ]
    secret: Annotated[
        str,
        Field(
            pattern=r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$",
            description="The signing key, from the environment: ${env:NAME}. Each event is"
            " signed with HMAC-SHA256 over its timestamp and body (Crossdesk-Signature).",
        ),
    ]
    events: Annotated[
        list[EventType],
        Field(description="The events to send (default: all of them)."),
    ] = list(EVENT_TYPES)
    metadata: Annotated[
        list[Annotated[str, Field(pattern=METADATA_KEY)]],
        Field(
            description="Metadata keys an event may carry (e.g. Ticket.Number); nothing else of"
            " the session's metadata leaves Crossdesk."
        ),
    ] = []

    @property
    def secret_name(self) -> str:
        """The environment variable holding the signing key."""
        return self.secret.removeprefix("${env:").removesuffix("}")
