"""The function table as admins meet it: helpful refusals, documentation that matches the engine,
and functions that cannot be turned against the bot (no data changed, no data evaluated)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cards import TemplateError, compile_template, expand
from cards._functions import LEFT_OUT, function_list
from tests.cards.support import ROOT

BLOCK = re.compile(r"<!-- functions:start -->\n(.*?)<!-- functions:end -->", re.DOTALL)


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("toupper", "toUpper"),
        ("ToUpper", "toUpper"),
        ("formatDatetime", "formatDateTime"),
        ("adMinutes", "addMinutes"),
        ("convertFromUtc", "convertFromUTC"),
        ("titlecase", "titleCase"),
    ],
)
def test_an_unknown_function_names_the_closest_one(written: str, meant: str) -> None:
    with pytest.raises(TemplateError) as raised:
        compile_template({"text": f"${{{written}(Guest.Name)}}"}, "card.json")
    assert f"unknown function {written}(); did you mean `{meant}`?" in str(raised.value)
    assert raised.value.path == "/text"


def test_a_name_like_no_function_gets_no_guess() -> None:
    with pytest.raises(TemplateError) as raised:
        compile_template("${zzz(1)}", "card.json")
    assert str(raised.value).startswith("card.json /: unknown function zzz() at character")


@pytest.mark.parametrize("name", sorted(LEFT_OUT))
def test_a_left_out_function_says_why(name: str) -> None:
    with pytest.raises(TemplateError) as raised:
        compile_template(f"${{{name}(true)}}", "card.json")
    assert f"{name}() is not supported: {LEFT_OUT[name]}" in str(raised.value)


@pytest.mark.parametrize("readme", ["README.md", "cards/README.md"])
def test_the_readmes_list_exactly_the_engine_table(readme: str) -> None:
    text = (ROOT / readme).read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert blocks == [function_list()], f"regenerate with: python -m cards functions ({readme})"


def test_xpath_never_reads_files_through_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret", encoding="utf-8")
    xml = f'<!DOCTYPE a [<!ENTITY s SYSTEM "file://{secret}">]><a><b>&s;</b><c>public</c></a>'
    card = expand(
        {"b": "${string(xPath(x, 'string(//b)'))}", "c": "${xPath(x, '//c')}"}, {"x": xml}
    )
    assert "top secret" not in str(card)
    assert card["c"] == ["<c>public</c>"]


def test_functions_never_change_the_data_they_read() -> None:
    data = {"Session": {"Extra": {"Floor": 4}, "Tags": ["b", "a"]}}
    template = {
        "a": "${setProperty(Session.Extra, 'Floor', 5)}",
        "b": "${addProperty(Session.Extra, 'Room', 1)}",
        "c": "${removeProperty(Session.Extra, 'Floor')}",
        "d": "${reverse(Session.Tags)}",
        "e": "${sortBy(Session.Tags)}",
        "f": "${setPathToValue(Session.Extra.Floor, 9)}",
        "g": "${merge(Session.Extra, json('{\"x\": 1}'))}",
    }
    card = expand(template, data)
    assert card["a"] == {"Floor": 5} and card["c"] == {} and card["d"] == ["a", "b"]
    assert data == {"Session": {"Extra": {"Floor": 4}, "Tags": ["b", "a"]}}


def test_rand_stays_in_its_range_and_new_guids_differ() -> None:
    template = {"r": "${rand(10, 20)}", "g": "${newGuid()}"}
    cards = [expand(template, {}) for _ in range(50)]
    assert all(10 <= card["r"] < 20 for card in cards)
    assert len({card["g"] for card in cards}) == 50
    assert all(
        re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", card["g"]
        )
        for card in cards
    )
