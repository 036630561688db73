"""Adaptive Card templating: `${…}` binding of card JSON to data.

This is the property-path subset of the Adaptive Card Templating language: `${a.b.c}` anywhere
in a string, a whole-value `"${a.b}"` keeping the JSON type of its value, and the `\\${` escape.
Data is never re-expanded: a value that itself contains `${…}` is inserted as text.

Deliberate difference from Microsoft's engine: a missing path renders as empty text and is
logged (template name and path, never the data), instead of showing the literal `${path}`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

_BINDING = re.compile(r"(\\?)\$\{([^{}]*)\}")
_PATH = re.compile(r"^\s*[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\s*$")
_MISSING = object()


class TemplateError(ValueError):
    """A template expression that cannot be parsed."""


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


def _lookup(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if part == "$root":
            node = data
        elif isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _evaluate(expression: str, data: Mapping[str, Any], name: str) -> Any:
    if not _PATH.match(expression):
        raise TemplateError(f"{name}: unsupported expression ${{{expression}}}")
    value = _lookup(data, expression.strip())
    if value is _MISSING:
        log.warning("template %s: no data at path %s; rendered as empty", name, expression.strip())
        return None
    return value


def expand_text(text: str, data: Mapping[str, Any], *, name: str = "<text>") -> Any:
    """Expand the bindings in one string; a string that is one whole binding keeps its type."""
    whole = _BINDING.fullmatch(text)
    if whole and not whole.group(1):
        return _evaluate(whole.group(2), data, name)

    def substitute(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(0)[1:]
        return _as_text(_evaluate(match.group(2), data, name))

    return _BINDING.sub(substitute, text)


def expand(template: Any, data: Mapping[str, Any], *, name: str = "<template>") -> Any:
    """Expand every binding in a card template (any JSON value) against `data`."""
    if isinstance(template, str):
        return expand_text(template, data, name=name)
    if isinstance(template, list):
        return [expand(item, data, name=name) for item in template]
    if isinstance(template, dict):
        return {key: expand(value, data, name=name) for key, value in template.items()}
    return template


class CompiledTemplate:
    """A card template checked once at start-up and expanded per render."""

    def __init__(self, template: Any, name: str) -> None:
        self.template = template
        self.name = name
        _check(template, name)

    def expand(self, data: Mapping[str, Any]) -> Any:
        """The card for `data` (a fresh JSON value; the template is not modified)."""
        return expand(self.template, data, name=self.name)


def _check(template: Any, name: str) -> None:
    if isinstance(template, str):
        for match in _BINDING.finditer(template):
            if not match.group(1) and not _PATH.match(match.group(2)):
                raise TemplateError(f"{name}: unsupported expression ${{{match.group(2)}}}")
    elif isinstance(template, list):
        for item in template:
            _check(item, name)
    elif isinstance(template, dict):
        for value in template.values():
            _check(value, name)


def compile_template(template: Any, name: str) -> CompiledTemplate:
    """Parse a template once (raising `TemplateError` naming it) for repeated expansion."""
    return CompiledTemplate(template, name)
