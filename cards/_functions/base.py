"""What every function family shares: the signature record, evaluator builders, argument checks.

A function is a `FunctionSpec`: its argument count and the static argument types Microsoft's
engine checks when an expression is parsed (so `toUpper(1)` fails at start-up as it fails in the
Designer), its static return type, and a builder that turns the argument evaluators into the
call's evaluator. Builders follow adaptive-expressions' evaluator shapes: `pure`/`strict` evaluate
every argument first (FunctionUtils.apply), `comparison` turns a failing argument into `false`
(ComparisonEvaluator).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cards._js import UNDEFINED, as_double, is_number
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

Builder = Callable[[tuple[Evaluator, ...], tuple[Any, ...]], Evaluator]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A function's compile-time signature and the builder of its evaluator.

    `check` looks at the argument nodes when an expression is parsed and returns a problem (or
    None), for the checks Microsoft's validators make beyond types (a literal regex must parse).
    """

    min_args: int
    max_args: int
    arg_types: tuple[int, ...]
    rest_type: int
    returns: int
    build: Builder
    is_lambda: bool = False
    check: Callable[[tuple[Any, ...]], str | None] | None = None

    def type_of_arg(self, position: int) -> int:
        """The static types allowed at argument `position`."""
        return self.arg_types[position] if position < len(self.arg_types) else self.rest_type


def strict(impl: Callable[[list[Any], Scope], Any]) -> Builder:
    """A function whose arguments are all evaluated first (an argument error is the call's)."""

    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        if not args:
            return lambda scope: impl([], scope)
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

    def build(args: tuple[Evaluator, ...], nodes: tuple[Any, ...]) -> Evaluator:
        if not args:
            return lambda scope: impl([])
        if len(args) == 1:
            (only,) = args
            return lambda scope: impl([only(scope)])
        if len(args) == 2:
            first, second = args
            return lambda scope: impl([first(scope), second(scope)])
        return lambda scope: impl([arg(scope) for arg in args])

    return build


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


def spec(
    build: Builder,
    *,
    args: Sequence[int] = (),
    optional: Sequence[int] = (),
    arity: tuple[int, int] | None = None,
    each: int = OBJECT,
    returns: int = OBJECT,
    is_lambda: bool = False,
    check: Callable[[tuple[Any, ...]], str | None] | None = None,
) -> FunctionSpec:
    """A signature either by position (`args` then `optional`) or by `arity` with one type."""
    if arity is None:
        arity = (len(args), len(args) + len(optional))
        each = OBJECT
    return FunctionSpec(
        arity[0],
        arity[1],
        (*args, *optional),
        each,
        returns,
        build,
        is_lambda=is_lambda,
        check=check,
    )


# --- argument checks shared by the families -------------------------------------------------


def nullish(value: Any) -> bool:
    """JavaScript `value == null`: null or undefined."""
    return value is None or value is UNDEFINED


def not_nullish(value: Any) -> bool:
    """JavaScript `value != null`."""
    return value is not None and value is not UNDEFINED


def string_or_undefined(value: Any, function: str) -> str:
    """AEL's verifyStringOrNull + parseStringOrUndefined: undefined is "", null is an error."""
    if type(value) is str:
        return value
    if value is UNDEFINED:
        return ""
    raise ExpressionError(f"{function}() needs text")


def text_argument(value: Any, function: str) -> str:
    """AEL's verifyString: the argument must be text."""
    if type(value) is not str:
        raise ExpressionError(f"{function}() needs text")
    return value


def numbers(values: list[Any], function: str) -> list[float]:
    """AEL's verifyNumber on every argument, as doubles."""
    for value in values:
        if not is_number(value):
            raise ExpressionError(f"{function}() needs numbers")
    return [as_double(value) for value in values]


def number_list(value: Any, function: str) -> list[float]:
    """AEL's verifyNumericList: a list of numbers, as doubles."""
    if not isinstance(value, list):
        raise ExpressionError(f"{function}() needs a list of numbers")
    for item in value:
        if not is_number(item):
            raise ExpressionError(f"{function}() needs a list of numbers")
    return [as_double(item) for item in value]


def is_object(value: Any) -> bool:
    """JavaScript `typeof value === 'object'`: containers, binary, big integers and null."""
    return value is None or not (
        value is UNDEFINED
        or type(value) is str
        or type(value) is bool
        or type(value) is int
        or type(value) is float
    )
