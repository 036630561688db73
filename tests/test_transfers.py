"""Transfers over HTTP: chains, re-deliveries, double clicks, failures and loops."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import RunningBot, StartBot
from tests.support.config import desk_config, stage, tenant, write_config
from tests.support.export import chat_export
from tests.support.replies import Replies
from tests.support.teams import TeamsChat, choice_value

OPTIONS = "Thanks. Which team should take this?"


async def to_options(chat: TeamsChat) -> Replies:
    await chat.install()
    return await chat.say("I need to change my bank details for payroll")


async def test_chain_keeps_both_links_on_the_middle_session(bot: RunningBot) -> None:
    chat = bot.chat()
    options = await to_options(chat)
    hr = await chat.submit(choice_value(options, "HR"))
    assert "Is this about leave, pay, or something else? Tell us a little more." in hr.texts()
    more = await chat.say("Pay")
    legal = await chat.submit(choice_value(more, "I also have a legal question"))
    card = legal.card_titled("You're now with Legal")
    assert card.shows("Human Resources passed your chat on")
    hello = legal.saying("Hi Megan Bowen, Legal here. You came to us from Human Resources.")
    assert legal.index_of(card) < legal.index_of(hello)

    export = await chat_export(bot, chat.conversation_id)
    first, middle, last = export["sessions"]
    assert [s["tenant"] for s in (first, middle, last)] == ["helpdesk", "hr", "legal"]
    assert [s["state"] for s in (first, middle, last)] == ["transferred", "transferred", "active"]
    m = middle["metadata"]
    assert (m["Session.TransferredFrom.SessionId"], m["Session.TransferredTo.SessionId"]) == (
        first["id"],
        last["id"],
    )
    assert first["metadata"]["Session.TransferredTo.SessionId"] == middle["id"]
    assert last["metadata"]["Session.TransferredFrom.SessionId"] == middle["id"]
    assert last["metadata"]["Session.TransferredFrom.TenantName"] == "Human Resources"
    assert "Session.TransferredTo.SessionId" not in last["metadata"]
    # What was collected anywhere along the chain travels with the chat.
    assert last["metadata"]["Guest.Question"] == "I need to change my bank details for payroll"
    assert last["metadata"]["HR.Detail"] == "Pay"
    assert [(t["from"], t["to"]) for t in export["transfers"]] == [
        (first["id"], middle["id"]),
        (middle["id"], last["id"]),
    ]


async def test_redelivered_activity_transfers_once_and_sends_one_card(bot: RunningBot) -> None:
    chat = bot.chat()
    options = await to_options(chat)
    click = chat.activity("message", value=choice_value(options, "HR"))
    before = chat.received()
    first = await chat.post(click)
    again = await chat.post(click)
    assert (first.status, again.status) == (201, 201)
    sent = chat.received().after(before)
    assert sent.card_titles() == ["You're now with Human Resources"]
    assert (
        sent.texts().count("Is this about leave, pay, or something else? Tell us a little more.")
        == 1
    )
    export = await chat_export(bot, chat.conversation_id)
    assert [s["tenant"] for s in export["sessions"]] == ["helpdesk", "hr"]
    assert [(t["fromTenant"], t["toTenant"]) for t in export["transfers"]] == [("helpdesk", "hr")]


async def test_double_click_on_the_options_card_transfers_once(bot: RunningBot) -> None:
    chat = bot.chat()
    options = await to_options(chat)
    await chat.submit(choice_value(options, "HR"))
    late = await chat.submit(choice_value(options, "Legal"))
    assert [r.text for r in late] == [
        "That card is from an earlier step; here is where we are now.",
        "Is this about leave, pay, or something else? Tell us a little more.",
    ]
    sessions = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [s["tenant"] for s in sessions] == ["helpdesk", "hr"]


async def test_typed_choice_and_action_execute(bot: RunningBot) -> None:
    typed = bot.chat()
    await to_options(typed)
    after = await typed.say("legal")
    assert "You're now with Legal" in after.card_titles()

    clicked = bot.chat()
    options = await to_options(clicked)
    response = await clicked.execute(choice_value(options, "IT Support"))
    assert response.status == 200
    assert await response.json() == {
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": "OK",
    }
    received = clicked.received()
    card = received.card_titled("You're now with IT Support")
    hello = received.text_starting("Hi Megan Bowen, IT Support here.")
    assert received.index_of(card) < received.index_of(hello)


async def test_unexpected_text_gets_help_and_the_card_again(bot: RunningBot) -> None:
    chat = bot.chat()
    await to_options(chat)
    help_ = await chat.say("banana")
    pick = help_.saying(
        "Sorry, I'm not sure which one you mean. Please click one, or type its number:\n\n"
        "1. IT Support\n2. HR\n3. Legal"
    )
    card = help_.card_titled(OPTIONS)
    assert card.buttons == ["IT Support", "HR", "Legal"]
    assert help_.index_of(pick) < help_.index_of(card)
    sessions = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [s["state"] for s in sessions] == ["active"]


async def test_transfer_to_a_disabled_tenant_follows_the_failure_transition(
    start_bot: StartBot, tmp_path: Path
) -> None:
    config = desk_config()
    tenant(config, "hr")["enabled"] = False
    bot = await start_bot(config=write_config(tmp_path, config))
    chat = bot.chat()
    options = await to_options(chat)
    after = await chat.submit(choice_value(options, "HR"))
    sorry = after.saying("Sorry, I couldn't transfer you to that team right now.")
    unavailable = after.saying("Please pick another team, or type 'end chat' to stop here.")
    card = after.card_titled(OPTIONS)
    assert card.buttons == ["IT Support", "HR", "Legal"]
    # The failure text, then the `on_failure` stage, which leads back to the options.
    assert after.index_of(sorry) < after.index_of(unavailable) < after.index_of(card)
    sessions = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions] == [("helpdesk", "active")]


async def test_transfer_target_from_metadata(start_bot: StartBot, tmp_path: Path) -> None:
    config = desk_config()
    for choice in stage(config, "helpdesk", "route")["choices"]:
        choice["next"] = "to_department"
    tenant(config, "helpdesk")["pipelines"]["welcome"]["stages"].append(
        {
            "key": "to_department",
            "type": "tenant_transfer",
            "tenant": "${HelpDesk.Department}",
            "template": "transfer.json",
            "on_failure": "unavailable",
        }
    )
    bot = await start_bot(config=write_config(tmp_path, config))
    chat = bot.chat()
    options = await to_options(chat)
    after = await chat.submit(choice_value(options, "Legal"))
    assert "You're now with Legal" in after.card_titles()
    sessions = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [s["tenant"] for s in sessions] == ["helpdesk", "legal"]


async def test_ping_pong_transfers_are_bounded(start_bot: StartBot, tmp_path: Path) -> None:
    config = {
        "front_door": "a",
        "max_transfers_per_chat": 3,
        "tenants": [
            {
                "id": tenant,
                "name": f"Tenant {tenant.upper()}",
                "primary_pipeline": "main",
                "pipelines": {
                    "main": {
                        "stages": [
                            {
                                "key": "bounce",
                                "type": "tenant_transfer",
                                "tenant": other,
                                "template": "transfer.json",
                                "on_failure": "stop",
                            },
                            {"key": "stop", "type": "end", "text": f"{tenant} stops the loop."},
                        ]
                    }
                },
            }
            for tenant, other in (("a", "b"), ("b", "a"))
        ],
    }
    bot = await start_bot(config=write_config(tmp_path, config, "loop.yaml"))
    chat = bot.chat()
    sent = await chat.install()
    assert sent.card_titles() == [
        "You're now with Tenant B",
        "You're now with Tenant A",
        "You're now with Tenant B",
    ]
    assert sent.texts() == [
        "Sorry, I couldn't transfer you to that team right now.",
        "b stops the loop.",
    ]
    sessions = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions] == [
        ("a", "transferred"),
        ("b", "transferred"),
        ("a", "transferred"),
        ("b", "ended"),
    ]


async def test_parallel_clicks_on_one_chat_run_one_at_a_time(bot: RunningBot) -> None:
    """Three different activities at once (a triple click): one transfer, no lost update."""
    chat = bot.chat()
    options = await to_options(chat)
    clicks = [chat.activity("message", value=choice_value(options, "HR")) for _ in range(3)]
    responses = await asyncio.gather(*(chat.post(click) for click in clicks))
    assert [r.status for r in responses] == [201, 201, 201]
    sent = chat.received()
    transfer_cards = [t for t in sent.card_titles() if t.startswith("You're now with")]
    assert transfer_cards == ["You're now with Human Resources"]
    texts = sent.texts()
    assert texts.count("That card is from an earlier step; here is where we are now.") == 2
    assert not any("something went wrong" in t for t in texts)
    export = await chat_export(bot, chat.conversation_id)
    assert [s["tenant"] for s in export["sessions"]] == ["helpdesk", "hr"]
    assert [(t["fromTenant"], t["toTenant"]) for t in export["transfers"]] == [("helpdesk", "hr")]
    async with asyncio.timeout(5), bot.store.chat_turn(chat.conversation_id, None) as turn:
        assert turn is not None  # the three turns released the chat's lease
