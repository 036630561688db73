"""Date and time for the expression functions, formatted exactly as Microsoft's engine formats them.

Adaptive Expressions take .NET-style format strings (`dd/MM/yyyy HH:mm`), translate them to Day.js
tokens and let Day.js format the instant in UTC. Both steps are ported here, quirks included
(a quoted literal such as `'at'` is handed to Day.js raw, where its `a` becomes "am"), because
what an admin previews in the Designer must be what a guest sees.

Everything is UTC. Timestamps are read as ISO 8601 only; see cards/README.md for how that differs
from a browser's lenient `Date` parser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

DEFAULT_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss.SSS[Z]"
_UTC_DEFAULT_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss[Z]"
INVALID_DATE: Final = "Invalid Date"

_WEEKDAYS: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_ISO_EXACT: Final = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z")
_ISO_DATE: Final = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?")
_ISO_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?([Zz]|[+-]\d\d:\d\d)?"
)
_DAYJS_TOKENS: Final = re.compile(
    r"\[([^\]]+)]|YYYY|YY|M{1,4}|D{1,2}|d{1,4}|H{1,2}|h{1,2}|a|A|m{1,2}|s{1,2}|Z{1,2}|SSS"
)


class FormatError(ValueError):
    """A .NET format string Day.js cannot express (the caller falls back to the raw string)."""


def parse_iso_exact(text: str) -> datetime | None:
    """The instant of a `YYYY-MM-DDTHH:mm:ss.sssZ` string, the only form `addDays` & co. accept."""
    match = _ISO_EXACT.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, millis = (int(part) for part in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=UTC)
    except ValueError:
        return None


def parse_timestamp(text: str) -> datetime | None:
    """The instant of an ISO 8601 date or date-time; without an offset it is taken as UTC."""
    try:
        match = _ISO_DATE.fullmatch(text)
        if match is not None:
            year, month, day = match.groups()
            return datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        match = _ISO_DATE_TIME.fullmatch(text)
        if match is None:
            return None
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        millis = int((fraction or "0")[:3].ljust(3, "0"))
        instant = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            millis * 1000,
            tzinfo=UTC,
        )
    except (ValueError, OverflowError):
        return None
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            return None
        instant -= sign * timedelta(hours=hours, minutes=minutes)
    return instant


def add_days(instant: datetime, amount: float) -> datetime | None:
    """`Date.setDate(getDate() + amount)` in UTC: the day number is truncated towards zero."""
    return _shift(instant, amount, instant.day, "days")


def add_hours(instant: datetime, amount: float) -> datetime | None:
    """`Date.setHours(getHours() + amount)` in UTC: the hour number is truncated towards zero."""
    return _shift(instant, amount, instant.hour, "hours")


def _shift(instant: datetime, amount: float, current: int, unit: str) -> datetime | None:
    if not math.isfinite(amount):
        return None
    try:
        return instant + timedelta(**{unit: math.trunc(current + amount) - current})
    except OverflowError:
        return None


def day_of_week(instant: datetime) -> int:
    """`getUTCDay()`: 0 for Sunday through 6 for Saturday."""
    return (instant.weekday() + 1) % 7


def utc_now(now: datetime | None) -> datetime:
    """The current instant in UTC, to the millisecond as JavaScript has it (or a frozen `now`)."""
    instant = now.astimezone(UTC) if now is not None else datetime.now(UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def format_for(args: Sequence[Any], max_args: int) -> str:
    """AEL's `determineFormatAndLocale`: the Day.js format from the optional trailing arguments.

    The locale argument is accepted and ignored, as in Microsoft's engine, which loads no Day.js
    locale besides English.
    """
    if len(args) == max_args:
        pattern, locale = args[max_args - 2], args[max_args - 1]
        if isinstance(pattern, str) and isinstance(locale, str):
            return timestamp_formatter(pattern) if pattern != "" else DEFAULT_FORMAT
    elif len(args) == max_args - 1:
        pattern = args[max_args - 2]
        if isinstance(pattern, str):
            return timestamp_formatter(pattern)
    return DEFAULT_FORMAT


def timestamp_formatter(pattern: str) -> str:
    """A .NET format as Day.js tokens; a format that cannot be converted is used as it is."""
    if not pattern:
        return DEFAULT_FORMAT
    try:
        return csharp_to_dayjs(pattern)
    except FormatError:
        return pattern


# .NET token letter -> Day.js output for a run of 1, 2, 3, 4+ of that letter. None: unsupported.
_RUNS: Final[dict[str, tuple[str | None, ...]]] = {
    "d": ("D", "DD", "ddd", "dddd"),
    "f": (None, None, "SSS"),
    "F": (None, None, "SSS"),
    "g": (None,),
    "h": ("h", "hh"),
    "H": ("H", "HH"),
    "m": ("m", "mm"),
    "M": ("M", "MM", "MMM", "MMMM"),
    "s": ("s", "ss"),
    "t": ("A", "A"),
    "y": ("YY", "YY", "YYYY", "YYYY"),
    "z": ("ZZ", "ZZ", "Z"),
}


def csharp_to_dayjs(pattern: str) -> str:
    """Port of adaptive-expressions' `convertCSharpDateTimeToDayjs` (same output, same errors)."""
    if len(pattern) == 1:
        if pattern in "Rr":
            raise FormatError("RFC 1123 is not supported")
        if pattern in "Oo":
            pattern = "YYYY-MM-DDTHH:mm:ss.SSS0000Z"
        elif pattern == "U":
            raise FormatError("the universal full format is not supported")
        elif pattern == "u":
            raise FormatError("the universal sortable format is not supported")

    out: list[str] = []
    letter = ""  # the token letter being counted, or "" outside a token
    count = 0
    literal = ""  # "'" or "`" inside a quoted literal, "\\" after a backslash
    buffer: list[str] = []

    def flush() -> None:
        nonlocal letter, count
        if letter:
            runs = _RUNS[letter]
            token = runs[min(count, len(runs)) - 1]
            if token is None:
                raise FormatError(f"the .NET format token {letter * count} is not supported")
            out.append(token)
        letter, count = "", 0

    for char in pattern:
        if literal == "\\":
            out.append(char)
            literal = ""
        elif literal:
            if char == literal:
                out.extend(buffer)
                buffer.clear()
                literal = ""
            else:
                buffer.append(char)
        elif char in _RUNS:
            if char == letter:
                count += 1
            else:
                flush()
                letter, count = char, 1
        elif char == "K":
            flush()
            out.append("Z")
        elif char in "`'":
            flush()
            literal = char
        elif char == "\\":
            flush()
            literal = "\\"
        elif char == "%":
            flush()
        else:
            flush()
            out.append(char)
    if literal:
        raise FormatError("a quoted literal or escape is not closed")
    flush()
    return "".join(out)


def dayjs_format(instant: datetime | None, pattern: str) -> str:
    """Day.js `utc().format(pattern)` for an instant (None is an invalid date)."""
    if instant is None:
        return INVALID_DATE
    pattern = pattern or _UTC_DEFAULT_FORMAT
    weekday = day_of_week(instant)
    hour = instant.hour

    def token(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        text = match.group(0)
        if text == "YY":
            return str(instant.year)[-2:]
        if text == "YYYY":
            return str(instant.year).rjust(4, "0")
        if text[0] == "M":
            return (
                str(instant.month),
                f"{instant.month:02d}",
                _MONTHS[instant.month - 1][:3],
                _MONTHS[instant.month - 1],
            )[len(text) - 1]
        if text[0] == "D":
            return str(instant.day) if text == "D" else f"{instant.day:02d}"
        if text[0] == "d":
            name = _WEEKDAYS[weekday]
            return (str(weekday), name[:2], name[:3], name)[len(text) - 1]
        if text[0] == "H":
            return str(hour) if text == "H" else f"{hour:02d}"
        if text[0] == "h":
            twelve = hour % 12 or 12
            return str(twelve) if text == "h" else f"{twelve:02d}"
        if text == "a":
            return "am" if hour < 12 else "pm"
        if text == "A":
            return "AM" if hour < 12 else "PM"
        if text[0] == "m":
            return str(instant.minute) if text == "m" else f"{instant.minute:02d}"
        if text[0] == "s":
            return str(instant.second) if text == "s" else f"{instant.second:02d}"
        if text == "SSS":
            return f"{instant.microsecond // 1000:03d}"
        return "+00:00" if text == "Z" else "+0000"

    return _DAYJS_TOKENS.sub(token, pattern)
