"""Objects and paths: `getProperty setProperty addProperty removeProperty setPathToValue merge
Accessor Element`.

Paths given as text (`getProperty('Session.TenantName')`) are read the way Microsoft's memory reads
them: split at dots and brackets, names matched ignoring case. Functions that "change" an object
return a changed copy: the data a card reads is never modified (see cards/README.md,
no-mutation), whereas Microsoft's engine changes the data in place, so later bindings would see it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from cards._functions.base import (
    OBJECT,
    STRING,
    UNBOUNDED,
    FunctionSpec,
    is_object,
    pure,
    spec,
    strict,
)
from cards._js import UNDEFINED, get_property, to_string, truthy
from cards._scope import Evaluator, Scope, step_value
from cards.errors import ExpressionError

# Names every JavaScript object has through its prototype: `'toString' in {}` is true.
_OBJECT_PROTOTYPE: Final = frozenset(
    (
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
        "__proto__",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
    )
)
_PATH_SEPARATORS: Final = re.compile(r"[.\[\]]+")
_LEADING_INTEGER: Final = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def path_parts(path: str) -> list[str]:
    """SimpleObjectMemory's path split: at dots and brackets, quotes around a part removed."""
    parts = []
    for part in _PATH_SEPARATORS.split(path):
        if not part:
            continue
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
            part = part[1:-1]
        parts.append(part)
    return parts


def read_path(instance: Any, parts: list[str]) -> Any:
    """SimpleObjectMemory.getValue: follow `parts`; an index past the end leads nowhere."""
    if instance is UNDEFINED or not parts:
        return UNDEFINED
    for part in parts:
        integer = _LEADING_INTEGER.match(part)
        if integer is not None and isinstance(instance, list):
            index = int(integer.group(1))
            if not 0 <= index < len(instance):
                return UNDEFINED
            instance = instance[index]
        else:
            instance = get_property(instance, part) if truthy(instance) else UNDEFINED
    return instance


def read_memory(path: str, scope: Scope) -> Any:
    """A path read from the template's memory: lambda variables, then `$`-names or `$data`."""
    parts = path_parts(path)
    if not parts:
        return UNDEFINED
    for name, value in reversed(scope.locals):
        found = read_path({name: value}, parts)
        if found is not UNDEFINED:
            return found
    if path[0] == "$":
        head = parts[0]
        return read_path(scope.special(head), parts[1:]) if len(parts) > 1 else scope.special(head)
    return read_path(scope.data, parts)


def _get_property(values: list[Any], scope: Scope) -> Any:
    if len(values) == 1:
        (path,) = values
        if type(path) is not str:
            raise ExpressionError("getProperty() with one argument needs a path as text")
        return read_memory(path, scope)
    instance, name = values
    if name is None or name is UNDEFINED:
        raise ExpressionError("getProperty() needs a property name")
    return read_path(instance, path_parts(to_string(name)))


def _changed(instance: Any, function: str) -> dict[str, Any]:
    if not isinstance(instance, Mapping):
        raise ExpressionError(f"{function}() needs an object")
    return dict(instance)


def _set_property(values: list[Any]) -> Any:
    instance, name, value = values
    changed = _changed(instance, "setProperty")
    changed[to_string(name)] = value
    return changed


def _add_property(values: list[Any]) -> Any:
    instance, name, value = values
    changed = _changed(instance, "addProperty")
    key = to_string(name)
    if key in changed or key in _OBJECT_PROTOTYPE:
        raise ExpressionError("addProperty() cannot add a property that already exists")
    changed[key] = value
    return changed


def _remove_property(values: list[Any]) -> Any:
    instance, name = values
    changed = _changed(instance, "removeProperty")
    changed.pop(to_string(name), None)
    return changed


def _build_set_path(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    from cards.expressions import Name  # the expression tree imports this table

    is_path = isinstance(nodes[0], Name)
    value_of = args[1]

    def evaluate(scope: Scope) -> Any:
        if not is_path:
            raise ExpressionError("setPathToValue() needs a path as its first argument")
        return value_of(scope)

    return evaluate


def _merge(values: list[Any]) -> Any:
    merged: dict[str, Any] = {}
    for value in values:
        if isinstance(value, list):
            for item in value:
                if isinstance(item, list) or not is_object(item):
                    raise ExpressionError("merge() needs objects (or lists of objects)")
                if isinstance(item, Mapping):
                    merged.update(item)
        elif isinstance(value, Mapping):
            merged.update(value)
        elif type(value) is bytes:
            merged.update({str(index): byte for index, byte in enumerate(value)})
        elif value is None or value is UNDEFINED or not is_object(value):
            raise ExpressionError("merge() needs objects (or lists of objects)")
    return merged


def _accessor_check(nodes: tuple[Any, ...]) -> str | None:
    from cards.expressions import Const

    if not (isinstance(nodes[0], Const) and type(nodes[0].value) is str):
        return "Accessor() needs a property name as a quoted text"
    return None


def _accessor(values: list[Any], scope: Scope) -> Any:
    if len(values) == 1:
        return read_memory(values[0], scope)
    return read_path(values[1], path_parts(values[0]))


def _element(values: list[Any], scope: Scope) -> Any:
    instance, index = values
    return step_value(instance, lambda scope: index, scope)


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "getProperty": spec(strict(_get_property), args=(OBJECT,), optional=(STRING,)),
    "setProperty": spec(pure(_set_property), args=(OBJECT, STRING, OBJECT)),
    "addProperty": spec(pure(_add_property), args=(OBJECT, STRING, OBJECT)),
    "removeProperty": spec(pure(_remove_property), args=(OBJECT, STRING)),
    "setPathToValue": spec(_build_set_path, arity=(2, 2)),
    "merge": spec(pure(_merge), arity=(1, UNBOUNDED)),
    "Accessor": spec(strict(_accessor), arity=(1, 2), check=_accessor_check),
    "Element": spec(strict(_element), arity=(2, 2)),
}
