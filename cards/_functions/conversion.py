"""Conversion and encoding: `string int float bool json jsonStringify stringOrValue base64
base64ToString base64ToBinary binary dataUri dataUriToString dataUriToBinary uriComponent
uriComponentToString`.

Binary values are JavaScript `Uint8Array`s (Python `bytes`): a card shows them as their byte
numbers, as Microsoft's engine does. Text decoded from base64 is read as UTF-8 (see cards/README.md,
utf8-text); Microsoft's engine reads each byte as one Latin-1 character instead.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Final
from urllib.parse import quote

from cards._functions.arithmetic import format_fixed, locale_for
from cards._functions.base import (
    BOOLEAN,
    NUMBER,
    OBJECT,
    STRING,
    FunctionSpec,
    comparison,
    pure,
    spec,
    text_argument,
)
from cards._js import (
    JS_WHITESPACE,
    UNDEFINED,
    as_double,
    common_stringify,
    is_logic_true,
    is_number,
    json_stringify,
    number,
    number_to_string,
    to_string,
)
from cards._scope import Evaluator, Scope
from cards.errors import ExpressionError

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


_FALSE_TEXT: Final = re.compile("false", re.IGNORECASE)


def _bool(values: list[Any]) -> bool:
    (value,) = values
    if is_number(value):
        return bool(value != 0)
    if _FALSE_TEXT.search(to_string(value)):
        return False
    return is_logic_true(value)


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


def _string(values: list[Any]) -> Any:
    value = values[0]
    if type(value) is str:
        return value
    if is_number(value):
        spelled = number_to_string(value)
        precision = len(spelled.split(".")[1]) if "." in spelled else 0
        return format_fixed(as_double(value), precision, locale_for(values, 2))
    if type(value) is bytes:
        return value.decode("utf-8", "replace")
    return common_stringify(value)


def _json_stringify(values: list[Any]) -> Any:
    value = values[0]
    return UNDEFINED if value is UNDEFINED else json_stringify(value)


def _build_string_or_value(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    """A literal template text is expanded (the admin wrote it); text from data never is."""
    from cards.expressions import Const

    node = nodes[0]
    if isinstance(node, Const) and type(node.value) is str and "${" in node.value:
        return _expanded_literal(node.value)
    (text_of,) = args

    def evaluate(scope: Scope) -> Any:
        return text_argument(text_of(scope), "stringOrValue")

    return evaluate


def _expanded_literal(text: str) -> Evaluator:
    from cards.expressions import compile_expression
    from cards.template import split_bindings

    parts = split_bindings(text)
    pieces: list[Any] = [
        part if isinstance(part, str) else compile_expression(part.text).evaluate for part in parts
    ]
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return pieces[0]  # type: ignore[no-any-return]

    def evaluate(scope: Scope) -> Any:
        return "".join(
            piece if isinstance(piece, str) else common_stringify(piece(scope)) for piece in pieces
        )

    return evaluate


# --- base64 as Node's Buffer reads and writes it ----------------------------------------------

_BASE64_NOISE: Final = re.compile(r"[^A-Za-z0-9+/]")


def _utf8(text: str) -> bytes:
    """TextEncoder / Buffer: UTF-8, a lone surrogate becoming U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")


def _from_base64(text: str) -> bytes:
    """`Buffer.from(text, 'base64')`: url-safe letters allowed, other characters skipped,
    decoding stops at the first `=`, a dangling last character is dropped."""
    text = text.split("=", 1)[0].replace("-", "+").replace("_", "/")
    text = _BASE64_NOISE.sub("", text)
    rest = len(text) % 4
    if rest == 1:
        text = text[:-1]
    elif rest:
        text += "=" * (4 - rest)
    return base64.b64decode(text)


def _as_text(raw: bytes) -> str:
    """Decoded bytes as text: UTF-8 when they are UTF-8, else one Latin-1 character per byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _base64(values: list[Any]) -> Any:
    value = values[0]
    if type(value) is str:
        return base64.b64encode(_utf8(value)).decode("ascii")
    if type(value) is bytes:
        return base64.b64encode(_utf8(value.decode("utf-8", "replace"))).decode("ascii")
    return UNDEFINED


def _base64_to_string(values: list[Any]) -> Any:
    return _as_text(_from_base64(text_argument(values[0], "base64ToString")))


def _base64_to_binary(values: list[Any]) -> Any:
    raw = _from_base64(text_argument(values[0], "base64ToBinary"))
    return raw.decode("latin-1").encode("utf-8")


def _binary(values: list[Any]) -> Any:
    return _utf8(text_argument(values[0], "binary"))


_DATA_URI_PREFIX: Final = "data:text/plain;charset=utf-8;base64,"


def _data_uri(values: list[Any]) -> Any:
    text = text_argument(values[0], "dataUri")
    return _DATA_URI_PREFIX + base64.b64encode(_utf8(text)).decode("ascii")


def _data_uri_to_string(values: list[Any]) -> Any:
    text = text_argument(values[0], "dataUriToString")
    return _as_text(_from_base64(text[text.find(",") + 1 :]))


def _data_uri_to_binary(values: list[Any]) -> Any:
    return _utf8(text_argument(values[0], "dataUriToBinary"))


def _uri_component(values: list[Any]) -> Any:
    text = text_argument(values[0], "uriComponent")
    try:
        return quote(text, safe="!~*'()", errors="strict")
    except UnicodeEncodeError as error:
        raise ExpressionError("uriComponent() got text with a broken character") from error


_ESCAPES: Final = re.compile(r"(?:%[0-9A-Fa-f]{2})+")


def _uri_component_to_string(values: list[Any]) -> Any:
    text = text_argument(values[0], "uriComponentToString")

    def decode(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group().replace("%", ""))
        return raw.decode("utf-8")

    try:
        decoded = _ESCAPES.sub(decode, text)
    except UnicodeDecodeError as error:
        raise ExpressionError("uriComponentToString() got a malformed escape") from error
    if "%" in _ESCAPES.sub("", text):
        raise ExpressionError("uriComponentToString() got a malformed escape")
    return decoded


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "string": spec(pure(_string), args=(OBJECT,), optional=(STRING,), returns=STRING),
    "int": spec(pure(_int), arity=(1, 1), returns=NUMBER),
    "float": spec(pure(_float), arity=(1, 1), returns=NUMBER),
    "bool": spec(comparison(_bool), arity=(1, 1), returns=BOOLEAN),
    "json": spec(pure(_json), args=(STRING,)),
    "jsonStringify": spec(pure(_json_stringify), arity=(1, 1), returns=STRING),
    "stringOrValue": spec(_build_string_or_value, arity=(1, 1), each=STRING),
    "base64": spec(pure(_base64), arity=(1, 1), returns=STRING),
    "base64ToString": spec(pure(_base64_to_string), arity=(1, 1), returns=STRING),
    "base64ToBinary": spec(pure(_base64_to_binary), arity=(1, 1)),
    "binary": spec(pure(_binary), arity=(1, 1)),
    "dataUri": spec(pure(_data_uri), arity=(1, 1), returns=STRING),
    "dataUriToString": spec(pure(_data_uri_to_string), arity=(1, 1), returns=STRING),
    "dataUriToBinary": spec(pure(_data_uri_to_binary), arity=(1, 1)),
    "uriComponent": spec(pure(_uri_component), arity=(1, 1), returns=STRING),
    "uriComponentToString": spec(pure(_uri_component_to_string), arity=(1, 1), returns=STRING),
}
