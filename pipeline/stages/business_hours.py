"""`business_hours`: go one way while a tenant answers chats, another while it is closed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from locales import zone_of
from pipeline.hours import is_open, next_opening
from pipeline.session import iso
from pipeline.stages.base import CheckContext, Goto, Outcome, StageBase, StageContext

#: The metadata a look at a tenant's hours leaves for texts to use.
HOURS = "Session.Hours."
HOURS_KEYS = (
    "TenantName",
    "Open",
    "NextOpenUtc",
    "NextOpenDate",
    "NextOpenTime",
    "NextOpen",
)


def note_hours(context: StageContext, tenant_id: str) -> bool:
    """Whether `tenant_id` is open now (a tenant without hours always is), leaving what texts
    may say about it in `Session.Hours.*`: the tenant's name, whether it is open, and when it
    next opens, in UTC and as the guest writes a day and a time in their own time zone (or the
    tenant's when Teams did not say the guest's)."""
    hours = context.hours.get(tenant_id)
    if hours is None:
        return True
    metadata = context.session.metadata
    for name in HOURS_KEYS:
        metadata.pop(HOURS + name, None)
    open_now = is_open(hours, context.now)
    metadata[HOURS + "TenantName"] = context.tenant_names.get(tenant_id, tenant_id)
    metadata[HOURS + "Open"] = open_now
    opening = None if open_now else next_opening(hours, context.now)
    if opening is not None:
        texts = context.texts
        locale = metadata.get("Guest.Locale")
        guest_zone = zone_of(metadata.get("Guest.Timezone"))
        zone = guest_zone or hours.zone
        date, time = texts.date(opening, zone, locale), texts.time(opening, zone, locale)
        if guest_zone is not None:
            when = texts.text("when.local", date=date, time=time)
        else:
            when = texts.text("when.zoned", date=date, time=time, zone=hours.time_zone)
        metadata[HOURS + "NextOpenUtc"] = iso(opening)
        metadata[HOURS + "NextOpenDate"] = date
        metadata[HOURS + "NextOpenTime"] = time
        metadata[HOURS + "NextOpen"] = when
    return open_now


class BusinessHoursStage(StageBase):
    """Go on to `open` while `tenant` (default: this stage's) answers chats by its `hours`,
    else to `closed`; `Session.Hours.*` then says when it next opens."""

    type: Literal["business_hours"]
    tenant: Annotated[
        str | None,
        Field(description="The tenant whose hours count (an id); absent: this stage's tenant."),
    ] = None
    open: Annotated[
        str | None,
        Field(description="The stage to go on to while the tenant is open; blank ends the chat."),
    ] = None
    closed: Annotated[
        str | None,
        Field(description="The stage to go on to while it is closed; blank ends the chat."),
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        open_now = note_hours(context, self.tenant or context.tenant_id)
        return Outcome([], Goto(self.open if open_now else self.closed))

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "open", self.open
        yield "closed", self.closed

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        if self.tenant is not None and self.tenant not in check.tenant_ids:
            yield (
                "tenant",
                f"'{self.tenant}' is not a tenant (tenants: {', '.join(check.tenant_ids)})",
            )

    def warnings(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        tenant = self.tenant or check.tenant_id
        if tenant in check.tenant_ids and tenant not in check.with_hours:
            yield (
                "tenant" if self.tenant else "type",
                f"tenant '{tenant}' has no `hours`, so it is always open and `closed` is never"
                " taken; give the tenant `hours:` (time_zone, weekly, holidays)",
            )
