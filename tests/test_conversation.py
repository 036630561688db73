"""A conversation employees don't trip over, over HTTP with Teams-shaped JSON: greetings and
small talk, idle chats, messages after an end, commands, typed options, many choices, texts
with metadata, languages, business hours, conditions and ratings.

Every bot here runs tests/config/conversation.yaml on a clock the test moves (no sleeps).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cards.options import CHOICE_INPUT, COMMENT_INPUT
from tests.conftest import RunningBot, StartBot
from tests.support.config import TEST_CONFIG
from tests.support.export import chat_export
from tests.support.replies import Replies, as_teams_shows
from tests.support.teams import TeamsChat, choice_value, guest

CONFIG = TEST_CONFIG.parent / "conversation.yaml"
#: Tuesday 1 December 2026, 10:00 UTC: HR (Berlin, 11:00) and IT (London, 10:00) are open.
TUESDAY = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
GREETING = "Hi Megan, welcome to the Help Desk."
ASK = "What do you need help with today?"
ROUTE = "Which team should take this?"
MEGAN = {
    "id": "29:1megan",
    "name": "Megan Bowen",
    "givenName": "Megan",
    "surname": "Bowen",
    "email": "megan@contoso.example",
    "userPrincipalName": "megan@contoso.example",
}


class Clock:
    """The time the bot's turns take; it moves only when a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **span: float) -> None:
        self.now += timedelta(**span)


Desk = Callable[..., Awaitable[tuple[RunningBot, Clock]]]


@pytest.fixture
def desk(start_bot: StartBot) -> Desk:
    async def start(at: datetime = TUESDAY) -> tuple[RunningBot, Clock]:
        clock = Clock(at)
        bot = await start_bot(config=CONFIG, clock=clock)
        bot.connector.members[MEGAN["id"]] = MEGAN
        return bot, clock

    return start


async def at_route(chat: TeamsChat, question: str = "My payslip is wrong") -> Replies:
    await chat.install()
    return await chat.say(question)


async def at_hr(chat: TeamsChat) -> Replies:
    options = await at_route(chat)
    return await chat.submit(choice_value(options, "HR"))


def texts_as_shown(replies: Replies) -> list[str]:
    return [as_teams_shows(text) for text in replies.texts()]


# greetings and small talk


async def test_hi_is_greeted_and_the_real_question_goes_on_the_transfer_card(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    assert (await chat.install()).texts() == [GREETING, ASK]
    assert (await chat.say("hi")).texts() == ["Hi Megan!", ASK]
    options = await chat.say("My payslip is wrong")
    assert options.card_titled(ROUTE)
    hr = await chat.submit(choice_value(options, "HR"))
    card = hr.card_titled("You're now with Human Resources")
    assert card.fact("Your question") == "My payslip is wrong"
    hr.saying(
        'Human Resources here. Help Desk sent you over with your question: "My payslip is wrong"'
    )
    helpdesk, _ = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert helpdesk["metadata"]["Guest.Question"] == "My payslip is wrong"


@pytest.mark.parametrize(
    ("typed", "answer"),
    [
        ("Hello there!", "Hi Megan!"),
        ("good morning", "Hi Megan!"),
        ("Guten Morgen", "Hi Megan!"),
        ("hola", "Hi Megan!"),
        ("hi Megan", "Hi Megan!"),
        ("👋", "Hi Megan!"),
        ("Thanks!", "You're welcome!"),
        ("merci beaucoup", "You're welcome!"),
        ("ok", "All right."),
        ("👍", "All right."),
    ],
)
async def test_small_talk_at_a_question_gets_a_friendly_reply_and_the_question_again(
    desk: Desk, typed: str, answer: str
) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await chat.install()
    assert (await chat.say(typed)).texts() == [answer, ASK]
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert "Guest.Question" not in session["metadata"]
    assert session["waiting_at"]["stage"] == "ask"


async def test_a_question_with_small_talk_off_takes_ok_as_the_answer(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    options = await at_route(chat, "My screen flickers")
    it = await chat.submit(choice_value(options, "IT Support"))
    it.saying("IT Support here. Which device or app is affected?")
    assert (await chat.say("ok")).texts() == ["Thanks, we've logged it for ok."]


# idle chats


async def test_a_chat_idle_past_the_timeout_is_abandoned_and_the_next_message_is_used(
    desk: Desk,
) -> None:
    bot, clock = await desk()
    chat = bot.chat()
    await at_hr(chat)
    last_message = clock.now
    clock.advance(hours=9)
    replies = await chat.say("My laptop won't start")
    assert replies.texts() == [
        "Your earlier chat with Human Resources was closed after 8 hours without a message,"
        " so this is a new one.",
        GREETING,
    ]
    assert replies.card_titled(ROUTE), "the message answered the first question"
    assert ASK not in replies.texts(), "the question already answered is not asked"
    helpdesk, hr, fresh = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert (hr["state"], hr["metadata"]["Session.Status.Resolution"]) == ("ended", "abandoned")
    ended = datetime.fromisoformat(hr["ended"].replace("Z", "+00:00"))
    assert ended == last_message + timedelta(hours=8), "it ended when it went idle"
    assert (fresh["tenant"], fresh["state"]) == ("helpdesk", "active")
    assert fresh["metadata"]["Guest.Question"] == "My laptop won't start"
    assert fresh["metadata"]["Guest.IsNew"] is False
    assert [e["text"] for e in fresh["transcript"] if e["direction"] == "in"] == [
        "My laptop won't start"
    ]
    assert helpdesk["state"] == "transferred"


async def test_each_tenant_has_its_own_idle_timeout(desk: Desk) -> None:
    bot, clock = await desk()
    chat = bot.chat()
    options = await at_route(chat, "VPN drops")
    await chat.submit(choice_value(options, "IT Support"))
    clock.advance(minutes=50)
    assert (await chat.say("Laptop")).texts() == ["Thanks, we've logged it for Laptop."]

    other = bot.chat()
    options = await at_route(other, "VPN drops")
    await other.submit(choice_value(options, "IT Support"))
    clock.advance(minutes=61)
    replies = await other.say("Hello again")
    assert replies.texts() == [
        "Your earlier chat with IT Support was closed after 1 hour without a message, so this"
        " is a new one.",
        GREETING,
        ASK,
    ], "a greeting opens the new chat but answers nothing"


# after an end


async def ended_chat(bot: RunningBot) -> tuple[TeamsChat, Replies]:
    chat = bot.chat()
    options = await at_route(chat, "Printer jammed")
    await chat.submit(choice_value(options, "IT Support"))
    assert (await chat.say("Printer")).texts() == ["Thanks, we've logged it for Printer."]
    return chat, options


async def test_thanks_soon_after_the_end_is_acknowledged_and_starts_nothing(desk: Desk) -> None:
    bot, clock = await desk()
    chat, old_options = await ended_chat(bot)
    assert (await chat.say("Thanks a lot!")).texts() == [
        "You're welcome! Send a message any time you need help again."
    ]
    clock.advance(minutes=10)
    assert (await chat.say("👍")).texts() == [
        "Glad I could help. Send a message any time you need help again."
    ]
    assert (await chat.submit(choice_value(old_options, "HR"))).texts() == [
        "That chat has ended, so its buttons don't do anything any more. Send a message any"
        " time to start a new one."
    ]
    assert (await chat.say("end chat")).texts() == [
        "There's no open chat to end. Send a message any time to start a new one."
    ]
    sessions = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert [(s["tenant"], s["state"]) for s in sessions] == [
        ("helpdesk", "transferred"),
        ("it", "ended"),
    ]


async def test_after_the_window_thanks_opens_a_new_chat_without_answering(desk: Desk) -> None:
    bot, clock = await desk()
    chat, _ = await ended_chat(bot)
    clock.advance(hours=1)
    assert (await chat.say("thanks")).texts() == [GREETING, ASK]
    *_, fresh = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert "Guest.Question" not in fresh["metadata"]


async def test_anything_else_after_the_end_starts_a_new_chat_and_is_its_question(
    desk: Desk,
) -> None:
    bot, _ = await desk()
    chat, _ = await ended_chat(bot)
    replies = await chat.say("Also, my monitor flickers")
    assert replies.texts() == [GREETING]
    assert replies.card_titled(ROUTE)
    *_, fresh = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert fresh["metadata"]["Guest.Question"] == "Also, my monitor flickers"


# commands


@pytest.mark.parametrize("typed", ["Cancel", "stop", "please end the chat", "End chat."])
async def test_end_chat_in_the_words_people_use(desk: Desk, typed: str) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await at_hr(chat)
    assert (await chat.say(typed)).texts() == [
        "You ended the chat with Human Resources. Send a message any time to start a new one."
    ]
    *_, hr = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert hr["metadata"]["Session.Status.Resolution"] == "ended by guest"


@pytest.mark.parametrize("typed", ["start over", "Start again please", "restart"])
async def test_start_over_returns_to_the_front_door_keeping_who_the_guest_is(
    desk: Desk, typed: str
) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await at_hr(chat)
    assert (await chat.say(typed)).texts() == ["Let's start over.", GREETING, ASK]
    _, hr, fresh = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert hr["metadata"]["Session.Status.Resolution"] == "started over by guest"
    for key in ("Guest.Name", "Guest.Email", "Guest.AadObjectId", "Guest.TenantId"):
        assert fresh["metadata"][key] == hr["metadata"][key], key
    assert "Guest.Question" not in fresh["metadata"]


@pytest.mark.parametrize("typed", ["agent", "I want to talk to a human please", "real person"])
async def test_asking_for_a_person_is_answered_plainly(desk: Desk, typed: str) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await chat.install()
    assert (await chat.say(typed)).texts() == [
        "Sorry, I can't put you through to a person from Help Desk in this chat. I'm waiting"
        f" for your answer to: {ASK}"
    ]
    [session] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert "Guest.Question" not in session["metadata"]


async def test_commands_in_the_guests_language(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat(locale="de-DE", timezone="Europe/Berlin")
    await chat.install()
    assert (await chat.say("Hilfe")).texts() == [
        "Sie chatten mit Help Desk. Ich warte auf Ihre Antwort auf: Wobei brauchen Sie heute"
        " Hilfe? Mit „Chat beenden“ können Sie diesen Chat jederzeit schließen."
    ]
    assert (await chat.say("Chat beenden")).texts() == [
        "Sie haben den Chat mit Help Desk beendet. Schreiben Sie jederzeit eine Nachricht, um"
        " einen neuen zu beginnen."
    ]


# typed options


@pytest.mark.parametrize(
    ("typed", "team"),
    [
        ("I'd like HR please", "Human Resources"),
        ("Human Resources", "Human Resources"),
        ("hr.", "Human Resources"),
        ("2", "Human Resources"),
        ("option 1", "IT Support"),
        ("legal, please", "Legal"),
    ],
)
async def test_typed_answers_pick_a_choice(desk: Desk, typed: str, team: str) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await at_route(chat)
    assert (await chat.say(typed)).card_titled(f"You're now with {team}")


async def test_the_title_is_stored_beside_the_value(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await at_route(chat)
    await chat.say("Human Resources")
    helpdesk, _ = (await chat_export(bot, chat.conversation_id))["sessions"]
    metadata = helpdesk["metadata"]
    assert (metadata["HelpDesk.Department"], metadata["HelpDesk.DepartmentTitle"]) == ("hr", "HR")


@pytest.mark.parametrize(("typed", "answer"), [("thanks", "You're welcome!"), ("ok", "All right.")])
async def test_small_talk_at_options_gets_a_friendly_word_and_the_card_again(
    desk: Desk, typed: str, answer: str
) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await at_route(chat)
    replies = await chat.say(typed)
    assert replies.texts() == [answer]
    assert replies.card_titled(ROUTE)


@pytest.mark.parametrize("typed", ["banana", "HR or Legal", "7"])
async def test_an_unclear_answer_lists_the_options_with_their_numbers(
    desk: Desk, typed: str
) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await at_route(chat)
    replies = await chat.say(typed)
    replies.saying(
        "Sorry, I'm not sure which one you mean. Please click one, or type its number:\n\n"
        "1. IT Support\n2. HR\n3. Legal\n4. Facilities\n5. Another site"
    )
    assert replies.card_titled(ROUTE).buttons == [
        "IT Support",
        "HR",
        "Legal",
        "Facilities",
        "Another site",
    ]


async def test_more_than_six_choices_are_a_numbered_choice_list(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    options = await at_route(chat)
    sites = (await chat.submit(choice_value(options, "Another site"))).card_titled(
        "Which site are you at?"
    )
    [choice_set] = [e for e in sites.content["body"] if e["type"] == "Input.ChoiceSet"]
    assert [c["title"] for c in choice_set["choices"]] == [
        "1. Berlin",
        "2. London",
        "3. Madrid",
        "4. Paris",
        "5. New York",
        "6. Singapore",
        "7. Sydney",
        "8. Toronto",
    ]
    assert sites.buttons == ["Choose"]
    # Teams sends the picked value beside the button's data.
    picked = await chat.submit({**sites.button("Choose"), CHOICE_INPUT: "Paris"})
    assert picked.texts() == ["Thanks, we'll pass this on to the Paris office."]

    typed = bot.chat()
    options = await at_route(typed)
    await typed.submit(choice_value(options, "Another site"))
    assert (await typed.say("7")).texts() == ["Thanks, we'll pass this on to the Sydney office."]


# texts with metadata


async def test_failure_text_is_rendered(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    options = await at_route(chat)
    refused = await chat.submit(choice_value(options, "Facilities"))
    refused.saying("Sorry, Facilities can't take chats right now.")
    assert refused.card_titled(ROUTE)


async def test_the_guests_words_show_as_typed(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    typed = r"<b>urgent</b> see \_notes\_ & **stars**"
    options = await at_route(chat, typed)
    hr = await chat.submit(choice_value(options, "HR"))
    hello = hr.text_starting("Human Resources here.")
    assert "<b>" not in str(hello.text) and "&lt;b&gt;" in str(hello.text)
    assert as_teams_shows(str(hello.text)) == (
        f'Human Resources here. Help Desk sent you over with your question: "{typed}"'
    )
    helpdesk, _ = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert helpdesk["metadata"]["Guest.Question"] == typed, "stored as typed"


# languages


async def test_a_german_guest_gets_german_texts_cards_and_local_time(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat(locale="de-DE", timezone="Europe/Berlin")
    assert (await chat.install()).texts() == [
        "Hallo Megan, willkommen beim Help Desk.",
        "Wobei brauchen Sie heute Hilfe?",
    ]
    assert (await chat.say("Hallo")).texts() == ["Hallo Megan!", "Wobei brauchen Sie heute Hilfe?"]
    options = await chat.say("Meine Gehaltsabrechnung stimmt nicht")
    card = options.card_titled("Welches Team soll das übernehmen?")
    assert card.buttons == ["IT Support", "HR", "Legal", "Gebäudemanagement", "Anderer Standort"]
    unclear = await chat.say("Banane")
    unclear.text_starting("Entschuldigung, ich bin nicht sicher, welche Option Sie meinen.")
    hr = await chat.say("Ich möchte bitte HR")
    transfer = hr.card_titled("Sie sind jetzt bei Human Resources")
    assert transfer.fact("Ihre Frage") == "Meine Gehaltsabrechnung stimmt nicht"
    assert transfer.shows("Help Desk hat Ihren Chat um 11:00 Uhr weitergegeben")


async def test_texts_missing_the_guests_language_fall_back_to_the_tenants(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat(locale="fr-FR", timezone="Europe/Paris")
    options = await at_route(chat, "Un contrat")
    legal = await chat.submit(choice_value(options, "Legal"))
    # Legal's texts are German and English; its default language is German.
    legal.saying("Hier ist die Rechtsabteilung. Worum geht es, kurz gesagt?")
    assert legal.card_titled("Vous êtes maintenant en contact avec Legal")
    assert (
        (await chat.say("aide"))
        .texts()[0]
        .startswith(
            "Vous discutez avec Legal. J'attends votre réponse à : Hier ist die Rechtsabteilung."
        )
    )

    italian = bot.chat(locale="it-IT", who=guest("Giulia Rossi", "29:2giulia"))
    options = await at_route(italian, "Un contratto")
    await italian.submit(choice_value(options, "Legal"))
    # Crossdesk has no Italian: its own words come in the tenant's language.
    assert (await italian.say("help")).texts()[0].startswith("Sie chatten mit Legal.")


async def test_a_spanish_guest_is_told_of_an_idle_chat_in_spanish(desk: Desk) -> None:
    bot, clock = await desk()
    chat = bot.chat(locale="es-ES", timezone="Europe/Madrid")
    await at_hr(chat)
    clock.advance(hours=9)
    replies = await chat.say("Tengo otra pregunta")
    replies.saying(
        "Tu chat anterior con Human Resources se cerró tras 8 horas sin mensajes, así que"
        " empezamos uno nuevo."
    )


# business hours


async def test_a_transfer_to_a_closed_tenant_says_when_it_opens_in_the_guests_time(
    desk: Desk,
) -> None:
    bot, _ = await desk(at=SATURDAY)
    chat = bot.chat()
    options = await at_route(chat)
    closed = await chat.submit(choice_value(options, "HR"))
    # Monday 09:00 in Berlin is 08:00 in London, where the guest is.
    assert closed.texts() == [
        "Sorry, Human Resources is closed right now. It opens again on Monday, December 7 at"
        " 8:00\u202fAM (your time).",
        "We've kept your question for Human Resources; they'll reply here on Monday, December 7"
        " at 8:00\u202fAM (your time).",
    ]
    assert not closed.cards(), "no transfer"
    [helpdesk] = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert helpdesk["metadata"]["Session.Hours.NextOpenUtc"] == "2026-12-07T08:00:00.000Z"
    assert helpdesk["metadata"]["Session.Status.Resolution"] == "after hours"


async def test_holidays_and_a_guest_without_a_time_zone(desk: Desk) -> None:
    christmas_eve = datetime(2026, 12, 24, 10, 0, tzinfo=UTC)
    bot, _ = await desk(at=christmas_eve)
    chat = bot.chat(timezone=None)
    options = await at_route(chat)
    closed = await chat.submit(choice_value(options, "HR"))
    closed.saying(
        "Sorry, Human Resources is closed right now. It opens again on Monday, December 28 at"
        " 9:00\u202fAM (Europe/Berlin time)."
    )


async def test_the_business_hours_stage_branches_open_and_closed(desk: Desk) -> None:
    bot, clock = await desk()
    chat = bot.chat()
    options = await at_route(chat, "VPN drops")
    (await chat.submit(choice_value(options, "IT Support"))).saying(
        "IT Support here. Which device or app is affected?"
    )
    clock.now = datetime(2026, 12, 4, 12, 30, tzinfo=UTC)  # Friday, lunch in London
    lunch = bot.chat(who=guest("Giulia Rossi", "29:2giulia"))
    options = await at_route(lunch, "VPN drops")
    (await lunch.submit(choice_value(options, "IT Support"))).saying(
        "Our engineers are back on Friday, December 4 at 1:00\u202fPM (your time). Describe the"
        " problem and they'll pick it up then."
    )


# ratings and conditions


async def rating_card(chat: TeamsChat) -> Any:
    await at_hr(chat)
    return (await chat.say("It's about my pension")).card_titled("How would you rate this chat?")


async def test_a_rating_with_a_comment_is_stored_and_a_condition_branches_on_it(
    desk: Desk,
) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    card = await rating_card(chat)
    assert card.buttons == ["1 ★", "2 ★", "3 ★", "4 ★", "5 ★", "No thanks"]
    [comment] = [e for e in card.content["body"] if e["type"] == "Input.Text"]
    assert comment["placeholder"] == "Anything you'd like to add? (optional)"
    rated = await chat.submit({**card.button("2 ★"), COMMENT_INPUT: "Took a while"})
    assert rated.texts() == ["Sorry it wasn't better. A team lead will read your comment."]
    *_, hr = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert hr["metadata"]["Session.Feedback.Rating"] == 2
    assert hr["metadata"]["Session.Feedback.Comment"] == "Took a while"
    assert hr["metadata"]["Session.Status.Resolution"] == "rated low"


@pytest.mark.parametrize(
    ("typed", "closing", "comment"),
    [
        ("5", "Thanks for rating us 5 out of 5.", None),
        ("4 - quick and friendly", "Thanks for rating us 4 out of 5.", "quick and friendly"),
        ("no thanks", "Thanks, HR will reply here.", None),
    ],
)
async def test_a_typed_rating_or_skip(
    desk: Desk, typed: str, closing: str, comment: str | None
) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await rating_card(chat)
    assert (await chat.say(typed)).texts() == [closing]
    *_, hr = (await chat_export(bot, chat.conversation_id))["sessions"]
    assert hr["metadata"].get("Session.Feedback.Comment") == comment


async def test_an_unclear_rating_asks_again(desk: Desk) -> None:
    bot, _ = await desk()
    chat = bot.chat()
    await rating_card(chat)
    again = await chat.say("meh")
    again.saying(
        "Please rate this chat from 1 (poor) to 5 (excellent): click a rating, or type the number."
    )
    assert again.card_titled("How would you rate this chat?")


async def test_a_failed_turn_is_told_in_the_guests_language(start_bot: StartBot) -> None:
    import sqlite3

    from app import STORE
    from storage.sqlite import SqliteStore

    bot = await start_bot(config=CONFIG, sqlite="failing.sqlite3")
    chat = bot.chat(locale="fr-FR", timezone="Europe/Paris")
    await chat.install()
    store = bot.app[STORE]
    assert isinstance(store, SqliteStore)
    fault = sqlite3.connect(store.path)
    fault.execute(
        "CREATE TRIGGER disk_full BEFORE INSERT ON claims BEGIN SELECT RAISE(ABORT, 'disk'); END"
    )
    fault.commit()
    failed = await chat.post(chat.activity("message", text="Mon contrat", textFormat="plain"))
    assert failed.status == 503
    assert chat.received().texts()[-1] == (
        "Désolé, une erreur s'est produite de notre côté. Si aucune réponse ne suit, renvoyez"
        " votre message."
    )
    fault.close()
