"""The options card: an Adaptive Card 1.5 with one button per choice of an options stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SUBMIT_KEY = "crossdesk"


def options_card(
    text: str, choices: Sequence[tuple[str, str]], *, stage_key: str, session_id: str
) -> dict[str, Any]:
    """A card asking `text` with a button per (title, value).

    Each button submits `{"crossdesk": {"session", "stage", "choice"}}` so that a click on an
    old card (another stage, an earlier session) is recognised and not taken as a new answer.
    """
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": text, "wrap": True}],
        "actions": [
            {
                "type": "Action.Submit",
                "title": title,
                "data": {SUBMIT_KEY: {"session": session_id, "stage": stage_key, "choice": value}},
            }
            for title, value in choices
        ],
    }
