"""The function table: every Adaptive Expressions function a card template may call.

Each family of functions lives in its own module with its own table; this registry joins them,
resolves operators and aliases, and explains a name it does not know (the closest known name, or
why a function of Microsoft's is left out). `FAMILIES` is the order cards/README.md lists them in;
the README's function list is generated from it (`python -m cards functions`).
"""

from __future__ import annotations

import difflib
from typing import Final

from cards._functions import (
    arithmetic,
    checks,
    conversion,
    dates,
    lists,
    logic,
    markup,
    objects,
    text,
    timex,
    uris,
)
from cards._functions.base import (
    ARRAY,
    BOOLEAN,
    NUMBER,
    OBJECT,
    STRING,
    TYPE_NAMES,
    FunctionSpec,
)

FAMILIES: Final[tuple[tuple[str, dict[str, FunctionSpec]], ...]] = (
    ("logic and comparison", logic.FUNCTIONS),
    ("math", arithmetic.FUNCTIONS),
    ("strings", text.FUNCTIONS),
    ("collections", lists.FUNCTIONS),
    ("objects and paths", objects.FUNCTIONS),
    ("type checks", checks.FUNCTIONS),
    ("conversion and encoding", conversion.FUNCTIONS),
    ("URIs", uris.FUNCTIONS),
    ("XML", markup.FUNCTIONS),
    ("date and time", dates.FUNCTIONS),
    ("TIMEX", timex.FUNCTIONS),
)


def _join() -> dict[str, FunctionSpec]:
    joined: dict[str, FunctionSpec] = {}
    for _, table in FAMILIES:
        for name, spec in table.items():
            if name in joined:
                raise RuntimeError(f"function {name} is registered twice")
            joined[name] = spec
    return joined


FUNCTIONS: Final[dict[str, FunctionSpec]] = _join()

# Operators and the aliases Microsoft's function table registers for the same evaluators.
ALIASES: Final = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "^": "exp",
    "%": "mod",
    "==": "equals",
    "<": "less",
    "<=": "lessOrEquals",
    ">": "greater",
    ">=": "greaterOrEquals",
    "&&": "and",
    "||": "or",
    "!": "not",
    "&": "concat",
    "??": "coalesce",
}

# Functions of adaptive-expressions 4.23.3 that templates cannot call, and why.
LEFT_OUT: Final = {
    "jPath": (
        "JSPath is a query language of its own (the npm `jspath` package), which compiles each "
        "query into JavaScript source and runs it with `new Function`; Crossdesk evaluates "
        "nothing as code, and no Python implementation exists. Use `where`, `select`, `first` "
        "and `getProperty` instead, e.g. `first(where(items, x, x.maker == 'Honda')).model`"
    ),
    "optional": (
        "it only marks optional parts of Bot Framework trigger conditions and has nothing to "
        "evaluate (Microsoft's engine fails on it too)"
    ),
}


def function_list() -> str:
    """The supported functions as Markdown, family by family, for the READMEs.

    Written from the table itself, so the documentation cannot drift from the engine: a test
    compares this text with what cards/README.md and README.md show.
    """
    lines = []
    for family, table in FAMILIES:
        names = " ".join(f"`{name}`" for name in table)
        lines.append(f"- {family} ({len(table)}): {names}")
    operators = " ".join(f"`{operator}`" for operator in ALIASES)
    lines.append(f"- operators: {operators}")
    for name, reason in LEFT_OUT.items():
        lines.append(f"- not supported: `{name}` — {reason}")
    return "\n".join(lines) + "\n"


def lookup(name: str) -> FunctionSpec | None:
    """The function called `name` (case-sensitive, as in Microsoft's engine), if supported."""
    return FUNCTIONS.get(ALIASES.get(name, name))


def canonical_name(name: str) -> str:
    """The table name behind an operator or alias (`+` is `add`)."""
    return ALIASES.get(name, name)


def unknown_function_hint(name: str) -> str:
    """Why `name` is not a function, and what to write instead, for an admin's error message."""
    if name in LEFT_OUT:
        return f"{name}() is not supported: {LEFT_OUT[name]}"
    by_lower = {known.lower(): known for known in FUNCTIONS}
    if name.lower() in by_lower:
        return f"unknown function {name}(); did you mean `{by_lower[name.lower()]}`?"
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"unknown function {name}(); did you mean `{by_lower[close[0]]}`?"
    return f"unknown function {name}()"


__all__ = [
    "ALIASES",
    "ARRAY",
    "BOOLEAN",
    "FAMILIES",
    "FUNCTIONS",
    "LEFT_OUT",
    "NUMBER",
    "OBJECT",
    "STRING",
    "TYPE_NAMES",
    "FunctionSpec",
    "canonical_name",
    "function_list",
    "lookup",
    "unknown_function_hint",
]
