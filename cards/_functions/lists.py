"""Collections: `count first last contains createArray where select foreach any all take skip
subArray sortBy sortByDescending union intersection unique reverse flatten indicesAndValues`.

Lists keep JavaScript's rules: `union`, `intersection` and `unique` drop duplicates the way a
JavaScript `Set` does (texts and numbers by value, objects by identity), `sortBy` sorts as
`Array.prototype.sort` with Microsoft's comparer, lambdas (`where(items, x, x.open)`) bind their
variable for each item, and an object is walked as a list of `{key, value}` entries. No function
changes the list it is given (see cards/README.md, no-mutation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cmp_to_key
from typing import Any, Final

from cards._functions.base import (
    ARRAY,
    BOOLEAN,
    NUMBER,
    STRING,
    UNBOUNDED,
    Builder,
    FunctionSpec,
    pure,
    spec,
)
from cards._js import (
    UNDEFINED,
    common_equals,
    get_property,
    is_integer,
    is_logic_true,
    is_number,
    js_less,
    json_stringify,
    object_keys,
    strict_equals,
    to_string,
    truthy,
    utf16_length,
    utf16_less,
    utf16_slice,
    utf16_units,
)
from cards._scope import Evaluator, Scope
from cards.errors import ExpressionError


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
        return [{"key": key, "value": instance[key]} for key in object_keys(instance)]
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


def _build_quantifier(function: str) -> Builder:
    """`any`/`all`: whether the lambda holds for some/every item (a failing item does not)."""
    wanted = function == "any"

    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        collection, body = args[0], args[2]
        variable: str = nodes[1].head

        def evaluate(scope: Scope) -> bool:
            instance = collection(scope)
            if instance is None:
                raise ExpressionError(f"{function}() needs a list or an object")
            for item in _as_items(instance, function):
                try:
                    holds = is_logic_true(body(scope.with_local(variable, item)))
                except ExpressionError:
                    holds = False
                if holds == wanted:
                    return wanted
            return not wanted

        return evaluate

    return build


def _start_count(value: Any, function: str) -> int:
    if not is_integer(value):
        raise ExpressionError(f"{function}() needs an integer count")
    return max(int(value), 0)


def _take(values: list[Any]) -> Any:
    items, count = values
    if isinstance(items, list):
        return items[: _start_count(count, "take")]
    if type(items) is str:
        end = _start_count(count, "take")
        return utf16_slice(items, 0, min(end, utf16_length(items)))
    raise ExpressionError("take() needs a list or a text")


def _skip(values: list[Any]) -> Any:
    items, count = values
    if not isinstance(items, list):
        raise ExpressionError("skip() needs a list")
    return items[_start_count(count, "skip") :]


def _sub_array(values: list[Any]) -> Any:
    items = values[0]
    if not isinstance(items, list):
        raise ExpressionError("subArray() needs a list")
    bounds = [values[1], values[2] if len(values) == 3 else len(items)]
    for bound in bounds:
        if not is_integer(bound):
            raise ExpressionError("subArray() needs integer positions")
        if not 0 <= bound <= len(items):
            raise ExpressionError("subArray() position is out of range")
    return items[int(bounds[0]) : int(bounds[1])]


def _default_order(left: Any, right: Any) -> int:
    """`Array.prototype.sort()` without a comparer: by text, in UTF-16 order."""
    left_text, right_text = to_string(left), to_string(right)
    return -1 if utf16_less(left_text, right_text) else 1 if left_text != right_text else 0


def _member(item: Any, key: str) -> Any:
    """`item[key]`: an exact property (or array index), as JavaScript reads it."""
    if isinstance(item, Mapping):
        return item.get(key, UNDEFINED)
    if isinstance(item, list) and key.isdigit():
        return item[int(key)] if int(key) < len(item) else UNDEFINED
    return UNDEFINED


def _sort(descending: bool) -> Builder:
    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        def evaluate(scope: Scope) -> Any:
            items = args[0](scope)
            if not isinstance(items, list):
                raise ExpressionError("sortBy() needs a list")
            if len(args) == 1:
                # undefined items go last, unsorted, as JavaScript's sort puts them
                present = [item for item in items if item is not UNDEFINED]
                absent = [item for item in items if item is UNDEFINED]
                ordered = sorted(present, key=cmp_to_key(_default_order)) + absent
            else:
                key = args[1](scope)
                name = to_string(key) if truthy(key) else ""

                def compare(left: Any, right: Any) -> int:
                    first, second = _member(left, name), _member(right, name)
                    return 1 if js_less(second, first) else -1 if js_less(first, second) else 0

                ordered = sorted(items, key=cmp_to_key(compare))
            return ordered[::-1] if descending else ordered

        return evaluate

    return build


def _set_key(value: Any) -> Any:
    """What makes two values the same member of a JavaScript `Set` (SameValueZero)."""
    if type(value) is int or type(value) is float:
        return ("number", "NaN" if value != value else float(value))
    if type(value) is str or type(value) is bool:
        return (type(value).__name__, value)
    if value is None or value is UNDEFINED:
        return (repr(value),)
    return ("object", id(value))


def _distinct(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    kept = []
    for item in items:
        key = _set_key(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def _lists(values: list[Any], function: str) -> list[list[Any]]:
    for value in values:
        if not isinstance(value, list):
            raise ExpressionError(f"{function}() needs lists")
    return values


def _union(values: list[Any]) -> Any:
    return _distinct([item for items in _lists(values, "union") for item in items])


def _intersection(values: list[Any]) -> Any:
    lists = _lists(values, "intersection")
    result = lists[0]
    for other in lists:
        result = [item for item in result if any(strict_equals(item, o) for o in other)]
    return _distinct(result)


def _unique(values: list[Any]) -> Any:
    return _distinct(_lists(values, "unique")[0])


def _reverse(values: list[Any]) -> Any:
    (value,) = values
    if type(value) is str:
        units = utf16_units(value)
        return "".join(reversed(units))
    if isinstance(value, list):
        return value[::-1]
    raise ExpressionError("reverse() needs a text or a list")


def _flatten(values: list[Any]) -> Any:
    items = values[0]
    depth = values[1] if len(values) > 1 else 100
    if not is_number(depth) or depth < 1:
        depth = 1
    if not isinstance(items, list):
        raise ExpressionError("flatten() needs a list")
    # Microsoft copies the list through JSON first (undefined items become null).
    flat: list[Any] = json.loads(json_stringify(items))
    rounds = 0
    while rounds < depth and any(isinstance(item, list) for item in flat):
        flat = [part for item in flat for part in (item if isinstance(item, list) else [item])]
        rounds += 1
    return flat


def _indices_and_values(values: list[Any]) -> Any:
    (value,) = values
    if isinstance(value, list):
        return [{"index": index, "value": item} for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        return [{"index": key, "value": value[key]} for key in object_keys(value)]
    if type(value) is bytes:
        return [{"index": str(index), "value": item} for index, item in enumerate(value)]
    raise ExpressionError("indicesAndValues() needs a list or an object")


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "count": spec(pure(_count), args=(STRING | ARRAY,), returns=NUMBER),
    "first": spec(pure(_first), arity=(1, 1)),
    "last": spec(pure(_last), arity=(1, 1)),
    "contains": spec(pure(_contains), arity=(2, 2), returns=BOOLEAN),
    "createArray": spec(pure(list), arity=(0, UNBOUNDED), returns=ARRAY),
    "where": spec(_lambda("where"), arity=(3, 3), returns=ARRAY, is_lambda=True),
    "select": spec(_lambda("select"), arity=(3, 3), returns=ARRAY, is_lambda=True),
    "foreach": spec(_lambda("foreach"), arity=(3, 3), returns=ARRAY, is_lambda=True),
    "any": spec(_build_quantifier("any"), arity=(3, 3), returns=BOOLEAN, is_lambda=True),
    "all": spec(_build_quantifier("all"), arity=(3, 3), returns=BOOLEAN, is_lambda=True),
    "take": spec(pure(_take), args=(ARRAY | STRING, NUMBER), returns=ARRAY | STRING),
    "skip": spec(pure(_skip), args=(ARRAY, NUMBER), returns=ARRAY),
    "subArray": spec(pure(_sub_array), args=(ARRAY, NUMBER), optional=(NUMBER,), returns=ARRAY),
    "sortBy": spec(_sort(descending=False), args=(ARRAY,), optional=(STRING,), returns=ARRAY),
    "sortByDescending": spec(
        _sort(descending=True), args=(ARRAY,), optional=(STRING,), returns=ARRAY
    ),
    "union": spec(pure(_union), arity=(1, UNBOUNDED), each=ARRAY, returns=ARRAY),
    "intersection": spec(pure(_intersection), arity=(1, UNBOUNDED), each=ARRAY, returns=ARRAY),
    "unique": spec(pure(_unique), args=(ARRAY,), returns=ARRAY),
    "reverse": spec(pure(_reverse), args=(STRING | ARRAY,), returns=STRING | ARRAY),
    "flatten": spec(pure(_flatten), args=(ARRAY,), optional=(NUMBER,), returns=ARRAY),
    "indicesAndValues": spec(pure(_indices_and_values), arity=(1, 1), returns=ARRAY),
}
