"""Type checks: `isString isInteger isFloat isArray isObject isBoolean isDateTime isMatch`.

They answer with JavaScript's notion of a type: `isObject` is `typeof x === 'object'`, so it is
true for lists and for `null` as well, and integers are numbers with no fraction (`2.0` is one).
"""

from __future__ import annotations

from typing import Any, Final

from cards._datetime import parse_iso_canonical
from cards._functions.base import BOOLEAN, STRING, FunctionSpec, is_object, pure, spec
from cards._functions.base import string_or_undefined as _string_or_undefined
from cards._js import UNDEFINED, is_integer, is_number, to_string, truthy
from cards._regex import common_regex
from cards.errors import ExpressionError


def _is_float(values: list[Any]) -> bool:
    return is_number(values[0]) and not is_integer(values[0])


def _is_date_time(values: list[Any]) -> bool:
    value = values[0]
    return type(value) is str and parse_iso_canonical(value) is not None


def _is_match(values: list[Any]) -> bool:
    _text, pattern = (_string_or_undefined(value, "isMatch") for value in values)
    if values[1] is UNDEFINED:
        raise ExpressionError("isMatch() needs a regular expression")
    subject = to_string(values[0]) if truthy(values[0]) else ""
    return common_regex(pattern).search(subject) is not None


def _check_pattern(nodes: tuple[Any, ...]) -> str | None:
    """Microsoft checks a literal pattern when the expression is parsed."""
    from cards.expressions import Const

    pattern = nodes[1]
    if isinstance(pattern, Const) and type(pattern.value) is str:
        try:
            common_regex(pattern.value)
        except ExpressionError:
            return f"{pattern.value!r} is not a valid regular expression"
    return None


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "isString": spec(pure(lambda values: type(values[0]) is str), arity=(1, 1), returns=BOOLEAN),
    "isInteger": spec(pure(lambda values: is_integer(values[0])), arity=(1, 1), returns=BOOLEAN),
    "isFloat": spec(pure(_is_float), arity=(1, 1), returns=BOOLEAN),
    "isArray": spec(
        pure(lambda values: isinstance(values[0], list)), arity=(1, 1), returns=BOOLEAN
    ),
    "isObject": spec(pure(lambda values: is_object(values[0])), arity=(1, 1), returns=BOOLEAN),
    "isBoolean": spec(pure(lambda values: type(values[0]) is bool), arity=(1, 1), returns=BOOLEAN),
    "isDateTime": spec(pure(_is_date_time), arity=(1, 1), returns=BOOLEAN),
    "isMatch": spec(
        pure(_is_match), arity=(2, 2), each=STRING, returns=BOOLEAN, check=_check_pattern
    ),
}
