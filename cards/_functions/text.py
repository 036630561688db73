"""Strings: `concat toUpper toLower substring replace replaceIgnoreCase trim length indexOf
lastIndexOf startsWith endsWith split join sentenceCase titleCase countWord addOrdinal EOL
newGuid`.

Lengths and positions count UTF-16 code units, as JavaScript does (an emoji is two); missing text
(undefined) is empty text, `null` is an error, as in adaptive-expressions.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from typing import Any, Final

from cards._functions.base import (
    ARRAY,
    BOOLEAN,
    NUMBER,
    OBJECT,
    STRING,
    UNBOUNDED,
    FunctionSpec,
    nullish,
    pure,
    spec,
)
from cards._functions.base import string_or_undefined as _string_or_undefined
from cards._js import (
    JS_WHITESPACE,
    UNDEFINED,
    as_double,
    common_stringify,
    is_integer,
    join_array,
    number_to_string,
    strict_equals,
    to_string,
    utf16_index_of,
    utf16_length,
    utf16_slice,
    utf16_units,
)
from cards._regex import js_regex, js_replace
from cards._scope import Evaluator, Scope
from cards.errors import ExpressionError


def _concat(values: list[Any]) -> Any:
    total = values[0]
    for value in values[1:]:
        if nullish(total) and nullish(value):
            total = UNDEFINED
        elif nullish(total) and isinstance(value, list):
            total = value
        elif nullish(value) and isinstance(total, list):
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
    if nullish(haystack) or type(haystack) is str:
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


def _case_lower(text: str, language: str) -> str:
    """`toLocaleLowerCase`, with the Turkish and Azeri rules for dotted and dotless i."""
    if language in ("tr", "az"):
        text = text.replace("I", "\u0131").replace("\u0130", "i")
    return text.lower()


def _first_upper(text: str) -> str:
    """`charAt(0).toUpperCase()`: the first UTF-16 unit, upper-cased without a locale."""
    units = utf16_units(text)
    head = units[0]
    rest = "".join(units[1:]) if len(units) > 1 else ""
    upper = head.upper() if not "\ud800" <= head <= "\udfff" else head
    return upper + rest


def _sentence_case(values: list[Any]) -> Any:
    text = _string_or_undefined(values[0], "sentenceCase")
    language = _case_locale(values, "sentenceCase")
    lowered = _case_lower(text, language)
    return "" if lowered == "" else _join_units(_first_upper(lowered))


# JavaScript's /\w\S*/g: an ASCII word character, then anything up to the next white space.
_TITLE_WORD: Final = re.compile(r"[A-Za-z0-9_][^" + re.escape(JS_WHITESPACE) + r"]*")


def _title_case(values: list[Any]) -> Any:
    text = _string_or_undefined(values[0], "titleCase")
    language = _case_locale(values, "titleCase")
    lowered = _case_lower(text, language)
    return _TITLE_WORD.sub(lambda match: _join_units(_first_upper(match.group())), lowered)


def _join_units(text: str) -> str:
    """Re-join a string that may hold a lone surrogate pair split by `utf16_units`."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


_WORD_GAPS: Final = re.compile("[" + re.escape(JS_WHITESPACE) + "]+")


def _count_word(values: list[Any]) -> Any:
    text = _string_or_undefined(values[0], "countWord").strip(JS_WHITESPACE)
    return len(_WORD_GAPS.split(text))


def _add_ordinal(values: list[Any]) -> Any:
    (value,) = values
    if not is_integer(value):
        raise ExpressionError("addOrdinal() needs an integer")
    spelled = number_to_string(value)
    if value <= 0:
        return spelled
    hundreds = math.fmod(as_double(value), 100)
    if hundreds in (11, 12, 13):
        return spelled + "th"
    return spelled + {1: "st", 2: "nd", 3: "rd"}.get(int(math.fmod(as_double(value), 10)), "th")


def _last_index_of(values: list[Any]) -> Any:
    haystack, needle = values
    if nullish(haystack) or type(haystack) is str:
        if needle is UNDEFINED or type(needle) is str:
            text = "".join(utf16_units(haystack if type(haystack) is str else ""))
            search = "".join(utf16_units(needle if type(needle) is str else ""))
            # String.prototype.lastIndexOf(search, length - 1)
            start = max(len(text) - 1, 0)
            return text.rfind(search, 0, start + len(search))
        raise ExpressionError("lastIndexOf() can only look for text in a text")
    if isinstance(haystack, list):
        for position in range(len(haystack) - 1, -1, -1):
            if strict_equals(haystack[position], needle):
                return position
        return -1
    raise ExpressionError("lastIndexOf() works on a text or a list")


def _replace_ignore_case(values: list[Any]) -> Any:
    text, old, new = (_string_or_undefined(value, "replaceIgnoreCase") for value in values)
    if old == "":
        raise ExpressionError("replaceIgnoreCase() needs a non-empty text to replace")
    # Microsoft builds `new RegExp(old, 'gi')`: the text to replace is a regular expression.
    return js_replace(js_regex(old, "gi"), text, new, everywhere=True)


def _eol(values: list[Any]) -> Any:
    return os.linesep


def _new_guid(values: list[Any]) -> Any:
    return str(uuid.uuid4())


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "concat": spec(pure(_concat), arity=(1, UNBOUNDED), returns=STRING | ARRAY),
    "toUpper": spec(pure(_to_upper), arity=(1, 2), each=STRING, returns=STRING),
    "toLower": spec(pure(_to_lower), arity=(1, 2), each=STRING, returns=STRING),
    "substring": spec(_build_substring, args=(STRING, NUMBER), optional=(NUMBER,), returns=STRING),
    "replace": spec(pure(_replace), arity=(3, 3), each=STRING, returns=STRING),
    "replaceIgnoreCase": spec(
        pure(_replace_ignore_case), arity=(3, 3), each=STRING, returns=STRING
    ),
    "trim": spec(pure(_trim), arity=(1, 1), each=STRING, returns=STRING),
    "length": spec(pure(_length), arity=(1, 1), each=STRING, returns=NUMBER),
    "indexOf": spec(pure(_index_of), args=(STRING | ARRAY, OBJECT), returns=NUMBER),
    "lastIndexOf": spec(pure(_last_index_of), args=(STRING | ARRAY, OBJECT), returns=NUMBER),
    "startsWith": spec(pure(_starts_with), arity=(2, 2), each=STRING, returns=BOOLEAN),
    "endsWith": spec(pure(_ends_with), arity=(2, 2), each=STRING, returns=BOOLEAN),
    "split": spec(pure(_split), arity=(1, 2), each=STRING, returns=ARRAY),
    "join": spec(pure(_join), args=(ARRAY, STRING), optional=(STRING,), returns=STRING),
    "sentenceCase": spec(pure(_sentence_case), arity=(1, 2), each=STRING, returns=STRING),
    "titleCase": spec(pure(_title_case), arity=(1, 2), each=STRING, returns=STRING),
    "countWord": spec(pure(_count_word), arity=(1, 1), each=STRING, returns=NUMBER),
    "addOrdinal": spec(pure(_add_ordinal), arity=(1, 1), each=NUMBER, returns=STRING),
    "EOL": spec(pure(_eol), arity=(0, 0), returns=STRING),
    "newGuid": spec(pure(_new_guid), arity=(0, 0), returns=STRING),
}
