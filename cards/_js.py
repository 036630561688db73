"""JavaScript value semantics that Microsoft's templating engine applies to data.

Adaptive Expressions run on JavaScript values: one number type (a double), strings counted in UTF-16
code units, `undefined` next to `null`, and property names looked up case-insensitively. To render
exactly like the Designer, the expression engine works on plain Python JSON values and asks this
module for the JavaScript meaning of each operation. Everything here is pure and allocation-light:
it runs on every render.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final


class _Undefined:
    """JavaScript `undefined`: the value of a path that leads nowhere (not JSON `null`)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()


class BigInteger:
    """An arbitrary-precision integer from `ticks()`, which Microsoft's engine keeps as a
    `big-integer` object: not a number to arithmetic, digits as text, a quoted string in JSON.
    """

    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"BigInteger({self.value})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigInteger) and other.value == self.value

    def __hash__(self) -> int:
        return hash(self.value)


MAX_SAFE_INTEGER: Final = 2**53
EPSILON: Final = 2.220446049250313e-16

# JavaScript's String.prototype.trim removes WhiteSpace and LineTerminator, which is not the same
# set as Python's str.isspace (that one adds \x1c-\x1f and \x85 and omits the BOM).
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def is_number(value: Any) -> bool:
    """True for a JavaScript number that is not NaN (AEL's `FunctionUtils.isNumber`)."""
    kind = type(value)
    return kind is int or (kind is float and value == value)


def is_integer(value: Any) -> bool:
    """`Number.isInteger`: a finite number with no fractional part (2.0 counts)."""
    kind = type(value)
    if kind is int:
        return True
    return kind is float and math.isfinite(value) and value.is_integer()


def number(value: float) -> int | float:
    """A computed double as the tidiest Python number: integral values become `int`, like JSON."""
    if (
        type(value) is float
        and value.is_integer()
        and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    ):
        return int(value)
    return value


def as_double(value: int | float) -> float:
    """The double JavaScript holds for a number (huge integers round, as JSON.parse does)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def number_to_string(value: int | float) -> str:
    """`Number.prototype.toString()`: shortest round-trip digits, exponent only past 1e21 / 1e-7."""
    if type(value) is int and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return str(value)
    x = as_double(value)
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x < 0:
        return "-" + number_to_string(-x)
    mantissa, _, exponent = repr(x).partition("e")
    whole, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return f"{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    shift = point - 1
    sign = "+" if shift >= 0 else "-"
    head = digits if count == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{sign}{abs(shift)}"


def to_fixed(value: float, digits: int) -> str:
    """`Number.prototype.toFixed` for a non-negative number: exact decimal, ties away from zero."""
    if value >= 1e21 or not math.isfinite(value):
        return number_to_string(value)
    quantum = Decimal(1).scaleb(-digits)
    fixed = Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP, context=_WIDE)
    return format(fixed, "f")


# Enough digits for any double below 1e21 with up to 100 decimals (the default context has 28).
_WIDE: Final = Context(prec=160)


def math_round(value: float) -> float:
    """`Math.round`: to the nearest integer, halves towards +infinity."""
    if not math.isfinite(value):
        return value
    floor = math.floor(value)
    return float(floor + 1) if value - floor >= 0.5 else float(floor)


def to_string(value: Any) -> str:
    """JavaScript `String(value)` (so `null` is "null" and an object "[object Object]")."""
    if type(value) is str:
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int or type(value) is float:
        return number_to_string(value)
    if isinstance(value, list):
        return join_array(value, ",")
    if isinstance(value, Mapping):
        return "[object Object]"
    if type(value) is bytes:  # a Uint8Array
        return ",".join(str(byte) for byte in value)
    if type(value) is BigInteger:
        return str(value.value)
    return str(value)


def join_array(items: Iterable[Any], separator: str) -> str:
    """`Array.prototype.join`: `null` and `undefined` items become empty text."""
    return separator.join(
        "" if item is None or item is UNDEFINED else to_string(item) for item in items
    )


def is_array_index(key: str) -> bool:
    """True for a property name JavaScript orders first in an object (a canonical uint32 index)."""
    return (
        key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 4294967295
    )


def object_keys(mapping: Mapping[str, Any]) -> list[str]:
    """`Object.keys` order: array-index keys ascending, then the rest in insertion order."""
    keys = list(mapping)
    indexed = [key for key in keys if isinstance(key, str) and is_array_index(key)]
    if not indexed:
        return keys
    indexed.sort(key=int)
    return indexed + [key for key in keys if not (isinstance(key, str) and is_array_index(key))]


def json_stringify(value: Any) -> str:
    """`JSON.stringify` without spacing: JS key order and number format, `undefined` dropped."""
    if value is None or value is UNDEFINED:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is str:
        return json.dumps(value, ensure_ascii=False)
    if kind is int or kind is float:
        return number_to_string(value) if math.isfinite(as_double(value)) else "null"
    if isinstance(value, list):
        return "[" + ",".join(json_stringify(item) for item in value) + "]"
    if isinstance(value, Mapping):
        members = (
            f"{json.dumps(str(key), ensure_ascii=False)}:{json_stringify(value[key])}"
            for key in object_keys(value)
            if value[key] is not UNDEFINED
        )
        return "{" + ",".join(members) + "}"
    if kind is bytes:
        return "{" + ",".join(f'"{index}":{byte}' for index, byte in enumerate(value)) + "}"
    if kind is BigInteger:
        return f'"{value.value}"'
    return json.dumps(str(value), ensure_ascii=False)


def common_stringify(value: Any) -> str:
    """AEL's `commonStringify`: JSON for containers (outer quotes trimmed), `String` otherwise."""
    if value is None or value is UNDEFINED:
        return ""
    if isinstance(value, list | Mapping) or type(value) is bytes or type(value) is BigInteger:
        return json_stringify(value).lstrip("'\"").rstrip("'\"")
    return to_string(value)


def truthy(value: Any) -> bool:
    """JavaScript truthiness: empty text, 0, NaN, false, null and undefined are falsy."""
    if value is None or value is UNDEFINED or value is False or value is True:
        return value is True
    if isinstance(value, str):
        return len(value) > 0
    if type(value) is int or type(value) is float:
        return bool(value == value and value != 0)
    return True


def is_logic_true(value: Any) -> bool:
    """AEL's truth test for `if`, `and`, `or`, `not`: only false, null and undefined are false."""
    if value is True or value is False:
        return value is True
    return value is not None and value is not UNDEFINED


def strict_equals(left: Any, right: Any) -> bool:
    """JavaScript `===`: numbers and strings by value, containers by identity."""
    if is_number(left) or type(left) is float:
        return (type(right) is int or type(right) is float) and left == right
    if type(left) is str or type(left) is bool:
        return type(right) is type(left) and left == right
    return left is right


def _deep_equal(left: Any, right: Any) -> bool:
    """lodash `isEqual` on JSON values: structural, strict about types, NaN equals NaN."""
    if (type(left) is int or type(left) is float) and (type(right) is int or type(right) is float):
        return left == right or (left != left and right != right)
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        if len(left) != len(right):
            return False
        return all(key in right and _deep_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(_deep_equal, left, right))
    if left is None or left is UNDEFINED or right is None or right is UNDEFINED:
        return left is right
    return type(left) is type(right) and left == right


def common_equals(left: Any, right: Any) -> bool:
    """AEL's `==`: null equals undefined, arrays item by item, objects deeply, numbers within ε."""
    if left is None or left is UNDEFINED or right is None or right is UNDEFINED:
        return (left is None or left is UNDEFINED) and (right is None or right is UNDEFINED)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(common_equals, left, right))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return _deep_equal(left, right)
    if is_number(left) and is_number(right) and abs(left - right) < EPSILON:
        return True
    return strict_equals(left, right)


# --- strings as UTF-16 ------------------------------------------------------------------------


def _is_bmp(text: str) -> bool:
    return text.isascii() or max(text) <= "\uffff"


def utf16_units(text: str) -> list[str]:
    """The UTF-16 code units of `text`, each as a one-character string (lone surrogates allowed)."""
    if _is_bmp(text):
        return list(text)
    raw = text.encode("utf-16-le", "surrogatepass")
    return [raw[i : i + 2].decode("utf-16-le", "surrogatepass") for i in range(0, len(raw), 2)]


def utf16_length(text: str) -> int:
    """`string.length`: astral characters (emoji) count twice."""
    if _is_bmp(text):
        return len(text)
    return len(text) + sum(1 for char in text if char > "\uffff")


def utf16_slice(text: str, start: int, end: int) -> str:
    """`string.slice(start, end)` in UTF-16 code units, for 0 <= start <= end <= length."""
    if _is_bmp(text):
        return text[start:end]
    raw = text.encode("utf-16-le", "surrogatepass")
    return raw[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")


def utf16_index_of(text: str, search: str) -> int:
    """`string.indexOf(search)` counted in UTF-16 code units."""
    found = text.find(search)
    if found <= 0 or _is_bmp(text):
        return found
    return utf16_length(text[:found])


def utf16_less(left: str, right: str) -> bool:
    """JavaScript `<` on strings: compares UTF-16 code units, not code points."""
    if _is_bmp(left) and _is_bmp(right):
        return left < right
    return left.encode("utf-16-be", "surrogatepass") < right.encode("utf-16-be", "surrogatepass")


# --- property access --------------------------------------------------------------------------


def get_property(instance: Any, name: str) -> Any:
    """AEL's `accessProperty`: exact name first, then the first name equal ignoring case.

    Falsy instances (null, 0, "", false) have no properties. Arrays and strings expose their
    indices as names ("0", "1", …), as `Object.keys` does.
    """
    if isinstance(instance, Mapping):
        if name in instance:
            return instance[name]
        if not instance:
            return UNDEFINED
        lowered = name.lower()
        for key in object_keys(instance):
            if isinstance(key, str) and key.lower() == lowered:
                return instance[key]
        return UNDEFINED
    if isinstance(instance, list | str | bytes) and truthy(instance) and is_array_index(name):
        return get_index(instance, int(name))
    return UNDEFINED


def get_index(instance: Any, index: int) -> Any:
    """Item `index` of an array (or UTF-16 unit of a string); `undefined` past either end."""
    if isinstance(instance, list | bytes):
        return instance[index] if 0 <= index < len(instance) else UNDEFINED
    if isinstance(instance, str):
        units = utf16_units(instance)
        return units[index] if 0 <= index < len(units) else UNDEFINED
    if isinstance(instance, Mapping):
        return get_property(instance, str(index))
    return UNDEFINED


def to_json(value: Any) -> Any:
    """A fresh JSON value for the card: copies containers, drops `undefined` as JSON.stringify does.

    Numbers are tidied (2.0 becomes 2, NaN and infinities become null) so a card serialises the
    way Microsoft's engine serialises it.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return number(value) if math.isfinite(value) else None
    if value is UNDEFINED:
        return None
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, Mapping):
        return {key: to_json(item) for key, item in value.items() if item is not UNDEFINED}
    if kind is bytes:  # a Uint8Array serialises as an object of its indices
        return {str(index): byte for index, byte in enumerate(value)}
    if kind is BigInteger:
        return str(value.value)
    return value


# --- JavaScript coercions ----------------------------------------------------------------------

_NUMERIC_TEXT: Final = frozenset("0123456789+-.eE")


def to_number(value: Any) -> float:
    """JavaScript `Number(value)` for JSON values (containers through their text)."""
    if value is True or value is False:
        return 1.0 if value else 0.0
    if value is None:
        return 0.0
    if value is UNDEFINED:
        return math.nan
    if type(value) is int or type(value) is float:
        return as_double(value)
    text = value if type(value) is str else to_string(value)
    text = text.strip(JS_WHITESPACE)
    if text == "":
        return 0.0
    if text in ("Infinity", "+Infinity", "-Infinity"):
        return -math.inf if text[0] == "-" else math.inf
    if len(text) > 2 and text[0] == "0" and text[1] in "xXoObB":
        base = {"x": 16, "o": 8, "b": 2}[text[1].lower()]
        try:
            return as_double(int(text[2:], base))
        except ValueError:
            return math.nan
    if not set(text) <= _NUMERIC_TEXT:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def _primitive(value: Any) -> Any:
    """ToPrimitive with hint number: containers become their text, as `valueOf` fails for them."""
    if isinstance(value, list | Mapping) or value is None or value is UNDEFINED:
        return value if value is None or value is UNDEFINED else to_string(value)
    return value


def js_less(left: Any, right: Any) -> bool:
    """JavaScript `left < right` on JSON values: texts by UTF-16 units, anything else as numbers."""
    left, right = _primitive(left), _primitive(right)
    if type(left) is str and type(right) is str:
        return utf16_less(left, right)
    return to_number(left) < to_number(right)
