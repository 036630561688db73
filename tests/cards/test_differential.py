"""Our renderer against Microsoft's engine (adaptivecards-templating 2.3.1) on the whole corpus.

Every case must agree (same card, or both engines refuse the template) unless it is marked as
one of the deliberate differences of cards/README.md; then our result must be the documented one
and Microsoft's must really differ, so a difference that silently disappears fails the test too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cards.expressions import Call, iter_nodes, parse
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


def _functions_used(case: Case) -> set[str]:
    used: set[str] = set()

    def strings(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, dict):
            return [text for value in node.values() for text in strings(value)]
        if isinstance(node, list):
            return [text for item in node for text in strings(item)]
        return []

    for text in strings(case.template):
        for part in split_bindings(text):
            if isinstance(part, str):
                continue
            try:
                tree = parse(part.text.strip().lstrip("="))
            except ValueError:
                continue
            used |= {node.name for node in iter_nodes(tree) if isinstance(node, Call)}
    return used


def test_corpus_is_big_and_covers_every_function() -> None:
    from cards._functions import FUNCTIONS

    assert len(CASES) >= 150
    used = set().union(*(_functions_used(case) for case in CASES if case.difference is None))
    assert set(FUNCTIONS) - used == set()


def test_every_difference_in_the_corpus_is_documented() -> None:
    documented = set(re.findall(r"<a id=\"([a-z0-9-]+)\"></a>", README.read_text(encoding="utf-8")))
    used = {case.difference for case in CASES if case.difference}
    assert used <= documented, used - documented
