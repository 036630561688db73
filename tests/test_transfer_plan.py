"""Planning a transfer: links both ways, carried metadata, refusals (pure: no store)."""

from __future__ import annotations

import pytest

from pipeline.config import Config
from pipeline.session import Session, SessionState
from pipeline.transfer import TransferPlan, TransferRefused, plan_transfer
from tests.support.desk import DESK, write_config


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return write_config(tmp_path_factory.mktemp("config"), DESK)


def started() -> Session:
    return Session.open(
        conversation_id="a:1chat",
        tenant_id="helpdesk",
        tenant_name="Help Desk",
        metadata={"Guest.Name": "Megan Bowen", "Guest.Question": "Payslip?"},
    )


def planned(config: Config, session: Session, target: str = "hr") -> TransferPlan:
    plan = plan_transfer(config, session, target, activity_id="1:click")
    assert isinstance(plan, TransferPlan)
    return plan


def test_plan_links_both_ways_and_carries_metadata(config: Config) -> None:
    sending = started()
    plan = planned(config, sending)
    assert sending.is_active, "planning must not touch the session it was given"
    to, from_ = plan.sending.metadata, plan.receiving.metadata
    assert (to["Session.TransferredTo.SessionId"], to["Session.TransferredTo.TenantId"]) == (
        plan.receiving.id,
        "hr",
    )
    assert from_["Session.TransferredFrom.TenantName"] == "Help Desk"
    assert from_["Session.SessionId"] == plan.receiving.id
    assert from_["Session.TenantName"] == "Human Resources"
    assert from_["Guest.Question"] == "Payslip?"
    assert plan.sending.state is SessionState.TRANSFERRED
    assert to["Session.State"] == "transferred" and "Session.EndedUtc" in to
    card = plan.card_data()
    assert {k for k in card if k.startswith("Session.Transferred")} == {
        f"Session.Transferred{d}.{f}"
        for d in ("From", "To")
        for f in ("SessionId", "TenantId", "TenantName")
    }


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("finance", "no tenant 'finance'"),
        ("it", "tenant 'it' is disabled"),
        ("helpdesk", "the chat is already with tenant 'helpdesk'"),
        ("legal", "tenant 'legal' accepts no transfers from 'helpdesk'"),
    ],
)
def test_refusals(config: Config, target: str, reason: str) -> None:
    assert plan_transfer(config, started(), target, activity_id=None) == TransferRefused(reason)


def test_a_chat_transferred_as_often_as_allowed_is_refused(config: Config) -> None:
    sending = started()
    sending.hops = config.max_transfers_per_chat
    assert plan_transfer(config, sending, "hr", activity_id=None) == TransferRefused(
        f"the chat was already transferred {sending.hops} times (limit {sending.hops})"
    )
