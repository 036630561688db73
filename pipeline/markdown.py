"""Text inserted into a Teams message, escaped so that it shows as written.

Teams reads a bot's message text as Markdown with some HTML: a guest who typed `<b>x</b>` or
`\\_notes\\_` would see bold text, or lose a backslash, when their words are quoted back. Values
bound into a message with `${…}` are escaped here; the configuration's own text around them
keeps its Markdown.
"""

from __future__ import annotations

import re

#: Characters Markdown gives a meaning anywhere in a line (backslash-escaped).
_INLINE = re.compile(r"([\\`*_~\[\]|#])")
#: What starts a list or a heading at the beginning of a line.
_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+])(?=\s)", re.MULTILINE)
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_markdown(text: str) -> str:
    """`text` as Teams shows it literally inside a Markdown message."""
    escaped = "".join(_HTML.get(char, char) for char in text)
    escaped = _INLINE.sub(r"\\\1", escaped)
    return _LINE_START.sub(_line_start, escaped)


def _line_start(match: re.Match[str]) -> str:
    if match.group(2) is not None:
        return f"{match.group(1)}{match.group(2)}\\{match.group(3)}"
    return f"{match.group(4)}\\{match.group(5)}"
