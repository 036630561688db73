"""The renderer's public API: compile once, expand per message, report without leaking data."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cards import (
    RenderIssue,
    TemplateError,
    compile_template,
    expand,
    expand_text,
    nest,
)
from cards.template import template_errors

TRANSFER = json.loads(
    (Path(__file__).resolve().parents[2] / "cards" / "templates" / "transfer.json").read_text(
        encoding="utf-8"
    )
)
METADATA = {
    "Session.TransferredTo.TenantName": "Human Resources",
    "Session.TransferredFrom.TenantName": "IT Help Desk",
    "Guest.Question": "Where is my payslip? ${Session.TransferredTo.TenantName}",
}


def test_transfer_card_renders_from_flat_metadata() -> None:
    card = compile_template(TRANSFER, "transfer.json").expand(nest(METADATA))
    assert card["body"][0]["text"] == "You're now with Human Resources"
    assert card["body"][1]["text"].startswith("IT Help Desk passed your chat on")
    assert card["body"][2]["facts"] == [
        {"title": "Your question", "value": METADATA["Guest.Question"]},
        {"title": "From", "value": "IT Help Desk"},
        {"title": "To", "value": "Human Resources"},
    ]


def test_one_compiled_template_serves_many_messages_without_sharing_state() -> None:
    template = copy.deepcopy(TRANSFER)
    compiled = compile_template(template, "transfer.json")
    first = compiled.expand(nest(METADATA))
    first["body"][2]["facts"].clear()
    first["body"][0]["weight"] = "changed"
    second = compiled.expand(nest({**METADATA, "Session.TransferredTo.TenantName": "Finance"}))
    assert second["body"][0] == {**TRANSFER["body"][0], "text": "You're now with Finance"}
    assert len(second["body"][2]["facts"]) == 3
    assert template == TRANSFER


def test_whole_value_containers_are_copies_of_the_data() -> None:
    data = {"Session": {"Tags": ["a", {"b": 1}]}}
    card = expand({"tags": "${Session.Tags}"}, data)
    card["tags"][1]["b"] = 2
    assert data == {"Session": {"Tags": ["a", {"b": 1}]}}


def test_static_parts_are_fresh_copies() -> None:
    compiled = compile_template({"a": {"b": [1, {"c": 2}]}, "d": "${x}"}, "t")
    first = compiled.expand({"x": 1})
    first["a"]["b"][1]["c"] = 99
    assert compiled.expand({"x": 1}) == {"a": {"b": [1, {"c": 2}]}, "d": 1}


def test_expand_text_keeps_the_type_of_a_whole_binding() -> None:
    data = {"n": 3, "items": [1, 2], "name": "Ada"}
    assert expand_text("${n}", data) == 3
    assert expand_text("${items}", data) == [1, 2]
    assert expand_text("n=${n}", data) == "n=3"
    assert expand_text("no bindings", data) == "no bindings"


def test_expand_text_as_text_spells_values_like_running_text() -> None:
    data = {"n": 2.0, "t": True, "items": ["a", None, 3], "nothing": None}
    assert expand_text("${n}", data, as_text=True) == "2"
    assert expand_text("${t}", data, as_text=True) == "true"
    assert expand_text("${items}", data, as_text=True) == "a,,3"
    assert expand_text("${nothing}", data, as_text=True) == ""
    assert expand_text("${missing}", data, as_text=True) == ""
    assert expand_text("Hi ${t}", data, as_text=True) == "Hi true"


def test_host_and_now() -> None:
    template = {"theme": "${$host.theme}", "today": "${utcNow('yyyy-MM-dd')}"}
    now = datetime(2024, 6, 1, 23, 30, tzinfo=UTC)
    card = compile_template(template, "t").expand({}, host={"theme": "dark"}, now=now)
    assert card == {"theme": "dark", "today": "2024-06-01"}


def test_utc_now_reads_the_clock_by_default() -> None:
    stamp = expand_text("${utcNow()}", {})
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 60


def test_issues_name_template_place_and_paths_but_never_data() -> None:
    issues: list[RenderIssue] = []
    template = {
        "body": [
            {"text": "Hi ${Guest.Nickname}"},
            {"text": "${int(Guest.Secret)}"},
            {"text": "${Guest.Name}"},
        ]
    }
    data = {"Guest": {"Secret": "hunter2-secret", "Name": "Zoë"}}
    card = compile_template(template, "greeting.json", report=issues.append).expand(data)
    assert card == {"body": [{"text": "Hi "}, {"text": ""}, {"text": "Zoë"}]}
    assert [(issue.template, issue.location, issue.expression) for issue in issues] == [
        ("greeting.json", "/body/0/text", "Guest.Nickname"),
        ("greeting.json", "/body/1/text", "int(Guest.Secret)"),
    ]
    assert "no data at Guest.Nickname" in issues[0].problem
    assert all("hunter2" not in str(issue) and "Zoë" not in str(issue) for issue in issues)


def test_default_reporter_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="cards.template"):
        expand({"a": ["${Session.Missing}"]}, {"Session": {"Other": "private"}}, name="x.json")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "x.json /a/0: ${Session.Missing} has no value" in record.getMessage()
    assert "private" not in record.getMessage()


def test_null_is_not_reported_as_missing() -> None:
    issues: list[RenderIssue] = []
    card = compile_template("a${x}b", "t", report=issues.append).expand({"x": None})
    assert card == "ab" and issues == []


def test_compile_errors_name_template_path_and_expression() -> None:
    template = {"body": [{"items": [{"text": "ok ${name}"}, {"text": "bad ${toUpper(name}"}]}]}
    with pytest.raises(TemplateError) as raised:
        compile_template(template, "options.json")
    error = raised.value
    assert (error.template, error.path, error.expression) == (
        "options.json",
        "/body/0/items/1/text",
        "toUpper(name",
    )
    assert str(error).startswith("options.json /body/0/items/1/text: unexpected end")
    assert "${toUpper(name}" in str(error)


def test_all_compile_errors_are_collected_for_start_up_checks() -> None:
    errors = template_errors({"a": "${1 +}", "b/c": ["${nope()}"], "d": "${ok}"}, "t.json")
    assert [error.path for error in errors] == ["/a", "/b~1c/0"]


def test_data_that_looks_like_a_template_is_text() -> None:
    data = {
        "Guest": {"Question": "${Session.Secret} \\${x} `y` ${toUpper('a')}"},
        "Session": {"Secret": "s"},
    }
    card = expand({"q": "${Guest.Question}", "t": "Q: ${Guest.Question}"}, data)
    assert card == {"q": data["Guest"]["Question"], "t": "Q: " + data["Guest"]["Question"]}


def test_repetition_with_index_and_root() -> None:
    template = {
        "type": "Container",
        "items": [
            {"type": "TextBlock", "text": "Hello ${$root.Guest.Name}"},
            {
                "type": "TextBlock",
                "$data": "${Session.Options}",
                "$when": "${Enabled}",
                "text": "${$index + 1}. ${Label}",
            },
        ],
    }
    data = nest(
        {
            "Guest.Name": "Zoë",
            "Session.Options": [
                {"Label": "Payroll", "Enabled": True},
                {"Label": "Hidden", "Enabled": False},
                {"Label": "Leave", "Enabled": True},
            ],
        }
    )
    card: Any = expand(template, data)
    assert [item["text"] for item in card["items"]] == ["Hello Zoë", "1. Payroll", "3. Leave"]


def test_nest_builds_nested_data() -> None:
    assert nest({"A.B": 1, "A.C.D": 2, "E": 3}) == {"A": {"B": 1, "C": {"D": 2}}, "E": 3}
    assert nest({"A": "scalar", "A.B": 1}) == {"A": {"B": 1}}
