"""TIMEX expressions (`XXXX-10-31`, `T14:30`, `P3D`, `2024-W05`), as Microsoft's TIMEX library
reads, writes, resolves and reads back in English.

adaptive-expressions uses npm `@microsoft/recognizers-text-data-types-timex-expression` 1.3.1;
the parts its functions use are ported here: parsing into properties (`year`, `dayOfWeek`,
`partOfDay`, `days`, …), type inference, formatting back to TIMEX, the value resolver behind
`resolve()` and the relative English behind `dateReadBack()` (its spelling included: "Februrary",
"11st"). The Python port of that library (`datatypes-timex-expression` 1.0.2a2, 2019) differs from
the JavaScript one (weeks start on Monday, dates compare with their time of day), so it does not
fit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from cards import _datetime as dates
from cards._js import UNDEFINED, number_to_string
from cards.errors import ExpressionError

Props = dict[str, Any]

_DATE: Final = (
    (re.compile(r"(\d\d\d\d)-(\d\d)-(\d\d)"), ("year", "month", "dayOfMonth")),
    (re.compile(r"XXXX-WXX-(\d)"), ("dayOfWeek",)),
    (re.compile(r"XXXX-(\d\d)-(\d\d)"), ("month", "dayOfMonth")),
    (re.compile(r"(\d\d\d\d)"), ("year",)),
    (re.compile(r"(\d\d\d\d)-(\d\d)"), ("year", "month")),
    (re.compile(r"(SP|SU|FA|WI)"), ("season",)),
    (re.compile(r"(\d\d\d\d)-(SP|SU|FA|WI)"), ("year", "season")),
    (re.compile(r"(\d\d\d\d)-W(\d\d)"), ("year", "weekOfYear")),
    (re.compile(r"(\d\d\d\d)-W(\d\d)-(WE)"), ("year", "weekOfYear", "weekend")),
    (re.compile(r"XXXX-(\d\d)"), ("month",)),
    (re.compile(r"XXXX-(\d\d)-W(\d\d)"), ("month", "weekOfMonth")),
    (re.compile(r"XXXX-(\d\d)-WXX-(\d)-(\d)"), ("month", "weekOfMonth", "dayOfWeek")),
)
_TIME: Final = (
    (re.compile(r"T(\d\d)"), ("hour",)),
    (re.compile(r"T(\d\d):(\d\d)"), ("hour", "minute")),
    (re.compile(r"T(\d\d):(\d\d):(\d\d)"), ("hour", "minute", "second")),
    (re.compile(r"T(DT|NI|MO|AF|EV)"), ("partOfDay",)),
)
_PERIOD: Final = re.compile(r"P(T?)(\d*\.?\d+)([YMWDHS])")
_DATE_UNITS: Final = {"Y": "years", "M": "months", "W": "weeks", "D": "days"}
_TIME_UNITS: Final = {"H": "hours", "M": "minutes", "S": "seconds"}
_TEXT_PROPERTIES: Final = frozenset(("season", "partOfDay"))


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _extract(table: Any, text: str, props: Props) -> None:
    for pattern, names in table:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        for name, found in zip(names, match.groups(), strict=True):
            if name == "weekend":
                props[name] = True
            else:
                props[name] = found if name in _TEXT_PROPERTIES else _number(found)
        if names[0] == "hour":
            props.setdefault("minute", 0)
            props.setdefault("second", 0)
        return


def _duration(text: str, props: Props) -> None:
    match = _PERIOD.fullmatch(text)
    if match is None:
        return
    is_time, amount, unit = match.groups()
    units = _TIME_UNITS if is_time else _DATE_UNITS
    if unit in units:
        props[units[unit]] = _number(amount)


def _date_time(text: str, props: Props) -> None:
    split = text.find("T")
    if split < 0:
        _extract(_DATE, text, props)
    else:
        _extract(_DATE, text[:split], props)
        _extract(_TIME, text[split:], props)


def parse(value: Any) -> Props:
    """`new TimexProperty(value)` for a TIMEX text or a property object (AEL refuses others)."""
    props: Props = {}
    if type(value) is str:
        if value == "PRESENT_REF":
            props["now"] = True
        elif value.startswith("P"):
            _duration(value, props)
        elif value.startswith("(") and value.endswith(")"):
            parts = value[1:-1].split(",")
            if len(parts) == 3:
                _date_time(parts[0], props)
                _duration(parts[2], props)
        else:
            _date_time(value, props)
        return props
    if isinstance(value, Mapping):
        props.update(value)
    elif isinstance(value, list):
        props.update({str(index): item for index, item in enumerate(value)})
    if "hour" in props:
        props.setdefault("minute", 0)
        props.setdefault("second", 0)
    if not props:
        raise ExpressionError("a TIMEX function needs a TIMEX text or a TIMEX object")
    return props


def defined(props: Props, *names: str) -> bool:
    """`props.name !== undefined` for every name."""
    return all(props.get(name, UNDEFINED) is not UNDEFINED for name in names)


def types(props: Props) -> set[str]:
    """TimexInference.infer: which kinds of TIMEX the properties make."""
    found: set[str] = set()
    has = props.__contains__
    if props.get("now") is True:
        found.add("present")
    if has("year") and has("month") and has("dayOfMonth"):
        found.add("definite")
    if (has("month") and has("dayOfMonth")) or has("dayOfWeek"):
        found.add("date")
    if (
        (has("year") and not has("dayOfMonth"))
        or (has("month") and not has("dayOfMonth"))
        or has("season")
        or has("weekOfYear")
        or has("weekOfMonth")
    ):
        found.add("daterange")
    if any(has(name) for name in ("years", "months", "weeks", "days", "hours", "minutes")) or has(
        "seconds"
    ):
        found.add("duration")
    if has("hour") and has("minute") and has("second"):
        found.add("time")
    if has("partOfDay"):
        found.add("timerange")
    if "present" in found:
        found |= {"date", "time"}
    if "time" in found and "duration" in found:
        found.add("timerange")
    if "date" in found and "time" in found:
        found.add("datetime")
    if "date" in found and "duration" in found:
        found.add("daterange")
    if ("datetime" in found and "duration" in found) or ("date" in found and "timerange" in found):
        found.add("datetimerange")
    return found


def _fixed(value: Any, size: int) -> str:
    """fixedFormatNumber: zeros in front up to `size` characters."""
    text = number_to_string(value) if type(value) in (int, float) else str(value)
    return "0" * (size - len(text)) + text


def _format_date(props: Props) -> str:
    if "year" in props and "month" in props and "dayOfMonth" in props:
        year, month, day = props["year"], props["month"], props["dayOfMonth"]
        return f"{_fixed(year, 4)}-{_fixed(month, 2)}-{_fixed(day, 2)}"
    if "month" in props and "dayOfMonth" in props:
        return f"XXXX-{_fixed(props['month'], 2)}-{_fixed(props['dayOfMonth'], 2)}"
    if "dayOfWeek" in props:
        return f"XXXX-WXX-{props['dayOfWeek']}"
    return ""


def _format_time(props: Props) -> str:
    hour, minute, second = props.get("hour"), props.get("minute"), props.get("second")
    if minute == 0 and second == 0:
        return f"T{_fixed(hour, 2)}"
    if second == 0:
        return f"T{_fixed(hour, 2)}:{_fixed(minute, 2)}"
    return f"T{_fixed(hour, 2)}:{_fixed(minute, 2)}:{_fixed(second, 2)}"


def from_date(year: int, month: int, day: int) -> str:
    """`TimexProperty.fromDate(new Date(year, month - 1, day)).timex` (fields overflow)."""
    instant = dates.make_time(year + 1900 if 0 <= year <= 99 else year, month - 1, day)
    if instant is None:
        raise ExpressionError("the date is outside the dates JavaScript can hold")
    moment = dates.fields(instant)
    return _format_date({"year": moment.year, "month": moment.month, "dayOfMonth": moment.day})


def from_time(hour: int, minute: int, second: int) -> str:
    """`TimexProperty.fromTime(new Time(hour, minute, second)).timex`."""
    return _format_time({"hour": hour, "minute": minute, "second": second})


def _date_value(props: Props) -> str:
    if defined(props, "year", "month", "dayOfMonth"):
        return _format_date({key: props[key] for key in ("year", "month", "dayOfMonth")})
    return ""


def _time_value(props: Props) -> str:
    if defined(props, "hour", "minute", "second"):
        return ":".join(_fixed(props[key], 2) for key in ("hour", "minute", "second"))
    return ""


_SECONDS_PER: Final = (
    ("years", 31536000),
    ("months", 2592000),
    ("weeks", 604800),
    ("days", 86400),
    ("hours", 3600),
    ("minutes", 60),
    ("seconds", 1),
)


def _format(props: Props) -> str | None:
    """TimexFormat.format; None for a range with a duration (which resolves to no value)."""
    found = types(props)
    if "present" in found:
        return "PRESENT_REF"
    if found & {"datetimerange", "daterange", "timerange"} and "duration" in found:
        return None
    if "datetimerange" in found:
        part = f"T{props['partOfDay']}" if "partOfDay" in props else ""
        return _format_date(props) + part
    if "daterange" in found:
        return _format_date_range(props)
    if "timerange" in found:
        return f"T{props['partOfDay']}" if "partOfDay" in props else ""
    if "datetime" in found:
        return _format_date(props) + _format_time(props)
    if "duration" in found:
        for name, _ in _SECONDS_PER:
            if name in props:
                amount = number_to_string(props[name])
                unit = name[0].upper()
                return f"PT{amount}{unit}" if name in _TIME_UNITS.values() else f"P{amount}{unit}"
        return ""
    if "date" in found:
        return _format_date(props)
    if "time" in found:
        return _format_time(props)
    return ""


def _format_date_range(props: Props) -> str:
    has = props.__contains__
    year = _fixed(props.get("year"), 4)
    if has("year") and has("weekOfYear") and has("weekend"):
        return f"{year}-W{_fixed(props['weekOfYear'], 2)}-WE"
    if has("year") and has("weekOfYear"):
        return f"{year}-W{_fixed(props['weekOfYear'], 2)}"
    if has("year") and has("season"):
        return f"{year}-{props['season']}"
    if has("season"):
        return str(props["season"])
    if has("year") and has("month"):
        return f"{year}-{_fixed(props['month'], 2)}"
    if has("year"):
        return year
    month = _fixed(props.get("month"), 2)
    if has("month") and has("weekOfMonth") and has("dayOfWeek"):
        return f"XXXX-{month}-WXX-{props['weekOfMonth']}-{props['dayOfWeek']}"
    if has("month") and has("weekOfMonth"):
        return f"XXXX-{month}-WXX-{props['weekOfMonth']}"
    if has("month"):
        return f"XXXX-{month}"
    return ""


def resolve(props: Props) -> Any:
    """`valueResolver.resolve([timex]).values[0].value` with no reference date (as AEL calls it):
    a text, undefined for ranges, or an error where a reference date would be needed."""
    if not types(props):
        raise ExpressionError("resolve() needs a TIMEX that has a type")
    timex = _format(props)
    if timex is None:
        return UNDEFINED
    parsed = parse(timex)
    found = types(parsed)
    if "datetimerange" in found:
        return UNDEFINED
    if "definite" in found and "time" in found:
        return f"{_date_value(parsed)} {_time_value(parsed)}"
    if "definite" in found:
        return UNDEFINED if "daterange" in found else _date_value(parsed)
    if "daterange" in found:
        if "season" in parsed:
            return "not resolved"
        if defined(parsed, "year"):
            return UNDEFINED
    elif "timerange" in found:
        return UNDEFINED
    elif "duration" in found and "datetime" not in found:
        for name, seconds in _SECONDS_PER:
            if defined(parsed, name):
                return number_to_string(seconds * parsed[name])
        return ""
    elif "time" in found and "date" not in found:
        return _time_value(parsed)
    raise ExpressionError("resolve() cannot resolve this TIMEX without a reference date")


# --- English, relative to a date (dateReadBack) -------------------------------------------------

_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS: Final = (
    "January",
    "Februrary",  # sic: Microsoft's spelling, which the Designer shows
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
_ABBREVIATIONS: Final = {"1": "st", "2": "nd", "3": "rd"}


def _days(instant: int) -> int:
    return instant // dates.MS_PER_DAY


def read_back(timex: str, reference: int) -> str:
    """`new TimexProperty(timex).toNaturalLanguage(reference)` for a `YYYY-MM-DD` TIMEX."""
    props = parse(timex)
    found = types(props)
    if "definite" not in found:
        return ""
    year = props["year"]
    day = dates.make_time(year + 1900 if 0 <= year <= 99 else year, props["month"] - 1, 1)
    if day is None:
        return ""
    target = _days(day) + props["dayOfMonth"] - 1
    today = _days(reference)
    weekday = (today + 4) % 7  # 0 is Sunday
    name = _DAYS[((target + 4) % 7 + 6) % 7]
    if target == today:
        return "today"
    if target == today + 1:
        return "tomorrow"
    if target == today - 1:
        return "yesterday"
    if today - weekday <= target < today - weekday + 7:
        return f"this {name}"
    if today + 7 - weekday <= target < today + 14 - weekday:
        return f"next {name}"
    if today - 7 - weekday <= target < today - weekday:
        return f"last {name}"
    day_text = number_to_string(props["dayOfMonth"])
    suffix = _ABBREVIATIONS.get(day_text[-1], "th")
    month = _MONTHS[props["month"] - 1] if 1 <= props["month"] <= 12 else "undefined"
    return f"{day_text}{suffix} {month} {number_to_string(year)}".strip()
