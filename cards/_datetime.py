"""Date and time for the expression functions, computed and formatted as Microsoft's engine does.

Adaptive Expressions work on JavaScript `Date`s (a count of milliseconds since 1970, in the
proleptic Gregorian calendar, years -271821 to 275760) and format them with Day.js after turning
.NET-style format strings (`dd/MM/yyyy HH:mm`) into Day.js tokens. Both are ported here, quirks
included (a quoted literal such as `'at'` is handed to Day.js raw, where its `a` becomes "am"),
because what an admin previews in the Designer must be what a guest sees. An instant is an `int`
of milliseconds; calendar fields come from Howard Hinnant's civil-date algorithms, which cover the
whole JavaScript range (Python's `datetime` stops at year 9999 and has no year 0).

Everything is UTC unless a time zone is named (`cards._zones`). Timestamps are read strictly:
the functions that need an ISO timestamp accept exactly what `Date.prototype.toISOString` writes;
`formatDateTime` reads ISO 8601 (see cards/README.md for how that differs from a browser's
lenient `Date` parser).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

DEFAULT_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss.SSS[Z]"
UTC_DEFAULT_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss[Z]"
LOCAL_DEFAULT_FORMAT: Final = "YYYY-MM-DDTHH:mm:ssZ"
INVALID_DATE: Final = "Invalid Date"

MS_PER_SECOND: Final = 1000
MS_PER_MINUTE: Final = 60_000
MS_PER_HOUR: Final = 3_600_000
MS_PER_DAY: Final = 86_400_000
MAX_TIME: Final = 8_640_000_000_000_000  # JavaScript's TimeClip bound

WEEKDAYS: Final = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MONTHS: Final = (
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

# --- the calendar -------------------------------------------------------------------------------


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (month 1-12, any day number)."""
    year -= month <= 2
    era = (year if year >= 0 else year - 399) // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) of a count of days since 1970-01-01."""
    days += 719468
    era = (days if days >= 0 else days - 146096) // 146097
    day_of_era = days - era * 146097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * shifted + 2) // 5 + 1
    month = shifted + (3 if shifted < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def is_leap_year(year: int) -> bool:
    """The Gregorian leap-year rule."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """How many days month 1-12 of `year` has."""
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class Fields(NamedTuple):
    """The calendar fields of an instant as seen at some UTC offset (in minutes)."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    millisecond: int
    weekday: int  # 0 is Sunday, as JavaScript's getDay()
    offset: float = 0


def fields(instant: int, offset: float = 0) -> Fields:
    """The wall-clock fields of `instant` at `offset` minutes east of UTC."""
    local = instant + round(offset * MS_PER_MINUTE)
    days, within = divmod(local, MS_PER_DAY)
    year, month, day = civil_from_days(days)
    hour, within = divmod(within, MS_PER_HOUR)
    minute, within = divmod(within, MS_PER_MINUTE)
    second, millisecond = divmod(within, MS_PER_SECOND)
    return Fields(year, month, day, hour, minute, second, millisecond, (days + 4) % 7, offset)


def make_time(
    year: float,
    month: float,
    day: float = 1,
    hour: float = 0,
    minute: float = 0,
    second: float = 0,
    millisecond: float = 0,
) -> int | None:
    """ECMAScript MakeDay/MakeTime/MakeDate/TimeClip: fields may overflow (month 13 is next
    January, day 0 the last day of the month before); None is an invalid date."""
    parts = (year, month, day, hour, minute, second, millisecond)
    if not all(math.isfinite(part) for part in parts):
        return None
    year, month, day, hour, minute, second, millisecond = (math.trunc(part) for part in parts)
    whole_year = int(year) + int(month) // 12
    month_index = int(month) % 12
    days = days_from_civil(whole_year, month_index + 1, 1) + int(day) - 1
    instant = (
        days * MS_PER_DAY
        + int(hour) * MS_PER_HOUR
        + int(minute) * MS_PER_MINUTE
        + int(second) * MS_PER_SECOND
        + int(millisecond)
    )
    return instant if abs(instant) <= MAX_TIME else None


def valid(instant: int | None) -> int | None:
    """TimeClip: None when outside JavaScript's date range."""
    return instant if instant is not None and abs(instant) <= MAX_TIME else None


# --- reading timestamps -------------------------------------------------------------------------

_ISO_CANONICAL: Final = re.compile(
    r"(\d{4}|[+-]\d{6})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z"
)


def parse_iso_canonical(text: str) -> int | None:
    """The instant of a timestamp exactly as `toISOString()` writes it (AEL's
    verifyISOTimestamp): `2024-01-31T09:30:00.000Z`, or `+012345-…` beyond year 9999."""
    match = _ISO_CANONICAL.fullmatch(text)
    if match is None:
        return None
    year_text = match.group(1)
    if year_text == "-000000" or (len(year_text) == 7 and 0 <= int(year_text) <= 9999):
        return None
    year, month, day, hour, minute, second, millisecond = (int(part) for part in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    return make_time(year, month - 1, day, hour, minute, second, millisecond)


def to_iso_string(instant: int) -> str:
    """`Date.prototype.toISOString()`."""
    moment = fields(instant)
    year = moment.year
    year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{'+' if year > 0 else '-'}{abs(year):06d}"
    return (
        f"{year_text}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}"
        f":{moment.second:02d}.{moment.millisecond:03d}Z"
    )


_ISO_DATE: Final = re.compile(r"(\d{4})(?:-(\d\d)(?:-(\d\d))?)?")
_ISO_DATE_TIME: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?([Zz]|[+-]\d\d:\d\d)?"
)


def parse_timestamp(text: str) -> int | None:
    """The instant of an ISO 8601 date or date-time; without an offset it is taken as UTC."""
    match = _ISO_DATE.fullmatch(text)
    if match is not None:
        year, month, day = (int(part) if part else 1 for part in match.groups())
        if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
            return None
        return make_time(year, month - 1, day)
    match = _ISO_DATE_TIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
    second = int(match.group(6) or 0)
    millisecond = int((match.group(7) or "0")[:3].ljust(3, "0"))
    offset = match.group(8)
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    instant = make_time(year, month - 1, day, hour, minute, second, millisecond)
    if instant is None:
        return None
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            return None
        instant -= sign * (hours * MS_PER_HOUR + minutes * MS_PER_MINUTE)
    return valid(instant)


# Day.js's REGEX_PARSE: the strings Day.js reads itself (as wall-clock time), not through Date.
_DAYJS_PARSE: Final = re.compile(
    r"(\d{4})[-/]?(\d{1,2})?[-/]?(\d{0,2})[Tt\s]*(\d{1,2})?:?(\d{1,2})?:?(\d{1,2})?[.:]?(\d+)?"
)


def parse_dayjs(text: str) -> int | None:
    """What `dayjs.utc(text)` reads: Day.js's own pattern as UTC wall time (fields overflow as
    in `Date.UTC`), else an ISO 8601 timestamp (where Day.js would use the lenient `Date`)."""
    if not text.endswith(("Z", "z")):
        match = _DAYJS_PARSE.fullmatch(text)
        if match is not None:
            year, month, day, hour, minute, second, fraction = match.groups()
            year_number = int(year)
            if 0 <= year_number <= 99:
                year_number += 1900  # Date.UTC reads years 0-99 as 1900-1999
            return make_time(
                year_number,
                (int(month) - 1 if month else 0) or 0,
                int(day) if day else 1,
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                int((fraction or "0")[:3]),
            )
    return parse_timestamp(text)


# --- arithmetic, as Date's setters and Day.js's add/startOf compute it --------------------------


def shift_field(instant: int, amount: float, current: int, unit: int) -> int | None:
    """`date.setX(date.getX() + amount)`: the new field is truncated, then overflows."""
    total = current + amount
    if not math.isfinite(total):
        return None
    return valid(instant + (math.trunc(total) - current) * unit)


def add_days(instant: int, amount: float) -> int | None:
    """`Date.setDate(getDate() + amount)` in UTC."""
    return shift_field(instant, amount, fields(instant).day, MS_PER_DAY)


def add_hours(instant: int, amount: float) -> int | None:
    """`Date.setHours(getHours() + amount)` in UTC."""
    return shift_field(instant, amount, fields(instant).hour, MS_PER_HOUR)


def add_minutes(instant: int, amount: float) -> int | None:
    """`Date.setMinutes(getMinutes() + amount)` in UTC."""
    return shift_field(instant, amount, fields(instant).minute, MS_PER_MINUTE)


def add_seconds(instant: int, amount: float) -> int | None:
    """`Date.setSeconds(getSeconds() + amount)` in UTC."""
    return shift_field(instant, amount, fields(instant).second, MS_PER_SECOND)


# AEL's timeUnitTransformer: .NET unit names to Day.js units (weeks become 7 days).
TIME_UNITS: Final = {
    "Second": ("second", 1),
    "Minute": ("minute", 1),
    "Hour": ("hour", 1),
    "Day": ("day", 1),
    "Week": ("day", 7),
    "Month": ("month", 1),
    "Year": ("year", 1),
}
_STEPS: Final = {"second": MS_PER_SECOND, "minute": MS_PER_MINUTE, "hour": MS_PER_HOUR}


def dayjs_add(instant: int, amount: float, unit: str | None) -> int | None:
    """Day.js `utc().add(amount, unit)`: months and years keep the day, clamped to the month's
    length (January 31 plus a month is February 29 in a leap year); no unit adds milliseconds."""
    if not math.isfinite(amount):
        return None
    if unit in ("month", "year"):
        moment = fields(instant)
        month = moment.month - 1 + (amount if unit == "month" else 0)
        year = moment.year + (amount if unit == "year" else 0)
        first = make_time(year, month, 1)
        if first is None:
            return None
        target = fields(first)
        day = min(moment.day, days_in_month(target.year, target.month))
        time_of_day = instant - days_from_civil(moment.year, moment.month, moment.day) * MS_PER_DAY
        return valid(first + (day - 1) * MS_PER_DAY + time_of_day)
    if unit == "day":
        return valid(instant + int(math_round_half_up(amount)) * MS_PER_DAY)
    step = _STEPS.get(unit or "", 1)
    return valid(instant + int(amount * step))


def math_round_half_up(value: float) -> float:
    """`Math.round`: halves go towards +infinity."""
    floor = math.floor(value)
    return float(floor + 1) if value - floor >= 0.5 else float(floor)


def start_of(instant: int, unit: str) -> int:
    """Day.js `utc().startOf(unit)` for "day", "hour" and "month"."""
    if unit == "month":
        moment = fields(instant)
        return days_from_civil(moment.year, moment.month, 1) * MS_PER_DAY
    size = MS_PER_DAY if unit == "day" else MS_PER_HOUR
    return instant - instant % size


def day_of_year(instant: int) -> int:
    """Day.js's dayOfYear plugin in UTC: January 1 is day 1."""
    moment = fields(instant)
    return (
        days_from_civil(moment.year, moment.month, moment.day)
        - days_from_civil(moment.year, 1, 1)
        + 1
    )


def now_ms(now: datetime | None) -> int:
    """The current instant in milliseconds (`Date.now()`), or a frozen `now`."""
    moment = now if now is not None else datetime.now(UTC)
    return math.floor(moment.timestamp() * 1000)


# --- formatting -------------------------------------------------------------------------------


class FormatError(ValueError):
    """A .NET format string Day.js cannot express (the caller falls back to the raw string)."""


def format_for(args: Sequence[Any], max_args: int, default: str = DEFAULT_FORMAT) -> str:
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
    return default


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


_DAYJS_TOKENS: Final = re.compile(
    r"\[([^\]]+)]|YYYY|YY|M{1,4}|D{1,2}|d{1,4}|H{1,2}|h{1,2}|a|A|m{1,2}|s{1,2}|Z{1,2}|SSS"
)


def zone_text(offset: float) -> str:
    """Day.js's `Z`: `+05:30`, `-08:00`, `+00:00` for UTC."""
    negative_minutes = -offset
    minutes = abs(negative_minutes)
    hours = math.floor(minutes / 60)
    rest = minutes % 60
    rest_text = str(int(rest)) if float(rest).is_integer() else repr(rest)
    return f"{'+' if negative_minutes <= 0 else '-'}{hours:02d}:{rest_text.rjust(2, '0')}"


def dayjs_offset(offset: float) -> float:
    """The offset Day.js records for a zone: it reads an offset of at most 16 as hours, which
    only historical local mean times (such as +0:00:52) ever hit."""
    return offset * 60 if 0 < abs(offset) <= 16 else offset


def dayjs_format(
    instant: int | None,
    pattern: str,
    offset: float = 0,
    *,
    utc: bool = True,
    zone_offset: float | None = None,
) -> str:
    """Day.js `format(pattern)` of an instant in UTC (or at `offset` minutes; None is invalid).

    `zone_offset` is the offset `Z` shows when it differs from the wall clock's (Day.js measures
    it its own way, see `cards._zones.dayjs_offset_minutes`).
    """
    if instant is None:
        return INVALID_DATE
    pattern = pattern or (UTC_DEFAULT_FORMAT if utc else LOCAL_DEFAULT_FORMAT)
    moment = fields(instant, offset)
    hour = moment.hour

    def token(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        text = match.group(0)
        if text == "YY":
            return str(moment.year)[-2:]
        if text == "YYYY":
            year = str(moment.year)
            return year if len(year) >= 4 else "0" * (4 - len(year)) + year
        if text[0] == "M":
            name = MONTHS[moment.month - 1]
            return (str(moment.month), f"{moment.month:02d}", name[:3], name)[len(text) - 1]
        if text[0] == "D":
            return str(moment.day) if text == "D" else f"{moment.day:02d}"
        if text[0] == "d":
            name = WEEKDAYS[moment.weekday]
            return (str(moment.weekday), name[:2], name[:3], name)[len(text) - 1]
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
            return str(moment.minute) if text == "m" else f"{moment.minute:02d}"
        if text[0] == "s":
            return str(moment.second) if text == "s" else f"{moment.second:02d}"
        if text == "SSS":
            return f"{moment.millisecond:03d}"
        zone = zone_text(dayjs_offset(offset if zone_offset is None else zone_offset))
        return zone if text == "Z" else zone.replace(":", "", 1)

    return _DAYJS_TOKENS.sub(token, pattern)
