"""Stages in isolation: what each type sends, stores and where it goes next (no SDK)."""

from __future__ import annotations

import pytest

from pipeline import engine
from pipeline.config import EXAMPLE_CONFIG, Directory, load_directory
from pipeline.engine import Goto, GuestInput, Transfer, Wait
from pipeline.session import Session


@pytest.fixture(scope="module")
def directory() -> Directory:
    return load_directory(EXAMPLE_CONFIG)


@pytest.fixture
def session() -> Session:
    return Session.open(
        conversation_id="a:1chat",
        tenant_id="helpdesk",
        tenant_name="Help Desk",
        metadata={"Guest.Name": "Megan Bowen"},
    )


def test_message_binds_metadata_and_moves_on(directory: Directory, session: Session) -> None:
    step = engine.enter(directory.stage("helpdesk", "welcome", "greet"), session, directory)
    assert [r.text for r in step.replies] == [
        "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team."
    ]
    assert step.next == Goto("ask")


def test_guest_text_is_data_never_expanded(directory: Directory, session: Session) -> None:
    ask = directory.stage("helpdesk", "welcome", "ask")
    engine.resume(ask, session, GuestInput(text="${Session.SessionId} {{7*7}} __import__('os')"))
    hello = directory.stage("hr", "intake", "hello")
    step = engine.enter(hello, session, directory)
    assert step.replies[0].text is not None
    assert "\"${Session.SessionId} {{7*7}} __import__('os')\"" in step.replies[0].text


def test_question_stores_the_answer_or_asks_again(directory: Directory, session: Session) -> None:
    ask = directory.stage("helpdesk", "welcome", "ask")
    assert engine.enter(ask, session, directory).next == Wait()
    empty = engine.resume(ask, session, GuestInput(text="   "))
    assert (empty.next, empty.replies[0].text) == (Wait(), "Please type your answer as a message.")
    assert "Guest.Question" not in session.metadata
    answered = engine.resume(ask, session, GuestInput(text="  VPN is down "))
    assert answered.next == Goto("route")
    assert session.metadata["Guest.Question"] == "VPN is down"


def test_options_card_and_each_way_to_choose(directory: Directory, session: Session) -> None:
    route = directory.stage("helpdesk", "welcome", "route")
    card = engine.enter(route, session, directory).replies[0].card
    assert card is not None and card["version"] == "1.5"
    buttons = {a["title"]: a["data"]["crossdesk"] for a in card["actions"]}
    assert buttons["HR"] == {"session": session.id, "stage": "route", "choice": "hr"}

    assert engine.resume(route, session, GuestInput(value={"crossdesk": buttons["HR"]})).next == (
        Goto("to_hr")
    )
    assert session.metadata["HelpDesk.Department"] == "hr"
    assert engine.resume(route, session, GuestInput(text="it support")).next == Goto("to_it")
    assert engine.resume(route, session, GuestInput(text="3")).next == Goto("to_legal")
    assert engine.resume(route, session, GuestInput(text="4")).next == Wait()


def test_a_click_on_an_old_card_is_not_an_answer(directory: Directory, session: Session) -> None:
    route = directory.stage("helpdesk", "welcome", "route")
    stale = {"crossdesk": {"session": "an-earlier-session", "stage": "route", "choice": "hr"}}
    step = engine.resume(route, session, GuestInput(value=stale))
    assert step.next == Wait()
    assert step.replies[0].text == "That card is from an earlier step; here is where we are now."
    assert step.replies[1].card is not None
    assert step.replies[1].card["actions"][1]["data"]["crossdesk"]["session"] == session.id
    assert "HelpDesk.Department" not in session.metadata


def test_transfer_target_is_resolved_from_metadata(directory: Directory, session: Session) -> None:
    to_hr = directory.stage("helpdesk", "welcome", "to_hr")
    step = engine.enter(to_hr, session, directory)
    assert isinstance(step.next, Transfer) and step.next.target_tenant_id == "hr"


def test_end_finishes_with_the_resolution(directory: Directory, session: Session) -> None:
    session.metadata["IT.Device"] = "Laptop"
    step = engine.enter(directory.stage("it", "triage", "bye"), session, directory)
    assert step.next == engine.Finish("resolved")
    assert step.replies[0].text == (
        "Thanks, we've logged it for Laptop. An engineer will follow up in this chat."
    )
