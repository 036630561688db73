"""A tenant's business hours: the weekly hours it answers chats, its holidays, its time zone.

Pure functions over a `BusinessHours` model (validated from the configuration): whether a
tenant is open at a moment, and when it next opens. Times are the tenant's local wall-clock
times in its IANA time zone, so daylight saving time moves them with the clocks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SPAN = r"^\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}$"
HOLIDAY = r"^(\d{4}-)?\d{2}-\d{2}$"
#: How far ahead `next_opening` looks (a tenant closed for longer has no next opening).
HORIZON_DAYS = 400

Span = Annotated[str, StringConstraints(pattern=SPAN)]
Day = Annotated[
    Span | list[Span] | None,
    Field(description='Opening hours that day: "09:00-17:00", or a list of them; absent: closed.'),
]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Week(BaseModel):
    """The hours of each weekday; a day left out is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    monday: Day = None
    tuesday: Day = None
    wednesday: Day = None
    thursday: Day = None
    friday: Day = None
    saturday: Day = None
    sunday: Day = None

    def spans(self, weekday: int) -> list[str]:
        """The spans written for a weekday (0: Monday), as written."""
        value = getattr(self, WEEKDAYS[weekday])
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)


class BusinessHours(BaseModel):
    """When a tenant answers chats: weekly hours in its time zone, minus holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: Annotated[
        str, Field(description="The IANA time zone the hours are in, e.g. Europe/Berlin.")
    ]
    weekly: Annotated[Week, Field(description="The hours of each weekday (monday … sunday).")]
    holidays: Annotated[
        list[Annotated[str, StringConstraints(pattern=HOLIDAY)] | date],
        Field(
            description='Days closed all day: "2026-12-24" once, or "12-25" every year.',
        ),
    ] = []

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def parse_span(span: str) -> tuple[time, time] | None:
    """`09:00-17:30` as (start, end); `24:00` ends a day; None when it is not a valid span."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", span)
    if match is None:
        return None
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    if start_hour > 23 or start_minute > 59 or end_minute > 59:
        return None
    if end_hour > 24 or (end_hour == 24 and end_minute):
        return None
    end = time.max if end_hour == 24 else time(end_hour, end_minute)
    start = time(start_hour, start_minute)
    return (start, end) if start < end else None


def is_holiday(hours: BusinessHours, day: date) -> bool:
    for holiday in hours.holidays:
        if isinstance(holiday, date):
            if holiday == day:
                return True
        elif len(holiday) == 5:
            if holiday == day.strftime("%m-%d"):
                return True
        elif holiday == day.isoformat():
            return True
    return False


def _openings(hours: BusinessHours, day: date) -> Iterator[tuple[datetime, datetime]]:
    """The (opening, closing) moments of a local day, in UTC, in order."""
    if is_holiday(hours, day):
        return
    zone = hours.zone
    spans = [parse_span(span) for span in hours.weekly.spans(day.weekday())]
    for start, end in sorted(span for span in spans if span is not None):
        opening = datetime.combine(day, start, zone).astimezone(UTC)
        if end == time.max:
            closing = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        else:
            closing = datetime.combine(day, end, zone).astimezone(UTC)
        yield opening, closing


def is_open(hours: BusinessHours, moment: datetime) -> bool:
    """Whether the tenant answers chats at `moment` (an aware datetime)."""
    local = moment.astimezone(hours.zone).date()
    return any(
        opening <= moment < closing
        for day in (local - timedelta(days=1), local)
        for opening, closing in _openings(hours, day)
    )


def next_opening(hours: BusinessHours, moment: datetime) -> datetime | None:
    """When the tenant next opens after `moment` (in UTC), or None within `HORIZON_DAYS`."""
    local = moment.astimezone(hours.zone).date()
    for offset in range(HORIZON_DAYS):
        for opening, _ in _openings(hours, local + timedelta(days=offset)):
            if opening > moment:
                return opening
    return None


def span_problems(spans: list[str]) -> Iterator[tuple[int, str]]:
    """(index, problem) for spans that are not times of a day, end before they start, or
    overlap an earlier one."""
    seen: list[tuple[time, time, str]] = []
    for index, span in enumerate(spans):
        parsed = parse_span(span)
        if parsed is None:
            yield (
                index,
                f"'{span}' is not a time span of one day: write it as 09:00-17:00 (24-hour"
                " clock, the end after the start; 24:00 ends the day)",
            )
            continue
        for start, end, other in seen:
            if parsed[0] < end and start < parsed[1]:
                yield index, f"'{span}' overlaps '{other}'"
                break
        seen.append((*parsed, span))


def holiday_problem(holiday: str | date) -> str | None:
    """Why a holiday is not a date, or None."""
    if isinstance(holiday, date):
        return None
    try:
        date.fromisoformat(holiday if len(holiday) > 5 else f"2024-{holiday}")
    except ValueError:
        return f"'{holiday}' is not a date: write 2026-12-24 (that day) or 12-25 (every year)"
    return None
