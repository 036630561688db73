"""Property tests: Hypothesis generates session data for every shipped template.

The data follows the shape the template reads (`cards.validate.data_shape`): text (any unicode,
including things that look like bindings), numbers, booleans, timestamps, lists of items.
Microsoft's engine must render exactly what we render; and when some plain text bindings have no
data, we must render what Microsoft renders for empty text there.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards import compile_template
from cards.expressions import Name, compile_expression
from cards.template import RESERVED_KEYS, split_bindings
from cards.validate import Shape, data_shape
from tests.cards.support import Reference, all_templates, same

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

LOOKS_LIKE_TEMPLATES = st.sampled_from(
    ["${Session.TransferredTo.TenantName}", "\\${x}", "`", "${", "}", "$", "\\", "${toUpper('a')}"]
)
TEXT = st.one_of(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=30),
    st.lists(st.one_of(LOOKS_LIKE_TEMPLATES, st.text(max_size=5)), max_size=4).map("".join),
)
NUMBER = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
)
TIMESTAMP = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
)


def strategy(shape: Shape) -> st.SearchStrategy[Any]:
    """Data of the given shape."""
    if shape.item is not None:
        return st.lists(strategy(shape.item), max_size=4)
    if shape.fields:
        return st.fixed_dictionaries({key: strategy(child) for key, child in shape.fields.items()})
    return {
        "text": TEXT,
        "number": NUMBER,
        "bool": st.booleans(),
        "timestamp": TIMESTAMP,
        "list": st.lists(TEXT, max_size=4),
        "json": st.just("{}"),
        "zone": st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]),
        "uri": st.sampled_from(["https://example.com/a?b=c", "http://[::1]:8080/", "mailto:a@b.c"]),
        "timex": st.sampled_from(["XXXX-10-31", "XXXX-02-29", "2024-03-05", "P3D", "T10:30"]),
        "clock": st.sampled_from(["TXX:15:00", "TXX:00:59"]),
        "numbers": st.lists(NUMBER, min_size=1, max_size=4),
    }[shape.kind]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _plain_text_paths(template: Any) -> set[tuple[str, ...]]:
    """Root-level paths only ever used as a bare `${a.b.c}` outside `$data` (safe to leave out)."""
    plain: set[tuple[str, ...]] = set()
    other: set[tuple[str, ...]] = set()

    def names(text: str) -> list[tuple[Name, bool]]:
        found = []
        for part in split_bindings(text):
            if isinstance(part, str):
                continue
            tree = compile_expression(part.text).tree
            if isinstance(tree, Name):
                found.append((tree, True))
            else:
                found += [(name, False) for name in compile_expression(part.text).names()]
        return found

    def walk(node: Any, scoped: bool) -> None:
        if isinstance(node, str):
            for name, bare in names(node):
                if all(isinstance(step, str) for step in name.steps) and name.head[0] != "$":
                    path = (name.head, *name.steps)
                    (plain if bare and not scoped else other).add(path)
        elif isinstance(node, list):
            for item in node:
                walk(item, scoped)
        elif isinstance(node, dict):
            directives = [node[key] for key in ("$data", "$when") if isinstance(node.get(key), str)]
            for directive in directives:
                for name, _ in names(directive):
                    other.add((name.head, *(s for s in name.steps if isinstance(s, str))))
            inner = scoped or "$data" in node
            for key, value in node.items():
                if key not in RESERVED_KEYS:
                    walk(value, inner)

    walk(template, False)
    return {
        path
        for path in plain
        if not any(o[: len(path)] == path or path[: len(o)] == o for o in other)
    }


def _without(data: Any, path: tuple[str, ...], replacement: Any) -> Any:
    """A copy of nested data with `path` removed (replacement None) or replaced."""
    if not isinstance(data, dict) or path[0] not in data:
        return data
    copied = dict(data)
    if len(path) == 1:
        if replacement is None:
            del copied[path[0]]
        else:
            copied[path[0]] = replacement
    else:
        copied[path[0]] = _without(copied[path[0]], path[1:], replacement)
    return copied


@pytest.mark.parametrize("path", all_templates(), ids=lambda path: path.name)
def test_generated_data_renders_like_microsoft(path: Path, reference: Reference) -> None:
    template = _load(path)
    compiled = compile_template(template, path.name, report=lambda issue: None)
    root, host = data_shape(template)

    @SETTINGS
    @given(data=strategy(root), host_data=strategy(host) if host.fields else st.none())
    def check(data: Any, host_data: Any) -> None:
        theirs = reference.expand(template, data, host=host_data)
        mine = compiled.expand(data, host=host_data)
        assert "value" in theirs, theirs
        assert same(theirs["value"], mine), f"Microsoft: {theirs}\nours:      {mine}"

    check()


@pytest.mark.parametrize("path", all_templates(), ids=lambda path: path.name)
def test_missing_text_renders_like_empty_text(path: Path, reference: Reference) -> None:
    template = _load(path)
    optional = sorted(_plain_text_paths(template))
    # A template without plain text bindings still gets compared, with nothing left out.
    left_out_sets = st.sets(st.sampled_from(optional), min_size=1) if optional else st.just(set())
    compiled = compile_template(template, path.name, report=lambda issue: None)
    root, _ = data_shape(template)

    @SETTINGS
    @given(data=strategy(root), left_out=left_out_sets)
    def check(data: Any, left_out: set[tuple[str, ...]]) -> None:
        ours_data, their_data = data, data
        for missing in left_out:
            ours_data = _without(ours_data, missing, None)
            their_data = _without(their_data, missing, "")
        theirs = reference.expand(template, their_data)
        assert "value" in theirs, theirs
        assert same(theirs["value"], compiled.expand(ours_data))

    check()


def test_power_is_bit_for_bit_v8(reference: Reference) -> None:
    """`^` follows V8's pow (fdlibm), which is not the C library's correctly rounded one."""

    @SETTINGS
    @given(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-400, max_value=400),
    )
    def check(base: float, exponent: float) -> None:
        template = {"v": "${x ^ y}", "t": "${x ^ y}!"}
        data = {"x": base, "y": exponent}
        theirs = reference.expand(template, data)
        assert "value" in theirs
        assert same(theirs["value"], compile_template(template, "pow").expand(data))

    check()


JSON = st.recursive(
    st.none() | st.booleans() | NUMBER | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=12,
)


@pytest.mark.parametrize("path", all_templates(), ids=lambda path: path.name)
def test_any_json_data_renders_a_json_card(path: Path) -> None:
    template = _load(path)
    compiled = compile_template(template, path.name, report=lambda issue: None)
    root, _ = data_shape(template)
    keys = list(root.fields) or ["Session"]

    @SETTINGS
    @given(st.dictionaries(st.sampled_from(keys), JSON, max_size=len(keys)))
    def check(data: dict[str, Any]) -> None:
        card = compiled.expand(data)
        assert json.loads(json.dumps(card, allow_nan=False)) == card

    check()
