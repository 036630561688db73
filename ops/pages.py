"""The operations view's pages and their JSON twins under /ops/api/v1: Live (with its event
stream), Chat history (with CSV), one chat's Journey, Reports (with CSV) and the Transfer map.

Each page and its API answer come from the same store call with the same `Scope`: the store
leaves out what the person may not see, the handlers only shape it. Dates are UTC days.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote, urlencode

from aiohttp import web

from ops.live import HEARTBEAT, HubClosed, LiveHub
from ops.web import OPS, VIEWER, OpsView, Viewer, audit
from pipeline.session import EndReason, SessionState, iso
from storage.base import Store
from storage.export import scoped_export
from storage.report_csv import sessions_csv
from storage.reports import (
    MAX_PAGE,
    OTHER,
    Cursor,
    DepartmentLive,
    Durations,
    LiveSnapshot,
    ReportStore,
    SessionFilter,
    SessionRow,
    Summary,
    TransferMap,
)
from storage.scope import Scope

log = logging.getLogger(__name__)

LIVE = web.AppKey("ops_live", LiveHub)
#: Longest report range, in days.
MAX_DAYS = 366
#: The transfer map's periods: the last hour (live), the last day, the last week.
#: Distinguishable on white, for the transfer map's departments.
DEPARTMENT_COLOURS = ("#0b5cad", "#b34700", "#2e7d32", "#7b1fa2", "#00838f", "#8d6e00", "#c2185b")
PERIODS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(days=7)}


def reports_of(store: Store) -> ReportStore:
    """The store's report queries (each backend opens its own: storage/*_reports.py)."""
    return store.reports


class BadRequest(ValueError):
    """A query parameter a person can fix; answered 400 with the message."""


def _view(request: web.Request) -> OpsView:
    return request.app[OPS]


def _viewer(request: web.Request) -> Viewer:
    return request[VIEWER]


def _wants_csv(request: web.Request) -> bool:
    return request.query.get("format") == "csv" or "text/csv" in request.headers.get("Accept", "")


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


# formatting, shared by templates and JSON


def clock_time(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment.astimezone(UTC):%H:%M:%S}"


def day_time(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment.astimezone(UTC):%Y-%m-%d %H:%M}"


def duration(seconds: float | None) -> str:
    """A duration as people read it: "45 s", "3 min 20 s", "2 h 5 min"."""
    if seconds is None:
        return "\N{EN DASH}"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def _names(view: OpsView) -> dict[str, str]:
    return {**view.config.tenant_names, OTHER: "Other departments"}


def _filters(view: OpsView) -> None:
    env = view.templates
    if "clock_time" not in env.filters:
        env.filters.update(
            clock_time=clock_time,
            day_time=day_time,
            duration=duration,
            count=lambda number: f"{number:,}",
            url_part=lambda text: quote(str(text), safe=""),
        )


def _render(
    request: web.Request, name: str, current: str, status: int = 200, **values: Any
) -> web.Response:
    view, viewer = _view(request), _viewer(request)
    _filters(view)
    return view.render(
        name,
        status=status,
        current=current,
        identity=viewer.identity,
        scope=viewer.scope,
        names=_names(view),
        charts=values.pop("charts", False),
        **values,
    )


def _row_json(row: SessionRow, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "session": row.session_id,
        "conversation": row.conversation_id,
        "tenant": row.tenant_id,
        "tenantName": names.get(row.tenant_id, row.tenant_id),
        "state": row.state.value,
        "endReason": row.end_reason.value if row.end_reason else None,
        "resolution": row.resolution,
        "started": iso(row.started_at),
        "ended": iso(row.ended_at) if row.ended_at else None,
        "lastActivity": iso(row.last_activity_at),
        "pipeline": row.pipeline,
        "stage": row.stage,
        "hops": row.hops,
        "cameFrom": row.came_from,
        "wentTo": row.went_to,
        "agent": row.agent_id,
        "waiting": row.waiting,
        "withAgent": row.with_agent,
        "rating": row.rating,
    }


# live


def _live_json(snapshot: LiveSnapshot, names: Mapping[str, str]) -> dict[str, Any]:
    return {
        "at": iso(snapshot.at),
        "dayStart": iso(snapshot.day_start),
        "departments": [
            {
                "tenant": d.tenant_id,
                "tenantName": names.get(d.tenant_id, d.tenant_id),
                "active": d.active,
                "waiting": d.waiting,
                "longestWaitSeconds": d.longest_wait_seconds,
                "withAgent": d.with_agent,
                "idle": d.idle,
                "startedToday": d.started_today,
                "endedToday": d.ended_today,
                "transfersInToday": d.transfers_in_today,
                "transfersOutToday": d.transfers_out_today,
            }
            for d in snapshot.departments
        ],
        # The most recently active (`LIVE_CHATS` at most) of `activeChats`.
        "activeChats": snapshot.active,
        "chats": [
            {**_row_json(row, names), "idle": row.idle(snapshot.at)} for row in snapshot.chats
        ],
    }


def _live_tiles(view: OpsView, snapshot: LiveSnapshot, scope: Scope) -> list[DepartmentLive]:
    """A tile for every department the scope counts (quiet ones too, at zero)."""
    tenants = [t for t in view.config.tenant_names if scope.reports_on(t)]
    return [snapshot.department(tenant) for tenant in tenants]


def _live_parts(request: web.Request, snapshot: LiveSnapshot) -> tuple[str, str]:
    """The Live page's two parts as this viewer sees them: the departments' tiles (in a polite
    live region: their changes are announced) and the active chats (not announced)."""
    view, viewer = _view(request), _viewer(request)
    _filters(view)
    mine = snapshot.for_scope(viewer.scope)
    values = {
        "snapshot": mine,
        "tiles": _live_tiles(view, mine, viewer.scope),
        "names": _names(view),
        "scope": viewer.scope,
    }
    tiles = view.templates.get_template("live_tiles.html").render(**values)
    chats = view.templates.get_template("live_chats.html").render(**values)
    return tiles, chats


async def live_page(request: web.Request) -> web.StreamResponse:
    snapshot = await request.app[LIVE].current()
    tiles, chats = _live_parts(request, snapshot)
    return _render(request, "live.html", "/ops/", tiles=tiles, chats=chats)


async def live_api(request: web.Request) -> web.StreamResponse:
    view, viewer = _view(request), _viewer(request)
    snapshot = (await request.app[LIVE].current()).for_scope(viewer.scope)
    return web.json_response(_live_json(snapshot, _names(view)))


def _sse(data: str, event: str | None = None) -> bytes:
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {line}" for line in data.splitlines() or [""]]
    return ("\n".join(lines) + "\n\n").encode()


async def _stream(
    request: web.Request, show: Callable[[LiveSnapshot], str], event: str | None
) -> web.StreamResponse:
    """An event stream of the live view: an event whenever what this viewer sees changed,
    a comment line as a heartbeat; it ends as the instance shuts down."""

    async def shown(snapshot: LiveSnapshot) -> str:
        return show(snapshot)

    return await _stream_of(request, shown, event)


async def _stream_of(
    request: web.Request,
    show: Callable[[LiveSnapshot], Awaitable[str | None]],
    event: str | None,
) -> web.StreamResponse:
    """An event stream following the live view's snapshots: `show` turns one into the text
    this viewer sees (None: nothing new to ask for), sent when it changed."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    shown: str | None = None
    with contextlib.suppress(ConnectionResetError, HubClosed):
        await response.write(b"retry: 5000\n\n")
        async with request.app[LIVE].subscribe() as subscriber:
            while True:
                snapshot = await subscriber.next(HEARTBEAT)
                if snapshot is None:
                    await response.write(b": still here\n\n")
                    continue
                text = await show(snapshot)
                if text is not None and text != shown:
                    await response.write(_sse(text, event))
                    shown = text
    return response


async def live_stream(request: web.Request) -> web.StreamResponse:
    """The Live page's stream: each event swaps the active chats; the tiles come along, out of
    band into their live region, only when they changed (so only a change is announced)."""
    shown_tiles: str | None = None

    def show(snapshot: LiveSnapshot) -> str:
        nonlocal shown_tiles
        tiles, chats = _live_parts(request, snapshot)
        if tiles == shown_tiles:
            return chats
        shown_tiles = tiles
        return f'<div id="live-tiles" hx-swap-oob="innerHTML">{tiles}</div>{chats}'

    return await _stream(request, show, None)


async def live_api_stream(request: web.Request) -> web.StreamResponse:
    view, scope = _view(request), _viewer(request).scope

    def show(snapshot: LiveSnapshot) -> str:
        return json.dumps(_live_json(snapshot.for_scope(scope), _names(view)))

    return await _stream(request, show, "live")


# chat history


@dataclass(frozen=True)
class HistoryQuery:
    filters: SessionFilter
    before: Cursor | None
    limit: int
    values: dict[str, str]


def _day(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: a date as YYYY-MM-DD, not {text!r}") from None


def _range(
    query: Mapping[str, str], default_days: int | None, today: date
) -> tuple[date, date] | None:
    """The inclusive UTC days `from`..`to` asked for (400 for a bad one, `from` after `to`, or
    more than a year)."""
    raw_from, raw_to = query.get("from", "").strip(), query.get("to", "").strip()
    if not raw_from and not raw_to and default_days is None:
        return None
    last = _day(raw_to, "to") if raw_to else today
    first = _day(raw_from, "from") if raw_from else last - timedelta(days=(default_days or 1) - 1)
    if first > last:
        raise BadRequest("from: must not be after to")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"from, to: at most {MAX_DAYS} days")
    return first, last


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def history_query(query: Mapping[str, str], scope: Scope, today: date) -> HistoryQuery:
    values = {k: query.get(k, "").strip() for k in HISTORY_FIELDS}
    tenant = values["tenant"]
    if tenant and not scope.sees(tenant):
        raise PermissionError(tenant)
    outcome = values["outcome"]
    if outcome and outcome not in EndReason.__members__.values():
        raise BadRequest(f"outcome: one of {', '.join(e.value for e in EndReason)}")
    state = values["state"]
    if state and state not in SessionState.__members__.values():
        raise BadRequest(f"state: one of {', '.join(s.value for s in SessionState)}")
    hops = values["hops"]
    if hops and not hops.isdigit():
        raise BadRequest("hops: a whole number")
    span = _range(values, None, today)
    limit_text = query.get("limit", "50")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise BadRequest(f"limit: a whole number from 1 to {MAX_PAGE}")
    before = None
    if query.get("before"):
        try:
            before = Cursor.decode(query["before"])
        except ValueError as bad:
            raise BadRequest(f"before: {bad}") from None
    filters = SessionFilter(
        tenants=frozenset({tenant}) if tenant else None,
        end_reason=EndReason(outcome) if outcome else None,
        state=SessionState(state) if state else None,
        started_from=_midnight(span[0]) if span else None,
        started_before=_midnight(span[1] + timedelta(days=1)) if span else None,
        stage=values["stage"] or None,
        hops=int(hops) if hops else None,
        agent=values["agent"] or None,
        guest=values["guest"] or None,
    )
    return HistoryQuery(filters, before, int(limit_text), values)


HISTORY_FIELDS = ("tenant", "outcome", "state", "from", "to", "stage", "hops", "agent", "guest")


async def _history(
    request: web.Request,
) -> tuple[HistoryQuery, list[SessionRow], Cursor | None] | web.Response:
    view, viewer = _view(request), _viewer(request)
    try:
        asked = history_query(request.query, viewer.scope, view.clock().date())
    except BadRequest as bad:
        return _bad(str(bad))
    except PermissionError:
        return web.json_response({"error": "not a department you may see"}, status=403)
    page = await reports_of(view.store).sessions(
        viewer.scope, asked.filters, before=asked.before, limit=asked.limit
    )
    return asked, list(page.rows), page.next


async def history_csv(request: web.Request, asked: HistoryQuery) -> web.StreamResponse:
    """Every matching session, one row each, streamed page by page."""
    view, viewer = _view(request), _viewer(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="crossdesk-sessions.csv"',
        }
    )
    await response.prepare(request)
    reports, cursor, first = reports_of(view.store), asked.before, True
    while True:
        page = await reports.sessions(viewer.scope, asked.filters, before=cursor, limit=MAX_PAGE)
        await response.write(sessions_csv(page.rows, header=first).encode())
        first = False
        if page.next is None:
            break
        cursor = page.next
    await response.write_eof()
    return response


async def history_api(request: web.Request) -> web.StreamResponse:
    found = await _history(request)
    if isinstance(found, web.Response):
        return found
    asked, rows, after = found
    if _wants_csv(request):
        return await history_csv(request, asked)
    names = _names(_view(request))
    return web.json_response(
        {
            "sessions": [_row_json(row, names) for row in rows],
            "next": after.encode() if after else None,
        }
    )


async def history_page(request: web.Request) -> web.StreamResponse:
    found = await _history(request)
    if isinstance(found, web.Response):
        status = found.status
        message = json.loads(cast(bytes, found.body))["error"]
        return _render(
            request,
            "history.html",
            "/ops/chats",
            status=status,
            error=message,
            rows=[],
            next_url=None,
            csv_url=None,
            **_history_form(request, {}),
        )
    asked, rows, after = found
    if _wants_csv(request):
        return await history_csv(request, asked)
    kept = {k: v for k, v in asked.values.items() if v}
    next_url = None
    if after is not None:
        next_url = "/ops/chats?" + urlencode({**kept, "before": after.encode()})
    csv_url = "/ops/chats?" + urlencode({**kept, "format": "csv"})
    return _render(
        request,
        "history.html",
        "/ops/chats",
        error=None,
        rows=rows,
        next_url=next_url,
        csv_url=csv_url,
        **_history_form(request, asked.values),
    )


def _history_form(request: web.Request, values: Mapping[str, str]) -> dict[str, Any]:
    view, scope = _view(request), _viewer(request).scope
    return {
        "values": {k: values.get(k, "") for k in HISTORY_FIELDS},
        "departments": scope.visible(view.config.tenant_names),
        "outcomes": [e.value for e in EndReason],
        "states": [s.value for s in SessionState],
    }


# one chat's journey


async def journey_page(request: web.Request) -> web.StreamResponse:
    view, viewer = _view(request), _viewer(request)
    conversation_id = request.match_info["conversation"]
    journey = await reports_of(view.store).journey(viewer.scope, conversation_id, view.clock())
    if journey is None:
        return _render(request, "not_found.html", "/ops/chats", status=404)
    transcripts: dict[int, list[dict[str, Any]]] = {}
    readable = [
        s.tenant_id
        for s in journey.sessions
        if s.visible and viewer.scope.reads_transcripts(s.tenant_id)
    ]
    if readable:
        shown = scoped_export(
            await view.store.history(conversation_id), viewer.scope, view.config.tenant_names
        )
        if shown is not None:
            for index, item in enumerate(shown["sessions"]):
                if item.get("transcript"):
                    transcripts[index] = item["transcript"]
            if shown["transcripts_shown"]:
                await audit(view, viewer, "view", conversation_id, shown["transcripts_shown"])
    return _render(
        request,
        "journey.html",
        "/ops/chats",
        journey=journey,
        transcripts=transcripts,
    )


# reports


def _report_range(request: web.Request) -> tuple[date, date, str | None]:
    scope = _viewer(request).scope
    span = _range(request.query, 7, _view(request).clock().astimezone(UTC).date())
    assert span is not None
    tenant = request.query.get("tenant", "").strip() or None
    if tenant is not None and not scope.reports_on(tenant):
        raise PermissionError(tenant)
    return span[0], span[1], tenant


def _durations_json(durations: Durations) -> dict[str, Any]:
    return {"count": durations.count, "median": durations.median, "p90": durations.p90}


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "from": iso(summary.start),
        "to": iso(summary.end),
        "sessions": summary.sessions,
        "byHour": {str(h): n for h, n in sorted(summary.by_hour.items())},
        "byDay": dict(sorted(summary.by_day.items())),
        "outcomes": dict(sorted(summary.outcomes.items())),
        "transferred": summary.transferred,
        "transferRate": summary.transfer_rate,
        "timeToDepartment": _durations_json(summary.time_to_department),
        "timeInDepartment": _durations_json(summary.time_in_department),
        "waiting": _durations_json(summary.waiting),
        "handling": _durations_json(summary.handling),
        "dropOff": dict(sorted(summary.drop_off.items())),
        "busiestHours": summary.busiest_hours[:3],
        "ratings": {str(r): n for r, n in sorted(summary.ratings.items())},
        "ratingAverage": summary.rating_average,
        "refusedTransfers": summary.refused_transfers,
    }


async def _summary(request: web.Request) -> tuple[Summary, date, date, str | None] | web.Response:
    view, viewer = _view(request), _viewer(request)
    try:
        first, last, tenant = _report_range(request)
    except BadRequest as bad:
        return _bad(str(bad))
    except PermissionError:
        return web.json_response({"error": "not a department you may see"}, status=403)
    summary = await reports_of(view.store).summary(
        viewer.scope, _midnight(first), _midnight(last + timedelta(days=1)), tenant=tenant
    )
    return summary, first, last, tenant


def report_tables(summary: Summary, first: date, last: date) -> list[dict[str, Any]]:
    """Every report as a table (the charts' twins and the CSV's sections)."""
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    rate = f"{summary.transfer_rate:.0%}"
    average = summary.rating_average
    return [
        {
            "id": "by-day",
            "title": "Chats by day",
            "columns": ["Day", "Chats"],
            "rows": [[d, summary.by_day.get(d, 0)] for d in days],
            "chart": "bar",
        },
        {
            "id": "by-hour",
            "title": "Chats by hour of day (UTC)",
            "columns": ["Hour", "Chats"],
            "rows": [[f"{h:02d}:00", summary.by_hour.get(h, 0)] for h in range(24)],
            "chart": "bar",
        },
        {
            "id": "outcomes",
            "title": "Outcomes",
            "columns": ["Outcome", "Chats"],
            "rows": sorted(summary.outcomes.items()),
            "chart": "pie",
        },
        {
            "id": "transfers",
            "title": f"Transfer rate: {rate}",
            "columns": ["Measure", "Value"],
            "rows": [
                ["Sessions", summary.sessions],
                ["Transferred", summary.transferred],
                ["Transfer rate", rate],
                ["Refused transfers", summary.refused_transfers],
            ],
        },
        {
            "id": "times",
            "title": "Times",
            "columns": ["Measure", "Sessions", "Median", "90th percentile"],
            "rows": [
                [label, d.count, duration(d.median), duration(d.p90)]
                for label, d in (
                    ("Time to reach the department", summary.time_to_department),
                    ("Time in the department", summary.time_in_department),
                    ("Waiting for an agent", summary.waiting),
                    ("With an agent", summary.handling),
                )
            ],
        },
        {
            "id": "drop-off",
            "title": "Drop-off by last stage",
            "columns": ["Stage", "Chats"],
            "rows": sorted(summary.drop_off.items(), key=lambda kv: (-kv[1], kv[0])),
            "chart": "bar",
        },
        {
            "id": "busiest",
            "title": "Busiest hours (UTC)",
            "columns": ["Hour", "Chats"],
            "rows": [[f"{h:02d}:00", summary.by_hour[h]] for h in summary.busiest_hours[:3]],
        },
        {
            "id": "satisfaction",
            "title": "Satisfaction"
            + (f": {average:.1f} of 5" if average is not None else ": no ratings"),
            "columns": ["Rating", "Chats"],
            "rows": [[f"{r} of 5", summary.ratings.get(r, 0)] for r in range(1, 6)],
            "chart": "bar",
        },
    ]


def _chart(table: dict[str, Any]) -> dict[str, Any]:
    labels = [str(row[0]) for row in table["rows"]]
    values = [row[1] for row in table["rows"]]
    if table["chart"] == "pie":
        return {
            "tooltip": {"trigger": "item"},
            "series": [
                {
                    "type": "pie",
                    "radius": "65%",
                    "label": {"formatter": "{b}: {c}"},
                    "data": [{"name": n, "value": v} for n, v in zip(labels, values, strict=True)],
                }
            ],
        }
    return {
        "tooltip": {"trigger": "axis"},
        "xAxis": {"type": "category", "data": labels},
        "yAxis": {"type": "value", "minInterval": 1},
        "series": [{"type": "bar", "data": values, "name": table["columns"][1]}],
    }


def _json_in_html(value: Any) -> str:
    """JSON for a `<script type="application/json">`: no `<` that could end the element."""
    return json.dumps(value).replace("<", "\\u003c")


def _describe(table: dict[str, Any]) -> str:
    rows = table["rows"]
    if not rows or not any(row[1] for row in rows):
        return f"{table['title']}: none in this range."
    top = max(rows, key=lambda row: row[1])
    return (
        f"{table['title']}: {len(rows)} values, the most {top[1]} at {top[0]}."
        " The table below lists them all."
    )


async def reports_api(request: web.Request) -> web.StreamResponse:
    found = await _summary(request)
    if isinstance(found, web.Response):
        return found
    summary, first, last, _ = found
    if _wants_csv(request):
        return _tables_csv(report_tables(summary, first, last))
    return web.json_response(summary_json(summary))


def _tables_csv(tables: list[dict[str, Any]]) -> web.Response:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["report", "label", "value"])
    for table in tables:
        for row in table["rows"]:
            writer.writerow([table["id"], row[0], *row[1:]])
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="crossdesk-reports.csv"'},
    )


async def reports_page(request: web.Request) -> web.StreamResponse:
    view, scope = _view(request), _viewer(request).scope
    departments = [t for t in view.config.tenant_names if scope.reports_on(t)]
    found = await _summary(request)
    if isinstance(found, web.Response):
        message = json.loads(cast(bytes, found.body))["error"]
        return _render(
            request,
            "reports.html",
            "/ops/reports",
            status=found.status,
            error=message,
            tables=[],
            departments=departments,
            values=dict(request.query),
        )
    summary, first, last, tenant = found
    tables = report_tables(summary, first, last)
    if request.query.get("format") == "csv":
        return _tables_csv(tables)
    for table in tables:
        if table.get("chart"):
            table["option"] = _json_in_html(_chart(table))
            table["description"] = _describe(table)
    values = {"from": first.isoformat(), "to": last.isoformat(), "tenant": tenant or ""}
    return _render(
        request,
        "reports.html",
        "/ops/reports",
        charts=True,
        error=None,
        tables=tables,
        departments=departments,
        values=values,
        summary=summary,
        csv_url="/ops/reports?"
        + urlencode({**{k: v for k, v in values.items() if v}, "format": "csv"}),
    )


# the transfer map


def _period(request: web.Request) -> tuple[str, datetime, datetime]:
    period = request.query.get("period", "day")
    if period not in PERIODS:
        raise BadRequest(f"period: one of {', '.join(PERIODS)}")
    return (period, *_last(period, _view(request).clock()))


def _last(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The start and (exclusive) end of the last `period` up to and including `now`: a
    transfer stamped this very moment is in it."""
    return now - PERIODS[period], now + timedelta(microseconds=1)


def _link_url(source: str, target: str, start: datetime, hop: int) -> str | None:
    if OTHER in (source, target):
        return None
    return "/ops/chats?" + urlencode(
        {"tenant": target, "hops": hop, "from": start.date().isoformat()}
    )


def flows_json(flows: TransferMap, names: Mapping[str, str], start: datetime) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": f"{t}@{hop}", "tenant": t, "tenantName": names.get(t, t), "hop": hop}
            for t, hop in flows.nodes
        ],
        "links": [
            {
                "source": f"{link.source}@{link.source_hop}",
                "target": f"{link.target}@{link.target_hop}",
                "count": link.count,
                "loop": link.loop,
                "chats": _link_url(link.source, link.target, start, link.target_hop),
            }
            for link in flows.links
        ],
        "refused": [
            {"source": r.source, "target": r.target, "count": r.count, "reasons": list(r.reasons)}
            for r in flows.refused
        ],
        "transfers": flows.transfers,
        "loops": flows.loops,
    }


def _sankey(flows: TransferMap, names: Mapping[str, str], start: datetime) -> dict[str, Any]:
    def label(tenant: str, hop: int) -> str:
        return f"{names.get(tenant, tenant)} ({hop})"

    # One colour per department, the same in every column (the labels say it too).
    tenants = sorted({t for t, _ in flows.nodes})
    colour = {t: DEPARTMENT_COLOURS[i % len(DEPARTMENT_COLOURS)] for i, t in enumerate(tenants)}

    return {
        "tooltip": {"trigger": "item"},
        "series": [
            {
                "type": "sankey",
                "nodeAlign": "left",
                "emphasis": {"focus": "adjacency"},
                "lineStyle": {"color": "source", "curveness": 0.5},
                "data": [
                    {"name": label(t, hop), "itemStyle": {"color": colour[t]}}
                    for t, hop in flows.nodes
                ],
                "links": [
                    {
                        "source": label(link.source, link.source_hop),
                        "target": label(link.target, link.target_hop),
                        "value": link.count,
                        "url": _link_url(link.source, link.target, start, link.target_hop),
                        **({"lineStyle": {"type": "dashed", "opacity": 0.8}} if link.loop else {}),
                    }
                    for link in flows.links
                ],
            }
        ],
    }


async def _flows(request: web.Request) -> tuple[str, datetime, TransferMap] | web.Response:
    view, viewer = _view(request), _viewer(request)
    try:
        period, start, end = _period(request)
    except BadRequest as bad:
        return _bad(str(bad))
    return period, start, await reports_of(view.store).transfers(viewer.scope, start, end)


async def flows_api(request: web.Request) -> web.StreamResponse:
    found = await _flows(request)
    if isinstance(found, web.Response):
        return found
    _, start, flows = found
    return web.json_response(flows_json(flows, _names(_view(request)), start))


def _flows_values(request: web.Request, start: datetime, flows: TransferMap) -> dict[str, Any]:
    """What the transfer map shows of `flows` (the page's and its stream's)."""
    names = _names(_view(request))
    description = (
        f"{flows.transfers} transfers between departments, {flows.loops} back to a department"
        f" the chat had left, {sum(r.count for r in flows.refused)} refused."
    )
    return {
        "flows": flows,
        "data": flows_json(flows, names, start),
        "option": _json_in_html(_sankey(flows, names, start)),
        "description": description,
        "names": names,
    }


async def flows_page(request: web.Request) -> web.StreamResponse:
    found = await _flows(request)
    if isinstance(found, web.Response):
        return found
    period, start, flows = found
    values = _flows_values(request, start, flows)
    return _render(
        request,
        "flows.html",
        "/ops/flows",
        # The last hour redraws itself: its chart may appear after the page loaded.
        charts=bool(flows.links) or period == "hour",
        period=period,
        periods=list(PERIODS),
        **{k: v for k, v in values.items() if k != "names"},
    )


async def flows_stream(request: web.Request) -> web.StreamResponse:
    """The last hour's transfer map as it changes: asked again when the live view's transfer
    counts move (a transfer happened on any instance) or a minute passed (the hour slides),
    sent when what this viewer sees changed. Its store query is this viewer's own, so it runs
    only on those changes, never at every interval."""
    view, viewer = _view(request), _viewer(request)
    asked: tuple[Any, ...] | None = None

    async def show(snapshot: LiveSnapshot) -> str | None:
        nonlocal asked
        moved = tuple(
            (d.tenant_id, d.transfers_in_today, d.transfers_out_today) for d in snapshot.departments
        )
        key = (moved, snapshot.at.replace(second=0, microsecond=0))
        if key == asked:
            return None
        asked = key
        start, end = _last("hour", view.clock())
        flows = await reports_of(view.store).transfers(viewer.scope, start, end)
        _filters(view)
        return view.templates.get_template("flows_map.html").render(
            **_flows_values(request, start, flows)
        )

    return await _stream_of(request, show, None)


def add_pages(app: web.Application) -> None:
    """The pages and their API under the `/ops` app (which holds the `LiveHub` as `LIVE`)."""
    app.router.add_get("/", live_page)
    app.router.add_get("/live/stream", live_stream)
    app.router.add_get("/chats", history_page)
    app.router.add_get("/chats/{conversation}", journey_page)
    app.router.add_get("/reports", reports_page)
    app.router.add_get("/flows", flows_page)
    app.router.add_get("/flows/stream", flows_stream)
    app.router.add_get("/api/v1/live", live_api)
    app.router.add_get("/api/v1/stream", live_api_stream)
    app.router.add_get("/api/v1/sessions", history_api)
    app.router.add_get("/api/v1/reports/summary", reports_api)
    app.router.add_get("/api/v1/reports/transfers", flows_api)
