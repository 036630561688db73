"""Start-up checks: syntax errors, sample rendering and the Adaptive Card 1.5 schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cards.validate import SAMPLE_TIMESTAMP, card_schema, check_template, sample_data
from tests.cards.support import card_templates


def card(*body: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "version": "1.5", "body": list(body), **extra}


@pytest.mark.parametrize("path", card_templates(), ids=lambda path: path.name)
def test_shipped_templates_pass(path: Path) -> None:
    assert check_template(json.loads(path.read_text(encoding="utf-8")), path.name) == []


def test_schema_is_the_official_1_5_one_from_the_package() -> None:
    schema = card_schema()
    assert schema["id"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert "Table" in schema["definitions"]  # added in 1.5
    assert "1.6" not in json.dumps(schema["definitions"]["AdaptiveCard"]["properties"]["version"])


def test_every_syntax_error_is_reported_with_its_place() -> None:
    template = card(
        {"type": "TextBlock", "text": "${toUpper(Guest.Name}"},
        {"type": "TextBlock", "text": "ok ${Guest.Name}"},
        {"type": "TextBlock", "text": "${nosuch(1)}"},
    )
    problems = check_template(template, "greeting.json")
    assert problems == [
        "greeting.json /body/0/text: unexpected end of the expression, expected ',' or ')' "
        "at character 21 in ${toUpper(Guest.Name}",
        "greeting.json /body/2/text: unknown function nosuch() at character 3 in ${nosuch(1)}",
    ]


def test_schema_problems_point_into_the_rendered_card() -> None:
    template = card(
        {"type": "TextBlock", "text": "${Guest.Name}", "size": "Huge"},
        {"type": "TextBlock", "text": "${length(Guest.Name)}"},
        {"type": "Image"},
        {"type": "Carousel"},
        actions=[{"type": "Action.OpenUrl", "title": "Open"}],
    )
    assert check_template(template, "bad.json") == [
        "bad.json: rendered card at /body/0/size: 'Huge' is not one of "
        "['default', 'small', 'medium', 'large', 'extraLarge']",
        "bad.json: rendered card at /body/1/text: 11 is not of type 'string'",
        "bad.json: rendered card at /body/2: 'url' is a required property",
        "bad.json: rendered card at /body/3: 'Carousel' is not a type allowed here",
        "bad.json: rendered card at /actions/0: 'url' is a required property",
    ]


def test_sample_values_fit_how_paths_are_used() -> None:
    template = card(
        {
            "type": "TextBlock",
            "text": "${Guest.Name}",
            "wrap": "${Settings.Wrap}",
            "maxLines": "${Settings.Lines}",
        },
        {
            "type": "TextBlock",
            "text": "${formatDateTime(Session.Opened, 'dd MMM')} ${formatNumber(Session.Cost, 2)}",
        },
        {"type": "TextBlock", "$when": "${Session.Vip}", "text": "${join(Guest.Tags, ', ')}"},
        {
            "type": "FactSet",
            "facts": [
                {"$data": "${Session.Facts}", "title": "${Label}", "value": "${$root.Guest.Name}"}
            ],
        },
        {"type": "TextBlock", "text": "Open: ${count(where(Session.Rows, r, r.Open))}"},
    )
    assert sample_data(template) == {
        "Guest": {"Name": "Sample Name", "Tags": ["Sample Tags 1", "Sample Tags 2"]},
        "Settings": {"Wrap": True, "Lines": 1},
        "Session": {
            "Opened": SAMPLE_TIMESTAMP,
            "Cost": 1,
            "Vip": True,
            "Facts": [{"Label": "Sample Label"}, {"Label": "Sample Label"}],
            "Rows": [{"Open": True}, {"Open": True}],
        },
    }
    assert check_template(template, "fits.json") == []


def test_bindings_failing_on_sample_data_are_reported() -> None:
    template = card({"type": "TextBlock", "text": "${substring(Guest.Name, 40)}"})
    assert check_template(template, "cut.json") == [
        "cut.json /body/0/text: ${substring(Guest.Name, 40)} substring() start is out of range "
        "with sample data"
    ]


def test_literal_directives_are_flagged() -> None:
    template = card(
        {"type": "TextBlock", "text": "a", "$when": True},
        {"type": "TextBlock", "text": "b", "$when": "Session.Vip"},
        {"type": "TextBlock", "text": "c", "$data": "Session.Items"},
    )
    assert check_template(template, "literal.json") == [
        "literal.json /body/0/$when: is not a binding like ${…} and drops the element "
        "(Microsoft's engine treats it the same way)",
        "literal.json /body/1/$when: is not a binding like ${…} and drops the element "
        "(Microsoft's engine treats it the same way)",
        "literal.json /body/2/$data: 'Session.Items' is text, not a binding like ${Session.Items}",
    ]


def test_a_template_must_render_a_card_object() -> None:
    assert check_template([card()], "list.json") == [
        "list.json: renders to list, not an Adaptive Card object"
    ]


def test_templates_calling_functions_of_every_family_pass_the_start_up_check() -> None:
    """Sample data fits what each function reads: a time zone, a timestamp, a URI, a TIMEX."""
    template = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": text}
            for text in (
                "${convertFromUTC(Session.StartedUtc, Guest.Timezone, 'h:mm tt')}",
                "${convertToUTC(Session.LocalTime, Guest.Timezone)}",
                "${addToTime(Session.StartedUtc, 2, 'Day')} ${startOfDay(Session.EndedUtc)}",
                "${dateReadBack(Session.StartedUtc, Session.DueUtc)} ${ticks(Session.DueUtc)}",
                "${getNextViableDate(Session.Birthday, Guest.Timezone)}",
                "${getNextViableTime(Session.Meeting)} ${resolve(Session.Slot)}",
                "${uriHost(Session.Portal)} ${sum(Session.Costs)} ${average(Session.Costs)}",
                "${take(Session.Tags, 2)} ${addOrdinal(Session.Visits)} ${sqrt(Session.Area)}",
                "${formatEpoch(Session.Epoch)} ${titleCase(Guest.Name)} ${xml(Session.Json)}",
            )
        ],
    }
    assert check_template(template, "families.json") == []
