"""JSON text for what Crossdesk writes on every turn (stored records, outbound activities).

orjson writes it several times faster than `json.dumps`, the same JSON for the values a turn
holds. Where it refuses a value `json` accepts (an integer beyond 64 bits, a string with a
lone surrogate), `json.dumps` writes it as before. Reading stays with `json`: orjson reads
integers beyond 64 bits as floats.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS  # keys as `json` writes them: 1 → "1", True → "true"


def dumps(value: Any) -> str:
    """Compact JSON, non-ASCII characters as they are (`ensure_ascii=False`)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps_bytes(value: Any) -> bytes:
    """Compact JSON in UTF-8, for a request body (what orjson refuses, ASCII with `\\u`
    escapes: a lone surrogate has no UTF-8)."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()
