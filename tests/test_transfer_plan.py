"""Planning and committing a transfer: links, carried metadata, refusals, atomicity."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from errors import ConflictError
from pipeline.config import EXAMPLE_CONFIG, Directory, load_directory
from pipeline.session import Session, SessionState
from pipeline.transfer import TransferPlan, TransferRefused, plan_transfer
from storage.sqlite import SqliteStore


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(EXAMPLE_CONFIG)


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "store.sqlite3")


async def started(store: SqliteStore) -> Session:
    session = Session.open(
        conversation_id="a:1chat",
        tenant_id="helpdesk",
        tenant_name="Help Desk",
        metadata={"Guest.Name": "Megan Bowen", "Guest.Question": "Payslip?"},
    )
    await store.start_session(session, {"conversation": {"id": "a:1chat"}})
    return session


def planned(directory: Directory, session: Session, target: str = "hr") -> TransferPlan:
    plan = plan_transfer(directory, session, target, activity_id="1:click")
    assert isinstance(plan, TransferPlan)
    return plan


async def test_plan_links_both_ways_and_carries_metadata(
    directory: Directory, store: SqliteStore
) -> None:
    sending = await started(store)
    plan = planned(directory, sending)
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
        ("helpdesk", "the chat is already with tenant 'helpdesk'"),
    ],
)
async def test_refusals(directory: Directory, store: SqliteStore, target: str, reason: str) -> None:
    assert plan_transfer(directory, await started(store), target, activity_id=None) == (
        TransferRefused(reason)
    )


async def test_commit_is_atomic_when_the_last_write_fails(
    directory: Directory, store: SqliteStore, tmp_path: Path
) -> None:
    sending = await started(store)
    plan = planned(directory, sending)
    # A fault in the very last statement of the transaction: the transfer record's insert.
    fault = sqlite3.connect(tmp_path / "store.sqlite3")
    fault.execute(
        "CREATE TRIGGER crash BEFORE INSERT ON transfers BEGIN SELECT RAISE(ABORT, 'disk'); END"
    )
    fault.commit()
    with pytest.raises(sqlite3.IntegrityError):
        await store.commit_transfer(plan)

    bound = await store.bound_session("a:1chat")
    assert bound is not None and bound.id == sending.id and bound.is_active
    assert "Session.TransferredTo.SessionId" not in bound.metadata
    assert await store.get_session("a:1chat", plan.receiving.id) is None
    assert await store.transfers_of("a:1chat") == []

    fault.execute("DROP TRIGGER crash")
    fault.commit()
    fault.close()
    retry = planned(directory, bound)
    await store.commit_transfer(retry)
    rebound = await store.bound_session("a:1chat")
    assert rebound is not None and rebound.id == retry.receiving.id


async def test_a_session_is_transferred_only_once(directory: Directory, store: SqliteStore) -> None:
    sending = await started(store)
    await store.commit_transfer(planned(directory, sending, "hr"))
    with pytest.raises(ConflictError):
        await store.commit_transfer(planned(directory, sending, "legal"))
    assert [s.tenant_id for s in await store.sessions_of("a:1chat")] == ["helpdesk", "hr"]
