"""XML: `xml` (JSON to XML) and `xPath` (an XPath 1.0 query over an XML text).

`xml` writes XML the way the `fast-xml-parser` builder Microsoft's engine uses writes it (indented
by two spaces, a list as repeated elements, `#text` as text, names used as they are even where XML
would not allow them); no Python library writes the same text, so its algorithm is ported here.
`xPath` runs on lxml (libxml2's XPath 1.0, the standard the npm `xpath` package implements), with
entity expansion and network access turned off, and lists matched nodes as XML text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Final

from lxml import etree

from cards._functions.base import OBJECT, STRING, FunctionSpec, is_object, pure, spec
from cards._js import UNDEFINED, number, number_to_string, object_keys
from cards.errors import ExpressionError

_HEADER: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_INDENT: Final = "  "
_TEXT: Final = "#text"
_ENTITIES: Final = (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"), ("'", "&apos;"), ('"', "&quot;"))


def _members(value: Any) -> list[tuple[str, Any]]:
    """`for (key in value)`: an object's keys in JavaScript order, a list's or text's indices."""
    if isinstance(value, Mapping):
        return [(key, value[key]) for key in object_keys(value)]
    if isinstance(value, list | str | bytes):
        return [(str(index), item) for index, item in enumerate(value)]
    return []


def _escaped(value: Any) -> str:
    """The builder's text: entities replaced in texts; numbers and booleans as JavaScript spells
    them."""
    if type(value) is str:
        text: str = value
        for raw, entity in _ENTITIES:
            text = text.replace(raw, entity)
        return text
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int or type(value) is float:
        return number_to_string(value)
    return str(value)


def _text_node(value: Any, key: str, level: int) -> str:
    indent = _INDENT * level
    if key[:1] == "?":
        return f"{indent}<{key}?>\n"
    text = _escaped(value)
    if text == "":
        return f"{indent}<{key}></{key}>\n"
    return f"{indent}<{key}>{text}</{key}>\n"


def _object_node(body: str, key: str, level: int) -> str:
    indent = _INDENT * level
    if body == "":
        return f"{indent}<{key}?>\n" if key[:1] == "?" else f"{indent}<{key}></{key}>\n"
    closing, pi = (f"</{key}>\n", "") if key[:1] != "?" else ("", "?")
    if "<" not in body:
        return f"{indent}<{key}{pi}>{body}{closing}"
    return f"{indent}<{key}{pi}>\n{body}{indent}{closing}"


def _text_or_object(value: Any, key: str, level: int) -> str:
    body = _build(value, level + 1)
    has_text = isinstance(value, Mapping) and value.get(_TEXT, UNDEFINED) is not UNDEFINED
    if has_text and len(value) == 1:
        return _text_node(value[_TEXT], key, level)
    return _object_node(body, key, level)


def _build(value: Any, level: int) -> str:
    """fast-xml-parser's `j2x` with the options AEL passes (format, two-space indent)."""
    out: list[str] = []
    for key, item in _members(value):
        if item is UNDEFINED:
            continue
        if item is None:
            out.append(f"{_INDENT * level}<{key}{'?' if key[:1] == '?' else '/'}>\n")
        elif isinstance(item, list):
            # null items are written at once, the others after the loop, as the builder does
            listed: list[str] = []
            for element in item:
                if element is UNDEFINED:
                    continue
                if element is None:
                    marker = "?" if key[:1] == "?" else "/"
                    out.append(f"{_INDENT * level}<{key}{marker}>\n")
                elif is_object(element):
                    listed.append(_text_or_object(element, key, level))
                else:
                    listed.append(_text_node(element, key, level))
            out.extend(listed)
        elif is_object(item):
            out.append(_text_or_object(item, key, level))
        elif key == _TEXT:
            out.append(_escaped(item))
        else:
            out.append(_text_node(item, key, level))
    return "".join(out)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _xml(values: list[Any]) -> Any:
    value = values[0]
    if type(value) is str:
        try:
            value = json.loads(value, parse_constant=_reject_constant)
        except ValueError as error:
            raise ExpressionError("xml() needs JSON text or an object") from error
    elif not is_object(value):
        value = UNDEFINED
    return (_HEADER + _build(value, 0)).strip(" \t\n\r")


_PARSER: Final = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def _node_text(node: Any) -> str:
    """A matched node as the npm `xmldom` package writes it (`toString()`)."""
    if isinstance(node, etree._Element):
        return etree.tostring(node, encoding="unicode", with_tail=False)
    if getattr(node, "is_attribute", False):
        escaped = str(node).replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
        return f' {node.attrname}="{escaped}"'
    return str(node).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _x_path(values: list[Any]) -> Any:
    document, query = values
    if type(document) is not str or type(query) is not str:
        raise ExpressionError("xPath() needs an XML text and an XPath text")
    try:
        root = etree.fromstring(document.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as error:
        raise ExpressionError("xPath() got text that is not XML") from error
    try:
        found = root.getroottree().xpath(query)
    except etree.XPathError as error:
        raise ExpressionError("xPath() got an XPath it cannot read") from error
    if isinstance(found, list):
        if not found:
            raise ExpressionError("xPath() matched no nodes")
        return [_node_text(node) for node in found]
    if isinstance(found, bool):
        return found
    if isinstance(found, float):
        return number(found) if math.isfinite(found) else found
    return str(found)


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "xml": spec(pure(_xml), arity=(1, 1), returns=STRING),
    "xPath": spec(pure(_x_path), args=(OBJECT, STRING)),
}
