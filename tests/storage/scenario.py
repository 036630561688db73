"""The seed's help desk → HR scenario as steps, for any set of Crossdesk instances: each step
goes to the next instance in turn, as a load balancer would send it."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from tests.support.export import Transcript
from tests.support.replies import Replies
from tests.support.teams import TeamsChat, choice_value

LINKS = ("SessionId", "TenantId", "TenantName")
#: Called after each step with its name and what the bot sent (e.g. to count round trips).
StepHook = Callable[[str, Replies], Awaitable[None]]


async def _nothing(step: str, received: Replies) -> None:
    return None


async def help_desk_to_hr(
    chat: TeamsChat, bot_urls: Sequence[str], after_step: StepHook = _nothing
) -> None:
    """Install, ask, pick HR (the transfer), answer HR, finish; asserting what the guest sees."""
    urls = itertools.cycle(bot_urls)

    async def step(name: str, send: Callable[[], Awaitable[Replies]]) -> Replies:
        chat.bot_url = next(urls)
        received = await send()
        await after_step(name, received)
        return received

    greeting = await step("install", chat.install)
    assert [r.text for r in greeting] == [
        "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team.",
        "What do you need help with today?",
    ]
    options = await step("question", lambda: chat.say("My parental leave request is stuck"))
    card = options.card_titled("Thanks. Which team should take this?")
    assert card.buttons == ["IT Support", "HR", "Legal"]

    after = await step("transfer", lambda: chat.submit(choice_value(options, "HR")))
    transfer_card = after.card_titled("You're now with Human Resources")
    hello = after.saying(
        "Hi Megan Bowen, this is Human Resources. Help Desk sent you over with your question:"
        ' "My parental leave request is stuck"'
    )
    assert after.index_of(transfer_card) < after.index_of(hello)
    more = await step("detail", lambda: chat.say("Leave, starting in March"))
    closing = await step("close", lambda: chat.submit(choice_value(more, "That's all")))
    assert [r.text for r in closing] == [
        "Thanks Megan Bowen. HR has your request and will reply here within one working day."
    ]


def check_export(export: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both sessions of the scenario, linked both ways, with their flow; returned for more."""
    helpdesk, hr = export["sessions"]
    assert (helpdesk["tenant"], helpdesk["state"]) == ("helpdesk", "transferred")
    assert (hr["tenant"], hr["state"]) == ("hr", "ended")
    assert [helpdesk["metadata"][f"Session.TransferredTo.{k}"] for k in LINKS] == [
        hr["id"],
        "hr",
        "Human Resources",
    ]
    assert [hr["metadata"][f"Session.TransferredFrom.{k}"] for k in LINKS] == [
        helpdesk["id"],
        "helpdesk",
        "Help Desk",
    ]
    assert hr["metadata"]["HR.Detail"] == "Leave, starting in March"
    assert [step["stage"] for step in helpdesk["flow"]] == ["greet", "ask", "route", "to_hr"]
    assert [step["stage"] for step in hr["flow"]] == ["hello", "detail", "next_step", "bye"]
    transcript = Transcript.of(helpdesk)
    assert transcript.index_of("out", "What do you need help with today?") < transcript.index_of(
        "in", "My parental leave request is stuck"
    )
    return helpdesk, hr
