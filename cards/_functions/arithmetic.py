"""Math: `add sub mul div mod exp min max round formatNumber abs floor ceiling sqrt sum average
range rand`, on JavaScript doubles.

Results are exactly what V8 computes: sums in order, `^`/`exp` through a port of V8's own `pow`,
integer division for two integers, `formatNumber` and `string(number)` spelled by d3-format.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from typing import Any, Final

from cards._functions.base import (
    ARRAY,
    NUMBER,
    STRING,
    UNBOUNDED,
    Builder,
    FunctionSpec,
    nullish,
    number_list,
    numbers,
    pure,
    spec,
    strict,
)
from cards._js import (
    UNDEFINED,
    as_double,
    is_integer,
    is_number,
    math_round,
    number,
    number_to_string,
    to_fixed,
    to_string,
)
from cards._locales import DEFAULT, LOCALES, NumberLocale
from cards._pow import js_pow
from cards._scope import Scope, resolve_name
from cards.errors import ExpressionError

DEFAULT_LOCALE: Final = "en-US"
_MINUS: Final = "\u2212"  # d3-format writes negative numbers with a real minus sign
# No state to share: every draw reads the operating system's randomness.
_RANDOM: Final = random.SystemRandom()
_TEST_RANDOM_VALUE: Final = ("TestOptions", "randomValue")


def _add(values: list[Any]) -> Any:
    for value in values:
        if not (type(value) is str or value is UNDEFINED or is_number(value)):
            raise ExpressionError("+ and add() need numbers or texts")
    total = values[0]
    for value in values[1:]:
        both_numbers = is_number(total) and is_number(value)
        if (nullish(total) and is_number(value)) or (nullish(value) and is_number(total)):
            raise ExpressionError("+ and add() cannot add a number and a missing value")
        if both_numbers:
            total = number(as_double(total) + as_double(value))
        elif nullish(total):
            total = "" if nullish(value) else to_string(value)
        elif nullish(value):
            total = to_string(total)
        else:
            total = to_string(total) + to_string(value)
    return total


def _arithmetic(
    function: str, operator: Callable[[float, float], float]
) -> Callable[[list[Any]], Any]:
    def apply(values: list[Any]) -> Any:
        doubles = numbers(values, function)
        total = doubles[0]
        for value in doubles[1:]:
            total = operator(total, value)
        return number(total)

    return apply


def _divide(values: list[Any]) -> Any:
    doubles = numbers(values, "div")
    if any(value == 0 for value in doubles[1:]):
        raise ExpressionError("division by zero")
    total = doubles[0]
    for value in doubles[1:]:
        quotient = total / value
        if is_integer(total) and is_integer(value) and math.isfinite(quotient):
            quotient = float(math.floor(quotient))
        total = quotient
    return number(total)


def _exp(values: list[Any]) -> Any:
    """`exp`/`^`: numbers, or numeric lists which JavaScript turns into a number (or NaN)."""
    doubles: list[float] = []
    for value in values:
        if isinstance(value, list):
            if not all(is_number(item) for item in value):
                raise ExpressionError("exp() and ^ need numbers")
            doubles.append(
                as_double(value[0]) if len(value) == 1 else 0.0 if not value else math.nan
            )
        elif is_number(value):
            doubles.append(as_double(value))
        else:
            raise ExpressionError("exp() and ^ need numbers")
    total = doubles[0]
    for value in doubles[1:]:
        total = js_pow(total, value)
    return number(total)


def _mod(values: list[Any]) -> Any:
    for value in values:
        if not is_integer(value):
            raise ExpressionError("mod() and % need integers")
    left, right = (as_double(value) for value in values)
    if right == 0:
        raise ExpressionError("mod() by zero")
    return number(math.fmod(left, right))


def _extreme(function: str, pick: Callable[[float, float], float], start: float) -> Builder:
    def apply(values: list[Any]) -> Any:
        result = start
        for value in values:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if not is_number(item):
                    raise ExpressionError(f"{function}() needs numbers or lists of numbers")
                result = pick(result, as_double(item))
        return number(result)

    return pure(apply)


def _round(values: list[Any]) -> Any:
    doubles = numbers(values, "round")
    digits = 0
    if len(values) == 2:
        if not is_integer(values[1]):
            raise ExpressionError("round() needs an integer number of digits")
        digits = int(values[1])
        if not 0 <= digits <= 15:
            raise ExpressionError("round() needs between 0 and 15 digits")
    scale = js_pow(10.0, float(digits))
    return number(math_round(doubles[0] * scale) / scale)


def locale_for(values: list[Any], max_args: int) -> NumberLocale:
    locale = DEFAULT_LOCALE
    if len(values) == max_args and type(values[-1]) is str:
        locale = values[-1]
    return LOCALES.get(locale, DEFAULT)


def _group(digits: str, locale: NumberLocale) -> str:
    """d3-format's digit grouping (grouping sizes repeat from the last one)."""
    parts: list[str] = []
    end = len(digits)
    position = 0
    size = locale.grouping[0]
    while end > 0 and size > 0:
        parts.append(digits[max(0, end - size) : end])
        end -= size
        position = (position + 1) % len(locale.grouping)
        size = locale.grouping[position]
    return locale.thousands.join(reversed(parts))


def format_fixed(value: float, precision: int, locale: NumberLocale) -> str:
    """d3-format `,.{precision}f`: grouped thousands, a real minus sign, locale digits."""
    negative = value < 0 or (value == 0 and math.copysign(1.0, value) < 0)
    body = "NaN" if value != value else to_fixed(abs(value), min(max(precision, 0), 20))
    if negative and body not in ("NaN", "Infinity") and float(body) == 0:
        negative = False
    suffix = ""
    for position, char in enumerate(body):
        if not "0" <= char <= "9":
            suffix = locale.decimal + body[position + 1 :] if char == "." else body[position:]
            body = body[:position]
            break
    text = (_MINUS if negative else "") + _group(body, locale) + suffix
    if locale.numerals:
        numerals = locale.numerals
        text = re.sub("[0-9]", lambda match: numerals[int(match.group())], text)
    return text


def _format_number(values: list[Any]) -> Any:
    value, precision = values[0], values[1]
    if not is_number(value):
        raise ExpressionError("formatNumber() needs a number")
    if not is_number(precision):
        raise ExpressionError("formatNumber() needs a number of digits")
    spelled = number_to_string(precision)
    if not spelled.isascii() or not spelled.isdigit():
        raise ExpressionError("formatNumber() needs a whole, non-negative number of digits")
    scale = js_pow(10.0, as_double(precision))
    rounded = math_round(as_double(value) * scale) / scale
    return format_fixed(rounded, int(spelled), locale_for(values, 3))


def _unary(function: str, operation: Callable[[float], float]) -> Builder:
    """AEL's NumberTransformEvaluator: one number in, one number out."""

    def apply(values: list[Any]) -> Any:
        (value,) = numbers(values, function)
        return number(operation(value))

    return pure(apply)


def _sqrt(values: list[Any]) -> Any:
    (value,) = numbers(values, "sqrt")
    if value < 0:
        raise ExpressionError("sqrt() of a negative number")
    return number(math.sqrt(value))


def _total(items: list[float]) -> float:
    """`Array.prototype.reduce((x, y) => x + y)`: left to right, no initial value."""
    if not items:
        raise ExpressionError("the list is empty")
    total = items[0]
    for item in items[1:]:
        total += item
    return total


def _sum(values: list[Any]) -> Any:
    return number(_total(number_list(values[0], "sum")))


def _average(values: list[Any]) -> Any:
    items = number_list(values[0], "average")
    return number(_total(items) / len(items))


# A card cannot carry more; a longer range would only exhaust the bot's memory.
MAX_RANGE: Final = 10_000


def _range(values: list[Any]) -> Any:
    start, count = values
    if not (is_integer(start) and is_integer(count)):
        raise ExpressionError("range() needs two integers")
    if count <= 0:
        raise ExpressionError("range() needs a count above zero")
    if count > MAX_RANGE:
        raise ExpressionError(f"range() makes at most {MAX_RANGE} numbers")
    first = as_double(start)
    return [number(first + offset) for offset in range(int(count))]


def _rand(values: list[Any], scope: Scope) -> Any:
    low, high = values
    if not (is_integer(low) and is_integer(high)):
        raise ExpressionError("rand() needs two integers")
    if low > high:
        raise ExpressionError("rand() needs a minimum no greater than its maximum")
    fixed = resolve_name("Conversation", _TEST_RANDOM_VALUE, scope)
    if fixed is not UNDEFINED:
        # Bot Framework's test hook, which Microsoft's engine reads from the data as well.
        if not is_number(fixed) or high == low:
            return math.nan
        return number(as_double(low) + math.fmod(as_double(fixed), as_double(high - low)))
    return number(math.floor(as_double(low) + _RANDOM.random() * as_double(high - low)))


_ANY_NUMBER: Final = (2, UNBOUNDED)

FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "add": spec(pure(_add), arity=_ANY_NUMBER, each=STRING | NUMBER, returns=STRING | NUMBER),
    "sub": spec(
        pure(_arithmetic("sub", lambda a, b: a - b)), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER
    ),
    "mul": spec(
        pure(_arithmetic("mul", lambda a, b: a * b)), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER
    ),
    "div": spec(pure(_divide), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER),
    "exp": spec(pure(_exp), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER),
    "mod": spec(pure(_mod), arity=(2, 2), each=NUMBER, returns=NUMBER),
    "min": spec(_extreme("min", min, math.inf), arity=(1, UNBOUNDED), returns=NUMBER),
    "max": spec(_extreme("max", max, -math.inf), arity=(1, UNBOUNDED), returns=NUMBER),
    "round": spec(pure(_round), arity=(1, 2), each=NUMBER, returns=NUMBER),
    "formatNumber": spec(
        pure(_format_number), args=(NUMBER, NUMBER), optional=(STRING,), returns=STRING
    ),
    "abs": spec(_unary("abs", abs), arity=(1, 1), each=NUMBER, returns=NUMBER),
    "floor": spec(_unary("floor", math.floor), arity=(1, 1), each=NUMBER, returns=NUMBER),
    "ceiling": spec(_unary("ceiling", math.ceil), arity=(1, 1), each=NUMBER, returns=NUMBER),
    "sqrt": spec(pure(_sqrt), arity=(1, 1), each=NUMBER, returns=NUMBER),
    "sum": spec(pure(_sum), args=(ARRAY,), returns=NUMBER),
    "average": spec(pure(_average), arity=(1, 1), returns=NUMBER),
    "range": spec(pure(_range), arity=(2, 2), each=NUMBER, returns=ARRAY),
    "rand": spec(strict(_rand), arity=(2, 2), each=NUMBER, returns=NUMBER),
}
