"""Tenant to Tenant Transfer: plan the hand-off of a chat from one tenant to another.

Planning is pure: it builds the receiving session and the updated sending session; the store
commits the plan as one atomic step (in the turn's commit), so a crash leaves either
the old state or the new one, never half.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pipeline.config import Config
from pipeline.session import Session, SessionState, utc_now

FROM = "Session.TransferredFrom."
TO = "Session.TransferredTo."
LINK_FIELDS = ("SessionId", "TenantId", "TenantName")


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """The audit record of one transfer, stored with it."""

    conversation_id: str
    from_session_id: str
    to_session_id: str
    from_tenant_id: str
    to_tenant_id: str
    at: datetime
    activity_id: str | None
    #: The receiving session's hop (1 for the first transfer of a visit).
    hop: int = 0


@dataclass(frozen=True, slots=True)
class RefusedTransfer:
    """The record of a transfer that could not be made: from which session and tenant, to
    which tenant, why, and at which hop the chat was."""

    conversation_id: str
    session_id: str
    from_tenant_id: str
    to_tenant_id: str
    reason: str
    at: datetime
    hop: int = 0


@dataclass(frozen=True, slots=True)
class TransferPlan:
    """Both sessions as they must be after the transfer, and its record."""

    sending: Session
    receiving: Session
    record: TransferRecord

    def card_data(self) -> dict[str, Any]:
        """Flat metadata for the transfer card: the receiving session plus its `TransferredTo`."""
        data = dict(self.receiving.metadata)
        data.update({key: self.sending.metadata[key] for key in _keys(TO)})
        return data


@dataclass(frozen=True, slots=True)
class TransferRefused:
    """Why a transfer cannot be made, in words for the log (the guest gets the stage's text)."""

    reason: str


def _keys(prefix: str) -> list[str]:
    return [prefix + name for name in LINK_FIELDS]


def plan_transfer(
    config: Config,
    sending: Session,
    target_tenant_id: str,
    *,
    activity_id: str | None,
    now: datetime | None = None,
) -> TransferPlan | TransferRefused:
    """Plan moving `sending`'s chat to `target_tenant_id`'s primary pipeline.

    The receiving session carries the guest's data and every collected metadata key except the
    sending session's own `Session.*` keys; the two sessions are linked both ways.
    """
    target = config.tenants.get(target_tenant_id)
    if target is None:
        return TransferRefused(f"no tenant '{target_tenant_id}'")
    if not target.enabled:
        return TransferRefused(f"tenant '{target.id}' is disabled")
    if target.id == sending.tenant_id:
        return TransferRefused(f"the chat is already with tenant '{target.id}'")
    allowed = target.accepts_transfers_from
    if allowed is not None and sending.tenant_id not in allowed:
        return TransferRefused(
            f"tenant '{target.id}' accepts no transfers from '{sending.tenant_id}'"
        )
    limit = config.max_transfers_per_chat
    if sending.hops >= limit:
        return TransferRefused(
            f"the chat was already transferred {sending.hops} times (limit {limit})"
        )

    moment = now or utc_now()
    sending = replace(
        sending,
        metadata=dict(sending.metadata),
        pending_flow=list(sending.pending_flow),
        pending_transcript=list(sending.pending_transcript),
    )
    sender = config.tenants[sending.tenant_id]
    carried = {k: v for k, v in sending.metadata.items() if not k.startswith("Session.")}
    receiving = Session.open(
        conversation_id=sending.conversation_id,
        tenant_id=target.id,
        tenant_name=target.name,
        metadata=carried,
        hops=sending.hops + 1,
        now=moment,
    )
    receiving.journey_started_at = sending.visit_started_at
    receiving.metadata.update(
        dict(zip(_keys(FROM), (sending.id, sender.id, sender.name), strict=True))
    )
    sending.metadata.update(
        dict(zip(_keys(TO), (receiving.id, target.id, target.name), strict=True))
    )
    sending.end(SessionState.TRANSFERRED, moment)
    record = TransferRecord(
        conversation_id=sending.conversation_id,
        from_session_id=sending.id,
        to_session_id=receiving.id,
        from_tenant_id=sender.id,
        to_tenant_id=target.id,
        at=moment,
        activity_id=activity_id,
        hop=receiving.hops,
    )
    return TransferPlan(sending, receiving, record)
