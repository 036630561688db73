"""The Adaptive Expressions functions we support, with adaptive-expressions 4.23.3 semantics.

Each function has a signature, checked when a template is compiled (argument count, and the static
types Microsoft's engine checks, so `toUpper(1)` fails at start-up as it fails in the Designer),
and a builder that turns the argument evaluators into the call's evaluator. The semantics follow
the TypeScript sources function by function: JavaScript numbers, UTF-16 string lengths, `null`
versus `undefined`. Errors raise `ExpressionError` with a message that never quotes data values.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cards import _datetime as dates
from cards._js import (
    JS_WHITESPACE,
    UNDEFINED,
    as_double,
    common_equals,
    common_stringify,
    get_property,
    is_integer,
    is_logic_true,
    is_number,
    join_array,
    math_round,
    number,
    number_to_string,
    strict_equals,
    to_fixed,
    to_string,
    truthy,
    utf16_index_of,
    utf16_length,
    utf16_less,
    utf16_slice,
    utf16_units,
)
from cards._locales import DEFAULT, LOCALES, NumberLocale
from cards._pow import js_pow
from cards._scope import Evaluator, Scope
from cards.errors import ExpressionError

# Static return types, as AEL's ReturnType bit set. OBJECT means "unknown until evaluated".
BOOLEAN: Final = 1
NUMBER: Final = 2
OBJECT: Final = 4
STRING: Final = 8
ARRAY: Final = 16

TYPE_NAMES: Final = {
    BOOLEAN: "boolean",
    NUMBER: "number",
    OBJECT: "object",
    STRING: "text",
    ARRAY: "array",
}

UNBOUNDED: Final = sys.maxsize
DEFAULT_LOCALE: Final = "en-US"
_MINUS: Final = "\u2212"  # d3-format writes negative numbers with a real minus sign

Builder = Callable[[tuple[Evaluator, ...], tuple[Any, ...]], Evaluator]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A function's compile-time signature and the builder of its evaluator."""

    min_args: int
    max_args: int
    arg_types: tuple[int, ...]
    rest_type: int
    returns: int
    build: Builder
    is_lambda: bool = False

    def type_of_arg(self, position: int) -> int:
        """The static types allowed at argument `position`."""
        return self.arg_types[position] if position < len(self.arg_types) else self.rest_type


def strict(impl: Callable[[list[Any], Scope], Any]) -> Builder:
    """A function whose arguments are all evaluated first (an argument error is the call's)."""

    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        if len(args) == 1:
            (only,) = args
            return lambda scope: impl([only(scope)], scope)
        if len(args) == 2:
            first, second = args
            return lambda scope: impl([first(scope), second(scope)], scope)
        return lambda scope: impl([arg(scope) for arg in args], scope)

    return build


def pure(impl: Callable[[list[Any]], Any]) -> Builder:
    """`strict` for functions that do not need the scope."""
    return strict(lambda values, scope: impl(values))


def comparison(
    test: Callable[[list[Any]], bool], verify: Callable[[Any], bool] | None = None
) -> Builder:
    """AEL's ComparisonEvaluator: an argument error or a failed check makes the result false."""

    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        def evaluate(scope: Scope) -> bool:
            try:
                values = [arg(scope) for arg in args]
            except ExpressionError:
                return False
            if verify is not None and not all(verify(value) for value in values):
                return False
            return test(values)

        return evaluate

    return build


def _nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def _not_nullish(value: Any) -> bool:
    return value is not None and value is not UNDEFINED


def _string_or_undefined(value: Any, function: str) -> str:
    """AEL's verifyStringOrNull + parseStringOrUndefined: undefined is "", null is an error."""
    if type(value) is str:
        return value
    if value is UNDEFINED:
        return ""
    raise ExpressionError(f"{function}() needs text")


def _numbers(values: list[Any], function: str) -> list[float]:
    for value in values:
        if not is_number(value):
            raise ExpressionError(f"{function}() needs numbers")
    return [as_double(value) for value in values]


# --- logic --------------------------------------------------------------------------------------


def _build_if(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    condition, then, otherwise = args

    def evaluate(scope: Scope) -> Any:
        try:
            chosen = is_logic_true(condition(scope))
        except ExpressionError:
            chosen = False
        return then(scope) if chosen else otherwise(scope)

    return evaluate


def _build_and(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    def evaluate(scope: Scope) -> bool:
        for arg in args:
            try:
                if not is_logic_true(arg(scope)):
                    return False
            except ExpressionError:
                return False
        return True

    return evaluate


def _build_or(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    def evaluate(scope: Scope) -> Any:
        # Like AEL, when nothing is true the result is the last operand's own value (`null`…).
        result: Any = False
        for arg in args:
            try:
                result = arg(scope)
            except ExpressionError:
                result = UNDEFINED
                continue
            if is_logic_true(result):
                return True
        return result

    return evaluate


def _build_not(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    (operand,) = args

    def evaluate(scope: Scope) -> bool:
        try:
            return not is_logic_true(operand(scope))
        except ExpressionError:
            return True

    return evaluate


def _compare(operator: Callable[[Any, Any], bool]) -> Callable[[list[Any]], bool]:
    def test(values: list[Any]) -> bool:
        left, right = values
        if is_number(left) and is_number(right):
            return operator(as_double(left), as_double(right))
        if type(left) is str and type(right) is str:
            return _compare_text(operator, left, right)
        raise ExpressionError("only two numbers or two texts can be compared")

    return test


def _compare_text(operator: Callable[[Any, Any], bool], left: str, right: str) -> bool:
    less = utf16_less(left, right)
    greater = utf16_less(right, left)
    # Map the operator onto the UTF-16 order by comparing the ranks -1/0/1.
    rank = -1 if less else 1 if greater else 0
    return bool(operator(rank, 0))


def _empty(values: list[Any]) -> bool:
    (value,) = values
    if _nullish(value):
        return True
    if type(value) is str or isinstance(value, list | Mapping):
        return len(value) == 0
    return False


def _is_container_or_null(value: Any) -> bool:
    return _nullish(value) or type(value) is str or isinstance(value, list | Mapping)


def _coalesce(values: list[Any]) -> Any:
    for value in values:
        if _not_nullish(value):
            return value
    return UNDEFINED


_FALSE_TEXT: Final = re.compile("false", re.IGNORECASE)


def _bool(values: list[Any]) -> bool:
    (value,) = values
    if is_number(value):
        return bool(value != 0)
    if _FALSE_TEXT.search(to_string(value)):
        return False
    return is_logic_true(value)


# --- math ---------------------------------------------------------------------------------------


def _add(values: list[Any]) -> Any:
    for value in values:
        if not (type(value) is str or value is UNDEFINED or is_number(value)):
            raise ExpressionError("+ and add() need numbers or texts")
    total = values[0]
    for value in values[1:]:
        both_numbers = is_number(total) and is_number(value)
        if (_nullish(total) and is_number(value)) or (_nullish(value) and is_number(total)):
            raise ExpressionError("+ and add() cannot add a number and a missing value")
        if both_numbers:
            total = number(as_double(total) + as_double(value))
        elif _nullish(total):
            total = "" if _nullish(value) else to_string(value)
        elif _nullish(value):
            total = to_string(total)
        else:
            total = to_string(total) + to_string(value)
    return total


def _arithmetic(
    function: str, operator: Callable[[float, float], float]
) -> Callable[[list[Any]], Any]:
    def apply(values: list[Any]) -> Any:
        doubles = _numbers(values, function)
        total = doubles[0]
        for value in doubles[1:]:
            total = operator(total, value)
        return number(total)

    return apply


def _divide(values: list[Any]) -> Any:
    doubles = _numbers(values, "div")
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
    doubles = _numbers(values, "round")
    digits = 0
    if len(values) == 2:
        if not is_integer(values[1]):
            raise ExpressionError("round() needs an integer number of digits")
        digits = int(values[1])
        if not 0 <= digits <= 15:
            raise ExpressionError("round() needs between 0 and 15 digits")
    scale = js_pow(10.0, float(digits))
    return number(math_round(doubles[0] * scale) / scale)


def _locale_for(values: list[Any], max_args: int) -> NumberLocale:
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
    return format_fixed(rounded, int(spelled), _locale_for(values, 3))


# --- strings ------------------------------------------------------------------------------------


def _concat(values: list[Any]) -> Any:
    total = values[0]
    for value in values[1:]:
        if _nullish(total) and _nullish(value):
            total = UNDEFINED
        elif _nullish(total) and isinstance(value, list):
            total = value
        elif _nullish(value) and isinstance(total, list):
            pass
        elif isinstance(total, list) and isinstance(value, list):
            total = total + value
        else:
            total = common_stringify(total) + common_stringify(value)
    return total


# A BCP 47 language tag as Intl checks it: a 2-3 or 5-8 letter language, then subtags.
_LOCALE_TAG: Final = re.compile(r"(?:[A-Za-z]{2,3}|[A-Za-z]{5,8})(?:-[A-Za-z0-9]{1,8})*")


def _case_locale(values: list[Any], function: str) -> str:
    if len(values) < 2 or values[1] is UNDEFINED:
        return "en"
    locale = _string_or_undefined(values[1], function)
    if not _LOCALE_TAG.fullmatch(locale):
        raise ExpressionError(f"{function}() got an invalid locale")
    return locale.split("-")[0].lower()


def _to_upper(values: list[Any]) -> Any:
    text = _string_or_undefined(values[0], "toUpper")
    if _case_locale(values, "toUpper") in ("tr", "az"):
        text = text.replace("i", "\u0130")
    return text.upper()


def _to_lower(values: list[Any]) -> Any:
    text = _string_or_undefined(values[0], "toLower")
    if _case_locale(values, "toLower") in ("tr", "az"):
        text = text.replace("I", "\u0131").replace("\u0130", "i")
    return text.lower()


def _trim(values: list[Any]) -> Any:
    return _string_or_undefined(values[0], "trim").strip(JS_WHITESPACE)


def _length(values: list[Any]) -> Any:
    return utf16_length(_string_or_undefined(values[0], "length"))


def _build_substring(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    text_of, start_of = args[0], args[1]
    length_of = args[2] if len(args) == 3 else None

    def evaluate(scope: Scope) -> Any:
        text = text_of(scope)
        if text is UNDEFINED:
            return ""
        if type(text) is not str:
            raise ExpressionError("substring() needs text")
        size = utf16_length(text)
        start = start_of(scope)
        if not is_integer(start):
            raise ExpressionError("substring() needs an integer start")
        if not 0 <= start <= size:
            raise ExpressionError("substring() start is out of range")
        length = size - start
        if length_of is not None:
            length = length_of(scope)
            if not is_integer(length):
                raise ExpressionError("substring() needs an integer length")
            if length < 0 or start + length > size:
                raise ExpressionError("substring() length is out of range")
        begin = int(start)
        return utf16_slice(text, begin, begin + int(length))

    return evaluate


def _replace(values: list[Any]) -> Any:
    text, old, new = (_string_or_undefined(value, "replace") for value in values)
    if old == "":
        raise ExpressionError("replace() needs a non-empty text to replace")
    return text.replace(old, new)


def _index_of(values: list[Any]) -> Any:
    haystack, needle = values
    if _nullish(haystack) or type(haystack) is str:
        if needle is UNDEFINED or type(needle) is str:
            return utf16_index_of(haystack or "", needle if type(needle) is str else "")
        raise ExpressionError("indexOf() can only look for text in a text")
    if isinstance(haystack, list):
        for position, item in enumerate(haystack):
            if strict_equals(item, needle):
                return position
        return -1
    raise ExpressionError("indexOf() works on a text or a list")


def _starts_with(values: list[Any]) -> Any:
    text, prefix = (_string_or_undefined(value, "startsWith") for value in values)
    return text.startswith(prefix)


def _ends_with(values: list[Any]) -> Any:
    text, suffix = (_string_or_undefined(value, "endsWith") for value in values)
    return text.endswith(suffix)


def _split(values: list[Any]) -> Any:
    text = _string_or_undefined(values[0], "split")
    separator = _string_or_undefined(values[1], "split") if len(values) == 2 else ""
    if separator == "":
        return utf16_units(text)
    return text.split(separator)


def _join(values: list[Any]) -> Any:
    items = values[0]
    if not isinstance(items, list):
        raise ExpressionError("join() needs a list")
    separator = "," if values[1] is UNDEFINED else to_string(values[1])
    if len(values) == 2:
        return join_array(items, separator)
    last_separator = "," if values[2] is UNDEFINED else to_string(values[2])
    if len(items) < 3:
        return join_array(items, last_separator)
    head = join_array(items[:-1], separator)
    return head + to_string(values[2]) + to_string(items[-1])


# --- collections --------------------------------------------------------------------------------


def _count(values: list[Any]) -> Any:
    (value,) = values
    if type(value) is str:
        return utf16_length(value)
    if isinstance(value, list | Mapping):
        return len(value)
    raise ExpressionError("count() needs a text, a list or an object")


def _first(values: list[Any]) -> Any:
    (value,) = values
    if type(value) is str and value:
        return utf16_units(value[0])[0]
    if isinstance(value, list) and value:
        return value[0]
    return UNDEFINED


def _last(values: list[Any]) -> Any:
    (value,) = values
    if type(value) is str and value:
        return utf16_units(value[-1])[-1]
    if isinstance(value, list) and value:
        return value[-1]
    return UNDEFINED


def _contains(values: list[Any]) -> Any:
    container, item = values
    if type(container) is str and type(item) is str:
        return item in container
    if isinstance(container, list):
        return any(common_equals(element, item) for element in container)
    if type(item) is str:
        return get_property(container, item) is not UNDEFINED
    return False


def _as_items(instance: Any, function: str) -> list[Any]:
    """AEL's convertToList: a list as it is, an object as [{key, value}, …]."""
    if isinstance(instance, list):
        return instance
    if isinstance(instance, Mapping):
        return [{"key": key, "value": value} for key, value in instance.items()]
    raise ExpressionError(f"{function}() needs a list or an object")


def _lambda(function: str) -> Builder:
    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        collection, body = args[0], args[2]
        variable: str = nodes[1].head

        def evaluate(scope: Scope) -> Any:
            instance = collection(scope)
            if function != "where" and not truthy(instance):
                raise ExpressionError(f"{function}() needs a list or an object")
            items = _as_items(instance, function)
            if function != "where":
                return [body(scope.with_local(variable, item)) for item in items]
            kept = []
            for item in items:
                try:
                    keep = is_logic_true(body(scope.with_local(variable, item)))
                except ExpressionError:
                    keep = False
                if keep:
                    kept.append(item)
            if isinstance(instance, list):
                return kept
            return {entry["key"]: entry["value"] for entry in kept}

        return evaluate

    return build


# --- date and time ------------------------------------------------------------------------------


def _utc_now(values: list[Any], scope: Scope) -> Any:
    return dates.dayjs_format(dates.utc_now(scope.now), dates.format_for(values, 2))


def _format_date_time(values: list[Any]) -> Any:
    stamp = values[0]
    if type(stamp) is not str:
        raise ExpressionError("formatDateTime() needs a timestamp text")
    instant = dates.parse_timestamp(stamp)
    if instant is None:
        raise ExpressionError("formatDateTime() needs an ISO 8601 timestamp")
    return dates.dayjs_format(instant, dates.format_for(values, 3))


def _shift(function: str, shift: Callable[[Any, float], Any]) -> Callable[[list[Any]], Any]:
    def apply(values: list[Any]) -> Any:
        pattern = dates.format_for(values, 4)
        stamp, amount = values[0], values[1]
        if type(stamp) is not str or not is_number(amount):
            raise ExpressionError(f"{function}() needs an ISO timestamp and a number")
        instant = dates.parse_iso_exact(stamp)
        if instant is None:
            raise ExpressionError(f"{function}() needs a timestamp like 2024-01-31T09:30:00.000Z")
        return dates.dayjs_format(shift(instant, as_double(amount)), pattern)

    return apply


def _day_of_week(values: list[Any]) -> Any:
    (stamp,) = values
    if type(stamp) is not str:
        raise ExpressionError("dayOfWeek() needs a timestamp text")
    instant = dates.parse_iso_exact(stamp)
    if instant is None:
        raise ExpressionError("dayOfWeek() needs a timestamp like 2024-01-31T09:30:00.000Z")
    return dates.day_of_week(instant)


# --- conversion ---------------------------------------------------------------------------------

_INT_PREFIX: Final = re.compile(r"[+-]?[0-9]+")
_FLOAT_PREFIX: Final = re.compile(
    r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
)


def parse_int(text: str) -> int | float | None:
    """JavaScript `parseInt(text, 10)`: the leading integer, or None for NaN."""
    match = _INT_PREFIX.match(text.lstrip(JS_WHITESPACE))
    if match is None:
        return None
    return number(as_double(int(match.group())))


def parse_float(text: str) -> float | None:
    """JavaScript `parseFloat(text)`: the leading decimal literal, or None for NaN."""
    match = _FLOAT_PREFIX.match(text.lstrip(JS_WHITESPACE))
    if match is None:
        return None
    return float(match.group().replace("Infinity", "inf"))


def _string(values: list[Any]) -> Any:
    value = values[0]
    if type(value) is str:
        return value
    if is_number(value):
        spelled = number_to_string(value)
        precision = len(spelled.split(".")[1]) if "." in spelled else 0
        return format_fixed(as_double(value), precision, _locale_for(values, 2))
    return common_stringify(value)


def _int(values: list[Any]) -> Any:
    (value,) = values
    if type(value) is str:
        parsed = parse_int(value)
        if parsed is None:
            raise ExpressionError("int() needs a text that starts with a number")
        return parsed
    if is_number(value):
        return parse_int(number_to_string(value))
    return UNDEFINED


def _float(values: list[Any]) -> Any:
    (value,) = values
    if type(value) is str:
        parsed = parse_float(value)
        if parsed is None:
            raise ExpressionError("float() needs a text that starts with a number")
        return parsed
    if is_number(value):
        return value
    return UNDEFINED


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(values: list[Any]) -> Any:
    (text,) = values
    if type(text) is not str:
        raise ExpressionError("json() needs a text")
    try:
        return json.loads(text.strip(JS_WHITESPACE), parse_constant=_reject_constant)
    except ValueError as error:
        raise ExpressionError("json() got a text that is not JSON") from error


# --- the table ----------------------------------------------------------------------------------


def _spec(
    build: Builder,
    *,
    args: Sequence[int] = (),
    optional: Sequence[int] = (),
    arity: tuple[int, int] | None = None,
    each: int = OBJECT,
    returns: int = OBJECT,
    is_lambda: bool = False,
) -> FunctionSpec:
    """A signature either by position (`args` then `optional`) or by `arity` with one type."""
    if arity is None:
        arity = (len(args), len(args) + len(optional))
        each = OBJECT
    return FunctionSpec(
        arity[0], arity[1], (*args, *optional), each, returns, build, is_lambda=is_lambda
    )


_ANY_NUMBER: Final = (2, UNBOUNDED)

FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    # logic
    "if": _spec(_build_if, arity=(3, 3)),
    "and": _spec(_build_and, arity=(1, UNBOUNDED), returns=BOOLEAN),
    "or": _spec(_build_or, arity=(1, UNBOUNDED), returns=BOOLEAN),
    "not": _spec(_build_not, arity=(1, 1), returns=BOOLEAN),
    "equals": _spec(
        comparison(lambda values: common_equals(*values)), arity=(2, 2), returns=BOOLEAN
    ),
    "!=": _spec(
        comparison(lambda values: not common_equals(*values)), arity=(2, 2), returns=BOOLEAN
    ),
    "less": _spec(
        comparison(_compare(lambda a, b: a < b), _not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "lessOrEquals": _spec(
        comparison(_compare(lambda a, b: a <= b), _not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "greater": _spec(
        comparison(_compare(lambda a, b: a > b), _not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "greaterOrEquals": _spec(
        comparison(_compare(lambda a, b: a >= b), _not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "exists": _spec(comparison(lambda values: True, _not_nullish), arity=(1, 1), returns=BOOLEAN),
    "empty": _spec(comparison(_empty, _is_container_or_null), arity=(1, 1), returns=BOOLEAN),
    "coalesce": _spec(pure(_coalesce), arity=(1, UNBOUNDED)),
    # math
    "add": _spec(pure(_add), arity=_ANY_NUMBER, each=STRING | NUMBER, returns=STRING | NUMBER),
    "sub": _spec(
        pure(_arithmetic("sub", lambda a, b: a - b)), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER
    ),
    "mul": _spec(
        pure(_arithmetic("mul", lambda a, b: a * b)), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER
    ),
    "div": _spec(pure(_divide), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER),
    "exp": _spec(pure(_exp), arity=_ANY_NUMBER, each=NUMBER, returns=NUMBER),
    "mod": _spec(pure(_mod), arity=(2, 2), each=NUMBER, returns=NUMBER),
    "min": _spec(_extreme("min", min, math.inf), arity=(1, UNBOUNDED), returns=NUMBER),
    "max": _spec(_extreme("max", max, -math.inf), arity=(1, UNBOUNDED), returns=NUMBER),
    "round": _spec(pure(_round), arity=(1, 2), each=NUMBER, returns=NUMBER),
    "formatNumber": _spec(
        pure(_format_number), args=(NUMBER, NUMBER), optional=(STRING,), returns=STRING
    ),
    # strings
    "concat": _spec(pure(_concat), arity=(1, UNBOUNDED), returns=STRING | ARRAY),
    "toUpper": _spec(pure(_to_upper), arity=(1, 2), each=STRING, returns=STRING),
    "toLower": _spec(pure(_to_lower), arity=(1, 2), each=STRING, returns=STRING),
    "substring": _spec(_build_substring, args=(STRING, NUMBER), optional=(NUMBER,), returns=STRING),
    "replace": _spec(pure(_replace), arity=(3, 3), each=STRING, returns=STRING),
    "trim": _spec(pure(_trim), arity=(1, 1), each=STRING, returns=STRING),
    "length": _spec(pure(_length), arity=(1, 1), each=STRING, returns=NUMBER),
    "indexOf": _spec(pure(_index_of), args=(STRING | ARRAY, OBJECT), returns=NUMBER),
    "startsWith": _spec(pure(_starts_with), arity=(2, 2), each=STRING, returns=BOOLEAN),
    "endsWith": _spec(pure(_ends_with), arity=(2, 2), each=STRING, returns=BOOLEAN),
    "split": _spec(pure(_split), arity=(1, 2), each=STRING, returns=ARRAY),
    "join": _spec(pure(_join), args=(ARRAY, STRING), optional=(STRING,), returns=STRING),
    # collections
    "count": _spec(pure(_count), args=(STRING | ARRAY,), returns=NUMBER),
    "first": _spec(pure(_first), arity=(1, 1)),
    "last": _spec(pure(_last), arity=(1, 1)),
    "contains": _spec(pure(_contains), arity=(2, 2), returns=BOOLEAN),
    "createArray": _spec(pure(list), arity=(0, UNBOUNDED), returns=ARRAY),
    "where": _spec(_lambda("where"), arity=(3, 3), returns=ARRAY, is_lambda=True),
    "select": _spec(_lambda("select"), arity=(3, 3), returns=ARRAY, is_lambda=True),
    "foreach": _spec(_lambda("foreach"), arity=(3, 3), returns=ARRAY, is_lambda=True),
    # date and time
    "utcNow": _spec(strict(_utc_now), optional=(STRING, STRING), returns=STRING),
    "formatDateTime": _spec(
        pure(_format_date_time), args=(STRING,), optional=(STRING, STRING), returns=STRING
    ),
    "addDays": _spec(
        pure(_shift("addDays", dates.add_days)),
        args=(STRING, NUMBER),
        optional=(STRING, STRING),
        returns=STRING,
    ),
    "addHours": _spec(
        pure(_shift("addHours", dates.add_hours)),
        args=(STRING, NUMBER),
        optional=(STRING, STRING),
        returns=STRING,
    ),
    "dayOfWeek": _spec(pure(_day_of_week), arity=(1, 1), each=STRING, returns=NUMBER),
    # conversion
    "string": _spec(pure(_string), args=(OBJECT,), optional=(STRING,), returns=STRING),
    "int": _spec(pure(_int), arity=(1, 1), returns=NUMBER),
    "float": _spec(pure(_float), arity=(1, 1), returns=NUMBER),
    "bool": _spec(comparison(_bool), arity=(1, 1), returns=BOOLEAN),
    "json": _spec(pure(_json), args=(STRING,)),
}

# Operators and the aliases Microsoft's function table registers for the same evaluators.
ALIASES: Final = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "^": "exp",
    "%": "mod",
    "==": "equals",
    "<": "less",
    "<=": "lessOrEquals",
    ">": "greater",
    ">=": "greaterOrEquals",
    "&&": "and",
    "||": "or",
    "!": "not",
    "&": "concat",
    "??": "coalesce",
}


def lookup(name: str) -> FunctionSpec | None:
    """The function called `name` (case-sensitive, as in Microsoft's engine), if supported."""
    return FUNCTIONS.get(ALIASES.get(name, name))


def canonical_name(name: str) -> str:
    """The table name behind an operator or alias (`+` is `add`)."""
    return ALIASES.get(name, name)
