"""Adaptive Expressions: our own lexer, parser and compiler (no `eval`, no Python syntax).

The grammar is Microsoft's `ExpressionAntlrParser.g4` (adaptive-expressions 4.23.3), reproduced
token for token: its operator precedence (`==` binds tighter than `<`, `^` is right-associative,
`a ? b : c ? d : e` groups to the left), its identifiers (`$root`, `@name`, and `7%3` lexing as a
number and the identifier `%3`), its string escapes. An expression is parsed once, checked the
way Microsoft's engine checks it (argument counts and literal argument types, unknown functions),
and compiled into nested Python closures, so evaluating it is a handful of function calls.

What an expression can do is exactly what the function table in `cards._functions` offers and
what `cards._scope` can look up: dictionary entries and list items of the data it is given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from cards._functions import (
    ARRAY,
    BOOLEAN,
    NUMBER,
    OBJECT,
    STRING,
    TYPE_NAMES,
    FunctionSpec,
    canonical_name,
    lookup,
    unknown_function_hint,
)
from cards._js import JS_WHITESPACE, UNDEFINED, is_integer, is_number
from cards._scope import Evaluator, Scope, resolve_keys, resolve_name, resolve_steps

# --- syntax tree --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Const:
    """A literal: text, number, true, false, null or undefined."""

    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    """A path that starts with a name: `Session.Items[0].Title`, `$root.x`, a lambda variable.

    Each step is a property name (str) or an index expression (a node).
    """

    head: str
    steps: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Access:
    """Steps applied to a computed value: `first(Session.Items).Title`."""

    base: Node
    steps: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Call:
    """A function or operator call; `name` is the function table's name (`+` is `add`)."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ObjectLiteral:
    """`{key: value, …}`."""

    entries: tuple[tuple[str, Node], ...]


Node = Const | Name | Access | Call | ObjectLiteral


class ExpressionSyntaxError(ValueError):
    """An expression that does not parse or does not type-check; `position` is 0-based or -1."""

    def __init__(self, message: str, position: int = -1) -> None:
        super().__init__(message)
        self.position = position


def return_type(node: Node) -> int:
    """The static type Microsoft's validator gives a node (OBJECT: known only when evaluated)."""
    if isinstance(node, Const):
        value = node.value
        if type(value) is str:
            return STRING
        if type(value) is bool:
            return BOOLEAN
        if is_number(value):
            return NUMBER
        return OBJECT
    if isinstance(node, Call):
        spec = lookup(node.name)
        return spec.returns if spec is not None else OBJECT
    return OBJECT


def iter_nodes(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents before children."""
    yield node
    if isinstance(node, Name | Access):
        if isinstance(node, Access):
            yield from iter_nodes(node.base)
        for step in node.steps:
            if not isinstance(step, str):
                yield from iter_nodes(step)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from iter_nodes(arg)
    elif isinstance(node, ObjectLiteral):
        for _, value in node.entries:
            yield from iter_nodes(value)


def describe_name(name: Name) -> str:
    """A path as an admin wrote it (`Session.Items[0].Title`), with computed indices as `[…]`."""
    parts = [name.head]
    for step in name.steps:
        if isinstance(step, str):
            parts.append(f".{step}")
        elif isinstance(step, Const) and type(step.value) is str:
            parts.append(f"[{step.value!r}]")
        elif isinstance(step, Const) and is_integer(step.value):
            parts.append(f"[{int(step.value)}]")
        else:
            parts.append("[…]")
    return "".join(parts)


# --- lexer --------------------------------------------------------------------------------------


class Token(NamedTuple):
    """One token: `kind` is "number", "string", "identifier", "end", or the operator itself."""

    kind: str
    text: str
    position: int


_SKIPPED: Final = frozenset(" \t\ufeff\u00a0\n")
_LETTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS: Final = frozenset("0123456789")
_NAME_CHARS: Final = _LETTERS | _DIGITS | {"_"}
_NAME_STARTS: Final = _LETTERS | frozenset("_#@$%")
# Longest first, so maximal munch picks `<=` over `<`.
_OPERATORS: Final = (
    "==",
    "!=",
    "<>",
    "&&",
    "||",
    "<=",
    ">=",
    "=>",
    "??",
    "+",
    "-",
    "!",
    "^",
    "*",
    "/",
    "%",
    "&",
    "<",
    ">",
    "(",
    ")",
    ".",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "?",
)
_ESCAPES: Final = {"\\r": "\r", "\\n": "\n", "\\t": "\t", "\\\\": "\\"}
_ESCAPE: Final = re.compile(r"\\[^\r\n]?")


def string_ends(text: str, start: int) -> list[int]:
    """Every end of a quoted STRING token starting at `start` (a quote), shortest first.

    The lexer rule accepts `\\'` either as an escaped quote or as a backslash followed by the
    closing quote; ANTLR keeps every reading alive and the caller picks the longest that fits.
    """
    quote = text[start]
    ends: list[int] = []
    reachable = {start + 1}
    furthest = start + 1
    position = start + 1
    while position <= furthest and position < len(text):
        if position in reachable:
            char = text[position]
            if char == quote:
                ends.append(position + 1)
            else:
                reachable.add(position + 1)
                furthest = max(furthest, position + 1)
            if char == "\\" and position + 1 < len(text) and text[position + 1] in (quote, "\\"):
                reachable.add(position + 2)
                furthest = max(furthest, position + 2)
        position += 1
    return ends


def _unquote(token: str) -> str:
    """The value of a STRING token, unescaped as Microsoft's parser does it."""
    inner = token[1:-1]
    inner = inner.replace("\\'", "'") if token[0] == "'" else inner.replace('\\"', '"')
    return _ESCAPE.sub(lambda match: _ESCAPES.get(match.group(), match.group()), inner)


def tokenize(source: str) -> list[Token]:
    """Split an expression into tokens with Microsoft's lexer rules (longest match wins)."""
    tokens: list[Token] = []
    position = 0
    size = len(source)
    while position < size:
        char = source[position]
        if char in _SKIPPED:
            position += 1
            continue
        if char == "\r" and source.startswith("\r\n", position):
            position += 2
            continue
        if char in _DIGITS:
            end = position
            while end < size and source[end] in _DIGITS:
                end += 1
            if end + 1 < size and source[end] == "." and source[end + 1] in _DIGITS:
                end += 1
                while end < size and source[end] in _DIGITS:
                    end += 1
            tokens.append(Token("number", source[position:end], position))
            position = end
            continue
        if char in _NAME_STARTS:
            end = position + (2 if source.startswith("@@", position) else 1)
            while end < size and source[end] in _NAME_CHARS:
                end += 1
            if char != "%" or end > position + 1:
                tokens.append(Token("identifier", source[position:end], position))
                position = end
                continue
        if char in "'\"":
            ends = string_ends(source, position)
            if not ends:
                raise ExpressionSyntaxError("a quoted text is not closed", position)
            end = ends[-1]
            tokens.append(Token("string", source[position:end], position))
            position = end
            continue
        for operator in _OPERATORS:
            if source.startswith(operator, position):
                tokens.append(Token(operator, operator, position))
                position += len(operator)
                break
        else:
            raise ExpressionSyntaxError(f"unexpected character {char!r}", position)
    tokens.append(Token("end", "", size))
    return tokens


# --- parser -------------------------------------------------------------------------------------

# Binary operators by precedence level (higher binds tighter), from the grammar's alternatives.
_LEVELS: Final = {
    "^": 11,
    "*": 10,
    "/": 10,
    "%": 10,
    "+": 9,
    "-": 9,
    "==": 8,
    "!=": 8,
    "<>": 8,
    "&": 7,
    "<": 6,
    "<=": 6,
    ">": 6,
    ">=": 6,
    "&&": 5,
    "||": 4,
    "??": 3,
    "?": 2,
}
_UNARY_LEVEL: Final = 12
_KEYWORDS: Final = {"true": True, "false": False, "null": None, "undefined": UNDEFINED}


def _make_call(name: str, args: tuple[Node, ...], position: int) -> Call:
    """A checked call: known function, argument count, literal argument types, lambda form."""
    spec = lookup(name)
    if spec is None:
        if name == "<>":  # lexed by Microsoft's grammar, but missing from its function table
            raise ExpressionSyntaxError("operator <> is not supported, use !=", position)
        raise ExpressionSyntaxError(unknown_function_hint(name), position)
    shown = name if name[0].isalpha() else f"operator {name}"
    if not spec.min_args <= len(args) <= spec.max_args:
        raise ExpressionSyntaxError(f"{shown} {_arity(spec)}, not {len(args)}", position)
    for index, arg in enumerate(args):
        allowed = spec.type_of_arg(index)
        actual = return_type(arg)
        if not (allowed & OBJECT or actual & OBJECT or allowed & actual):
            raise ExpressionSyntaxError(
                f"argument {index + 1} of {shown} must be {_type_names(allowed)}", position
            )
    if spec.is_lambda and not (isinstance(args[1], Name) and not args[1].steps):
        raise ExpressionSyntaxError(
            f"{name}() needs a variable name as its second argument", position
        )
    if spec.check is not None:
        problem = spec.check(args)
        if problem is not None:
            raise ExpressionSyntaxError(problem, position)
    return Call(canonical_name(name), args)


def _arity(spec: FunctionSpec) -> str:
    if spec.min_args == spec.max_args:
        return f"takes {spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
    if spec.max_args > 1000:
        return f"takes at least {spec.min_args} argument{'s' if spec.min_args != 1 else ''}"
    return f"takes {spec.min_args} to {spec.max_args} arguments"


def _type_names(types: int) -> str:
    names = [name for bit, name in TYPE_NAMES.items() if types & bit]
    return " or ".join(names)


class _Parser:
    """A precedence-climbing parser for one expression."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def expect(self, kind: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.unexpected(token, f"expected {kind!r}")
        return self.take()

    def unexpected(self, token: Token, wanted: str = "") -> ExpressionSyntaxError:
        found = "end of the expression" if token.kind == "end" else repr(token.text)
        return ExpressionSyntaxError(
            f"unexpected {found}" + (f", {wanted}" if wanted else ""), token.position
        )

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise ExpressionSyntaxError("the expression is empty", 0)
        node = self.expression(0)
        if self.peek().kind != "end":
            raise self.unexpected(self.peek())
        return node

    def expression(self, level: int) -> Node:
        token = self.peek()
        if token.kind in ("!", "-", "+"):
            self.take()
            operand = self.expression(_UNARY_LEVEL)
            if token.kind == "!":
                left: Node = _make_call("!", (operand,), token.position)
            else:
                left = _make_call(token.kind, (Const(0), operand), token.position)
        else:
            left = self.primary()
        while True:
            token = self.peek()
            operator_level = _LEVELS.get(token.kind)
            if operator_level is None or operator_level < level:
                return left
            self.take()
            if token.kind == "?":
                then = self.expression(0)
                self.expect(":")
                otherwise = self.expression(operator_level + 1)
                left = _make_call("if", (left, then, otherwise), token.position)
                continue
            right_level = operator_level if token.kind == "^" else operator_level + 1
            right = self.expression(right_level)
            left = _make_call(token.kind, (left, right), token.position)

    def primary(self) -> Node:
        start = self.index
        token = self.take()
        node: Node
        if token.kind == "(":
            node = self.expression(0)
            self.expect(")")
        elif token.kind == "[":
            node = _make_call("createArray", self.arguments("]"), token.position)
        elif token.kind == "{":
            node = self.object_literal()
        elif token.kind == "number":
            node = Const(float(token.text) if "." in token.text else int(token.text))
        elif token.kind == "string":
            node = Const(_unquote(token.text))
        elif token.kind == "identifier":
            node = Const(_KEYWORDS[token.text]) if token.text in _KEYWORDS else Name(token.text)
        else:
            raise self.unexpected(token)
        while True:
            token = self.peek()
            if token.kind == ".":
                self.take()
                member = self.expect("identifier").text
                node = self.step(node, member, token.position)
            elif token.kind == "[":
                self.take()
                index = self.expression(0)
                self.expect("]")
                node = self.step(node, index, token.position)
            elif token.kind == "(" or (token.kind == "!" and self.peek(1).kind == "("):
                # Microsoft names the function by the callee's text: `a.b(1)` calls "a.b".
                callee = "".join(t.text for t in self.tokens[start : self.index])
                is_plain_name = self.index == start + 1 and self.tokens[start].kind == "identifier"
                if token.kind == "!":
                    callee += "!"
                    self.take()
                self.take()
                args = self.arguments(")")
                if not is_plain_name:
                    raise ExpressionSyntaxError(unknown_function_hint(callee), token.position)
                node = _make_call(callee, args, self.tokens[start].position)
            else:
                return node

    def step(self, node: Node, step: Any, position: int) -> Node:
        if isinstance(node, Name):
            return Name(node.head, (*node.steps, step))
        if isinstance(node, Access):
            return Access(node.base, (*node.steps, step))
        if isinstance(step, str) and not return_type(node) & OBJECT:
            raise ExpressionSyntaxError(
                f"cannot read property {step!r} of a {_type_names(return_type(node))}", position
            )
        return Access(node, (step,))

    def arguments(self, closing: str) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.peek().kind == closing:
            self.take()
            return ()
        while True:
            if self.peek().kind == "identifier" and self.peek(1).kind == "=>":
                args.append(Name(self.take().text))
                self.take()
            args.append(self.expression(0))
            token = self.take()
            if token.kind == closing:
                return tuple(args)
            if token.kind != ",":
                raise self.unexpected(token, f"expected ',' or {closing!r}")

    def object_literal(self) -> Node:
        entries: list[tuple[str, Node]] = []
        if self.peek().kind == "}":
            self.take()
            return ObjectLiteral(())
        while True:
            key = self.take()
            if key.kind == "identifier":
                name = key.text
            elif key.kind == "string":
                name = key.text[1:-1]
            else:
                raise self.unexpected(key, "expected a property name")
            self.expect(":")
            entries.append((name, self.expression(0)))
            token = self.take()
            if token.kind == "}":
                return ObjectLiteral(tuple(entries))
            if token.kind != ",":
                raise self.unexpected(token, "expected ',' or '}'")


def parse(source: str) -> Node:
    """The syntax tree of one expression (the text between `${` and `}`)."""
    return _Parser(source).parse()


# --- compiler -----------------------------------------------------------------------------------


def compile_node(node: Node) -> Evaluator:
    """An evaluator (scope -> value) for a syntax tree; raises ExpressionError when evaluated."""
    if isinstance(node, Const):
        value = node.value
        return lambda scope: value
    if isinstance(node, Name):
        return _compile_name(node)
    if isinstance(node, Access):
        base = compile_node(node.base)
        steps = _compile_steps(node.steps)
        return lambda scope: resolve_steps(base(scope), steps, scope)
    if isinstance(node, Call):
        spec = lookup(node.name)
        if spec is None:  # _make_call already refused it; kept for type narrowing
            raise ExpressionSyntaxError(f"unknown function {node.name}()")
        return spec.build(tuple(compile_node(arg) for arg in node.args), node.args)
    entries = tuple((key, compile_node(value)) for key, value in node.entries)

    def build_object(scope: Scope) -> Any:
        return {key: value(scope) for key, value in entries}

    return build_object


def _compile_steps(steps: tuple[Any, ...]) -> tuple[Any, ...]:
    compiled: list[Any] = []
    for step in steps:
        if isinstance(step, str):
            compiled.append(step)
        elif isinstance(step, Const) and type(step.value) is str:
            compiled.append(step.value)
        elif isinstance(step, Const) and is_integer(step.value):
            compiled.append(int(step.value))
        else:
            compiled.append(compile_node(step))
    return tuple(compiled)


def _compile_name(node: Name) -> Evaluator:
    head = node.head
    steps = _compile_steps(node.steps)
    if head[0] != "$" and all(type(step) is str for step in steps):
        keys = (head, *steps)
        if len(keys) == 1:

            def evaluate_one(scope: Scope) -> Any:
                if scope.locals:
                    return resolve_name(head, steps, scope)
                data = scope.data
                if type(data) is dict and head in data:
                    return data[head]
                return resolve_keys(data, keys)

            return evaluate_one

        def evaluate_keys(scope: Scope) -> Any:
            if scope.locals:
                return resolve_name(head, steps, scope)
            return resolve_keys(scope.data, keys)

        return evaluate_keys
    return lambda scope: resolve_name(head, steps, scope)


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed, checked and compiled expression; `source` is the text inside `${…}`."""

    source: str
    tree: Node
    evaluate: Evaluator

    @property
    def is_constant(self) -> bool:
        """True for a literal (`${'text'}`, `${1}`), which Microsoft's engine renders as text."""
        return isinstance(self.tree, Const)

    def names(self) -> list[Name]:
        """The data paths the expression reads (lambda variables excluded), in source order."""
        variables = {
            node.args[1].head
            for node in iter_nodes(self.tree)
            if isinstance(node, Call) and is_lambda(node.name) and isinstance(node.args[1], Name)
        }
        return [
            node
            for node in iter_nodes(self.tree)
            if isinstance(node, Name) and node.head not in variables
        ]


def is_lambda(name: str) -> bool:
    """True for `where`, `select`, `foreach`, `any`, `all`: their second argument is a variable."""
    spec = lookup(name)
    return spec is not None and spec.is_lambda


def compile_expression(source: str) -> Expression:
    """Parse, check and compile the text of one binding; raises ExpressionSyntaxError."""
    text = source.lstrip(JS_WHITESPACE)
    lead = len(source) - len(text)
    text = text.rstrip(JS_WHITESPACE)
    if text.startswith("="):  # Microsoft's parser drops one leading "="
        text, lead = text[1:], lead + 1
    try:
        tree: Node = Const("") if text == "" else parse(text)
        evaluate = compile_node(tree)
    except ExpressionSyntaxError as error:
        if error.position >= 0:
            error.position += lead
        raise
    except RecursionError as error:
        raise ExpressionSyntaxError("the expression is nested too deeply") from error
    return Expression(source, tree, evaluate)


__all__ = [
    "ARRAY",
    "BOOLEAN",
    "NUMBER",
    "OBJECT",
    "STRING",
    "Access",
    "Call",
    "Const",
    "Expression",
    "ExpressionSyntaxError",
    "Name",
    "Node",
    "ObjectLiteral",
    "compile_expression",
    "compile_node",
    "describe_name",
    "is_lambda",
    "iter_nodes",
    "parse",
    "return_type",
    "string_ends",
    "tokenize",
]
