"""URI parts: `uriHost uriPath uriPathAndQuery uriPort uriQuery uriScheme`.

Microsoft's engine parses with JavaScript's `new URL()`, the WHATWG URL standard (host names
lower-cased and IDNA-encoded, `..` segments resolved, a default port dropped). Python's `urllib`
follows the older RFCs, so we parse with Ada (the `ada-url` package), the WHATWG parser Node.js
itself is built on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

import ada_url

from cards._functions.base import NUMBER, STRING, Builder, FunctionSpec, pure, spec
from cards._js import number
from cards.errors import ExpressionError


def _parsed(value: Any, function: str) -> ada_url.URL:
    if type(value) is not str:
        raise ExpressionError(f"{function}() needs a URI as text")
    try:
        return ada_url.URL(value)
    except ValueError as error:
        raise ExpressionError(f"{function}() got text that is not an absolute URI") from error


def _part(function: str, read: Callable[[ada_url.URL], Any]) -> Builder:
    return pure(lambda values: read(_parsed(values[0], function)))


def _port(url: ada_url.URL) -> Any:
    # parseInt(url.port): a default or missing port is NaN
    return number(float(url.port)) if url.port else math.nan


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "uriHost": spec(_part("uriHost", lambda url: url.hostname), arity=(1, 1), returns=STRING),
    "uriPath": spec(_part("uriPath", lambda url: url.pathname), arity=(1, 1), returns=STRING),
    "uriPathAndQuery": spec(
        _part("uriPathAndQuery", lambda url: url.pathname + url.search),
        arity=(1, 1),
        returns=STRING,
    ),
    "uriPort": spec(_part("uriPort", _port), arity=(1, 1), returns=NUMBER),
    "uriQuery": spec(_part("uriQuery", lambda url: url.search), arity=(1, 1), returns=STRING),
    "uriScheme": spec(
        _part("uriScheme", lambda url: url.protocol.replace(":", "", 1)),
        arity=(1, 1),
        returns=STRING,
    ),
}
