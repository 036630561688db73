"""TIMEX: `isDefinite isDateRange isTimeRange isDuration isDate isTime isPresent resolve
dateReadBack getNextViableDate getNextViableTime getPreviousViableDate getPreviousViableTime`.

TIMEX is how Microsoft's recognizers write dates and times that may be partial (`XXXX-10-31` is
"October 31st", `TXX:15:00` "a quarter past some hour", `P3D` three days); `cards._timex` reads
and writes it. The next/previous viable functions look from the clock's `now`, in UTC or in a
named time zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Final

from cards import _datetime as dates
from cards import _timex as timex
from cards._functions.base import BOOLEAN, STRING, FunctionSpec, pure, spec, strict, text_argument
from cards._js import UNDEFINED, to_number, to_string, truthy
from cards._scope import Scope
from cards._zones import offset_minutes, zone
from cards.errors import ExpressionError


def _check(test: Callable[[timex.Props], bool]) -> Callable[[list[Any]], Any]:
    return lambda values: test(timex.parse(values[0]))


def _is_date_range(props: timex.Props) -> bool:
    defined = timex.defined
    return bool(
        (defined(props, "year") and not defined(props, "dayOfMonth"))
        or (defined(props, "month") and not defined(props, "dayOfMonth"))
        or defined(props, "season")
        or defined(props, "weekOfYear")
        or defined(props, "weekOfMonth")
    )


def _is_duration(props: timex.Props) -> bool:
    names = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
    return any(timex.defined(props, name) for name in names)


def _resolve(values: list[Any]) -> Any:
    return timex.resolve(timex.parse(values[0]))


def _read_back(values: list[Any]) -> Any:
    from cards._functions.dates import _timestamp

    reference = _timestamp(text_argument(values[0], "dateReadBack"), "dateReadBack")
    target = _timestamp(text_argument(values[1], "dateReadBack"), "dateReadBack")
    return timex.read_back(dates.dayjs_format(target, "YYYY-MM-DD"), reference)


def _wall_now(values: list[Any], scope: Scope, function: str) -> dates.Fields:
    """Now, as a wall clock in the zone of the optional second argument (else UTC)."""
    now = dates.now_ms(scope.now)
    if len(values) == 2 and type(values[1]) is str:
        where = zone(values[1])
        if where is None:
            raise ExpressionError(f"{function}() needs a time zone name such as Europe/London")
        return dates.fields(now, offset_minutes(now, where))
    return dates.fields(now)


def _viable_date(function: str, step: int) -> Callable[[list[Any], Scope], Any]:
    def apply(values: list[Any], scope: Scope) -> Any:
        props = timex.parse(values[0])
        year, month_value, day_value = (props.get(name) for name in ("year", "month", "dayOfMonth"))
        if truthy(year) or not truthy(month_value) or not truthy(day_value):
            raise ExpressionError(f"{function}() needs a month and day such as XXXX-10-31")
        month, day = to_number(month_value), to_number(day_value)
        if not (math.isfinite(month) and math.isfinite(day)):
            raise ExpressionError(f"{function}() needs a month and day such as XXXX-10-31")
        now = _wall_now(values, scope, function)
        if step > 0:
            ahead = month > now.month or (month == now.month and day >= now.day)
            valid_year = now.year if ahead else now.year + 1
        else:
            behind = month < now.month or (month == now.month and day < now.day)
            valid_year = now.year if behind else now.year - 1
        if month == 2 and day == 29:
            while not dates.is_leap_year(valid_year):
                valid_year += step
        return timex.from_date(valid_year, math.trunc(month), math.trunc(day))

    return apply


_MINUTES_SECONDS: Final = re.compile(r"TXX:[0-5][0-9]:[0-5][0-9]")


def _viable_time(function: str, step: int) -> Callable[[list[Any], Scope], Any]:
    def apply(values: list[Any], scope: Scope) -> Any:
        text = values[0]
        if _MINUTES_SECONDS.search(to_string(text)) is None or type(text) is not str:
            raise ExpressionError(f"{function}() needs minutes and seconds such as TXX:15:28")
        now = _wall_now(values, scope, function)
        props = timex.parse(text.replace("XX", "00", 1))
        minute, second = props.get("minute", UNDEFINED), props.get("second", UNDEFINED)
        if step > 0:
            same_hour = minute > now.minute or (minute == now.minute and second >= now.second)
        else:
            same_hour = minute < now.minute or (minute == now.minute and second < now.second)
        hour = (now.hour if same_hour else now.hour + step) % 24
        return timex.from_time(hour, minute, second)

    return apply


FUNCTIONS: Final[dict[str, FunctionSpec]] = {
    "isDefinite": spec(
        pure(_check(lambda p: timex.defined(p, "year", "month", "dayOfMonth"))),
        arity=(1, 1),
        returns=BOOLEAN,
    ),
    "isDate": spec(
        pure(
            _check(
                lambda p: timex.defined(p, "month", "dayOfMonth") or timex.defined(p, "dayOfWeek")
            )
        ),
        arity=(1, 1),
        returns=BOOLEAN,
    ),
    "isDateRange": spec(pure(_check(_is_date_range)), arity=(1, 1), returns=BOOLEAN),
    "isDuration": spec(pure(_check(_is_duration)), arity=(1, 1), returns=BOOLEAN),
    "isTime": spec(
        pure(_check(lambda p: timex.defined(p, "hour", "minute", "second"))),
        arity=(1, 1),
        returns=BOOLEAN,
    ),
    "isTimeRange": spec(
        pure(_check(lambda p: timex.defined(p, "partOfDay"))), arity=(1, 1), returns=BOOLEAN
    ),
    "isPresent": spec(
        pure(_check(lambda p: timex.defined(p, "now"))), arity=(1, 1), returns=BOOLEAN
    ),
    "resolve": spec(pure(_resolve), arity=(1, 1), returns=STRING),
    "dateReadBack": spec(pure(_read_back), args=(STRING, STRING), returns=STRING),
    "getNextViableDate": spec(
        strict(_viable_date("getNextViableDate", 1)), arity=(1, 2), each=STRING, returns=STRING
    ),
    "getPreviousViableDate": spec(
        strict(_viable_date("getPreviousViableDate", -1)),
        arity=(1, 2),
        each=STRING,
        returns=STRING,
    ),
    "getNextViableTime": spec(
        strict(_viable_time("getNextViableTime", 1)), arity=(1, 2), each=STRING, returns=STRING
    ),
    "getPreviousViableTime": spec(
        strict(_viable_time("getPreviousViableTime", -1)),
        arity=(1, 2),
        each=STRING,
        returns=STRING,
    ),
}
