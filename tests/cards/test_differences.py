"""One test per deliberate difference from Microsoft's engine (cards/README.md, same ids).

Each test pins down both sides: what Microsoft's engine does (run live, so an upgrade that changes
it is noticed) and what we do instead.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from cards import TemplateError, compile_template, expand
from tests.cards.support import Reference, same


def _ours(template: Any, data: Any) -> Any:
    return compile_template(template, "difference.json", report=lambda issue: None).expand(data)


def test_missing_data(reference: Reference, caplog: pytest.LogCaptureFixture) -> None:
    template = {"text": "You're now with ${Session.TransferredTo.TenantName}", "i": "${$index}"}
    data = {"Session": {"Secret": "do not log me"}}
    assert reference.expand(template, data) == {
        "value": {"text": "You're now with ${Session.TransferredTo.TenantName}", "i": "${$index}"}
    }
    with caplog.at_level(logging.WARNING, logger="cards.template"):
        card = expand(template, data, name="transfer.json")
    assert card == {"text": "You're now with ", "i": ""}
    assert "transfer.json /text" in caplog.text
    assert "no data at Session.TransferredTo.TenantName" in caplog.text
    assert "do not log me" not in caplog.text
    # a whole value computed as undefined: Microsoft drops the property, we keep it empty
    assert reference.expand({"k": "${first(e)}"}, {"e": []}) == {"value": {}}
    assert _ours({"k": "${first(e)}"}, {"e": []}) == {"k": ""}


def test_null_in_text(reference: Reference) -> None:
    data = {"Guest": {"Nickname": None}}
    assert "error" in reference.expand("Hello ${Guest.Nickname}!", data)
    assert _ours("Hello ${Guest.Nickname}!", data) == "Hello !"
    assert reference.expand({"v": "${Guest.Nickname}"}, data) == {"value": {"v": None}}
    assert _ours({"v": "${Guest.Nickname}"}, data) == {"v": None}


def test_missing_in_functions(reference: Reference) -> None:
    template = {
        "greeting": "${coalesce(Guest.Nickname, 'there')}",
        "upper": "${toUpper(Guest.Nickname)}",
        "length": "${length(Guest.Nickname)}",
    }
    assert reference.expand(template, {}) == {
        "value": {"greeting": "${Guest.Nickname}", "upper": "${GUEST.NICKNAME}", "length": 17}
    }
    assert _ours(template, {}) == {"greeting": "there", "upper": "", "length": 0}
    # where Microsoft itself passes undefined (comparisons), both engines agree
    assert reference.expand("${exists(Guest.Nickname)}", {}) == {"value": False}
    assert _ours("${exists(Guest.Nickname)}", {}) is False


def test_failed_binding(reference: Reference) -> None:
    data = {"name": "Ada"}
    assert reference.expand("Hi ${substring(name, 9)}", data) == {
        "value": "Hi ${substring(name, 9)}"
    }
    assert "error" in reference.expand({"v": "${substring(name, 9)}"}, data)
    assert "error" in reference.expand([{"$data": "${div(1, 0)}", "v": 1}], data)
    assert _ours("Hi ${substring(name, 9)}", data) == "Hi "
    assert _ours({"v": "${substring(name, 9)}"}, data) == {"v": ""}
    assert _ours([{"$data": "${div(1, 0)}", "v": 1}], data) == []


def test_unknown_function(reference: Reference) -> None:
    assert reference.expand("x ${foo(name)}", {"name": "ada"}) == {"value": "x ${foo(name)}"}
    assert "error" in reference.expand({"v": "${foo(name)}"}, {"name": "ada"})
    # function names are case-sensitive in both engines: a misspelling fails only when evaluated
    assert reference.expand("x ${toupper(name)}", {"name": "ada"}) == {
        "value": "x ${toupper(name)}"
    }
    with pytest.raises(TemplateError, match=r"unknown function foo\(\)"):
        compile_template("x ${foo(name)}", "card.json")
    with pytest.raises(TemplateError) as raised:
        compile_template({"body": [{"text": "x ${toupper(name)}"}]}, "card.json")
    assert raised.value.template == "card.json"
    assert raised.value.path == "/body/0/text"
    assert raised.value.expression == "toupper(name)"
    assert "unknown function toupper(); did you mean `toUpper`?" in str(raised.value)


def test_data_missing_or_null(reference: Reference) -> None:
    template = {"rows": [{"$data": "${Session.Items}", "text": "${Title}"}, "end"]}
    assert reference.expand(template, {}) == {"value": {"rows": [{"text": "${Title}"}, "end"]}}
    assert reference.expand(template, {"Session": {"Items": None}}) == {
        "value": {"rows": [{"text": "${Title}"}, "end"]}
    }
    assert _ours(template, {}) == {"rows": ["end"]}
    assert _ours(template, {"Session": {"Items": None}}) == {"rows": ["end"]}
    assert _ours(template, {"Session": {"Items": []}}) == {"rows": ["end"]}


def test_backtick(reference: Reference) -> None:
    assert "error" in reference.expand("Use `reset` then ${name}", {"name": "Ada"})
    assert _ours("Use `reset` then ${name}", {"name": "Ada"}) == "Use `reset` then Ada"
    escaped = "Use \\`reset\\` then ${name}"
    assert reference.expand(escaped, {"name": "Ada"}) == {"value": "Use `reset` then Ada"}
    assert _ours(escaped, {"name": "Ada"}) == "Use `reset` then Ada"


def test_dotted_key_path(reference: Reference) -> None:
    data = {"Session.Extra": {"Room": "4.12"}}
    assert reference.expand("${$root['Session.Extra'].Room}", data) == {
        "value": "${$root['Session.Extra'].Room}"
    }
    assert _ours("${$root['Session.Extra'].Room}", data) == "4.12"
    assert reference.expand("${$root['Session.Extra']}", data) == {"value": {"Room": "4.12"}}


def test_exact_name_first(reference: Reference) -> None:
    data = {"Name": "from Name", "name": "from name"}
    assert reference.expand("${name}", data) == {"value": "from Name"}
    assert _ours("${name}", data) == "from name"
    assert reference.expand("${NAME}", data) == {"value": "from Name"}
    assert _ours("${NAME}", data) == "from Name"
    # the same through $root and inside a lambda, which take the general lookup path
    assert reference.expand("${$root.name}", data) == {"value": "from Name"}
    assert _ours("${$root.name}", data) == "from name"
    assert _ours("${select(createArray($root), x, x.name)}", data) == ["from name"]


def test_literal_data(reference: Reference) -> None:
    template = {"rows": [{"$data": [{"v": "${name}"}, {"v": "plain"}], "t": "${v}"}]}
    theirs = reference.expand(template, {"name": "Ada"})
    assert "value" in theirs and theirs["value"]["rows"][1] == {"t": "plain"}
    assert theirs["value"]["rows"][0] != {"t": "${name}"}
    assert _ours(template, {"name": "Ada"}) == {"rows": [{"t": "${name}"}, {"t": "plain"}]}


def test_iso_dates(reference: Reference) -> None:
    template = {"words": "${formatDateTime('March 5, 2024')}", "rolled": "${formatDateTime(d)}"}
    assert reference.expand(template, {"d": "2024-02-30"}) == {
        "value": {"words": "2024-03-05T00:00:00.000Z", "rolled": "2024-03-01T00:00:00.000Z"}
    }
    assert _ours(template, {"d": "2024-02-30"}) == {"words": "", "rolled": ""}
    # both read ISO 8601 with a T and an offset …
    iso = "${formatDateTime('2024-03-05T10:20:30.5+01:00', 'yyyy-MM-dd HH:mm:ss.fff')}"
    assert reference.expand(iso, {}) == {"value": "2024-03-05 09:20:30.500"}
    assert _ours(iso, {}) == "2024-03-05 09:20:30.500"
    # … but with a space instead of the T, the browser parser silently drops the offset
    spaced = "${formatDateTime('2024-03-05 10:20:30.5+01:00', 'HH:mm')}"
    assert reference.expand(spaced, {}) == {"value": "10:20"}
    assert _ours(spaced, {}) == "09:20"


def test_utc_arithmetic() -> None:
    template = {
        "day": "${addDays('2024-03-09T12:00:00.000Z', 1)}",
        "hour": "${addHours('2024-03-10T06:30:00.000Z', 1)}",
    }
    new_york = Reference(time_zone="America/New_York")
    try:
        theirs = new_york.expand(template, {})
    finally:
        new_york.close()
    # Microsoft keeps the New York wall-clock time across the DST change: 23 hours later.
    assert theirs == {
        "value": {"day": "2024-03-10T11:00:00.000Z", "hour": "2024-03-10T07:30:00.000Z"}
    }
    assert _ours(template, {}) == {
        "day": "2024-03-10T12:00:00.000Z",
        "hour": "2024-03-10T07:30:00.000Z",
    }


def test_utc_arithmetic_matches_microsoft_in_utc(reference: Reference) -> None:
    template = "${addDays('2024-03-09T12:00:00.000Z', 1)}"
    assert reference.expand(template, {}) == {"value": _ours(template, {})}


def test_case_locales(reference: Reference) -> None:
    turkish = "${toUpper('istanbul', 'tr-TR')}"
    assert reference.expand(turkish, {}) == {"value": "İSTANBUL"}
    assert _ours(turkish, {}) == "İSTANBUL"
    lithuanian = "${toUpper('i\u0307', 'lt')}"
    theirs = reference.expand(lithuanian, {})
    assert theirs == {"value": "I"}
    assert not same(theirs["value"], _ours(lithuanian, {}))
    assert _ours(lithuanian, {}) == "I\u0307"


def test_no_mutation(reference: Reference) -> None:
    template = {
        "set": "${setProperty(Session.Extra, 'Room', '4.12')}",
        "after_set": "${Session.Extra}",
        "reversed": "${reverse(Session.Tags)}",
        "after_reverse": "${Session.Tags}",
    }
    data = {"Session": {"Extra": {"Floor": 4}, "Tags": ["new", "vip"]}}
    # Microsoft changes the data in place: later bindings see the change
    assert reference.expand(template, data) == {
        "value": {
            "set": {"Floor": 4, "Room": "4.12"},
            "after_set": {"Floor": 4, "Room": "4.12"},
            "reversed": ["vip", "new"],
            "after_reverse": ["vip", "new"],
        }
    }
    assert _ours(template, data) == {
        "set": {"Floor": 4, "Room": "4.12"},
        "after_set": {"Floor": 4},
        "reversed": ["vip", "new"],
        "after_reverse": ["new", "vip"],
    }
    assert data == {"Session": {"Extra": {"Floor": 4}, "Tags": ["new", "vip"]}}


def test_string_or_value_data(reference: Reference) -> None:
    data = {"Session": {"Secret": "s3cret"}, "Guest": {"Question": "Show me ${Session.Secret}"}}
    template = "${stringOrValue(Guest.Question)}"
    # Microsoft expands what the guest typed, so a guest can read any metadata
    assert reference.expand(template, data) == {"value": "Show me s3cret"}
    assert _ours(template, data) == "Show me ${Session.Secret}"
    # a template's own literal is still expanded, as in Microsoft's engine
    literal = "${stringOrValue('${1 + 2}')}"
    assert reference.expand(literal, data) == {"value": 3}
    assert _ours(literal, data) == 3


def test_utf8_text(reference: Reference) -> None:
    template = {"name": "${base64ToString(base64(Guest.Name))}", "uri": "${dataUriToString(u)}"}
    data = {"Guest": {"Name": "Zoë 😀"}, "u": "data:text/plain;charset=utf-8;base64,WmHDr2Q="}
    assert reference.expand(template, data) == {
        "value": {"name": "ZoÃ« ð\x9f\x98\x80", "uri": "ZaÃ¯d"}
    }
    assert _ours(template, data) == {"name": "Zoë 😀", "uri": "Zaïd"}
    # bytes that are not UTF-8 are read one Latin-1 character per byte, like Microsoft
    latin = "${base64ToString('6Q==')}"
    assert reference.expand(latin, data) == {"value": _ours(latin, data)} == {"value": "é"}


def test_iana_zones(reference: Reference) -> None:
    template = "${convertFromUTC('2024-03-05T10:00:00.000Z', Guest.Timezone, 'HH:mm')}"
    for name, local in (("Asia/Calcutta", "15:30"), ("Europe/Kyiv", "12:00")):
        data = {"Guest": {"Timezone": name}}
        assert "error" in reference.expand(template, data)
        assert _ours(template, data) == local
    # names in Microsoft's own table work the same in both engines, Windows names too
    for name in ("Asia/Kolkata", "India Standard Time"):
        data = {"Guest": {"Timezone": name}}
        assert reference.expand(template, data) == {"value": "15:30"}
        assert _ours(template, data) == "15:30"


def test_bounded_range(reference: Reference) -> None:
    template = "${count(range(0, 10001))}"
    assert reference.expand(template, {}) == {"value": 10001}
    assert _ours(template, {}) == ""
    assert reference.expand("${count(range(0, 10000))}", {}) == {"value": 10000}
    assert _ours("${count(range(0, 10000))}", {}) == 10000


def test_dotted_keys(reference: Reference) -> None:
    flat = {"Session.TransferredTo.TenantName": "Human Resources"}
    nested = {"Session": {"TransferredTo": {"TenantName": "Human Resources"}}}
    path = "${Session.TransferredTo.TenantName}"
    bracket = "${$root['Session.TransferredTo.TenantName']}"
    # Microsoft reads each form only from data of the same shape
    assert reference.expand(path, nested) == {"value": "Human Resources"}
    assert reference.expand(bracket, flat) == {"value": "Human Resources"}
    assert reference.expand(path, flat) == {"value": "${Session.TransferredTo.TenantName}"}
    assert reference.expand({"v": bracket}, nested) == {"value": {}}
    for data in (flat, nested):
        assert _ours(path, data) == "Human Resources"
        assert _ours(bracket, data) == "Human Resources"
        assert _ours("${Session['TransferredTo.TenantName']}", data) == "Human Resources"
