"""JavaScript regular expressions on Python's `re`, for `isMatch` and `replaceIgnoreCase`.

Microsoft's engine hands patterns to JavaScript's `RegExp` (`isMatch` first checks them against
its CommonRegex grammar, a subset that admins also meet in .NET). Python's `re` reads most of the
same syntax but means something else by parts of it: `\\d`, `\\w` and `\\b` are ASCII-only in
JavaScript, `\\s` covers JavaScript's white space, `.` stops at every line terminator, `$` only
matches at the very end, an unknown escape such as `\\p` is the letter itself, and named groups are
spelled `(?<name>…)`. `js_regex` translates a pattern so that it matches what JavaScript matches,
and refuses what JavaScript refuses (possessive quantifiers, atomic groups, inline flags).
No maintained library does this translation (`js-regex` has not been released since 2019).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

from cards._js import JS_WHITESPACE
from cards.errors import ExpressionError

_SPACE: Final = "".join(f"\\u{ord(char):04x}" for char in JS_WHITESPACE)
_WORD: Final = "A-Za-z0-9_"
_LINE_ENDS: Final = "\\n\\r\\u2028\\u2029"
_BOUNDARY: Final = f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"
_NOT_BOUNDARY: Final = f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"
_CLASS_ESCAPES: Final = {"d": "0-9", "w": _WORD, "s": _SPACE, "D": r"\D", "W": r"\W", "S": r"\S"}
_ATOM_ESCAPES: Final = {
    "d": "[0-9]",
    "D": "[^0-9]",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "b": _BOUNDARY,
    "B": _NOT_BOUNDARY,
}
# Escapes Python's `re` reads as JavaScript does.
_SAME_ESCAPES: Final = frozenset("fnrtv0123456789")


class _Translator:
    """One pass over a JavaScript pattern, writing the equivalent Python pattern."""

    def __init__(self, pattern: str, flags: str) -> None:
        self.pattern = pattern
        self.dot_all = "s" in flags
        self.multiline = "m" in flags
        self.position = 0
        self.out: list[str] = []
        self.names = set(re.findall(r"\(\?<([A-Za-z_$][\w$]*)>", pattern))

    def fail(self, reason: str) -> ExpressionError:
        return ExpressionError(f"the regular expression is not valid: {reason}")

    def translate(self) -> str:
        pattern = self.pattern
        in_class = False
        while self.position < len(pattern):
            char = pattern[self.position]
            self.position += 1
            if char == "\\":
                self.escape(in_class)
            elif in_class:
                if char == "]":
                    in_class = False
                elif char == "[":
                    char = "\\["
                self.out.append(char)
            elif char == "[":
                if pattern.startswith("^]", self.position):
                    self.out.append(r"[\s\S]")
                    self.position += 2
                elif pattern.startswith("]", self.position):
                    self.out.append("(?!)")
                    self.position += 1
                else:
                    in_class = True
                    self.out.append("[")
                    if pattern.startswith("^", self.position):
                        self.out.append("^")
                        self.position += 1
                    if pattern.startswith("]", self.position):
                        raise self.fail("an empty character class")
            elif char == "(":
                self.group()
            elif char == ".":
                self.out.append(r"[\s\S]" if self.dot_all else f"[^{_LINE_ENDS}]")
            elif char == "$":
                self.out.append(f"(?=[{_LINE_ENDS}]|\\Z)" if self.multiline else r"\Z")
            elif char == "^":
                self.out.append(f"(?:(?<=[{_LINE_ENDS}])|\\A)" if self.multiline else r"\A")
            elif char in "*+?}":
                self.out.append(char)
                if char != "?" and pattern.startswith("+", self.position):
                    raise self.fail("a possessive quantifier")
                if char == "?" and pattern.startswith("+", self.position):
                    raise self.fail("a possessive quantifier")
            else:
                self.out.append(char)
        if in_class:
            raise self.fail("a character class is not closed")
        return "".join(self.out)

    def group(self) -> None:
        pattern = self.pattern
        if not pattern.startswith("?", self.position):
            self.out.append("(")
            return
        rest = pattern[self.position + 1 :]
        for opening in (":", "=", "!", "<=", "<!"):
            if rest.startswith(opening):
                self.out.append("(?" + opening)
                self.position += 1 + len(opening)
                return
        named = re.match(r"<([A-Za-z_$][\w$]*)>", rest)
        if named is None:
            raise self.fail("an unknown group")
        self.out.append(f"(?P<{named.group(1)}>")
        self.position += 1 + named.end()

    def escape(self, in_class: bool) -> None:
        pattern = self.pattern
        if self.position >= len(pattern):
            raise self.fail("it ends with a backslash")
        char = pattern[self.position]
        self.position += 1
        if char in _ATOM_ESCAPES and (not in_class or char in _CLASS_ESCAPES):
            self.out.append(_CLASS_ESCAPES[char] if in_class else _ATOM_ESCAPES[char])
        elif char == "b":  # inside a class, \b is a backspace
            self.out.append("\\x08")
        elif char in _SAME_ESCAPES:
            self.out.append("\\" + char)
        elif (
            char == "c"
            and pattern[self.position : self.position + 1].isascii()
            and (pattern[self.position : self.position + 1].isalpha())
        ):
            self.out.append(f"\\x{ord(pattern[self.position]) % 32:02x}")
            self.position += 1
        elif char == "x" and re.match(r"[0-9A-Fa-f]{2}", pattern[self.position :]):
            self.out.append("\\x" + pattern[self.position : self.position + 2])
            self.position += 2
        elif char == "u" and re.match(r"[0-9A-Fa-f]{4}", pattern[self.position :]):
            self.out.append("\\u" + pattern[self.position : self.position + 4])
            self.position += 4
        elif char == "k" and self.names:
            named = re.match(r"<([A-Za-z_$][\w$]*)>", pattern[self.position :])
            if named is None or named.group(1) not in self.names:
                raise self.fail("an unknown group name")
            self.out.append(f"(?P={named.group(1)})")
            self.position += named.end()
        else:  # an identity escape: the character itself
            self.out.append(re.escape(char))


@lru_cache(maxsize=256)
def js_regex(pattern: str, flags: str = "") -> re.Pattern[str]:
    """A compiled Python pattern matching what `new RegExp(pattern, flags)` matches."""
    translated = _Translator(pattern, flags).translate()
    try:
        return re.compile(translated, re.IGNORECASE if "i" in flags else 0)
    except (re.error, OverflowError, RecursionError) as error:
        raise ExpressionError("the regular expression is not valid") from error


def js_replace(regex: re.Pattern[str], text: str, replacement: str, *, everywhere: bool) -> str:
    """`text.replace(regex, replacement)` with JavaScript's `$&`, `$1`, `` $` ``, `$'` and `$$`."""
    groups = regex.groups
    named = bool(regex.groupindex)

    def substitute(match: re.Match[str]) -> str:
        out: list[str] = []
        position = 0
        while position < len(replacement):
            char = replacement[position]
            following = replacement[position + 1 : position + 2]
            if char != "$" or not following:
                out.append(char)
                position += 1
                continue
            if following == "$":
                out.append("$")
            elif following == "&":
                out.append(match.group())
            elif following == "`":
                out.append(text[: match.start()])
            elif following == "'":
                out.append(text[match.end() :])
            elif following.isdigit():
                two = replacement[position + 1 : position + 3]
                if len(two) == 2 and two.isdigit() and 1 <= int(two) <= groups:
                    out.append(match.group(int(two)) or "")
                    position += 3
                    continue
                if 1 <= int(following) <= groups:
                    out.append(match.group(int(following)) or "")
                else:
                    out.append("$" + following)
            elif following == "<" and named:
                end = replacement.find(">", position + 2)
                if end < 0:
                    out.append("$<")
                else:
                    name = replacement[position + 2 : end]
                    found = match.group(name) if name in regex.groupindex else ""
                    out.append(found or "")
                    position = end + 1
                    continue
            else:
                out.append("$" + following)
            position += 2
        return "".join(out)

    return regex.sub(substitute, text, count=0 if everywhere else 1)


# --- CommonRegex: the pattern language `isMatch` accepts ---------------------------------------

_CC_PUNCTUATION: Final = frozenset(".[^?+*$|()")
_FLAGS: Final = (("(?i)", "i"), ("(?m)", "m"), ("(?s)", "s"))


class _CommonRegexChecker:
    """A recursive-descent reading of adaptive-expressions' CommonRegex.g4 grammar."""

    def __init__(self, pattern: str) -> None:
        self.tokens = _common_tokens(pattern)
        self.index = 0

    def peek(self, offset: int = 0) -> str:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else ""

    def accept(self, token: str) -> bool:
        if self.peek() == token:
            self.index += 1
            return True
        return False

    def check(self) -> bool:
        return self.alternation() and self.index == len(self.tokens)

    def alternation(self) -> bool:
        if not self.expr():
            return False
        while self.accept("|"):
            if not self.expr():
                return False
        return True

    def expr(self) -> bool:
        while self.peek() not in ("", "|", ")"):
            if not self.atom():
                return False
            self.quantifier()
        return True

    def number(self) -> bool:
        start = self.index
        while self.peek().isdigit() and len(self.peek()) == 1:
            self.index += 1
        return self.index > start

    def quantifier(self) -> None:
        start = self.index
        if self.peek() in ("?", "+", "*"):
            self.index += 1
        elif self.accept("{"):
            if not self.number():
                self.index = start
                return
            if self.accept(","):
                self.number()
            if not self.accept("}"):
                self.index = start
                return
        else:
            return
        if self.peek() in ("+", "?"):
            self.index += 1

    def atom(self) -> bool:
        token = self.peek()
        if token == "(":
            return self.group()
        if token == "[":
            return self.character_class()
        if token in ("?", "+", "*", "|", ")", ""):
            return False
        if token == "\\":
            return self.octal()
        self.index += 1
        return True

    def octal(self) -> bool:
        # Backslash (0-3) octal octal | Backslash octal octal
        self.index += 1
        digits = [self.peek(0), self.peek(1), self.peek(2)]
        if digits[0] in "0123" and digits[0] and _octal(digits[1]) and _octal(digits[2]):
            self.index += 3
            return True
        if _octal(digits[0]) and _octal(digits[1]):
            self.index += 2
            return True
        return False

    def group(self) -> bool:
        self.index += 1
        if self.accept("?"):
            if self.accept(":"):
                pass
            elif self.accept("<"):
                if not (self.peek()[:1].isalpha() or self.peek() == "_"):
                    return False
                while self.peek()[:1].isalnum() or self.peek() == "_":
                    if len(self.peek()) != 1:
                        return False
                    self.index += 1
                if not self.accept(">"):
                    return False
            else:
                flags = 0
                while self.peek() in ("i", "m", "s"):
                    self.index += 1
                    flags += 1
                return flags > 0 and self.accept(")")
        return self.alternation() and self.accept(")")

    def character_class(self) -> bool:
        self.index += 1
        self.accept("^")
        count = 0
        while self.peek() not in ("]", ""):
            if self.peek() == "\\":
                if not self.octal():
                    return False
            else:
                self.index += 1
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.index += 2
            count += 1
        return count > 0 and self.accept("]")


def _octal(token: str) -> bool:
    return len(token) == 1 and token in "01234567"


_COMMON_TOKEN: Final = re.compile(
    r"\\Q.*?\\E|\\x(?:[0-9A-Fa-f]{2}|\{[0-9A-Fa-f]{3,}\})|\\[pP]\{[A-Za-z0-9_]+\}"
    r"|\\[acefnrtdDsSwW]|\\[^A-Za-z0-9]|\\|.",
    re.DOTALL,
)


def _common_tokens(pattern: str) -> list[str]:
    """The CommonRegex lexer: multi-character escapes are one token, anything else one char."""
    return _COMMON_TOKEN.findall(pattern)


@lru_cache(maxsize=256)
def common_regex(pattern: str) -> re.Pattern[str]:
    """The regex `isMatch` uses: CommonRegex-valid, `(?i)`/`(?m)`/`(?s)` turned into flags."""
    if not pattern or not _CommonRegexChecker(pattern).check():
        raise ExpressionError("the text is not a valid regular expression")
    flags = ""
    for marker, flag in _FLAGS:
        if marker in pattern:
            flags += flag
            pattern = pattern.replace(marker, "", 1)
    return js_regex(pattern, flags)
