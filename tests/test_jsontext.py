"""JSON text of stored records and outbound bodies: what `json` reads back as it was written,
for values orjson writes and for those it refuses."""

from __future__ import annotations

import json

import pytest

from jsontext import dumps, dumps_bytes

VALUES = [
    {"text": "Grüße, Zoë", "n": 3, "x": 1.5, "ok": True, "none": None, "list": [1, "a"]},
    {1: "an integer key", None: "a null key"},
    {"big": 2**70},  # beyond 64 bits: orjson refuses it
    {"text": "half a pair \udc80"},  # a lone surrogate: orjson refuses it, and UTF-8 has none
]


@pytest.mark.parametrize("value", VALUES)
def test_what_is_written_reads_back_as_json_dumps_has_it(value: dict[object, object]) -> None:
    expected = json.loads(json.dumps(value))
    assert json.loads(dumps(value)) == expected
    assert json.loads(dumps_bytes(value)) == expected


def test_text_keeps_characters_as_they_are_and_bodies_are_utf_8() -> None:
    assert dumps({"text": "Grüße"}) == '{"text":"Grüße"}'
    assert dumps_bytes({"text": "Grüße"}) == '{"text":"Grüße"}'.encode()
