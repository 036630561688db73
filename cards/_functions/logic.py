"""Logic and comparison: `if and or not equals exists empty coalesce less greater …`, `ignore`.

AEL's truth rules: `if`, `and`, `or`, `not` treat only false, null and undefined as false, and an
argument that fails counts as false (it never fails the whole binding). Comparisons of two numbers
or two texts only (texts in UTF-16 order, as JavaScript compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from cards._functions.base import (
    BOOLEAN,
    UNBOUNDED,
    FunctionSpec,
    comparison,
    not_nullish,
    nullish,
    pure,
    spec,
)
from cards._js import UNDEFINED, as_double, common_equals, is_logic_true, is_number, utf16_less
from cards._scope import Evaluator, Scope
from cards.errors import ExpressionError


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


def _build_ignore(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
    """`ignore(x)` is `x`: it only marks a trigger condition, which cards do not have."""
    return args[0]


def _compare(operator: Callable[[Any, Any], bool]) -> Callable[[list[Any]], bool]:
    def test(values: list[Any]) -> bool:
        left, right = values
        if is_number(left) and is_number(right):
            return operator(as_double(left), as_double(right))
        if type(left) is str and type(right) is str:
            less = utf16_less(left, right)
            greater = utf16_less(right, left)
            # Map the operator onto the UTF-16 order by comparing the ranks -1/0/1.
            return bool(operator(-1 if less else 1 if greater else 0, 0))
        raise ExpressionError("only two numbers or two texts can be compared")

    return test


def _empty(values: list[Any]) -> bool:
    (value,) = values
    if nullish(value):
        return True
    if type(value) is str or isinstance(value, list | Mapping):
        return len(value) == 0
    return False


def _is_container_or_null(value: Any) -> bool:
    return nullish(value) or type(value) is str or isinstance(value, list | Mapping)


def _coalesce(values: list[Any]) -> Any:
    for value in values:
        if not_nullish(value):
            return value
    return UNDEFINED


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "if": spec(_build_if, arity=(3, 3)),
    "and": spec(_build_and, arity=(1, UNBOUNDED), returns=BOOLEAN),
    "or": spec(_build_or, arity=(1, UNBOUNDED), returns=BOOLEAN),
    "not": spec(_build_not, arity=(1, 1), returns=BOOLEAN),
    "equals": spec(
        comparison(lambda values: common_equals(*values)), arity=(2, 2), returns=BOOLEAN
    ),
    "!=": spec(
        comparison(lambda values: not common_equals(*values)), arity=(2, 2), returns=BOOLEAN
    ),
    "less": spec(
        comparison(_compare(lambda a, b: a < b), not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "lessOrEquals": spec(
        comparison(_compare(lambda a, b: a <= b), not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "greater": spec(
        comparison(_compare(lambda a, b: a > b), not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "greaterOrEquals": spec(
        comparison(_compare(lambda a, b: a >= b), not_nullish), arity=(2, 2), returns=BOOLEAN
    ),
    "exists": spec(comparison(lambda values: True, not_nullish), arity=(1, 1), returns=BOOLEAN),
    "empty": spec(comparison(_empty, _is_container_or_null), arity=(1, 1), returns=BOOLEAN),
    "coalesce": spec(pure(_coalesce), arity=(1, UNBOUNDED)),
    "ignore": spec(_build_ignore, args=(BOOLEAN,), returns=BOOLEAN),
}
