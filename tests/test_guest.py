"""Guest identity from the activity and Teams' member look-up; help and end chat anywhere."""

from __future__ import annotations

from aiohttp import web

from bots.endpoint import BOT
from bots.guest import MemberLookup
from tests.conftest import RunningBot
from tests.support.export import chat_export
from tests.support.teams import DIRECTORY_TENANT, choice_value, guest

GREETING = "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team."
MEGAN = {
    "id": "29:1megan",
    "name": "Megan Bowen",
    "aadObjectId": "6fc92ce2-2821-5341-b414-d173a8168462",
    "givenName": "Megan",
    "surname": "Bowen",
    "email": "MeganB@contoso.com",
    "userPrincipalName": "meganb@contoso.com",
    "tenantId": DIRECTORY_TENANT,
    "userRole": "user",
}


async def test_identity_is_filled_from_the_member_look_up(bot: RunningBot) -> None:
    bot.connector.members["29:1megan"] = MEGAN
    chat = bot.chat(who=guest())
    greeting = await chat.install()
    assert "Hi Megan, welcome to the Help Desk. I'll get you to the right team." in greeting.texts()
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    m = session["metadata"]
    assert (m["Guest.GivenName"], m["Guest.Surname"]) == ("Megan", "Bowen")
    assert (m["Guest.Email"], m["Guest.UserPrincipalName"]) == (
        "MeganB@contoso.com",
        "meganb@contoso.com",
    )
    assert (m["Guest.TenantId"], m["Guest.Locale"], m["Guest.Timezone"]) == (
        DIRECTORY_TENANT,
        "en-US",
        "Europe/London",
    )
    assert (m["Guest.Platform"], m["Guest.IsNew"], m["Guest.ChannelId"]) == ("Web", True, "msteams")
    assert m["Guest.AadObjectId"] == MEGAN["aadObjectId"]


async def test_the_chat_survives_a_failing_member_look_up(bot: RunningBot) -> None:
    bot.connector.fail_members = True
    chat = bot.chat()
    greeting = await chat.install()
    assert GREETING in greeting.texts()
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert session["metadata"]["Guest.Name"] == "Megan Bowen"
    assert "Guest.Email" not in session["metadata"]


async def test_help_at_a_question_and_at_options(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.install()
    help_ = await chat.say("Help")
    assert [r.text for r in help_] == [
        "You're chatting with Help Desk. I'm waiting for your answer to: What do you need help"
        " with today? Type 'end chat' at any time to close this chat."
    ]
    await chat.say("Printer jam")
    help_ = await chat.say("help")
    hint = help_.text_starting("You're chatting with Help Desk. Pick one of the options")
    card = help_.card_titled("Thanks. Which team should take this?")
    assert card.buttons == ["IT Support", "HR", "Legal"]
    assert help_.index_of(hint) < help_.index_of(card)
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert session["metadata"]["Guest.Question"] == "Printer jam"


async def test_end_chat_in_the_receiving_tenant(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.install()
    options = await chat.say("Contract review")
    await chat.submit(choice_value(options, "Legal"))
    ended = await chat.say("End chat!")
    assert [r.text for r in ended] == [
        "You ended the chat with Legal. Send a message any time to start a new one."
    ]
    helpdesk, legal = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [(s["tenant"], s["state"]) for s in (helpdesk, legal)] == [
        ("helpdesk", "transferred"),
        ("legal", "ended"),
    ]
    assert legal["metadata"]["Session.Status.Resolution"] == "ended by guest"
    again = await chat.say("one more thing")
    assert GREETING in again.texts()


async def test_a_reinstall_mid_chat_shows_where_it_stands_once(bot: RunningBot) -> None:
    """Install events carry no name (as the Agents Playground sends them); messages complete
    the guest's facts; a re-install mid-chat re-sends the waiting stage's prompt, once."""
    chat = bot.chat()
    nameless = {"from": {"id": "29:1megan", "aadObjectId": "6fc92ce2"}, "entities": []}
    install = chat.activity("installationUpdate", action="add", **nameless)
    members = chat.activity("conversationUpdate", membersAdded=[{"id": "29:1megan"}], **nameless)
    for activity in (install, members):
        assert (await chat.post(activity)).status == 201
    assert [r.text for r in chat.received()] == [
        "Hi there, welcome to the Help Desk. I'll get you to the right team.",
        "What do you need help with today?",
    ]

    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert "Guest.Name" not in session["metadata"]
    options = await chat.say("Printer jam")
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert (session["metadata"]["Guest.Name"], session["metadata"]["Guest.Timezone"]) == (
        "Megan Bowen",
        "Europe/London",
    )

    before = chat.received()
    for activity in (install, members):
        activity = {**activity, "id": activity["id"] + "-again"}
        assert (await chat.post(activity)).status == 201
    again = chat.received().after(before)
    assert len(again) == 1
    prompt = options.card_titled("Thanks. Which team should take this?")
    assert again.only_card().content == prompt.content


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def count_look_ups(bot: RunningBot) -> list[str]:
    """The conversations whose member the bot looked up, in order."""
    asked: list[str] = []

    async def counting(kind: str, conversation: str, request: web.Request) -> None:
        if kind == "member":
            asked.append(conversation)

    bot.connector.intercept = counting
    return asked


async def test_a_guest_who_comes_back_is_looked_up_once(bot: RunningBot) -> None:
    clock = Clock()
    bot.app[BOT].members = MemberLookup(size=2, seconds=600, clock=clock)
    bot.connector.members["29:1megan"] = MEGAN
    asked = count_look_ups(bot)
    first = bot.chat(who=guest())
    await first.install()
    again = bot.chat(who=guest())  # a new chat of the same guest (a reinstall, another client)
    assert (
        "Hi Megan, welcome to the Help Desk. I'll get you to the right team."
        in (await again.install()).texts()
    )
    assert asked == [first.conversation_id]
    [session] = (await chat_export(bot, again.conversation_id))["sessions"]
    assert session["metadata"]["Guest.Email"] == "MeganB@contoso.com"

    # Kept for `seconds`: then asked again.
    clock.now += 601
    later = bot.chat(who=guest())
    await later.install()
    assert asked == [first.conversation_id, later.conversation_id]
    # At most `size` guests are kept, the least recently asked for going first.
    for number in (2, 3):
        who = guest(f"Guest {number}", f"29:1g{number}")
        bot.connector.members[who["id"]] = {**MEGAN, **who, "email": f"g{number}@contoso.com"}
        await bot.chat(who=who).install()
    last = bot.chat(who=guest())
    await last.install()
    assert asked[-1] == last.conversation_id and len(asked) == 5


async def test_a_failed_look_up_is_not_kept(bot: RunningBot) -> None:
    bot.connector.members["29:1megan"] = MEGAN
    bot.connector.fail_members = True
    await bot.chat(who=guest()).install()
    bot.connector.fail_members = False
    chat = bot.chat(who=guest())
    await chat.install()
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert session["metadata"]["Guest.Email"] == "MeganB@contoso.com"
