"""Cards built in code: the options card (buttons, or a choice list for many choices) and the
rating card. Adaptive Card 1.5, as Teams renders it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SUBMIT_KEY = "crossdesk"
#: The id of the options card's choice list: Teams sends the picked value under it, beside
#: the button's data.
CHOICE_INPUT = "crossdeskChoice"
#: The id of the rating card's comment box.
COMMENT_INPUT = "crossdeskComment"
#: Teams shows at most six buttons on a card (web and desktop; mobile folds the rest away).
MAX_BUTTONS = 6
RATINGS = (1, 2, 3, 4, 5)

_CARD = {
    "type": "AdaptiveCard",
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "version": "1.5",
}


def _submit(title: str, session_id: str, stage_key: str, **data: Any) -> dict[str, Any]:
    return {
        "type": "Action.Submit",
        "title": title,
        "data": {SUBMIT_KEY: {"session": session_id, "stage": stage_key, **data}},
    }


def options_card(
    text: str,
    choices: Sequence[tuple[str, str]],
    *,
    stage_key: str,
    session_id: str,
    placeholder: str = "Pick one",
    choose: str = "Choose",
) -> dict[str, Any]:
    """A card asking `text` with a button per (title, value), or, for more choices than Teams
    shows buttons, a numbered choice list (`Input.ChoiceSet`) and one button.

    Each button submits `{"crossdesk": {"session", "stage", "choice"}}` (a choice list sends
    the picked value as `crossdeskChoice` beside it) so that a click on an old card (another
    stage, an earlier session) is recognised and not taken as a new answer.
    """
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": text, "wrap": True}]
    if len(choices) <= MAX_BUTTONS:
        actions = [_submit(title, session_id, stage_key, choice=value) for title, value in choices]
        return {**_CARD, "body": body, "actions": actions}
    body.append(
        {
            "type": "Input.ChoiceSet",
            "id": CHOICE_INPUT,
            "style": "compact",
            "isRequired": True,
            "placeholder": placeholder,
            "errorMessage": placeholder,
            "choices": [
                {"title": f"{number}. {title}", "value": value}
                for number, (title, value) in enumerate(choices, start=1)
            ],
        }
    )
    return {**_CARD, "body": body, "actions": [_submit(choose, session_id, stage_key)]}


def rating_card(
    text: str,
    *,
    stage_key: str,
    session_id: str,
    comment: str | None,
    skip: str,
) -> dict[str, Any]:
    """A card asking `text` with a button per rating, 1 to 5, and one to skip; `comment`, when
    given, is the placeholder of an optional comment box sent with the rating."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": text, "wrap": True}]
    if comment is not None:
        body.append(
            {
                "type": "Input.Text",
                "id": COMMENT_INPUT,
                "placeholder": comment,
                "isMultiline": True,
                "maxLength": 1000,
            }
        )
    actions = [_submit(f"{n} ★", session_id, stage_key, rating=n) for n in RATINGS]
    actions.append(_submit(skip, session_id, stage_key, skip=True))
    return {**_CARD, "body": body, "actions": actions}
