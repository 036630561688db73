"""The expression language on its own: grammar, precedence, lexing quirks, JavaScript values."""

from __future__ import annotations

import io
import math
import tokenize
from pathlib import Path
from typing import Any

import pytest

from cards._js import UNDEFINED, number_to_string, to_fixed, utf16_length
from cards._scope import Scope
from cards.expressions import (
    Call,
    Const,
    ExpressionSyntaxError,
    Name,
    compile_expression,
    parse,
)
from cards.expressions import (
    tokenize as lex,
)


def evaluate(source: str, data: Any = None) -> Any:
    return compile_expression(source).evaluate(Scope(data if data is not None else {}))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ^ 3 ^ 2", 512),
        ("-2 ^ 2", 4),
        ("10 - 2 - 3", 5),
        ("7 / 2", 3),
        ("-7 / 2", -4),
        ("7 / 2.5", 2.8),
        ("1 == 1 && 2 > 1", True),
        ("'a' & 'b' == 'b'", "atrue"),
        ("true ? 1 : 0 ? 2 : 3", 2),
        ("null ?? 'x'", "x"),
        ("!true || true", True),
    ],
)
def test_precedence_follows_the_grammar(source: str, expected: Any) -> None:
    result = evaluate(source)
    assert result == expected and type(result) is type(expected)


def test_equality_binds_tighter_than_comparison() -> None:
    tree = parse("1 < 2 == true")
    assert tree == Call("less", (Const(1), Call("equals", (Const(2), Const(True)))))


@pytest.mark.parametrize(
    ("source", "kinds"),
    [
        ("7%3", ["number", "identifier", "end"]),
        ("7 % 3", ["number", "%", "number", "end"]),
        ("@@a #b $c @d", ["identifier"] * 4 + ["end"]),
        (
            "a!=b<=c>=d",
            ["identifier", "!=", "identifier", "<=", "identifier", ">=", "identifier", "end"],
        ),
        ("1.5.x", ["number", ".", "identifier", "end"]),
        ("'it\\'s' \"q\"", ["string", "string", "end"]),
    ],
)
def test_lexer_uses_longest_match(source: str, kinds: list[str]) -> None:
    assert [token.kind for token in lex(source)] == kinds


@pytest.mark.parametrize(
    "source",
    ["7%3", "1 +", "a b", "(a", "a)", "f(a,)", "'open", "a = 1", "a | b", "Größe", ".5", "x =>"],
)
def test_syntax_errors_raise(source: str) -> None:
    with pytest.raises(ExpressionSyntaxError):
        compile_expression(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("toUpper(1)", "argument 1 of toUpper must be text"),
        ("substring('a')", "substring takes 2 to 3 arguments, not 1"),
        ("trim(a, b)", "trim takes 1 argument, not 2"),
        ("nosuch(1)", "unknown function nosuch()"),
        ("a.b(1)", "unknown function a.b()"),
        ("where(items, x.y, true)", "needs a variable name"),
        ("'text'.length", "cannot read property 'length' of a text"),
        ("-'a'", "argument 2 of operator - must be number"),
        ("a <> b", "operator <> is not supported"),
    ],
)
def test_checks_match_microsofts_validators(source: str, message: str) -> None:
    with pytest.raises(
        ExpressionSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        compile_expression(source)


def test_error_position_counts_leading_spaces() -> None:
    with pytest.raises(ExpressionSyntaxError) as raised:
        compile_expression("  1 + )")
    assert raised.value.position == 6


def test_deep_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(ExpressionSyntaxError, match="nested too deeply"):
        compile_expression("(" * 5000 + "1" + ")" * 5000)


def test_lambda_arrow_and_comma_forms_are_the_same() -> None:
    assert parse("select(items, x => x.n)") == parse("select(items, x, x.n)")
    assert parse("select(items, x, x.n)").args[1] == Name("x")  # type: ignore[union-attr]


def test_string_escapes() -> None:
    assert evaluate(r"'a\tb\nc\\d\x'") == "a\tb\nc\\d\\x"
    assert evaluate(r"'it\'s'") == "it's"
    assert evaluate(r'"say \"hi\""') == 'say "hi"'


def test_leading_equals_is_dropped_and_empty_is_empty_text() -> None:
    assert evaluate("=1 + 1") == 2
    assert evaluate("   ") == ""


def test_paths_read_only_data() -> None:
    data = {"Guest": {"Name": "Zoë"}, "items": [1, 2]}
    assert evaluate("Guest.__class__", data) is UNDEFINED
    assert evaluate("Guest.keys", data) is UNDEFINED
    assert evaluate("items.append", data) is UNDEFINED
    assert evaluate("Guest['__dict__']", data) is UNDEFINED
    assert evaluate("guest.name", data) == "Zoë"


@pytest.mark.parametrize(
    "source", ["__import__('os')", "eval('1')", "exec('x')", "open('/etc/passwd')"]
)
def test_python_builtins_are_not_functions(source: str) -> None:
    with pytest.raises(ExpressionSyntaxError, match="unknown function"):
        compile_expression(source)


def test_the_package_never_calls_eval_or_exec() -> None:
    package = Path(__file__).resolve().parents[2] / "cards"
    for path in package.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        names = {
            token.string
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.NAME
        }
        assert not names & {"eval", "exec", "__import__", "getattr", "pickle"}, path.name


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (123e-20, "1.23e-18"),
        (0.000001, "0.000001"),
        (2.0, "2"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2**53 + 2, "9007199254740994"),
        (12345678901234567890, "12345678901234567000"),
        (0.1 + 0.2, "0.30000000000000004"),
        (math.inf, "Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_numbers_are_spelled_like_javascript(value: float, spelled: str) -> None:
    assert number_to_string(value) == spelled


def test_to_fixed_rounds_ties_away_from_zero_like_javascript() -> None:
    assert to_fixed(2.5, 0) == "3"
    assert to_fixed(0.125, 2) == "0.13"
    assert to_fixed(1.005, 2) == "1.00"  # 1.005 is really 1.00499999999999989...
    assert to_fixed(1.401298464324817e-45, 19) == "0.0000000000000000000"  # not "0E-19"
    assert to_fixed(1e15, 20) == "1000000000000000.00000000000000000000"  # > 28 digits


def test_strings_are_measured_in_utf16_units() -> None:
    assert utf16_length("😀") == 2
    assert evaluate("length(x)", {"x": "a😀"}) == 3
    assert evaluate("substring(x, 1, 2)", {"x": "a😀b"}) == "😀"
    assert evaluate("indexOf(x, 'b')", {"x": "a😀b"}) == 3
