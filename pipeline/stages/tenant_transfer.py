"""`tenant_transfer`: the Tenant to Tenant Transfer, moving the chat to another tenant."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from pipeline.stages.base import CheckContext, Outcome, StageBase, StageContext, Transfer

_EXPRESSION = re.compile(r"\$\{")


class TenantTransferStage(StageBase):
    """Move the chat to another tenant's primary pipeline, sending a card from `template`.

    `tenant` is a tenant id or a `${…}` expression over metadata. When the transfer cannot be
    made (missing or disabled tenant, not accepted, too many transfers) the guest is told
    `failure_text` and the chat goes on at `on_failure` (blank ends it).
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
        str, Field(description="The transfer card's template (a JSON file), e.g. transfer.json.")
    ]
    on_failure: Annotated[
        str | None,
        Field(description="The stage to go on to when the transfer cannot be made; blank ends."),
    ] = None
    failure_text: Annotated[
        str, Field(description="What the guest is told when the transfer cannot be made.")
    ] = "Sorry, I couldn't transfer you to that team right now."

    def enter(self, context: StageContext) -> Outcome:
        return Outcome(
            [],
            Transfer(
                tenant_id=context.render(self.tenant).strip(),
                template=self.template,
                on_failure=self.on_failure,
                failure_text=context.render(self.failure_text),
            ),
        )

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "on_failure", self.on_failure

    def templates(self) -> Iterator[tuple[str, str]]:
        yield "template", self.template

    def texts(self) -> Iterator[tuple[str, str]]:
        yield "tenant", self.tenant
        yield "failure_text", self.failure_text

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
