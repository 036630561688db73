"""The reply finders tests are written with: they find by content and, when nothing matches,
fail with everything that was received."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.export import Transcript
from tests.support.replies import ADAPTIVE_CARD, Received, Replies

CARD = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "You're now with Legal"},
        {
            "type": "Container",
            "items": [{"type": "TextBlock", "text": "Human Resources passed your chat on."}],
        },
        {"type": "FactSet", "facts": [{"title": "To", "value": "Legal"}]},
    ],
    "actions": [{"type": "Action.Submit", "title": "OK", "data": {"choice": "ok"}}],
}


def reply(text: str | None = None, card: dict[str, Any] | None = None) -> Received:
    activity: dict[str, Any] = {"type": "message"}
    if text is not None:
        activity["text"] = text
    if card is not None:
        activity["attachments"] = [{"contentType": ADAPTIVE_CARD, "content": card}]
    return Received("a:1chat", None, activity, None)


REPLIES = Replies([reply(card=CARD), reply("Hi, Legal here."), reply("What is the matter?")])


def test_replies_are_found_by_what_they_say_and_show() -> None:
    card = REPLIES.card_titled("You're now with Legal")
    assert card.shows("passed your chat on")
    assert card.fact("To") == "Legal"
    assert (card.buttons, card.button("OK")) == (["OK"], {"choice": "ok"})
    assert REPLIES.choice_value("OK") == {"choice": "ok"}
    assert REPLIES.only_card() == card
    assert REPLIES.texts() == ["Hi, Legal here.", "What is the matter?"]
    assert REPLIES.card_titles() == ["You're now with Legal"]
    assert REPLIES.lines() == [
        "card: You're now with Legal",
        "Hi, Legal here.",
        "What is the matter?",
    ]
    hello, question = REPLIES.saying("Hi, Legal here."), REPLIES.text_starting("What is")
    assert REPLIES.index_of(card) < REPLIES.index_of(hello) < REPLIES.index_of(question)
    assert REPLIES.text_containing("the matter") is question
    assert REPLIES.card_showing("passed your chat on") == card


@pytest.mark.parametrize(
    "find",
    [
        pytest.param(lambda r: r.saying("Hi"), id="saying"),
        pytest.param(lambda r: r.text_starting("Bye"), id="text_starting"),
        pytest.param(lambda r: r.text_containing("payroll"), id="text_containing"),
        pytest.param(lambda r: r.card_titled("You're now with HR"), id="card_titled"),
        pytest.param(lambda r: r.card_showing("HR"), id="card_showing"),
        pytest.param(lambda r: r.choice_value("Cancel"), id="choice_value"),
        pytest.param(lambda r: Replies(r[1:]).only_card(), id="only_card"),
    ],
)
def test_a_finder_that_finds_nothing_lists_what_was_received(find: Any) -> None:
    with pytest.raises(AssertionError) as failure:
        find(REPLIES)
    assert "'Hi, Legal here.'" in str(failure.value)
    assert "'What is the matter?'" in str(failure.value)


def test_a_card_names_its_facts_and_buttons_when_one_is_missing() -> None:
    card = REPLIES.card_titled("You're now with Legal")
    with pytest.raises(AssertionError, match=r"no fact 'From' .*'To': 'Legal'"):
        card.fact("From")
    with pytest.raises(AssertionError, match=r"no button 'Cancel' .*\['OK'\]"):
        card.button("Cancel")


def test_after_is_what_came_since_an_earlier_look() -> None:
    earlier = Replies(REPLIES[:1])
    assert REPLIES.after(earlier) == REPLIES[1:]
    with pytest.raises(AssertionError):
        REPLIES.after(Replies([reply("something else")]))


def test_a_transcript_reads_as_lines_in_order() -> None:
    session = {
        "transcript": [
            {
                "direction": "out",
                "text": None,
                "attachments": [{"contentType": ADAPTIVE_CARD, "content": CARD}],
                "value": None,
            },
            {"direction": "in", "text": None, "attachments": [], "value": {"choice": "ok"}},
            {"direction": "out", "text": "Thanks.", "attachments": [], "value": None},
        ]
    }
    transcript = Transcript.of(session)
    assert transcript == [
        ("out", "card: You're now with Legal"),
        ("in", 'value: {"choice": "ok"}'),
        ("out", "Thanks."),
    ]
    assert transcript.said("out") == ["card: You're now with Legal", "Thanks."]
    assert transcript.index_of("in", 'value: {"choice": "ok"}') == 1
    with pytest.raises(AssertionError, match=r"'Thanks\.'"):
        transcript.index_of("out", "Bye.")
