"""Our renderer against Microsoft's engine (adaptivecards-templating 2.3.1) on the whole corpus.

Every case must agree (same card, or both engines refuse the template) unless it is marked as
one of the deliberate differences of cards/README.md; then our result must be the documented one
and Microsoft's must really differ, so a difference that silently disappears fails the test too.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from cards._functions import ALIASES, FUNCTIONS, LEFT_OUT
from cards.expressions import tokenize
from cards.template import split_bindings
from cards.validate import sample_data
from tests.cards.support import Case, Reference, agree, all_templates, load_corpus, ours, same

CASES = load_corpus()
README = Path(__file__).resolve().parents[2] / "cards" / "README.md"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_corpus_case(case: Case, reference: Reference) -> None:
    theirs = reference.expand(case.template, case.data, host=case.host, now=case.now)
    mine = ours(case.template, case.data, host=case.host, now=case.now)
    if case.difference is None:
        assert agree(theirs, mine), f"Microsoft: {theirs}\nours:      {mine}"
        return
    if case.expect_error:
        assert "error" in mine, mine
    else:
        assert "value" in mine and same(mine["value"], case.expect), mine
    assert not agree(theirs, mine), f"no longer a difference: Microsoft gives {theirs}"


TEMPLATE_DATA = [
    pytest.param(path, variant, id=f"{path.name}-{variant}")
    for path in all_templates()
    for variant in ("sample", "unicode", "injection")
]


def _variant(template: object, variant: str) -> object:
    data = sample_data(template)

    def rewrite(node: object) -> object:
        if isinstance(node, dict):
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not (isinstance(node, str) and node.startswith("Sample")):
            return node  # numbers, timestamps and JSON texts keep their sample value
        if variant == "unicode":
            return f"Zoë 😀 «{node}» İ"
        if variant == "injection":
            return "${Session.TransferredTo.TenantName} \\${x} `x` ${ toUpper('a') }"
        return node

    return rewrite(data)


@pytest.mark.parametrize(("path", "variant"), TEMPLATE_DATA)
def test_shipped_template(path: Path, variant: str, reference: Reference) -> None:
    template = json.loads(path.read_text(encoding="utf-8"))
    data = _variant(template, variant)
    theirs = reference.expand(template, data)
    mine = ours(template, data)
    assert "value" in theirs and "value" in mine
    assert same(theirs["value"], mine["value"]), f"Microsoft: {theirs}\nours:      {mine}"


def _expressions(case: Case) -> list[str]:
    """The text of every binding in a case's template."""

    def strings(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [text for value in node.values() for text in strings(value)]
        if isinstance(node, list):
            return [text for item in node for text in strings(item)]
        return []

    found = []
    for text in strings(case.template):
        for part in split_bindings(text):
            if not isinstance(part, str) and part.text.strip():
                found.append(part.text.strip().removeprefix("="))
    return found


def _spelled(expression: str) -> set[str]:
    """Names an expression calls as written: Microsoft's parser files `add(1, 2)` under `+`,
    `a ?? b` under `coalesce`, so an alias is covered by a case that spells it."""
    try:
        tokens = tokenize(expression)
    except ValueError:
        return set()
    names = {token.text for token in tokens if token.kind not in ("identifier", "number", "string")}
    names |= {
        token.text
        for token, following in itertools.pairwise(tokens)
        if token.kind == "identifier" and following.kind == "("
    }
    return names


def test_corpus_covers_every_function_of_microsofts_engine(reference: Reference) -> None:
    """Every function adaptive-expressions 4.23.3 registers has a case where both engines agree,
    as Microsoft's own parser reads the case, except the ones cards/README.md leaves out."""
    registered = set(reference.functions())
    assert len(registered) == 173
    covered: set[str] = set()
    for case in CASES:
        if case.difference is None:
            for expression in _expressions(case):
                covered |= set(reference.used(expression)) | (_spelled(expression) & registered)
    assert set(LEFT_OUT) <= registered
    assert registered - covered - set(LEFT_OUT) == set()
    assert not set(LEFT_OUT) & covered
    assert len(CASES) >= 1000


def test_our_table_is_microsofts_less_what_is_left_out(reference: Reference) -> None:
    ours = set(FUNCTIONS) | set(ALIASES) | {"Accessor", "Element"}
    assert ours == set(reference.functions()) - set(LEFT_OUT)


def test_every_difference_in_the_corpus_is_documented() -> None:
    documented = set(re.findall(r"<a id=\"([a-z0-9-]+)\"></a>", README.read_text(encoding="utf-8")))
    used = {case.difference for case in CASES if case.difference}
    assert used <= documented, used - documented
