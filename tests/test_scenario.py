"""The seed's scenario end to end: Teams JSON over HTTP in, the fake connector's record out."""

from __future__ import annotations

from storage.export import conversation_export
from tests.conftest import RunningBot
from tests.support.teams import choice_value

LINKS = ("SessionId", "TenantId", "TenantName")


async def test_help_desk_to_hr(bot: RunningBot) -> None:
    chat = bot.chat()
    greeting = await chat.install()
    assert [r.text for r in greeting] == [
        "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team.",
        "What do you need help with today?",
    ]
    options = await chat.say("My parental leave request is stuck")
    card = options[0].cards[0]
    assert [a["title"] for a in card["actions"]] == ["IT Support", "HR", "Legal"]

    after = await chat.submit(choice_value(options, "HR"))
    transfer_card = after[0].cards[0]
    texts = [block.get("text") for block in transfer_card["body"]]
    assert "You're now with Human Resources" in texts
    assert any("Help Desk passed your chat on" in (t or "") for t in texts)
    assert after[1].text == (
        "Hi Megan Bowen, this is Human Resources. Help Desk sent you over with your question:"
        ' "My parental leave request is stuck"'
    )
    assert after[2].text.startswith("Is this about leave, pay")

    more = await chat.say("Leave, starting in March")
    closing = await chat.submit(choice_value(more, "That's all"))
    assert closing[-1].text.startswith("Thanks Megan Bowen. HR has your request")

    export = await conversation_export(bot.store, chat.conversation_id)
    helpdesk, hr = export["sessions"]
    assert (helpdesk["tenant"], helpdesk["state"]) == ("helpdesk", "transferred")
    assert (hr["tenant"], hr["state"]) == ("hr", "ended")
    assert {helpdesk["metadata"][f"Session.TransferredTo.{k}"] for k in LINKS} == {
        hr["id"],
        "hr",
        "Human Resources",
    }
    assert [hr["metadata"][f"Session.TransferredFrom.{k}"] for k in LINKS] == [
        helpdesk["id"],
        "helpdesk",
        "Help Desk",
    ]
    assert hr["metadata"]["Guest.Question"] == "My parental leave request is stuck"
    assert hr["metadata"]["HR.Detail"] == "Leave, starting in March"
    assert [step["stage"] for step in helpdesk["flow"]] == ["greet", "ask", "route", "to_hr"]
    assert [step["stage"] for step in hr["flow"]] == ["hello", "detail", "next_step", "bye"]
