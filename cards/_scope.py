"""What an expression sees while a card renders: `$root`, `$data`, `$index`, `$host`, lambdas.

A path such as `Session.TransferredTo.TenantName` is resolved against `$data` (the current
repetition item, `$root` outside any `$data`), exactly as Microsoft's engine resolves it:
property names match ignoring case (an exact match wins here, see cards/README.md), an index past
the end of an array is `undefined`, and a lambda variable (`where(items, x, x.open)`) shadows the
data only when the whole path resolves through it.

Only the data handed to `expand` is reachable: a path can read dictionary entries and list items,
never Python attributes, so no template or data can reach the interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from cards._js import UNDEFINED, get_index, get_property, is_integer
from cards.errors import ExpressionError

# The `$_acTemplateVersion` object of adaptivecards-templating 2.3.1, which templates may read.
TEMPLATE_VERSION: Final = {"major": 2, "minor": 3, "patch": 1, "suffix": ""}

_MISSING: Final = object()


class Scope:
    """The evaluation context of one binding: data scope, root, host, repetition index, lambdas.

    `now` freezes `utcNow()` (None means the clock); `locals` holds lambda variables, innermost
    last.
    """

    __slots__ = ("data", "host", "index", "locals", "now", "root")

    def __init__(
        self,
        root: Any,
        *,
        data: Any = _MISSING,
        host: Any = UNDEFINED,
        index: Any = UNDEFINED,
        now: datetime | None = None,
        locals: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.root = root
        self.data = root if data is _MISSING else data
        self.host = host
        self.index = index
        self.now = now
        self.locals = locals

    def repeat(self, data: Any, index: Any) -> Scope:
        """The scope of one `$data` repetition (or of a non-array `$data`, keeping `$index`)."""
        return Scope(
            self.root, data=data, host=self.host, index=index, now=self.now, locals=self.locals
        )

    def with_local(self, name: str, value: Any) -> Scope:
        """The scope of one lambda iteration, where `name` is bound to `value`."""
        return Scope(
            self.root,
            data=self.data,
            host=self.host,
            index=self.index,
            now=self.now,
            locals=(*self.locals, (name, value)),
        )

    def special(self, name: str) -> Any:
        """The value of a `$`-name (`$root`, `$data`, `$index`, `$host`), matched ignoring case."""
        lowered = name.lower()
        if lowered == "$root":
            return self.root
        if lowered == "$data":
            return self.data
        if lowered == "$index":
            return self.index
        if lowered == "$host":
            return self.host
        if lowered == "$_actemplateversion":
            return TEMPLATE_VERSION
        return UNDEFINED


Evaluator = Callable[[Scope], Any]
# A step after a name: a property name, a constant integer index, or an index expression.
Step = str | int | Evaluator


def step_value(node: Any, step: Any, scope: Scope) -> Any:
    """Apply one step to `node`: property, array item, or a computed index."""
    if type(step) is str:
        return get_property(node, step)
    if type(step) is int:
        return get_index(node, step)
    key = step(scope)
    if type(key) is str:
        return _property_or_path(node, key)
    if is_integer(key):
        return get_index(node, int(key))
    raise ExpressionError("an index must be an integer or a text")


def _property_or_path(node: Any, key: str) -> Any:
    """A property; a dotted name that is no property is read as the path it spells."""
    value = get_property(node, key)
    if value is UNDEFINED and "." in key and isinstance(node, Mapping):
        return resolve_keys(node, tuple(key.split(".")))
    return value


def _flat_key(node: Any, keys: tuple[Any, ...], start: int) -> tuple[Any, int]:
    """Metadata written flat (`{"Session.TenantName": …}`) read through a nested path: the longest
    run of names from `start` that is one dotted key of `node`, and where that run ends."""
    if isinstance(node, Mapping):
        for end in range(len(keys), start + 1, -1):
            run = keys[start:end]
            if all(type(key) is str for key in run):
                value = get_property(node, ".".join(run))
                if value is not UNDEFINED:
                    return value, end
    return UNDEFINED, start + 1


def resolve_steps(node: Any, steps: tuple[Any, ...], scope: Scope) -> Any:
    """Follow `steps` from `node`; `undefined` as soon as a step leads nowhere.

    Admins paste metadata into the Designer either nested or with dotted keys, so a path also
    reads the other shape: `$root['Session.TenantName']` finds nested data, and
    `Session.TenantName` finds a flat dotted key (see cards/README.md, dotted-keys).
    """
    position = 0
    while position < len(steps):
        if node is UNDEFINED:
            return UNDEFINED
        step = steps[position]
        value = step_value(node, step, scope)
        if value is UNDEFINED and type(step) is str:
            if "." in step and isinstance(node, Mapping):
                value = resolve_keys(node, tuple(step.split(".")))
            else:
                value, position = _flat_key(node, steps, position)
                node = value
                continue
        node = value
        position += 1
    return node


def resolve_keys(node: Any, keys: tuple[str, ...]) -> Any:
    """Follow property names only: the fast path of `Session.TransferredTo.TenantName`."""
    position = 0
    while position < len(keys):
        key = keys[position]
        if type(node) is dict:
            value = node.get(key, _MISSING)
            value = get_property(node, key) if value is _MISSING else value
        else:
            value = get_property(node, key)
        if value is UNDEFINED:
            if "." in key and isinstance(node, Mapping):
                value = resolve_keys(node, tuple(key.split(".")))
            else:
                value, position = _flat_key(node, keys, position)
                if value is UNDEFINED:
                    return UNDEFINED
                node = value
                continue
            if value is UNDEFINED:
                return UNDEFINED
        node = value
        position += 1
    return node


def resolve_name(head: str, steps: tuple[Any, ...], scope: Scope) -> Any:
    """A path rooted at a name: lambda variables first, then `$`-names, then `$data`."""
    if scope.locals:
        keys = tuple(_static_key(step, scope) for step in steps)
        lowered = head.lower()
        for name, value in reversed(scope.locals):
            if name == head or name.lower() == lowered:
                found = resolve_steps(value, keys, scope)
                if found is not UNDEFINED:
                    return found
        steps = keys
    if head[0] == "$":
        return resolve_steps(scope.special(head), steps, scope)
    return resolve_steps(scope.data, (head, *steps), scope)


def _static_key(step: Any, scope: Scope) -> Any:
    """Evaluate a computed index once, so every lambda layer sees the same path."""
    if type(step) is str or type(step) is int:
        return step
    key = step(scope)
    if type(key) is str:
        return key
    if is_integer(key):
        return int(key)
    raise ExpressionError("an index must be an integer or a text")
