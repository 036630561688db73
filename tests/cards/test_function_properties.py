"""Property tests of the functions: Hypothesis generates their inputs, Microsoft's engine must
give what we give. Dates span leap years and daylight-saving changes in several zones; texts are
any unicode; numbers any double."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards import compile_template
from tests.cards.support import Reference, same

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
INSTANT = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
)
STAMP = INSTANT.map(lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
ZONE = st.sampled_from(
    [
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Pacific/Chatham",
        "America/Sao_Paulo",
        "Eastern Standard Time",
        "UTC",
    ]
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
NUMBER = st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(-(10**6), 10**6)


def _agree(reference: Reference, template: Any, data: dict[str, Any], now: Any = None) -> None:
    theirs = reference.expand(template, data, now=now)
    mine = compile_template(template, "property", report=lambda issue: None).expand(data, now=now)
    assert "value" in theirs, theirs
    assert same(theirs["value"], mine), f"data {data}\nMicrosoft: {theirs}\nours:      {mine}"


def test_dates(reference: Reference) -> None:
    template = {
        "add": "${addToTime(t, n, unit, 'yyyy-MM-dd HH:mm:ss.fff')}",
        "sub": "${subtractFromTime(t, n, unit)}",
        "minutes": "${addMinutes(t, n)}",
        "month": "${startOfMonth(t)}",
        "day": "${dayOfYear(t)} ${date(t)} ${getTimeOfDay(t)} ${ticks(t)}",
        "diff": "${dateTimeDiff(t, u)}",
        "back": "${dateReadBack(u, t)}",
    }

    @SETTINGS
    @given(
        t=STAMP,
        u=STAMP,
        n=st.integers(-400, 400),
        unit=st.sampled_from(["Second", "Minute", "Hour", "Day", "Week", "Month", "Year"]),
    )
    def check(t: str, u: str, n: int, unit: str) -> None:
        _agree(reference, template, {"t": t, "u": u, "n": n, "unit": unit})

    check()


def test_time_zones(reference: Reference) -> None:
    template = {
        "local": "${convertFromUTC(t, zone, 'yyyy-MM-dd HH:mm:ss K dddd')}",
        "utc": "${convertToUTC(wall, zone)}",
        "next": "${getNextViableTime('TXX:30:00', zone)}",
        "previous": "${getPreviousViableDate('XXXX-03-10', zone)}",
    }

    @SETTINGS
    @given(t=STAMP, moment=INSTANT, zone=ZONE, now=INSTANT)
    def check(t: str, moment: datetime, zone: str, now: datetime) -> None:
        wall = moment.strftime("%Y-%m-%dT%H:%M:%S")
        _agree(reference, template, {"t": t, "wall": wall, "zone": zone}, now=now)

    check()


def test_text(reference: Reference) -> None:
    template = {
        "title": "${titleCase(s)}",
        "sentence": "${sentenceCase(s)}",
        "words": "${countWord(s)}",
        "last": "${lastIndexOf(s, p)}",
        "take": "${take(s, n)}",
        "uri": "${uriComponentToString(uriComponent(s))}",
        "b64": "${base64(s)}",
        "json": "${jsonStringify(s)}",
    }

    @SETTINGS
    @given(s=TEXT, p=TEXT.map(lambda text: text[:2]), n=st.integers(-3, 25))
    def check(s: str, p: str, n: int) -> None:
        _agree(reference, template, {"s": s, "p": p, "n": n})

    check()


def test_numbers(reference: Reference) -> None:
    template = {
        "floor": "${floor(x)} ${ceiling(x)} ${abs(x)}",
        "sum": "${sum(xs)} ${average(xs)}",
        "sorted": "${sortBy(xs)} ${sortByDescending(xs)} ${unique(xs)}",
        "ordinal": "${addOrdinal(i)}",
        "epoch": "${formatEpoch(e)}",
    }

    @SETTINGS
    @given(
        x=NUMBER,
        xs=st.lists(NUMBER, min_size=1, max_size=5),
        i=st.integers(-(10**6), 10**6),
        e=st.integers(-(10**10), 10**10),
    )
    def check(x: float, xs: list[float], i: int, e: int) -> None:
        _agree(reference, template, {"x": x, "xs": xs, "i": i, "e": e})

    check()
