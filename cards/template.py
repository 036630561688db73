"""Adaptive Card templating: bind card JSON written in the Designer to session metadata.

This implements the Adaptive Card Templating language as Microsoft's `adaptivecards-templating`
2.3.1 does: `${…}` anywhere in a string, a whole-value `"${expr}"` keeping the JSON type of its
value, `$data` (a new scope, or one copy of the element per array item), `$when`, `$index`,
`$root`, `$host` and the `\\${` escape. Expressions are Adaptive Expressions, parsed and compiled
by `cards.expressions` when the template is compiled; expanding is then a walk over prepared
closures. Data is only ever read: a value that itself contains `${…}` is inserted as text.

Where Microsoft's engine is hostile to a guest, we deliberately differ; cards/README.md lists
every difference. The main one: a binding with no value (missing data, or an expression that
fails) renders as empty text and logs a warning naming the template, the place in it and the
missing paths, never the data; Microsoft's engine shows the literal `${path}` or throws.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, NamedTuple

from cards._js import UNDEFINED, to_json, to_string, truthy
from cards._scope import Evaluator, Scope
from cards.errors import ExpressionError, TemplateError
from cards.expressions import (
    Call,
    Expression,
    ExpressionSyntaxError,
    compile_expression,
    compile_node,
    describe_name,
    string_ends,
)

log = logging.getLogger(__name__)

RESERVED_KEYS: Final = frozenset(
    ("$data", "$when", "$root", "$index", "$host", "$_acTemplateVersion")
)


class RenderIssue(NamedTuple):
    """A binding that rendered as empty text, and why (never quoting the data)."""

    template: str
    location: str
    expression: str
    problem: str

    def __str__(self) -> str:
        return f"{self.template} {self.location}: ${{{self.expression}}} {self.problem}"


Reporter = Callable[[RenderIssue], None]


def log_issue(issue: RenderIssue) -> None:
    """The default reporter: a warning in the `cards.template` log."""
    log.warning("template %s; rendered as empty", issue)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Turn dotted metadata keys (`Session.TenantName`) into the nested data templates address.

    A key that is both a value and a prefix of other keys (`A` and `A.B`) keeps the nested form.
    """
    root: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        *parents, leaf = key.split(".")
        node = root
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        if not isinstance(node.get(leaf), dict):
            node[leaf] = flat[key]
    return root


# --- finding `${…}` in a string: the TEMPLATE token of Microsoft's lexer ------------------------

_NOT_IN_BODY: Final = frozenset("\r\n{}'\"`")
_NAME_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_#@$%")
_NAME_PART: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _item_ends(text: str, position: int, objects: dict[int, set[int]]) -> set[int]:
    """Ends of one body item: a quoted string, an object literal, or any other single character."""
    if position >= len(text):
        return set()
    char = text[position]
    if char in "'\"":
        return set(string_ends(text, position))
    if char == "{":
        return _object_ends(text, position, objects)
    return set() if char in _NOT_IN_BODY else {position + 1}


def _items_ends(text: str, position: int, objects: dict[int, set[int]]) -> set[int]:
    """Ends of one or more body items starting at `position`."""
    ends: set[int] = set()
    pending = [position]
    while pending:
        for end in _item_ends(text, pending.pop(), objects):
            if end not in ends:
                ends.add(end)
                pending.append(end)
    return ends


def _name_ends(text: str, position: int) -> list[int]:
    if position >= len(text) or text[position] not in _NAME_START:
        return []
    end = position + (2 if text.startswith("@@", position) else 1)
    ends = [end]
    while end < len(text) and text[end] in _NAME_PART:
        end += 1
        ends.append(end)
    return ends


def _object_ends(text: str, position: int, objects: dict[int, set[int]]) -> set[int]:
    """Ends of the lexer's OBJECT_DEFINITION fragment `{key: value, …}` starting at `position`."""
    if position in objects:
        return objects[position]
    objects[position] = set()
    ends: set[int] = set()
    starts = {position + 1}
    pending = [position + 1]
    while pending:
        start = pending.pop()
        if start < len(text) and text[start] == "}":
            ends.add(start + 1)
        keys = _name_ends(text, start)
        if start < len(text) and text[start] in "'\"":
            keys += string_ends(text, start)
        for key_end in keys:
            if key_end < len(text) and text[key_end] == ":":
                for value_end in _items_ends(text, key_end + 1, objects):
                    if value_end not in starts:
                        starts.add(value_end)
                        pending.append(value_end)
    objects[position] = ends
    return ends


def binding_end(text: str, start: int) -> int | None:
    """The end of the longest `${…}` binding at `start`, or None when `${` there is plain text."""
    objects: dict[int, set[int]] = {}
    ends = [
        end + 1
        for end in _items_ends(text, start + 2, objects)
        if end < len(text) and text[end] == "}"
    ]
    return max(ends) if ends else None


class _Source(NamedTuple):
    """The text of one binding found in a string, and where it starts."""

    text: str
    offset: int


def split_bindings(text: str) -> list[str | _Source]:
    """A template string as literal text pieces and bindings (escapes `\\$`, `` \\` `` applied)."""
    parts: list[str | _Source] = []
    buffer: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\" and text[position + 1 : position + 2] in ("$", "`"):
            buffer.append(text[position + 1])
            position += 2
            continue
        if char == "$" and text.startswith("${", position):
            end = binding_end(text, position)
            if end is not None:
                if buffer:
                    parts.append("".join(buffer))
                    buffer.clear()
                parts.append(_Source(text[position + 2 : end - 1], position))
                position = end
                continue
        buffer.append(char)
        position += 1
    if buffer:
        parts.append("".join(buffer))
    return parts


# --- compiling a template -----------------------------------------------------------------------

Render = Callable[[Scope], Any]


class _Static(NamedTuple):
    """A part of the template with no binding: its final (normalised) JSON value."""

    value: Any


def _pointer(parent: str, key: str | int) -> str:
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"{parent}/{token}"


def _copier(value: Any) -> Render:
    """A renderer returning a fresh copy of a static value (the template itself is never shared)."""
    if isinstance(value, dict):
        if not any(isinstance(item, dict | list) for item in value.values()):
            return lambda scope: value.copy()
        parts = {key: _copier(item) for key, item in value.items()}
        return lambda scope: {key: part(scope) for key, part in parts.items()}
    if isinstance(value, list):
        if not any(isinstance(item, dict | list) for item in value):
            return lambda scope: value.copy()
        items = [_copier(item) for item in value]
        return lambda scope: [item(scope) for item in items]
    return lambda scope: value


def _never(scope: Scope) -> bool:
    """The `$when` of an element that is always dropped."""
    return False


def _text_of(value: Any) -> str:
    """A value as running text: JavaScript `toString`, except that null is empty text."""
    if type(value) is str:
        return value
    if value is None or value is UNDEFINED:
        return ""
    return to_string(value)


class _Binding:
    """One `${…}` occurrence: its compiled expression and where it sits, for warnings."""

    __slots__ = ("_names", "evaluate", "expression", "location", "report", "template")

    def __init__(self, expression: Expression, template: str, location: str, report: Reporter):
        self._names: list[tuple[str, Evaluator]] | None = None
        self.expression = expression
        self.evaluate = expression.evaluate
        self.template = template
        self.location = location
        self.report = report

    def value(self, scope: Scope) -> Any:
        """The binding's value, or UNDEFINED (reported) when it has none or fails."""
        try:
            value = self.evaluate(scope)
        except ExpressionError as error:
            self.fail(str(error))
            return UNDEFINED
        except Exception:  # a bug of ours must not cost the guest the whole card
            log.exception(
                "template %s %s: ${%s} crashed",
                self.template,
                self.location,
                self.expression.source,
            )
            self.fail("failed with an internal error (logged)")
            return UNDEFINED
        if value is UNDEFINED:
            self.missing(scope)
        return value

    def fail(self, problem: str) -> None:
        self.report(RenderIssue(self.template, self.location, self.expression.source, problem))

    def missing(self, scope: Scope) -> None:
        """Report an undefined value, naming the data paths that are missing."""
        absent = []
        for text, resolve in self.names():
            try:
                if resolve(scope) is UNDEFINED:
                    absent.append(text)
            except ExpressionError:
                absent.append(text)
        detail = f" (no data at {', '.join(dict.fromkeys(absent))})" if absent else ""
        self.fail(f"has no value{detail}")

    def names(self) -> list[tuple[str, Evaluator]]:
        """The paths the expression reads, with their resolvers (built on first use)."""
        if self._names is None:
            self._names = [
                (describe_name(name), compile_node(name)) for name in self.expression.names()
            ]
        return self._names


class _Compiler:
    """Turns a JSON template into renderers; collects or raises compile errors."""

    def __init__(self, name: str, report: Reporter, errors: list[TemplateError] | None) -> None:
        self.name = name
        self.report = report
        self.errors = errors

    def error(self, message: str, location: str, source: str = "") -> None:
        error = TemplateError(message, template=self.name, path=location or "/", expression=source)
        if self.errors is None:
            raise error
        self.errors.append(error)

    def node(self, template: Any, location: str) -> _Static | Render:
        if isinstance(template, str):
            return self.string(template, location)
        if isinstance(template, list):
            return self.array(template, location)
        if isinstance(template, dict):
            return self.object(template, location)
        return _Static(template)

    # strings

    def bindings(self, text: str, location: str) -> list[str | _Binding] | None:
        parts: list[str | _Binding] = []
        for part in split_bindings(text):
            if isinstance(part, str):
                parts.append(part)
                continue
            try:
                expression = compile_expression(part.text)
            except ExpressionSyntaxError as error:
                where = f" at character {part.offset + 2 + error.position + 1}"
                self.error(f"{error}{where if error.position >= 0 else ''}", location, part.text)
                return None
            parts.append(_Binding(expression, self.name, location, self.report))
        return parts

    def string(self, text: str, location: str) -> _Static | Render:
        if "${" not in text:
            return _Static(text)
        parts = self.bindings(text, location)
        if parts is None:
            return _Static(text)
        if len(parts) == 1 and isinstance(parts[0], _Binding):
            binding = parts[0]
            tree = binding.expression.tree
            if not binding.expression.is_constant:
                if isinstance(tree, Call) and tree.name == "concat":
                    # Microsoft joins a whole-value concat's arguments as text, one by one.
                    pieces: list[str | _Binding] = [
                        _Binding(
                            Expression(binding.expression.source, arg, compile_node(arg)),
                            self.name,
                            location,
                            self.report,
                        )
                        for arg in tree.args
                    ]
                    return self.text(pieces)
                return self.whole_value(binding)
        return self.text(parts)

    def whole_value(self, binding: _Binding) -> Render:
        def render(scope: Scope) -> Any:
            value = binding.value(scope)
            if value is UNDEFINED:
                return ""
            return to_json(value)

        return render

    def text(self, parts: list[str | _Binding]) -> _Static | Render:
        folded: list[str | _Binding] = []
        for part in parts:
            if isinstance(part, _Binding) and part.expression.is_constant:
                part = _text_of(part.expression.evaluate(Scope(None)))
            if isinstance(part, str) and folded and isinstance(folded[-1], str):
                folded[-1] += part
            else:
                folded.append(part)
        if all(isinstance(part, str) for part in folded):
            return _Static("".join(str(part) for part in folded))
        if sum(isinstance(part, _Binding) for part in folded) == 1:
            return self.short_text(folded)
        pieces = tuple(folded)

        def render(scope: Scope) -> str:
            return "".join(
                part if type(part) is str else _text_of(part.value(scope))  # type: ignore[union-attr]
                for part in pieces
            )

        return render

    def short_text(self, parts: list[str | _Binding]) -> Render:
        """`prefix ${binding} suffix`: the shape of nearly every card string, kept cheap."""
        (binding,) = [part for part in parts if isinstance(part, _Binding)]
        prefix = parts[0] if isinstance(parts[0], str) else ""
        suffix = parts[-1] if isinstance(parts[-1], str) and len(parts) > 1 else ""
        value = binding.value

        def render(scope: Scope) -> str:
            found = value(scope)
            return prefix + (found if type(found) is str else _text_of(found)) + suffix

        return render

    # arrays

    def array(self, template: list[Any], location: str) -> _Static | Render:
        items = [self.node(item, _pointer(location, index)) for index, item in enumerate(template)]
        if all(isinstance(item, _Static) for item in items):
            flat: list[Any] = []
            for item in items:
                value = item.value  # type: ignore[union-attr]
                if isinstance(value, list):
                    flat.extend(value)
                elif value is not None:
                    flat.append(value)
            return _Static(flat)
        renderers = tuple(
            _copier(item.value) if isinstance(item, _Static) else item for item in items
        )

        def render(scope: Scope) -> list[Any]:
            out: list[Any] = []
            for item in renderers:
                value = item(scope)
                if type(value) is list:
                    out.extend(value)
                elif value is not None:
                    out.append(value)
            return out

        return render

    # objects

    def object(self, template: dict[str, Any], location: str) -> _Static | Render:
        entries = {
            key: self.node(value, _pointer(location, key))
            for key, value in template.items()
            if key not in RESERVED_KEYS
        }
        body = self.object_body(entries)
        when = self.condition(template.get("$when"), _pointer(location, "$when"))
        if "$data" not in template:
            if when is None:
                return body
            if when is _never:
                return _Static(None)
        body_render = _copier(body.value) if isinstance(body, _Static) else body
        data = self.scope_data(template, location) if "$data" in template else None
        return self.repeat(body_render, when, data)

    def object_body(self, entries: dict[str, _Static | Render]) -> _Static | Render:
        statics = {key: entry.value for key, entry in entries.items() if isinstance(entry, _Static)}
        if len(statics) == len(entries):
            return _Static(statics)
        # Scalars go into a dict copied per render (keeping the key order); bindings and nested
        # containers are filled in after the copy.
        base = {key: statics.get(key) for key in entries}
        dynamic: list[tuple[str, Render]] = []
        for key, entry in entries.items():
            if not isinstance(entry, _Static):
                dynamic.append((key, entry))
            elif isinstance(entry.value, dict | list):
                dynamic.append((key, _copier(entry.value)))
        fill = tuple(dynamic)
        copy = base.copy

        def render(scope: Scope) -> dict[str, Any]:
            out = copy()
            for key, entry in fill:
                out[key] = entry(scope)
            return out

        return render

    def condition(self, when: Any, location: str) -> Callable[[Scope], bool] | None:
        """`$when`: the element stays only when its binding is boolean true.

        Like Microsoft's engine, a `$when` that is not a binding drops the element when it is
        truthy (`"$when": true` drops it!) and keeps it otherwise; cards.validate reports both.
        """
        if not isinstance(when, str) or "${" not in when:
            return _never if truthy(when) else None
        parts = self.bindings(when, location)
        if parts and len(parts) == 1 and isinstance(parts[0], _Binding):
            expression = parts[0].expression
            if not expression.is_constant:
                evaluate = expression.evaluate

                def test(scope: Scope) -> bool:
                    try:
                        return evaluate(scope) is True
                    except ExpressionError:
                        return False

                return test
        return _never  # running text or a literal binding is a string, never `true`

    def scope_data(self, template: dict[str, Any], location: str) -> Render:
        """`$data`: the value the element is bound to (UNDEFINED or null: no element)."""
        data = template["$data"]
        where = _pointer(location, "$data")
        if not isinstance(data, str) or "${" not in data:
            return lambda scope: data
        parts = self.bindings(data, where)
        if parts and len(parts) == 1 and isinstance(parts[0], _Binding):
            expression = parts[0].expression
            is_concat = isinstance(expression.tree, Call) and expression.tree.name == "concat"
            if not expression.is_constant and not is_concat:
                return parts[0].value
        compiled = self.string(data, where)
        if isinstance(compiled, _Static):
            value = compiled.value
            return lambda scope: value
        return compiled

    def repeat(
        self,
        body: Render,
        when: Callable[[Scope], bool] | None,
        data: Callable[[Scope], Any] | None,
    ) -> Render:
        def render(scope: Scope) -> Any:
            if data is None:
                if when is not None and not when(scope):
                    return None
                return body(scope)
            bound = data(scope)
            if bound is UNDEFINED or bound is None:
                return None
            if isinstance(bound, list):
                scopes = [scope.repeat(item, index) for index, item in enumerate(bound)]
            else:
                scopes = [scope.repeat(bound, scope.index)]
            results = [body(inner) for inner in scopes if when is None or when(inner)]
            if not results:
                return None
            return results[0] if len(results) == 1 else results

        return render


class CompiledTemplate:
    """A card template compiled once at start-up and expanded per message.

    Compiling parses every `${…}` and raises `TemplateError` (naming the template, the JSON path
    inside it and the expression) for a syntax error or an unknown function. `expand` never
    raises for data: bindings without a value render as empty text and are reported.
    """

    def __init__(self, template: Any, name: str, *, report: Reporter | None = None) -> None:
        self.template = template
        self.name = name
        compiled = _Compiler(name, report or log_issue, None).node(template, "")
        self._render = _copier(compiled.value) if isinstance(compiled, _Static) else compiled

    def expand(
        self,
        data: Any,
        *,
        host: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Any:
        """The card for `data` (a fresh JSON value; neither the template nor the data is changed).

        `data` is what templates read as `$root`: usually the nested session metadata `nest()`
        builds, but any JSON value works (a list for a card that repeats over `$root`).

        `host` is what templates read as `$host`; `now` freezes `utcNow()` (an aware datetime).
        """
        scope = Scope(data, host=UNDEFINED if host is None else host, now=now)
        return self._render(scope)


def compile_template(
    template: Any, name: str, *, report: Reporter | None = None
) -> CompiledTemplate:
    """Parse a template once (raising `TemplateError` naming it) for repeated expansion.

    `report` receives each binding that renders empty (default: a logged warning).
    """
    return CompiledTemplate(template, name, report=report)


def template_errors(template: Any, name: str) -> list[TemplateError]:
    """Every compile error of a template (not just the first), for start-up checks."""
    errors: list[TemplateError] = []
    _Compiler(name, log_issue, errors).node(template, "")
    return errors


def expand(
    template: Any,
    data: Any,
    *,
    name: str = "<template>",
    host: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Any:
    """Expand every binding in a card template (any JSON value) against `data`.

    Compiles the template on every call: use `compile_template` for a template used repeatedly.
    """
    return compile_template(template, name).expand(data, host=host, now=now)


@lru_cache(maxsize=1024)
def _compiled_text(text: str, name: str) -> CompiledTemplate:
    """Texts are compiled once and kept: the same stage text is expanded for every message."""
    return CompiledTemplate(text, name)


def expand_text(
    text: str,
    data: Any,
    *,
    name: str = "<text>",
    host: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    as_text: bool = False,
) -> Any:
    """Expand the bindings in one string; a string that is one whole binding keeps its type.

    With `as_text=True` the result is always a string, spelled as running text would spell it
    (`true`, `2`, `a,b`; null and missing values are empty), for message text rather than JSON.
    """
    value = _compiled_text(text, name).expand(data, host=host, now=now)
    return _text_of(value) if as_text else value


__all__ = [
    "RESERVED_KEYS",
    "CompiledTemplate",
    "RenderIssue",
    "Reporter",
    "TemplateError",
    "binding_end",
    "compile_template",
    "expand",
    "expand_text",
    "log_issue",
    "nest",
    "split_bindings",
    "template_errors",
]
