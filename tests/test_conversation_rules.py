"""The conversation's rules below HTTP: turns Crossdesk starts on idle chats, a front door
whose first wait is not a question, business hours across daylight saving time and holidays,
and conditions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialogs import Sweeper
from pipeline.hours import BusinessHours, Week, is_open, next_opening
from tests.support.desk import Desk, desk, open_desk, stages, texts


async def test_a_wake_closes_an_idle_chat_without_a_word(tmp_path: Path) -> None:
    chat = open_desk(tmp_path)
    await chat.open()
    chat.runtime.clock.now += timedelta(hours=9)  # type: ignore[attr-defined]
    assert await chat.wake() == []
    [session] = (await chat.export())["sessions"]
    assert (session["state"], session["metadata"]["Session.Status.Resolution"]) == (
        "ended",
        "abandoned",
    )
    # The guest's next message is told, starts a new chat and answers its question.
    assert texts(await chat.say("Payslip")) == [
        "Your earlier chat with Help Desk was closed after 8 hours without a message, so this"
        " is a new one.",
        "Hi Megan.",
        "[card] Which team?",
    ]
    sessions = (await chat.export())["sessions"]
    assert [s["state"] for s in sessions] == ["ended", "active"]
    assert sessions[1]["metadata"]["Guest.Question"] == "Payslip"


async def test_the_sweeper_closes_idle_chats_without_a_word_and_leaves_the_others(
    tmp_path: Path,
) -> None:
    """An idle chat is closed when it goes idle (the sweeper looks every minute), not only
    when its guest writes again: the operations view sees it end, its guest is told nothing
    until they write, and a chat still in use is not touched."""
    megan = open_desk(tmp_path)
    john = Desk(megan.config, megan.store, chat="a:1john-chat")
    await megan.open()
    john.runtime.clock.now += timedelta(hours=4)  # type: ignore[attr-defined]
    await john.open()
    sent = len(megan.sender.sent) + len(john.sender.sent)
    megan.runtime.clock.now += timedelta(hours=9)  # type: ignore[attr-defined]
    sweeper = Sweeper(megan.store, megan.delivery, idle=megan.runtime.close_idle_chats)

    await sweeper.sweep()

    [closed] = (await megan.export())["sessions"]
    assert (closed["state"], closed["metadata"]["Session.Status.Resolution"]) == (
        "ended",
        "abandoned",
    )
    [still] = (await john.export())["sessions"]
    assert still["state"] == "active"
    assert len(megan.sender.sent) + len(john.sender.sent) == sent, "nobody was told anything"
    assert await megan.runtime.close_idle_chats() == 0, "a closed chat is not looked at again"
    assert texts(await megan.say("Payslip"))[0] == (
        "Your earlier chat with Help Desk was closed after 8 hours without a message, so this"
        " is a new one."
    )


async def test_the_opening_message_stays_in_the_transcript_when_the_chat_waits_at_options(
    tmp_path: Path,
) -> None:
    config = desk()
    welcome = stages(config, "helpdesk", "welcome")
    welcome[0]["next"] = "route"
    chat = open_desk(tmp_path, config)
    assert texts(await chat.say("HR please")) == ["Hi Megan.", "[card] Which team?"]
    [session] = (await chat.export())["sessions"]
    assert session["waiting_at"]["stage"] == "route", "not taken as a pick"
    assert [e["text"] for e in session["transcript"] if e["direction"] == "in"] == ["HR please"]


async def test_a_condition_takes_the_first_true_branch_and_only_true(tmp_path: Path) -> None:
    config = desk()
    welcome = stages(config, "helpdesk", "welcome")
    welcome[1]["next"] = "branch"
    welcome.insert(
        2,
        {
            "key": "branch",
            "type": "condition",
            "branches": [
                {"if": "Guest.Question", "next": "route"},  # a string, not true
                {"if": "${contains(toLower(Guest.Question), 'legal')}", "next": "legal"},
                {"if": "length(Guest.Question) > 3", "next": "long"},
            ],
            "otherwise": "short",
        },
    )
    welcome += [
        {"key": "legal", "type": "end", "text": "Legal it is."},
        {"key": "long", "type": "end", "text": "A long one."},
        {"key": "short", "type": "end", "text": "A short one."},
    ]
    for number, (typed, said) in enumerate(
        [("A LEGAL matter", "Legal it is."), ("Payslip", "A long one."), ("VPN", "A short one.")]
    ):
        chat = open_desk(tmp_path / str(number), config)
        await chat.open()
        assert texts(await chat.say(typed)) == [said]


BERLIN = BusinessHours(
    time_zone="Europe/Berlin",
    weekly=Week(monday="09:00-17:00", friday="09:00-17:00", saturday="10:00-24:00"),
    holidays=["12-25", "2026-04-03"],
)


@pytest.mark.parametrize(
    ("moment", "open_now"),
    [
        (datetime(2026, 3, 27, 8, 0, tzinfo=UTC), True),  # Friday 09:00 CET (UTC+1)
        (datetime(2026, 3, 30, 7, 0, tzinfo=UTC), True),  # Monday 09:00 CEST (UTC+2)
        (datetime(2026, 3, 30, 6, 59, tzinfo=UTC), False),
        (datetime(2026, 3, 30, 15, 0, tzinfo=UTC), False),  # Monday 17:00: closed
        (datetime(2026, 4, 3, 10, 0, tzinfo=UTC), False),  # Good Friday, a holiday that year
        (datetime(2026, 12, 25, 10, 0, tzinfo=UTC), False),  # Christmas, every year
        (datetime(2026, 3, 28, 22, 59, tzinfo=UTC), True),  # Saturday 23:59 CET, open to 24:00
    ],
)
def test_business_hours_follow_the_tenants_clock(moment: datetime, open_now: bool) -> None:
    assert is_open(BERLIN, moment) is open_now


def test_the_next_opening_skips_holidays_and_closed_days() -> None:
    thursday = datetime(2026, 4, 2, 12, 0, tzinfo=UTC)
    # Good Friday is a holiday: next is Saturday 10:00 CEST.
    assert next_opening(BERLIN, thursday) == datetime(2026, 4, 4, 8, 0, tzinfo=UTC)
    never = BusinessHours(time_zone="UTC", weekly=Week())
    assert next_opening(never, thursday) is None


async def test_a_card_given_per_language_goes_to_each_guest_in_theirs(tmp_path: Path) -> None:
    import json

    for name, text in (("welcome.json", "Welcome"), ("willkommen.json", "Willkommen")):
        card = {
            "type": "AdaptiveCard",
            "version": "1.5",
            "body": [{"type": "TextBlock", "text": f"{text}, ${{Guest.GivenName}}"}],
        }
        (tmp_path / name).write_text(json.dumps(card), encoding="utf-8")
    config = desk()
    greet = stages(config, "helpdesk", "welcome")[0]
    greet["card"] = {"en": "welcome.json", "de": "willkommen.json"}
    greet["text"] = {"en": "Hi.", "de": "Hallo."}
    english = open_desk(tmp_path, config)
    assert texts(await english.open())[0] == "[card] Welcome, Megan"
    german = Desk(english.config, english.store, "a:1german-chat")
    german.channel.facts_ = {**german.channel.facts_, "Guest.Locale": "de-AT"}
    replies = await german.open()
    assert texts(replies)[0] == "[card] Willkommen, Megan"
    assert replies[0].text == "Hallo."
