"""`http_request`: file a ticket (or tell any system something) and keep what it answers.

The stage only describes the request (`Call`): entering it, the guest sees a typing indicator
and the chat waits here while the runtime makes the request in a turn of its own (a timer due
at once, so a crash or a re-delivered activity repeats the request with the same
`Idempotency-Key` rather than losing it). The answer's JSON is mapped into metadata by `store`
(`Ticket.Number: ${result.number}`) and the chat goes on at `next`; a refused, failed or timed
out request leaves `Request.Status` and `Request.Reason` and goes on at `on_failure`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, JsonValue

from cards import TemplateError, compile_template, expand_text, nest
from cards.template import split_bindings
from pipeline.calls import (
    ENV_REFERENCE,
    Call,
    CallResult,
    allowed,
    env_names,
    host_of,
    pieces,
    without_env,
)
from pipeline.stages.base import (
    METADATA_KEY,
    After,
    CheckContext,
    Goto,
    GuestInput,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    StageHelp,
    Stored,
    Wait,
    stored_key_problems,
)

log = logging.getLogger(__name__)

#: The timer whose turn makes the request.
REQUEST = "request"
#: What a failed request leaves in metadata: its HTTP status (0: no answer) and a short reason.
STATUS = "Request.Status"
REASON = "Request.Reason"

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
MetadataKey = Annotated[str, Field(pattern=METADATA_KEY)]


class HttpRequestStage(StageBase):
    """Send an HTTP request with a JSON body rendered from metadata, store fields of its JSON
    answer as metadata and go on at `next`; on any failure go on at `on_failure`."""

    waits: ClassVar[bool] = True
    calls_out: ClassVar[bool] = True

    type: Literal["http_request"]
    method: Annotated[Method, Field(description="The HTTP method.")] = "POST"
    url: Annotated[
        str,
        Field(
            description="An absolute http(s) URL on a host `outbound.allowed_hosts` names; its"
            " path and query may bind metadata with ${…} (sent URL-encoded) and secrets with"
            " ${env:NAME}."
        ),
    ]
    headers: Annotated[
        dict[str, str],
        Field(
            description="Request headers; values bind metadata with ${…} and secrets from the"
            " environment with ${env:NAME} (e.g. `Authorization: Bearer ${env:TICKET_TOKEN}`)."
        ),
    ] = {}
    body: Annotated[
        JsonValue,
        Field(
            description="The JSON body, a template over the session's metadata as cards write"
            " it (a value that is one ${…} keeps its type); absent: no body."
        ),
    ] = None
    timeout: Annotated[
        float, Field(gt=0, le=60, description="Seconds one attempt may take (10).")
    ] = 10.0
    retries: Annotated[
        int,
        Field(
            ge=0,
            le=5,
            description="How many times a request is tried again: an idempotent one (GET, PUT,"
            " DELETE) after a timeout, a broken connection or a 5xx; any after 429 or 503 with"
            " Retry-After (2).",
        ),
    ] = 2
    store: Annotated[
        dict[MetadataKey, str],
        Field(
            description="Metadata to set from the JSON answer: key → ${…} over the answer, e.g."
            " `Ticket.Number: ${result.number}`."
        ),
    ] = {}
    next: Annotated[
        str | None,
        Field(description="The stage after a successful request; blank ends the chat."),
    ] = None
    on_failure: Annotated[
        str | None,
        Field(
            description="The stage after a request that was refused, failed, timed out or"
            " answered without what `store` reads; blank ends the chat."
        ),
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        return Outcome([Reply(typing=True)], Wait(), timers=[After(REQUEST, 0)])

    def call(self, context: StageContext, timer: str) -> Call | None:
        if timer != REQUEST:
            return None
        data = nest(context.data())

        def render(text: str) -> str:
            return str(expand_text(text, data, name=context.name, as_text=True, now=context.now))

        def render_in_url(text: str) -> str:
            # Bound values are data: each is URL-encoded, so it cannot change the URL's shape.
            return "".join(
                part if isinstance(part, str) else quote(render("${" + part.text + "}"), safe="")
                for part in split_bindings(text)
            )

        body = None
        if self.body is not None:
            body = compile_template(self.body, f"{context.name}.body").expand(data, now=context.now)
        session = context.session
        return Call(
            method=self.method,
            url=pieces(self.url, render_in_url),
            headers={name: pieces(value, render) for name, value in self.headers.items()},
            body=body,
            timeout=self.timeout,
            retries=self.retries,
            # Stable across repeats of this visit to the stage (the session's stored version
            # moves on with every turn that commits).
            idempotency_key=f"{session.id}.{context.key}.{session.version}",
        )

    def on_result(self, context: StageContext, result: CallResult) -> Outcome:
        metadata = context.session.metadata
        if result.ok:
            stored, missing = self._answer(context, result.body)
            if not missing:
                metadata.update(stored)
                metadata[STATUS] = result.status
                metadata.pop(REASON, None)
                return Outcome([], Goto(self.next))
            result = CallResult(result.status, None, "the answer has no " + ", ".join(missing))
        log.warning("stage %s: request failed: %s", context.name, result.reason)
        metadata[STATUS] = result.status
        metadata[REASON] = result.reason
        return Outcome([], Goto(self.on_failure))

    def _answer(self, context: StageContext, body: Any) -> tuple[dict[str, Any], list[str]]:
        """The metadata `store` reads from the answer, and the keys it found nothing for."""
        stored: dict[str, Any] = {}
        missing: list[str] = []
        data = body if isinstance(body, Mapping | list) else {}
        for key, expression in self.store.items():
            value = expand_text(expression, data, name=f"{context.name}.store", now=context.now)
            if value is None or value == "":
                missing.append(key)
            else:
                stored[key] = value
        return stored, missing

    def on_input(self, context: StageContext, guest: GuestInput) -> Outcome:
        return Outcome(self.prompt(context), Wait(context.kept))

    def prompt(self, context: StageContext) -> list[Reply]:
        return [Reply(text=self.help(context).waiting_for), Reply(typing=True)]

    def help(self, context: StageContext) -> StageHelp:
        system = host_of(self.url) or "another system"
        return StageHelp(context.texts.text("request.waiting", system=system.split(":")[0]))

    # configuration

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next
        yield "on_failure", self.on_failure

    def texts(self) -> Iterator[tuple[str, str]]:
        yield "url", without_env(self.url)
        for name, value in self.headers.items():
            yield f"headers.{name}", without_env(value)
        yield from _strings(self.body, "body")

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        host = host_of(self.url)
        if host is None:
            yield (
                "url",
                "must be an absolute http:// or https:// URL, e.g. https://tickets.example/api",
            )
        elif "${" in host or "$%7b" in host:
            yield "url", "the host may not bind metadata or secrets: write it out to allow it"
        elif not allowed(host, check.allowed_hosts):
            listed = ", ".join(sorted(check.allowed_hosts)) or "none"
            yield (
                "url",
                f"host '{host}' is not in outbound.allowed_hosts ({listed}); add it there to let"
                " requests reach it",
            )
        secret_fields = [("url", self.url), *((f"headers.{k}", v) for k, v in self.headers.items())]
        for field, text in secret_fields:
            for name in env_names(text):
                if not check.environment.get(name):
                    yield field, f"${{env:{name}}} is not set in the environment Crossdesk has"
        for path, text in _strings(self.body, "body"):
            if ENV_REFERENCE.search(text):
                yield path, "secrets (${env:…}) belong in headers, never in a body others may read"
        for key, expression in self.store.items():
            yield from stored_key_problems(f"store.{key}", key)
            try:
                compile_template(expression, f"store.{key}")
            except TemplateError as failure:
                yield f"store.{key}", f"cannot be parsed: {failure.reason}"
            if "${" not in expression:
                yield f"store.{key}", "must read the answer with ${…}, e.g. ${result.number}"
        if self.on_failure is not None and self.on_failure == self.key:
            yield (
                "on_failure",
                "goes back to this request at once, again and again; go on to a stage that waits"
                " for the guest",
            )

    def stores(self) -> Iterator[Stored]:
        for key in self.store:
            yield Stored(f"store.{key}", key, None, self.next)
        yield Stored("on_failure", STATUS, None, self.on_failure)
        yield Stored("on_failure", REASON, None, self.on_failure)


def _strings(node: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field, text) for every string with a binding in a JSON body template."""
    if isinstance(node, str):
        if "${" in node:
            yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")
