"""`tenant_transfer`: the Tenant to Tenant Transfer, moving the chat to another tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from pipeline.stages.base import (
    CheckContext,
    Goto,
    Localized,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    Transfer,
    variants,
)
from pipeline.stages.business_hours import HOURS, note_hours

_EXPRESSION = re.compile(r"\$\{")


class TenantTransferStage(StageBase):
    """Move the chat to another tenant's primary pipeline, sending a card from `template`.

    `tenant` is a tenant id or a `${…}` expression over metadata. When the transfer cannot be
    made (missing or disabled tenant, not accepted, too many transfers) the guest is told
    `failure_text` and the chat goes on at `on_failure` (blank ends it). When the tenant is
    closed by its business hours, the guest is told `closed_text` (with when it opens again)
    and the chat goes on at `on_closed`, else at `on_failure` (unless `if_closed: transfer`).
    """

    type: Literal["tenant_transfer"]
    tenant: Annotated[
        str,
        Field(
            min_length=1,
            description="The target tenant's id, or ${…} over metadata, e.g. the option the"
            " guest picked: ${HelpDesk.Department}.",
        ),
    ]
    template: Annotated[
        Localized,
        Field(
            description="The transfer card's template (a JSON file), e.g. transfer.json; or"
            " one per language."
        ),
    ]
    on_failure: Annotated[
        str | None,
        Field(description="The stage to go on to when the transfer cannot be made; blank ends."),
    ] = None
    failure_text: Annotated[
        Localized | None,
        Field(
            description="What the guest is told when the transfer cannot be made; binds ${…};"
            " absent: Crossdesk's own words, in the guest's language."
        ),
    ] = None
    on_closed: Annotated[
        str | None,
        Field(
            description="The stage to go on to when the target tenant is closed by its"
            " business hours; absent: `on_failure`."
        ),
    ] = None
    if_closed: Annotated[
        Literal["refuse", "transfer"],
        Field(
            description="refuse: when the target is closed by its business hours, tell the"
            " guest when it opens and go on at `on_closed`; transfer: hand the chat over"
            " anyway (its pipeline may branch with a `business_hours` stage)."
        ),
    ] = "refuse"
    closed_text: Annotated[
        Localized | None,
        Field(
            description="What the guest is told when the target is closed; binds ${…}, e.g."
            " ${Session.Hours.NextOpen}; absent: Crossdesk's own words, with the next opening"
            " in the guest's time zone."
        ),
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        target = context.render_plain(self.tenant).strip()
        if not note_hours(context, target) and self.if_closed == "refuse":
            return Outcome([Reply(text=self._closed_text(context))], Goto(self._when_closed))
        failure = (
            context.render(self.failure_text)
            if self.failure_text is not None
            else context.texts.text("transfer.failed")
        )
        return Outcome(
            [],
            Transfer(
                tenant_id=target,
                template=context.template_name(self.template),
                on_failure=self.on_failure,
                failure_text=failure,
            ),
        )

    @property
    def _when_closed(self) -> str | None:
        return self.on_closed if self.on_closed is not None else self.on_failure

    def _closed_text(self, context: StageContext) -> str:
        if self.closed_text is not None:
            return context.render(self.closed_text)
        metadata = context.session.metadata
        tenant = str(metadata[HOURS + "TenantName"])
        when = metadata.get(HOURS + "NextOpen")
        if when is None:
            return context.texts.text("transfer.closed_for_now", tenant=tenant)
        return context.texts.text("transfer.closed", tenant=tenant, when=when)

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "on_failure", self.on_failure
        if self.on_closed is not None:
            yield "on_closed", self.on_closed

    def templates(self) -> Iterator[tuple[str, str]]:
        yield from variants("template", self.template)

    def texts(self) -> Iterator[tuple[str, str]]:
        yield "tenant", self.tenant
        yield from variants("failure_text", self.failure_text)
        yield from variants("closed_text", self.closed_text)

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if _EXPRESSION.search(self.tenant):
            return
        if self.tenant not in check.tenant_ids:
            yield (
                "tenant",
                f"transfer to '{self.tenant}', which is not a tenant"
                f" (tenants: {', '.join(check.tenant_ids)})",
            )
        elif refusal := check.refusal(self.tenant):
            yield "tenant", f"transfer to '{self.tenant}': {refusal}"

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if not _EXPRESSION.search(self.tenant) and (doubt := check.doubt(self.tenant)):
            yield "tenant", f"transfer to '{self.tenant}': {doubt}"
