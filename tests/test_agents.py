"""Agents who answer from Teams, over HTTP with Teams-shaped activities: offers, the race to
accept, relaying both ways, ending with a resolution, escalating, transferring, notes, and what
an agent may not do. Time is the bot's injected clock; timers fire when a test runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from app import RUNTIME, STORE, SWEEPER
from tests.conftest import RunningBot, StartBot
from tests.support.agents import AGENTS_CONFIG, BotClock, Desk, person
from tests.support.config import write_config
from tests.support.desk import EpochClock
from tests.support.export import chat_export

ALEX, ADELE, ISAIAH, LEE = "Alex Wilber", "Adele Vance", "Isaiah Langer", "Lee Gu"


def desk_of(bot: RunningBot) -> Desk:
    clock = BotClock()
    bot.app[RUNTIME].clock = clock
    return Desk(bot, clock)


@pytest.fixture
async def desk(start_bot: StartBot) -> Desk:
    return desk_of(await start_bot(config=AGENTS_CONFIG))


async def test_every_available_agent_is_offered_the_chat_and_the_first_accept_wins(
    desk: Desk,
) -> None:
    await desk.available(ALEX, ADELE)
    alex, adele = desk.agent(ALEX), desk.agent(ADELE)
    megan = desk.guest()

    shown = await desk.to(megan, "HR")

    assert shown.card_titles() == [
        "You're now with Human Resources",
        "Finding someone from Human Resources for you",
    ]
    for agent in (alex, adele):
        offer = agent.offer()
        assert offer.title == "Megan Bowen is waiting for Human Resources"
        assert offer.fact("Question") == "My payslip is wrong"
        assert offer.fact("Came from") == "Help Desk"
        assert offer.buttons == ["Accept", "Decline"]

    # Both click Accept at the same moment.
    await asyncio.gather(alex.accept(), adele.accept())

    joined = [c for c in megan.received().cards() if c.title.endswith("has joined")]
    assert len(joined) == 1, megan.received().describe()
    winner, loser = (alex, adele) if joined[0].title.startswith(ALEX) else (adele, alex)
    assert joined[0].title == f"{winner.name} from Human Resources has joined"
    assert winner.received.card_titled("You're chatting with Megan Bowen (chat 1)")
    assert loser.received.text_containing(f"Already taken by {winner.name}")
    # Every offer card is updated in place: the loser's says who took it.
    assert (
        desk.agent(loser.name)
        .current(loser.offer(), desk.connector)
        .shows(f"Taken by {winner.name}")
    )
    assert winner.current(winner.offer(), desk.connector).shows("You accepted this chat.")
    metadata = await desk.chat_metadata(megan.conversation_id)
    assert metadata["Session.Agent.Name"] == winner.name
    assert metadata["Session.Agent.State"] == "connected"
    assert metadata["Session.WaitSeconds"] == 0


async def test_messages_go_both_ways_with_names_and_in_order(desk: Desk) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR")
    await alex.accept()
    before_guest, before_alex = megan.received(), alex.received

    for n in range(20):
        await megan.say(f"guest line {n}")
        await alex.say(f"agent line {n}")

    assert megan.received().after(before_guest).texts() == [
        f"{ALEX}: agent line {n}" for n in range(20)
    ]
    assert alex.received.after(before_alex).texts() == [
        f"Megan Bowen: guest line {n}" for n in range(20)
    ]


async def test_what_the_guest_typed_while_waiting_reaches_the_agent_who_joins(desk: Desk) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR", question="My payslip is wrong")

    first = await megan.say("It's the November one")
    second = await megan.say("The tax code looks off")
    await alex.accept()

    # One acknowledgement, not one per message.
    assert first.texts() == [
        "Thanks, I've added that for whoever takes your chat; they'll see it when they join."
    ]
    assert second.texts() == []
    joined = alex.received.card_titled("You're chatting with Megan Bowen (chat 1)")
    assert joined.texts[-4:-1] == [
        "Help Desk · Megan Bowen: My payslip is wrong",
        "Human Resources · Megan Bowen: It's the November one",
        "Human Resources · Megan Bowen: The tax code looks off",
    ]


async def test_the_agent_who_joins_sees_this_chat_not_an_earlier_one_of_the_same_guest(
    desk: Desk,
) -> None:
    """A guest's Teams chat with the bot lasts for ever; what an agent is shown when they
    join is the chat that asks for them (and the tenants it passed through), not what the guest
    said in chats that ended before."""
    await desk.available(ALEX, ADELE)
    alex, adele, megan = desk.agent(ALEX), desk.agent(ADELE), desk.guest()
    await desk.to(megan, "HR", question="My payslip is wrong")
    await megan.say("It's the November one")
    await alex.accept()
    await alex.say("end")
    await alex.click(alex.received.cards()[-1], "End chat", resolved="yes", notes="fixed")

    # Later: a new chat in the same Teams conversation.
    await megan.say("My badge doesn't open the garage")
    await megan.submit(megan.received().choice_value("HR"))
    await adele.click(adele.offer(), "Accept")

    joined = adele.received.card_titled("You're chatting with Megan Bowen (chat 1)")
    lines = [t for t in joined.texts if " · " in t]
    assert lines == ["Help Desk · Megan Bowen: My badge doesn't open the garage"]


async def test_the_agent_ends_the_chat_with_a_resolution_and_the_pipeline_goes_on(
    desk: Desk,
) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR")
    await alex.accept()

    await alex.say("end")
    resolution = alex.received.cards()[-1]
    assert resolution.title == "End the chat with Megan Bowen (Human Resources)"
    before = megan.received()
    await alex.click(resolution, "End chat", resolved="no", notes="needs payroll, ticket 4711")

    after = megan.received().after(before)
    assert after.lines() == [
        f"card: {ALEX} has closed the chat",
        "Thanks for chatting with Human Resources.",
    ]
    assert alex.received.texts()[-1] == "Closed the chat with Megan Bowen."
    metadata = await desk.chat_metadata(megan.conversation_id)
    assert metadata["Session.Status.IsResolved"] is False
    assert metadata["Session.Status.ResolutionNotes"] == "needs payroll, ticket 4711"
    assert metadata["Session.Status.ResolvedByAgentId"] == "alex"
    assert metadata["Session.Status.ResolvedByAgentName"] == ALEX
    assert metadata["Session.Status.ResolvedByType"] == "Agent"
    assert metadata["Session.State"] == "ended"
    # The agent holds no chat any more: what they type reaches nobody.
    assert (await alex.say("hello?")).texts() == ["You're not in a chat with a guest right now."]


async def test_a_note_is_kept_for_colleagues_and_never_shown_to_the_guest(desk: Desk) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR")
    await alex.accept()
    before = megan.received()

    told = await alex.say("note prefers email, not calls")

    assert told.texts() == ["Note kept; the guest doesn't see it."]
    assert megan.received().after(before) == []
    export = await chat_export(desk.runtime.store, megan.conversation_id)
    notes = [e for e in export["sessions"][-1]["transcript"] if e.get("internal")]
    assert [(n["text"], n["author"]) for n in notes] == [("prefers email, not calls", "agent:alex")]


async def test_a_hunt_asks_one_agent_at_a_time_and_moves_on_when_the_offer_expires(
    desk: Desk,
) -> None:
    await desk.available(ISAIAH, LEE)
    isaiah, lee = desk.agent(ISAIAH), desk.agent(LEE)
    megan = desk.guest()

    await desk.to(megan, "IT Support")

    # Nobody has been offered a chat yet: the list's order decides who is first.
    assert len(isaiah.offers()) == 1 and lee.offers() == []
    await desk.tick(29)
    assert lee.offers() == []
    await desk.tick(1)  # IT's accept timeout: 30 s
    assert isaiah.current(isaiah.offer(), desk.connector).shows("Missed: offered to someone else.")
    assert len(lee.offers()) == 1

    await lee.accept()
    assert megan.received().card_titled("Lee Gu from IT Support has joined")

    # The next chat starts with whoever was offered one longest ago: Isaiah.
    john = desk.guest("John Doe")
    await desk.to(john, "IT Support")
    assert len(isaiah.offers()) == 2 and len(lee.offers()) == 1


async def test_a_declined_hunt_offer_goes_to_the_next_agent_at_once(desk: Desk) -> None:
    await desk.available(ISAIAH, LEE)
    isaiah, lee = desk.agent(ISAIAH), desk.agent(LEE)
    await desk.to(desk.guest(), "IT Support")

    await isaiah.click(isaiah.offer(), "Decline")

    assert isaiah.current(isaiah.offer(), desk.connector).shows("You declined this chat.")
    assert len(lee.offers()) == 1


async def test_a_hunt_offer_a_full_agent_accepts_goes_to_the_next_agent_at_once(
    desk: Desk,
) -> None:
    """Two guests at once can both be offered to the same agent (who was offered a chat
    longest ago); the one they cannot take goes on to the next agent when they try, without
    waiting for the accept timeout."""
    await desk.available(ISAIAH, LEE)
    isaiah, lee = desk.agent(ISAIAH), desk.agent(LEE)
    megan, john, lee_ann = desk.guest(), desk.guest("John Doe"), desk.guest("Lee Ann")
    await desk.to(megan, "IT Support")  # Isaiah
    await desk.to(john, "IT Support")  # Lee
    await desk.to(lee_ann, "IT Support")  # Isaiah again: offered longest ago
    megans, lee_anns = isaiah.offers()
    assert len(lee.offers()) == 1
    await isaiah.click(megans, "Accept")

    told = await isaiah.click(lee_anns, "Accept")

    assert told.texts() == [
        "You already hold 1 chat, as many as you take at once: end one, then accept."
    ]
    assert isaiah.current(lee_anns, desk.connector).shows("Offered to someone else: you were full.")
    assert len(lee.offers()) == 2
    await lee.click(lee.offers()[-1], "Accept")
    assert lee_ann.received().card_titled("Lee Gu from IT Support has joined")


async def test_an_agent_never_holds_more_chats_than_their_maximum(desk: Desk) -> None:
    await desk.available(ADELE)  # Adele takes one chat at a time
    adele = desk.agent(ADELE)
    megan, john = desk.guest(), desk.guest("John Doe")
    await desk.to(megan, "HR")
    await desk.to(john, "HR")
    first, second = adele.offers()

    await adele.click(first, "Accept")
    told = await adele.click(second, "Accept")

    assert told.texts() == [
        "You already hold 1 chat, as many as you take at once: end one, then accept."
    ]
    assert not any(c.title.endswith("has joined") for c in john.received().cards())
    # While she is full, new chats are not offered to her.
    lee_ann = desk.guest("Lee Ann")
    await desk.to(lee_ann, "HR")
    assert len(adele.offers()) == 2


async def test_away_agents_are_not_offered_chats_and_nobody_available_follows_on_closed(
    desk: Desk,
) -> None:
    await desk.available(ALEX)
    alex = desk.agent(ALEX)
    await alex.say("away")
    megan = desk.guest()

    shown = await desk.to(megan, "HR")

    assert alex.offers() == []
    assert shown.lines() == [
        "card: You're now with Human Resources",
        "Sorry, nobody from Human Resources is available to chat right now.",
        "Leave us a message and we'll reply here within one working day.",
    ]
    metadata = await desk.chat_metadata(megan.conversation_id)
    assert metadata["Session.Agent.State"] == "closed"


async def test_a_guest_waits_while_every_agent_is_busy_and_is_offered_when_one_frees_up(
    desk: Desk,
) -> None:
    await desk.available(ADELE)
    adele = desk.agent(ADELE)
    megan, john = desk.guest(), desk.guest("John Doe")
    await desk.to(megan, "HR")
    await adele.accept()

    shown = await desk.to(john, "HR")
    assert shown.card_titles()[-1] == "Finding someone from Human Resources for you"
    assert len(adele.offers()) == 1

    await adele.say("end")
    await adele.click(adele.received.cards()[-1], "End chat")
    await desk.tick(60)  # the next look for agents

    assert len(adele.offers()) == 2
    await adele.accept()
    assert john.received().card_titled("Adele Vance from Human Resources has joined")


async def test_still_searching_then_max_wait_follows_on_timeout(desk: Desk) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR")
    before = megan.received()

    for _ in range(5):
        await desk.tick(120)

    shown = megan.received().after(before)
    assert shown.lines() == [
        *["card: Still looking for someone from Human Resources"] * 4,
        "Sorry, nobody from Human Resources could take your chat in time.",
        "Leave us a message and we'll reply here within one working day.",
    ]
    assert alex.current(alex.offer(), desk.connector).shows("The guest stopped waiting.")
    told = await alex.accept()
    assert told.texts() == ["That chat has moved on: nothing to do there."]
    metadata = await desk.chat_metadata(megan.conversation_id)
    assert metadata["Session.Agent.State"] == "timed_out"
    assert metadata["Session.WaitSeconds"] == 600


async def test_a_guest_who_leaves_while_waiting_or_connected(desk: Desk) -> None:
    await desk.available(ALEX, ADELE)
    alex, adele = desk.agent(ALEX), desk.agent(ADELE)
    megan, john = desk.guest(), desk.guest("John Doe")
    await desk.to(megan, "HR")

    left = await megan.say("end chat")

    assert left.texts() == [
        "You ended the chat with Human Resources. Send a message any time to start a new one."
    ]
    for agent in (alex, adele):
        assert agent.current(agent.offer(), desk.connector).shows(
            "The guest left before anyone joined."
        )
    assert (await desk.chat_metadata(megan.conversation_id))["Session.Agent.State"] == "dropped"

    await desk.to(john, "HR")
    await alex.accept()
    await john.say("end chat")
    assert alex.received.cards()[-1].title == "John Doe left the chat"
    metadata = await desk.chat_metadata(john.conversation_id)
    assert metadata["Session.DroppedWhileConnected"] is True
    assert (await alex.say("still there?")).texts() == [
        "You're not in a chat with a guest right now."
    ]


async def test_an_agent_escalates_to_another_list(desk: Desk) -> None:
    await desk.available(ALEX, ISAIAH)
    alex, isaiah, megan = desk.agent(ALEX), desk.agent(ISAIAH), desk.guest()
    await desk.to(megan, "HR")
    assert isaiah.offers() == []  # Isaiah is tier 2 only
    await alex.accept()

    menu = await alex.say("escalate")
    assert menu.only_card().buttons == ["Tier 2", "IT Support", "Leave a message"]
    await alex.click(menu.only_card(), "Tier 2")

    assert megan.received().cards()[-1].title == "Passing your chat on to Tier 2"
    assert alex.received.texts()[-1] == "Escalated to Tier 2; you're no longer in the chat."
    assert len(isaiah.offers()) == 1
    await isaiah.accept()
    assert megan.received().card_titled("Isaiah Langer from Human Resources has joined")
    metadata = await desk.chat_metadata(megan.conversation_id)
    assert metadata["Session.Escalation.Count"] == 1
    assert metadata["Session.Escalation.To"] == "Tier 2"
    assert metadata["Session.Agent.List"] == "tier2"


async def test_an_agent_transfers_the_chat_to_another_tenant(desk: Desk) -> None:
    await desk.available(ALEX, ISAIAH)
    alex, isaiah, megan = desk.agent(ALEX), desk.agent(ISAIAH), desk.guest()
    await desk.to(megan, "HR")
    await alex.accept()
    await megan.say("My *laptop* is HR's?")
    await alex.say("No, it's IT's: I'll pass you to_them")

    told = await alex.say("transfer IT Support")

    assert told.texts() == ["Transferred to IT Support; you're no longer in the chat."]
    transfer = megan.received().card_titled("You're now with IT Support")
    assert transfer.fact("From") == "Human Resources"
    assert len(isaiah.offers()) == 1  # IT hunts its agents
    await isaiah.accept()
    # Isaiah sees what was said in HR, each line once with its author, as it was typed.
    joined = isaiah.received.card_titled("You're chatting with Megan Bowen (chat 1)")
    assert [t for t in joined.texts if " · " in t][-2:] == [
        r"Human Resources · Megan Bowen: My \*laptop\* is HR's?",
        r"Human Resources · Alex Wilber: No, it's IT's: I'll pass you to\_them",
    ]
    history = await desk.runtime.store.history(megan.conversation_id)
    hr, it = history.sessions[-2], history.sessions[-1]
    assert hr.metadata["Session.TransferredTo.TenantId"] == "it"
    assert it.metadata["Session.TransferredFrom.SessionId"] == hr.id
    for session in (hr, it):
        assert session.metadata["Session.TransferredBy.AgentId"] == "alex"
        assert session.metadata["Session.TransferredBy.AgentName"] == ALEX
    # Alex is free again.
    assert (await alex.say("hi")).texts() == ["You're not in a chat with a guest right now."]


async def test_agents_act_only_on_their_own_tenants_chats_they_hold(desk: Desk) -> None:
    await desk.available(ALEX, LEE)
    alex, lee, megan = desk.agent(ALEX), desk.agent(LEE), desk.guest()
    await desk.to(megan, "HR")
    offer = alex.offer()
    before = megan.received()

    # Lee answers IT, not HR: an HR offer's Accept from him changes nothing.
    told = await lee.click(offer, "Accept")
    assert told.texts() == [
        "That chat belongs to a team you don't answer for: nothing was changed."
    ]
    # A guest who is no agent sends the same click: it is their own chat's input.
    john = desk.guest("John Doe")
    await john.install()
    await john.submit(offer.button("Accept"))
    # Lee's messages reach no guest: he holds no chat.
    assert (await lee.say("hello Megan")).texts() == [
        "You're not in a chat with a guest right now."
    ]
    assert megan.received().after(before) == []
    assert (await desk.chat_metadata(megan.conversation_id))["Session.Agent.State"] == ("searching")

    await alex.accept()
    assert megan.received().card_titled(f"{ALEX} from Human Resources has joined")


async def test_a_redelivered_accept_changes_nothing(desk: Desk) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR")
    click = alex.chat.activity("message", value=alex.offer().button("Accept"))

    for _ in range(2):
        response = await alex.chat.post(click)
        assert response.status in (200, 201)

    assert len([c for c in megan.received().cards() if c.title.endswith("has joined")]) == 1
    assert len(alex.received.cards()) == 4  # hello, available, the offer, connected
    record = await desk.runtime.agents.record("alex")
    assert record.chats == (megan.conversation_id,)


# Teams failing as it really fails


async def test_an_agent_teams_refuses_is_skipped_and_logged_once(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    await desk.available(ALEX, ADELE)
    alex, adele = desk.agent(ALEX), desk.agent(ADELE)

    async def blocked(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        if kind == "send" and conversation == adele.chat.conversation_id:
            error = {"code": "Forbidden", "message": "MessageWritesBlocked"}
            return web.json_response({"error": error}, status=403)
        return None

    desk.connector.intercept = blocked  # Adele blocked the app
    await desk.to(desk.guest(), "HR")
    await desk.to(desk.guest("John Doe"), "HR")

    assert len(alex.offers()) == 2
    refused = [r for r in caplog.records if "cannot be reached in Teams" in r.getMessage()]
    assert len(refused) == 1 and "adele" in refused[0].getMessage()
    # Once she writes to the bot again, she is offered chats again.
    desk.connector.intercept = None
    await adele.say("available")
    await desk.to(desk.guest("Lee Ann"), "HR")
    assert len(adele.offers()) == 1


async def test_a_deleted_agent_chat_is_created_again(desk: Desk) -> None:
    await desk.available(ALEX)
    alex = desk.agent(ALEX)
    gone = alex.chat.conversation_id

    async def deleted(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        if kind == "send" and conversation == gone:
            return web.json_response({"error": {"code": "ConversationNotFound"}}, status=404)
        return None

    desk.connector.intercept = deleted
    await desk.to(desk.guest(), "HR")

    created = desk.connector.created["29:1alex"]
    offers = desk.connector.of(created).cards()
    assert [c.title for c in offers] == ["Megan Bowen is waiting for Human Resources"]
    # Later messages go to the new chat straight away.
    await desk.to(desk.guest("John Doe"), "HR")
    assert len(desk.connector.of(created).cards()) == 2
    record = await desk.runtime.agents.record("alex")
    assert record.conversation_id == created


async def test_an_agent_who_never_wrote_to_the_bot_gets_a_chat_created(desk: Desk) -> None:
    # Isaiah is available on record but never opened Crossdesk: his chat is created by his
    # Entra object id, in the guest's Teams tenant.
    await desk.runtime.agents.set_available("isaiah", True)

    await desk.to(desk.guest(), "IT Support")

    created = desk.connector.created[person(ISAIAH)["aadObjectId"]]
    assert [c.title for c in desk.connector.of(created).cards()] == [
        "Megan Bowen is waiting for IT Support"
    ]


async def test_relayed_messages_arrive_once_and_in_order_when_teams_throttles(
    desk: Desk,
) -> None:
    await desk.available(ALEX)
    alex, megan = desk.agent(ALEX), desk.guest()
    await desk.to(megan, "HR")
    await alex.accept()
    # Delivery waits pass on a clock of their own, not the test's wall time.
    epoch = EpochClock()
    delivery = desk.runtime.delivery
    delivery.clock, delivery.sleep = epoch, epoch.sleep
    answers = iter(["429", "412", None, "502", "429", None] * 10)

    async def throttled(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        fault = next(answers, None)
        if kind != "send" or fault is None:
            return None
        headers = {"Retry-After": "3"} if fault == "429" else {}
        return web.json_response({"error": {"code": "Busy"}}, status=int(fault), headers=headers)

    desk.connector.intercept = throttled
    before_guest, before_alex = megan.received(), alex.received
    for n in range(10):
        await megan.say(f"guest line {n}")
        await alex.say(f"agent line {n}")
    # What waited longer than a turn waits is delivered by the sweeper when due.
    store, sweeper = desk.bot.app[STORE], desk.bot.app[SWEEPER]
    while await store.due_chats(epoch.now + 3600, 100):
        epoch.now += 10
        await sweeper.sweep()

    assert megan.received().after(before_guest).texts() == [
        f"{ALEX}: agent line {n}" for n in range(10)
    ]
    assert alex.received.after(before_alex).texts() == [
        f"Megan Bowen: guest line {n}" for n in range(10)
    ]


async def test_an_agent_with_several_chats_sees_whose_line_it_is_and_picks_whom_to_answer(
    desk: Desk,
) -> None:
    await desk.available(ALEX)  # Alex takes two chats at a time
    alex, megan, john = desk.agent(ALEX), desk.guest(), desk.guest("John Doe")
    await desk.to(megan, "HR")
    await alex.accept()
    await desk.to(john, "HR")
    joined = await alex.accept()
    assert joined.cards()[-1].title == "You're chatting with John Doe (chat 2)"

    await megan.say("Any news?")
    await john.say("Hello?")
    assert alex.received.texts()[-2:] == [
        "Megan Bowen (chat 1): Any news?",
        "John Doe (chat 2): Hello?",
    ]

    # What Alex types goes to the chat he accepted last, until he switches.
    await alex.say("Hi John, one moment")
    assert john.received().texts()[-1] == f"{ALEX}: Hi John, one moment"
    listed = await alex.say("chats")
    assert listed.texts() == [
        "Your chats:\n\n1. Megan Bowen (Human Resources)\n2. John Doe (Human Resources)"
        " (answering)\n\nType 'switch N' to answer another one."
    ]
    assert (await alex.say("switch 1")).texts() == ["Now answering Megan Bowen (Human Resources)."]
    await alex.say("Hi Megan, checking now")
    assert megan.received().texts()[-1] == f"{ALEX}: Hi Megan, checking now"

    # The connected card's own End button ends that chat, whichever is in focus.
    connected = alex.received.card_titled("You're chatting with John Doe (chat 2)")
    resolution = (await alex.click(connected, "End chat")).only_card()
    assert resolution.title == "End the chat with John Doe (Human Resources)"
    await alex.click(resolution, "End chat", resolved="yes", notes="")
    assert john.received().card_titled(f"{ALEX} has closed the chat")
    await alex.say("Still there, Megan?")
    assert megan.received().texts()[-1] == f"{ALEX}: Still there, Megan?"


async def test_agent_help_and_availability(desk: Desk) -> None:
    alex = desk.agent(ALEX)

    hello = await alex.install()
    assert hello.only_card().title == ("Hi Alex, you're an agent for Human Resources. You're away.")
    assert hello.only_card().buttons == ["I'm available"]
    available = await alex.click(hello.only_card(), "I'm available")
    assert available.only_card().title == "You're available: new chats will be offered to you here."
    help_text = (await alex.say("help")).texts()[0]
    for command in (
        "'available'",
        "'away'",
        "'chats'",
        "'switch N'",
        "'note",
        "'transfer",
        "'end'",
    ):
        assert command in help_text
    away = await alex.click(available.only_card(), "Go away")
    assert away.only_card().title == "You're away: no new chats will be offered to you."


async def test_an_agent_configured_by_sign_in_name_is_recognised(
    start_bot: StartBot, tmp_path: Path
) -> None:
    config = yaml.safe_load(AGENTS_CONFIG.read_text())
    lee = next(a for a in config["agents"] if a["id"] == "lee")
    del lee["aad_object_id"]
    lee["upn"] = "Lee.Gu@contoso.example"
    desk = desk_of(await start_bot(config=write_config(tmp_path, config)))
    desk.connector.members["29:1lee"] = {
        "id": "29:1lee",
        "name": LEE,
        "userPrincipalName": "lee.gu@contoso.example",
        "aadObjectId": person(LEE)["aadObjectId"],
    }

    hello = await desk.agent(LEE).install()

    assert hello.only_card().title == "Hi Lee, you're an agent for IT Support. You're away."


async def test_relays_to_an_agent_are_paced_under_teams_limits(desk: Desk) -> None:
    await desk.available(ALEX)
    alex, megan, john = desk.agent(ALEX), desk.guest(), desk.guest("John Doe")
    for guest in (megan, john):
        await desk.to(guest, "HR")
        await alex.accept()
    epoch = EpochClock()
    delivery = desk.runtime.delivery
    delivery.clock, delivery.sleep = epoch, epoch.sleep
    arrivals: list[float] = []

    async def timed(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        if kind == "send" and conversation == alex.chat.conversation_id:
            arrivals.append(epoch.now)
        return None

    desk.connector.intercept = timed
    for n in range(12):
        await megan.say(f"line {n}")
        await john.say(f"line {n}")
    store, sweeper = desk.bot.app[STORE], desk.bot.app[SWEEPER]
    while await store.due_chats(epoch.now + 3600, 100):
        epoch.now += 1
        await sweeper.sweep()

    assert len(arrivals) == 24
    for seconds, most in ((1.0, 7), (2.0, 8), (30.0, 60)):
        for start in arrivals:
            assert len([t for t in arrivals if start <= t < start + seconds]) <= most
    lines = alex.received.texts()[-24:]
    for guest in ("Megan Bowen", "John Doe"):
        assert [line.split(": ")[1] for line in lines if line.startswith(guest)] == [
            f"line {n}" for n in range(12)
        ]


async def test_relayed_messages_left_by_a_stopped_instance_are_delivered_once_by_the_next(
    start_bot: StartBot,
) -> None:
    one = desk_of(await start_bot(config=AGENTS_CONFIG, sqlite="shared.sqlite3"))
    await one.available(ALEX)
    alex, megan = one.agent(ALEX), one.guest()
    await one.to(megan, "HR")
    await alex.accept()
    before_alex, before_guest = alex.received, megan.received()

    async def down(kind: str, conversation: str, request: web.Request) -> web.Response | None:
        return web.json_response({"error": {"code": "ServiceError"}}, status=502)

    # The channel fails while this instance relays; it stops before it retries.
    one.connector.intercept = down
    epoch = EpochClock()
    one.runtime.delivery.clock, one.runtime.delivery.sleep = epoch, epoch.sleep
    for n in range(5):
        await megan.say(f"guest line {n}")
        await alex.say(f"agent line {n}")
    one.connector.intercept = None

    restarted = desk_of(await start_bot(config=AGENTS_CONFIG, sqlite="shared.sqlite3"))
    sweeper = restarted.bot.app[SWEEPER]
    restarted.runtime.delivery.clock = lambda: epoch.now + 3600
    while await sweeper.sweep():
        pass

    assert alex.received.after(before_alex).texts() == [
        f"Megan Bowen: guest line {n}" for n in range(5)
    ]
    assert megan.received().after(before_guest).texts() == [
        f"{ALEX}: agent line {n}" for n in range(5)
    ]


async def test_relayed_text_shows_as_typed_and_the_guest_is_answered_in_their_language(
    desk: Desk,
) -> None:
    await desk.available(ALEX)
    alex, lena = desk.agent(ALEX), desk.guest("Lena Fischer")
    # Her first message opens the chat (and answers its first question), in German.
    await lena.say("Meine Lohnabrechnung stimmt nicht", locale="de-DE")
    await lena.submit(lena.received().choice_value("HR"), locale="de-DE")

    kept = await lena.say("Es geht um <b>November</b>", locale="de-DE")
    assert kept.texts() == [
        "Danke, ich habe das für die Person notiert, die Ihren Chat übernimmt; sie sieht es,"
        " sobald sie dazukommt."
    ]
    await alex.accept()
    await lena.say("Steuerklasse *falsch*", locale="de-DE")
    await alex.say("I'll check the <i>tax</i> class")

    assert alex.received.texts()[-1] == "Lena Fischer: Steuerklasse \\*falsch\\*"
    assert lena.received().texts()[-1] == f"{ALEX}: I'll check the &lt;i&gt;tax&lt;/i&gt; class"
