"""The seed's scenario end to end: Teams JSON over HTTP in, the fake connector's record out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import yaml

from app import Settings
from tests.conftest import RunningBot, StartBot
from tests.support.config import stage, tenant
from tests.support.export import chat_export
from tests.support.teams import choice_value

LINKS = ("SessionId", "TenantId", "TenantName")
#: Tuesday 1 December 2026, 10:00 UTC.
TUESDAY_MORNING = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
#: The best rating on a rating card.
RATED = "5 ★"


async def test_help_desk_to_hr(bot: RunningBot) -> None:
    chat = bot.chat()
    greeting = await chat.install()
    assert [r.text for r in greeting] == [
        "Hi Megan Bowen, welcome to the Help Desk. I'll get you to the right team.",
        "What do you need help with today?",
    ]
    options = await chat.say("My parental leave request is stuck")
    card = options.card_titled("Thanks. Which team should take this?")
    assert card.buttons == ["IT Support", "HR", "Legal"]

    after = await chat.submit(choice_value(options, "HR"))
    transfer_card = after.card_titled("You're now with Human Resources")
    assert transfer_card.shows("Help Desk passed your chat on")
    assert transfer_card.fact("Your question") == "My parental leave request is stuck"
    hello = after.saying(
        "Hi Megan Bowen, this is Human Resources. Help Desk sent you over with your question:"
        ' "My parental leave request is stuck"'
    )
    detail = after.text_starting("Is this about leave, pay")
    # The card says where the chat went, then the receiving tenant's pipeline starts.
    assert after.index_of(transfer_card) < after.index_of(hello) < after.index_of(detail)

    more = await chat.say("Leave, starting in March")
    closing = await chat.submit(choice_value(more, "That's all"))
    assert [r.text for r in closing] == [
        "Thanks Megan Bowen. HR has your request and will reply here within one working day."
    ]

    export = await chat_export(bot, chat.conversation_id)
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


async def test_the_example_configuration_plays_the_seed_scenario(start_bot: StartBot) -> None:
    """config/example.yaml, which `make run` serves, loads and takes a chat from the front door
    to HR and through HR's pipeline to its end. The example is free to change, so this reads its
    button titles from the file and asserts none of its wording."""
    example_file = Settings.from_env({}).config_path
    assert example_file.parts[-2:] == ("config", "example.yaml")
    example: dict[str, Any] = yaml.safe_load(example_file.read_text())

    def title_of(tenant_id: str, key: str, value: str) -> str:
        choices: list[dict[str, str]] = stage(example, tenant_id, key)["choices"]
        return next(choice["title"] for choice in choices if choice["value"] == value)

    # A Tuesday morning in Europe: every tenant the example gives business hours is open.
    bot = await start_bot(config=example_file, clock=lambda: TUESDAY_MORNING)
    chat = bot.chat()
    greeting = await chat.install()
    assert greeting.texts(), "the front door greets"
    hi = await chat.say("hi")
    assert (
        "Guest.Question"
        not in (await chat_export(bot, chat.conversation_id))["sessions"][0]["metadata"]
    ), "a greeting is not the question"
    assert hi.texts(), "and is answered"
    options = await chat.say("My parental leave request is stuck")
    after = await chat.submit(choice_value(options, title_of("helpdesk", "route", "hr")))
    transfer_card = after.cards()[0]
    assert "My parental leave request is stuck" in transfer_card.facts.values()
    more = await chat.say("Leave, starting in March")
    closing = await chat.submit(choice_value(more, title_of("hr", "next_step", "done")))
    if any(RATED in card.buttons for card in closing.cards()):
        await chat.submit(choice_value(closing, RATED))

    export = await chat_export(bot, chat.conversation_id)
    helpdesk, hr = export["sessions"]
    assert [(s["tenant"], s["state"]) for s in (helpdesk, hr)] == [
        ("helpdesk", "transferred"),
        ("hr", "ended"),
    ]
    assert (
        hr["metadata"]["Session.TransferredFrom.TenantName"] == tenant(example, "helpdesk")["name"]
    )
    assert helpdesk["metadata"]["Session.TransferredTo.SessionId"] == hr["id"]
    assert hr["metadata"]["Guest.Question"] == "My parental leave request is stuck"


async def test_the_example_uses_business_hours_and_a_rating() -> None:
    example: dict[str, Any] = yaml.safe_load(Settings.from_env({}).config_path.read_text())
    types = {
        stage["type"]
        for tenant in example["tenants"]
        for pipeline in tenant["pipelines"].values()
        for stage in pipeline["stages"]
    }
    assert {"business_hours", "rating", "condition"} <= types
    assert any("hours" in tenant for tenant in example["tenants"])


async def test_the_example_configuration_reaches_an_agent(start_bot: StartBot) -> None:
    """The example's new path: HR's guest asks for a person, an agent of the example who opened
    Crossdesk in Teams and is available accepts, and they talk. Wording is read from the file."""
    example_file = Settings.from_env({}).config_path
    example: dict[str, Any] = yaml.safe_load(example_file.read_text())
    choices = stage(example, "hr", "next_step")["choices"]
    person_choice = next(c["title"] for c in choices if c["next"] == "agent")
    hr_choice = next(
        c["title"] for c in stage(example, "helpdesk", "route")["choices"] if c["value"] == "hr"
    )
    first = example["agents"][0]
    bot = await start_bot(config=example_file, clock=lambda: TUESDAY_MORNING)
    agent_user = {"id": "29:1agent", "name": first["name"], "aadObjectId": first["aad_object_id"]}
    agent = bot.chat(who=agent_user, conversation_id="a:1agent-chat")
    await agent.install()
    await agent.say("available")

    chat = bot.chat()
    await chat.install()
    await chat.say("My parental leave request is stuck")
    await chat.submit(choice_value(chat.received(), hr_choice))
    await chat.say("Leave, starting in March")
    await chat.submit(choice_value(chat.received(), person_choice))
    offer = agent.received().cards()[-1]
    await agent.submit(offer.button("Accept"))
    await chat.say("Are you there?")
    await agent.say("Yes, looking at your request now")

    assert agent.received().texts()[-1] == "Megan Bowen: Are you there?"
    assert chat.received().texts()[-1] == f"{first['name']}: Yes, looking at your request now"
    export = await chat_export(bot, chat.conversation_id)
    assert export["sessions"][-1]["metadata"]["Session.Agent.Id"] == first["id"]


async def test_an_agent_of_the_examples_help_desk_hands_the_chat_to_hr(start_bot: StartBot) -> None:
    """The example's other agent path: the guest asks the Help Desk for a person in their own
    words, an agent takes the chat and transfers it to HR, whose pipeline goes on; there the
    guest types the choice that asks for a person, and the agents are offered the chat again."""
    example: dict[str, Any] = yaml.safe_load(Settings.from_env({}).config_path.read_text())
    help_desk_agents = tenant(example, "helpdesk")["agents"]
    first = next(a for a in example["agents"] if a["id"] == help_desk_agents[0])
    choices = stage(example, "hr", "next_step")["choices"]
    person_choice = next(c["title"] for c in choices if c["next"] == "agent")
    bot = await start_bot(config=Settings.from_env({}).config_path, clock=lambda: TUESDAY_MORNING)
    agent_user = {"id": "29:1agent", "name": first["name"], "aadObjectId": first["aad_object_id"]}
    agent = bot.chat(who=agent_user, conversation_id="a:1agent-chat")
    await agent.install()
    await agent.say("available")

    chat = bot.chat()
    await chat.install()
    await chat.say("Can someone check my contract hours?")
    # Not a choice's title, but the routing card has one way to a person: it is taken.
    await chat.say("I want to talk to a human please")
    await agent.submit(agent.received().cards()[-1].button("Accept"))
    await agent.say("transfer hr")

    export = await chat_export(bot, chat.conversation_id)
    helpdesk, hr = export["sessions"]
    assert [(s["tenant"], s["state"]) for s in (helpdesk, hr)] == [
        ("helpdesk", "transferred"),
        ("hr", "active"),
    ]
    for session in (helpdesk, hr):
        assert session["metadata"]["Session.TransferredBy.AgentId"] == first["id"]
    assert hr["metadata"]["Session.TransferredFrom.TenantName"] == "Help Desk"

    await chat.say("Pay: my contract says 32 hours, my payslip 40")
    offers_before = len(agent.received().cards())
    await chat.say(person_choice)
    offer = agent.received().cards()[-1]
    assert len(agent.received().cards()) == offers_before + 1
    assert "Accept" in offer.buttons
    await agent.submit(offer.button("Accept"))
    await chat.say("Hello again")
    assert agent.received().texts()[-1] == "Megan Bowen: Hello again"


def test_the_playgrounds_agents_are_the_examples() -> None:
    """scripts/playground.sh starts an Agents Playground per person (scripts/PLAYGROUND.md): each
    agent's file speaks as an agent of the example (by Entra object id), in a chat of their own,
    in the guest's tenant with the guest's bot."""
    root = Settings.from_env({}).config_path.parent.parent
    example: dict[str, Any] = yaml.safe_load(Settings.from_env({}).config_path.read_text())
    by_id = {a["aad_object_id"]: a for a in example["agents"]}
    guest = yaml.safe_load((root / ".m365agentsplayground.yml").read_text())
    files = {"alex": "playground-agent.yaml", "adele": "playground-agent-adele.yaml"}
    chats = {guest["personalChat"]["id"]}
    for agent_id, name in files.items():
        playground = yaml.safe_load((root / "scripts" / name).read_text())
        me = playground["currentUser"]
        assert by_id[me["aadObjectId"]]["id"] == agent_id, name
        assert me["name"] == by_id[me["aadObjectId"]]["name"], name
        assert (playground["tenantId"], playground["bot"]) == (guest["tenantId"], guest["bot"])
        assert len(playground["users"]) == 5, "the Playground wants exactly 5 further users"
        chats.add(playground["personalChat"]["id"])
    assert len(chats) == 1 + len(files), "each person has a personal chat of their own"
