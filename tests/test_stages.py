"""Every stage type through the runtime, below HTTP: what the guest sees, what is stored, where
the chat goes next."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.desk import (
    Desk,
    button,
    buttons,
    desk,
    open_desk,
    stages,
    tenant,
    texts,
)
from tests.support.replies import as_teams_shows


async def at_options(tmp_path: Path) -> Desk:
    chat = open_desk(tmp_path)
    await chat.open()
    await chat.say("My payslip is wrong")
    return chat


async def test_message_binds_metadata_and_goes_on(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    assert texts(await chat.open()) == ["Hi Megan.", "What do you need help with?"]
    [session] = (await chat.export())["sessions"]
    assert [step["stage"] for step in session["flow"]] == ["greet", "ask"]
    assert session["waiting_at"] == {"pipeline": "welcome", "stage": "ask"}


async def test_a_message_stage_sends_a_card_from_a_template(tmp_path: Path) -> None:
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Welcome, ${Guest.GivenName}"}],
    }
    (tmp_path / "welcome.json").write_text(json.dumps(card), encoding="utf-8")
    config = desk()
    stages(config, "helpdesk", "welcome")[0]["card"] = "welcome.json"
    chat = open_desk(tmp_path, config)
    assert texts(await chat.open()) == [
        "[card] Welcome, Megan",
        "What do you need help with?",
    ]
    assert chat.last[0].text == "Hi Megan."


async def test_question_stores_the_answer_and_asks_again_for_nothing(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    await chat.open()
    assert texts(await chat.say("   ")) == ["Please type your answer as a message."]
    assert texts(await chat.say("  VPN is down ")) == ["[card] Which team?"]
    [session] = (await chat.export())["sessions"]
    assert session["metadata"]["Guest.Question"] == "VPN is down"


async def test_guest_text_is_data_never_expanded(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    await chat.open()
    await chat.say("${Session.SessionId} {{7*7}} __import__('os')")
    replies = await chat.click("HR")
    assert "HR here. You asked: ${Session.SessionId} {{7*7}} __import__('os')" in [
        as_teams_shows(text) for text in texts(replies)
    ]


async def test_options_offer_a_card_and_take_a_click_a_title_a_value_or_a_number(
    tmp_path: Path,
) -> None:
    chat = await at_options(tmp_path)
    assert buttons(chat.last) == ["IT Support", "HR", "Legal"]
    data = button(chat.last, "HR")["crossdesk"]
    assert (data["stage"], data["choice"]) == ("route", "hr")
    for number, typed in enumerate(("2", "hr", " Hr ", "HR")):
        other = await at_options(tmp_path / str(number))
        assert "[card] You're now with Human Resources" in texts(await other.say(typed))


async def test_options_answer_an_unknown_choice_with_the_choices(tmp_path: Path) -> None:
    chat = await at_options(tmp_path)
    assert texts(await chat.say("banana")) == [
        "Sorry, I'm not sure which one you mean. Please click one, or type its number:\n\n"
        "1. IT Support\n2. HR\n3. Legal",
        "[card] Which team?",
    ]
    [session] = (await chat.export())["sessions"]
    assert "Desk.Team" not in session["metadata"]


async def test_a_click_on_an_old_card_is_not_an_answer(tmp_path: Path) -> None:
    chat = await at_options(tmp_path)
    old_card = chat.last
    await chat.click("HR")
    replies = await chat.click("Legal", on=old_card)
    assert texts(replies) == [
        "That card is from an earlier step; here is where we are now.",
        "Leave, pay, or something else?",
    ]
    export = await chat.export()
    assert [s["tenant"] for s in export["sessions"]] == ["helpdesk", "hr"]


async def test_tenant_transfer_links_both_sessions_and_starts_the_target(tmp_path: Path) -> None:
    chat = await at_options(tmp_path)
    replies = await chat.click("HR")
    assert texts(replies) == [
        "[card] You're now with Human Resources",
        "HR here. You asked: My payslip is wrong",
        "Leave, pay, or something else?",
    ]
    facts = {f["title"]: f["value"] for f in replies[0].card["body"][2]["facts"]}  # type: ignore[index]
    assert facts == {
        "Your question": "My payslip is wrong",
        "From": "Help Desk",
        "To": "Human Resources",
    }
    helpdesk, hr = (await chat.export())["sessions"]
    assert (helpdesk["state"], hr["state"]) == ("transferred", "active")
    assert helpdesk["metadata"]["Session.TransferredTo.SessionId"] == hr["id"]
    assert hr["metadata"]["Session.TransferredFrom.SessionId"] == helpdesk["id"]
    assert hr["metadata"]["Guest.Question"] == "My payslip is wrong"
    assert [s["stage"] for s in hr["flow"]] == ["hello", "detail"]
    # The card was sent in the receiving session.
    assert hr["transcript"][0]["attachments"][0]["content"]["body"][0]["text"] == (
        "You're now with Human Resources"
    )


async def test_a_refused_transfer_says_why_in_the_stages_words_and_goes_on(
    tmp_path: Path,
) -> None:
    # IT is disabled; Legal takes chats only from HR.
    chat = await at_options(tmp_path)
    for team, value in (("IT Support", "it"), ("Legal", "legal")):
        replies = await chat.click(team)
        assert texts(replies) == [f"Sorry, {value} can't take chats now.", "[card] Which team?"]
    [session] = (await chat.export())["sessions"]
    assert session["state"] == "active"


async def test_transfers_are_bounded_per_chat(tmp_path: Path) -> None:
    chat = await at_options(tmp_path)
    # helpdesk → hr → helpdesk → hr: the limit is 3 transfers, the fourth is refused.
    await chat.click("HR")
    await chat.say("Pay")
    await chat.click("Back to the Help Desk")
    await chat.say("Still my payslip")
    await chat.click("HR")
    await chat.say("Pay")
    replies = await chat.click("Back to the Help Desk")
    assert texts(replies)[0] == "Sorry, I couldn't transfer you to that team right now."
    export = await chat.export()
    assert len(export["transfers"]) == 3
    assert export["sessions"][-1]["metadata"]["Session.Status.Resolution"] == "handed to HR"


async def test_end_closes_the_chat_with_its_resolution(tmp_path: Path) -> None:
    chat = await at_options(tmp_path)
    await chat.click("HR")
    await chat.say("Leave")
    assert texts(await chat.click("That's all")) == ["Thanks, HR will reply here."]
    hr = (await chat.export())["sessions"][-1]
    assert (hr["state"], hr["waiting_at"]) == ("ended", None)
    assert hr["metadata"]["Session.Status.Resolution"] == "handed to HR"


async def test_a_blank_transition_ends_the_chat(tmp_path: Path) -> None:
    config = desk()
    stages(config, "helpdesk", "welcome")[1]["next"] = None
    chat = open_desk(tmp_path, config)
    await chat.open()
    assert await chat.say("Nothing more") == []
    [session] = (await chat.export())["sessions"]
    assert session["state"] == "ended"


async def test_a_legal_chat_needs_hr_first(tmp_path: Path) -> None:
    config = desk()
    tenant(config, "legal")["accepts_transfers_from"] = None
    chat = open_desk(tmp_path, config)
    await chat.open()
    await chat.say("A contract")
    assert "Briefly, what is the legal matter?" in texts(await chat.click("Legal"))
