"""Date and time: `utcNow formatDateTime formatEpoch formatTicks addDays addHours addMinutes
addSeconds addToTime subtractFromTime startOfDay startOfHour startOfMonth dayOfMonth dayOfWeek
dayOfYear month year date ticks ticksToDays ticksToHours ticksToMinutes dateTimeDiff
convertFromUTC convertToUTC getTimeOfDay getFutureTime getPastTime`.

Timestamps are ISO 8601 texts; most functions accept exactly what JavaScript's `toISOString`
writes (`2024-01-31T09:30:00.000Z`), as Microsoft's do. Results are formatted with .NET format
strings translated to Day.js, in UTC, or in a named zone for `convertFromUTC`. Functions that
read the clock (`utcNow`, `getFutureTime`, `getPastTime`, the zone guess of `convertToUTC`) use
the `now` a card is expanded with, so they can be pinned.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final

from cards import _datetime as dates
from cards._functions.base import NUMBER, STRING, FunctionSpec, pure, spec, strict, text_argument
from cards._js import BigInteger, as_double, is_integer, is_number, number
from cards._scope import Scope
from cards._zones import dayjs_offset_minutes, offset_minutes, zone
from cards.errors import ExpressionError

TICKS_AT_EPOCH: Final = 621_355_968_000_000_000  # .NET ticks (100 ns) at 1970-01-01
TICKS_PER_MS: Final = 10_000
NON_UTC_FORMAT: Final = "YYYY-MM-DDTHH:mm:ss.SSS0000"


def _timestamp(value: Any, function: str) -> int:
    """AEL's verifyISOTimestamp: the text `toISOString()` would write, and its instant."""
    if type(value) is not str:
        raise ExpressionError(f"{function}() needs a timestamp text")
    instant = dates.parse_iso_canonical(value)
    if instant is None:
        raise ExpressionError(f"{function}() needs a timestamp like 2024-01-31T09:30:00.000Z")
    return instant


def _utc_now(values: list[Any], scope: Scope) -> Any:
    return dates.dayjs_format(dates.now_ms(scope.now), dates.format_for(values, 2))


def _format_date_time(values: list[Any]) -> Any:
    stamp = values[0]
    if type(stamp) is not str:
        raise ExpressionError("formatDateTime() needs a timestamp text")
    instant = dates.parse_timestamp(stamp)
    if instant is None:
        raise ExpressionError("formatDateTime() needs an ISO 8601 timestamp")
    return dates.dayjs_format(instant, dates.format_for(values, 3))


def _format_epoch(values: list[Any]) -> Any:
    seconds = values[0]
    if not is_number(seconds):
        raise ExpressionError("formatEpoch() needs a number of seconds")
    milliseconds = as_double(seconds) * 1000
    instant = dates.valid(math.trunc(milliseconds)) if math.isfinite(milliseconds) else None
    if instant is None:
        raise ExpressionError("formatEpoch() got a time outside the dates JavaScript can hold")
    return dates.dayjs_format(instant, dates.format_for(values, 3))


_BIG_INTEGER: Final = re.compile(r"(-?)([0-9]+)(?:\.([0-9]*))?(?:[eE]\+?([0-9]+))?")


def _big_integer(value: Any) -> int:
    """What the `big-integer` package makes of a number or text (it refuses fractions)."""
    if type(value) is BigInteger:
        return value.value
    if is_number(value):
        if not is_integer(value):
            raise ExpressionError("formatTicks() needs a whole number of ticks")
        return int(value)
    if type(value) is str:
        match = _BIG_INTEGER.fullmatch(value)
        if match is not None:
            sign, whole, fraction, exponent = match.groups()
            digits, power = whole + (fraction or ""), int(exponent or 0) - len(fraction or "")
            if power >= 0 and (exponent is not None or fraction is None):
                return int(sign + digits + "0" * power)
        raise ExpressionError("formatTicks() needs a whole number of ticks")
    raise ExpressionError("formatTicks() needs a number of ticks")


def _format_ticks(values: list[Any]) -> Any:
    ticks = _big_integer(values[0])
    difference = ticks - TICKS_AT_EPOCH
    milliseconds = abs(difference) // TICKS_PER_MS * (1 if difference >= 0 else -1)
    instant = dates.valid(milliseconds)
    if instant is None:
        raise ExpressionError("formatTicks() got a time outside the dates JavaScript can hold")
    return dates.dayjs_format(instant, dates.format_for(values, 3))


def _shift(function: str, shift: Callable[[int, float], int | None]) -> Callable[[list[Any]], Any]:
    """AEL's TimeTransformEvaluator: `Date.setX(getX() + amount)`, formatted in UTC."""

    def apply(values: list[Any]) -> Any:
        pattern = dates.format_for(values, 4)
        stamp, amount = values[0], values[1]
        if type(stamp) is not str or not is_number(amount):
            raise ExpressionError(f"{function}() needs an ISO timestamp and a number")
        return dates.dayjs_format(shift(_timestamp(stamp, function), as_double(amount)), pattern)

    return apply


def _unit(value: Any) -> tuple[str, int] | None:
    return dates.TIME_UNITS.get(value) if type(value) is str else None


def _add_to_time(values: list[Any]) -> Any:
    stamp, amount, unit = values[0], values[1], values[2]
    if type(stamp) is not str or not is_integer(amount) or type(unit) is not str:
        raise ExpressionError("addToTime() needs a timestamp, a whole number and a unit of time")
    pattern = dates.format_for(values, 5)
    instant = _timestamp(stamp, "addToTime")
    found = _unit(unit)
    # An unknown unit adds milliseconds in Microsoft's engine (Day.js's default unit).
    name, size = found if found is not None else (None, 1)
    return dates.dayjs_format(dates.dayjs_add(instant, as_double(amount) * size, name), pattern)


def _subtract_from_time(values: list[Any]) -> Any:
    stamp, amount, unit = values[0], values[1], values[2]
    if type(stamp) is not str or not is_integer(amount) or type(unit) is not str:
        raise ExpressionError(
            "subtractFromTime() needs a timestamp, a whole number and a unit of time"
        )
    pattern = dates.format_for(values, 5)
    found = _unit(unit)
    if found is None:
        raise ExpressionError("subtractFromTime() needs a unit such as Day, Hour or Month")
    instant = _timestamp(stamp, "subtractFromTime")
    name, size = found
    return dates.dayjs_format(dates.dayjs_add(instant, -as_double(amount) * size, name), pattern)


def _relative_time(function: str, direction: int) -> Callable[[list[Any], Scope], Any]:
    def apply(values: list[Any], scope: Scope) -> Any:
        amount, unit = values[0], values[1]
        if not is_integer(amount) or type(unit) is not str:
            raise ExpressionError(f"{function}() needs a whole number and a unit of time")
        pattern = dates.format_for(values, 4)
        found = _unit(unit)
        if found is None:
            raise ExpressionError(f"{function}() needs a unit such as Day, Hour or Month")
        name, size = found
        moved = dates.dayjs_add(dates.now_ms(scope.now), direction * as_double(amount) * size, name)
        return dates.dayjs_format(moved, pattern)

    return apply


def _start_of(function: str, unit: str) -> Callable[[list[Any]], Any]:
    def apply(values: list[Any]) -> Any:
        if type(values[0]) is not str:
            raise ExpressionError(f"{function}() needs a timestamp text")
        pattern = dates.format_for(values, 3)
        return dates.dayjs_format(dates.start_of(_timestamp(values[0], function), unit), pattern)

    return apply


def _field(function: str, read: Callable[[int], Any]) -> Callable[[list[Any]], Any]:
    return lambda values: read(_timestamp(text_argument(values[0], function), function))


def _ticks(values: list[Any]) -> Any:
    instant = _timestamp(values[0], "ticks")
    return BigInteger(TICKS_AT_EPOCH + instant * TICKS_PER_MS)


def _ticks_to(function: str, ticks_per_unit: int) -> Callable[[list[Any]], Any]:
    def apply(values: list[Any]) -> Any:
        ticks = values[0]
        if type(ticks) is BigInteger:
            return number(float(ticks.value) / ticks_per_unit)
        if is_integer(ticks):
            return number(as_double(ticks) / ticks_per_unit)
        raise ExpressionError(f"{function}() needs a whole number of ticks")

    return apply


def _date_time_diff(values: list[Any]) -> Any:
    first = _timestamp(values[0], "dateTimeDiff")
    second = _timestamp(values[1], "dateTimeDiff")
    return number(as_double((first - second) * TICKS_PER_MS))


def _zone_of(name: Any, function: str) -> Any:
    found = zone(name) if type(name) is str else None
    if found is None:
        raise ExpressionError(f"{function}() needs a time zone name such as Europe/London")
    return found


def _convert_from_utc(values: list[Any]) -> Any:
    stamp, name = values[0], values[1]
    if type(stamp) is not str or type(name) is not str:
        raise ExpressionError("convertFromUTC() needs a timestamp and a time zone")
    pattern = dates.format_for(values, 4, NON_UTC_FORMAT)
    instant = _timestamp(stamp, "convertFromUTC")
    where = _zone_of(name, "convertFromUTC")
    shown = dayjs_offset_minutes(instant, where)
    wall = offset_minutes(instant, where) if shown else 0
    return dates.dayjs_format(instant, pattern, wall, zone_offset=shown)


def _convert_to_utc(values: list[Any], scope: Scope) -> Any:
    stamp, name = values[0], values[1]
    if type(stamp) is not str or type(name) is not str:
        raise ExpressionError("convertToUTC() needs a timestamp and a time zone")
    pattern = dates.format_for(values, 4)
    where = _zone_of(name, "convertToUTC")
    wall = dates.parse_dayjs(stamp)
    if wall is None:
        raise ExpressionError("convertToUTC() needs a timestamp such as 2024-01-31T09:30:00")
    # Day.js's timezone plugin: a first guess with the zone's offset now, then corrected.
    guess = dayjs_offset_minutes(dates.now_ms(scope.now), where)
    instant, offset = _fix_offset(wall, guess, lambda moment: dayjs_offset_minutes(moment, where))
    if not float(dates.dayjs_offset(offset)).is_integer():
        # Day.js writes a local mean time's fraction of a minute into the offset, which no
        # timestamp parser reads back: Microsoft's engine gives "Invalid Date".
        return dates.dayjs_format(None, pattern)
    whole_seconds = instant - instant % dates.MS_PER_SECOND
    return dates.dayjs_format(dates.valid(whole_seconds), pattern)


def _fix_offset(local: int, guess: float, offset_at: Callable[[int], float]) -> tuple[int, float]:
    """Day.js's fixOffset: the instant whose wall-clock time in the zone is `local`, and the
    offset it settles on."""
    utc_guess = local - round(guess * dates.MS_PER_MINUTE)
    second = offset_at(utc_guess)
    if second == guess:
        return utc_guess, guess
    utc_guess -= round((second - guess) * dates.MS_PER_MINUTE)
    third = offset_at(utc_guess)
    if second == third:
        return utc_guess, second
    return local - round(min(second, third) * dates.MS_PER_MINUTE), max(second, third)


_LOCAL_SEVEN_DIGITS: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}0000")


def _time_of_day(values: list[Any]) -> Any:
    stamp = text_argument(values[0], "getTimeOfDay")
    instant = dates.parse_iso_canonical(stamp)
    if instant is None and _LOCAL_SEVEN_DIGITS.fullmatch(stamp):
        # Microsoft also reads `…T10:00:00.0000000` (local time: UTC on a server).
        instant = dates.parse_iso_canonical(stamp[:23] + "Z")
    if instant is None:
        raise ExpressionError("getTimeOfDay() needs a timestamp like 2024-01-31T09:30:00.000Z")
    moment = dates.fields(instant)
    clock = moment.hour * 100 + moment.minute
    if clock == 0:
        return "midnight"
    if clock < 1200:
        return "morning"
    if clock == 1200:
        return "noon"
    if clock < 1800:
        return "afternoon"
    if clock <= 2200:
        return "evening"
    return "night"


def _date(instant: int) -> str:
    return dates.dayjs_format(instant, "M/DD/YYYY")


_TIME_FORMAT: Final = (STRING, STRING)

FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "utcNow": spec(strict(_utc_now), optional=_TIME_FORMAT, returns=STRING),
    "formatDateTime": spec(
        pure(_format_date_time), args=(STRING,), optional=_TIME_FORMAT, returns=STRING
    ),
    "formatEpoch": spec(pure(_format_epoch), args=(NUMBER,), optional=_TIME_FORMAT, returns=STRING),
    "formatTicks": spec(pure(_format_ticks), args=(NUMBER,), optional=_TIME_FORMAT, returns=STRING),
    "addDays": spec(
        pure(_shift("addDays", dates.add_days)),
        args=(STRING, NUMBER),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "addHours": spec(
        pure(_shift("addHours", dates.add_hours)),
        args=(STRING, NUMBER),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "addMinutes": spec(
        pure(_shift("addMinutes", dates.add_minutes)),
        args=(STRING, NUMBER),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "addSeconds": spec(
        pure(_shift("addSeconds", dates.add_seconds)),
        args=(STRING, NUMBER),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "addToTime": spec(
        pure(_add_to_time), args=(STRING, NUMBER, STRING), optional=_TIME_FORMAT, returns=STRING
    ),
    "subtractFromTime": spec(
        pure(_subtract_from_time),
        args=(STRING, NUMBER, STRING),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "startOfDay": spec(
        pure(_start_of("startOfDay", "day")), args=(STRING,), optional=_TIME_FORMAT, returns=STRING
    ),
    "startOfHour": spec(
        pure(_start_of("startOfHour", "hour")),
        args=(STRING,),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "startOfMonth": spec(
        pure(_start_of("startOfMonth", "month")),
        args=(STRING,),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "dayOfMonth": spec(
        pure(_field("dayOfMonth", lambda instant: dates.fields(instant).day)),
        arity=(1, 1),
        each=STRING,
        returns=NUMBER,
    ),
    "dayOfWeek": spec(
        pure(_field("dayOfWeek", lambda instant: dates.fields(instant).weekday)),
        arity=(1, 1),
        each=STRING,
        returns=NUMBER,
    ),
    "dayOfYear": spec(
        pure(_field("dayOfYear", dates.day_of_year)), arity=(1, 1), each=STRING, returns=NUMBER
    ),
    "month": spec(
        pure(_field("month", lambda instant: dates.fields(instant).month)),
        arity=(1, 1),
        each=STRING,
        returns=NUMBER,
    ),
    "year": spec(
        pure(_field("year", lambda instant: dates.fields(instant).year)),
        arity=(1, 1),
        each=STRING,
        returns=NUMBER,
    ),
    "date": spec(pure(_field("date", _date)), arity=(1, 1), each=STRING, returns=STRING),
    "ticks": spec(pure(_ticks), arity=(1, 1), each=STRING, returns=NUMBER),
    "ticksToDays": spec(
        pure(_ticks_to("ticksToDays", 864_000_000_000)), arity=(1, 1), each=NUMBER, returns=NUMBER
    ),
    "ticksToHours": spec(
        pure(_ticks_to("ticksToHours", 36_000_000_000)), arity=(1, 1), each=NUMBER, returns=NUMBER
    ),
    "ticksToMinutes": spec(
        pure(_ticks_to("ticksToMinutes", 600_000_000)), arity=(1, 1), each=NUMBER, returns=NUMBER
    ),
    "dateTimeDiff": spec(pure(_date_time_diff), arity=(2, 2), each=STRING, returns=NUMBER),
    "convertFromUTC": spec(
        pure(_convert_from_utc), args=(STRING, STRING), optional=_TIME_FORMAT, returns=STRING
    ),
    "convertToUTC": spec(
        strict(_convert_to_utc), args=(STRING, STRING), optional=_TIME_FORMAT, returns=STRING
    ),
    "getTimeOfDay": spec(pure(_time_of_day), arity=(1, 1), each=STRING, returns=STRING),
    "getFutureTime": spec(
        strict(_relative_time("getFutureTime", 1)),
        args=(NUMBER, STRING),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
    "getPastTime": spec(
        strict(_relative_time("getPastTime", -1)),
        args=(NUMBER, STRING),
        optional=_TIME_FORMAT,
        returns=STRING,
    ),
}
