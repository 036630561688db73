"""What the operations view asks the stores: the live desk, chat history, one chat's journey,
reports over a date range and the transfer map. No SDK, no I/O.

`ReportStore` is the contract each backend implements (`storage/sqlite_reports.py`,
`storage/cosmos_reports.py`); every method takes the asker's `Scope`, so what a person may not
see never leaves the store. The backends fetch rows; the shapes and the arithmetic are here,
shared, so both backends answer the same numbers (tests/storage/test_reports.py holds them to
it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pipeline.session import EndReason, FlowStep, Session, SessionState
from pipeline.transfer import RefusedTransfer, TransferRecord
from storage.base import GUEST_SEARCHED, ChatHistory
from storage.scope import Scope

#: A chat whose guest said nothing for this long shows as idle in the live view (the runtime
#: closes it as abandoned only at the tenant's idle timeout, default 30 minutes).
IDLE_AFTER = timedelta(minutes=5)
#: Most sessions on one page of chat history.
MAX_PAGE = 500
#: Most active chats the live view lists (the most recently active); its tiles count them all.
LIVE_CHATS = 200
#: A transfer map's stand-in for the departments the asker does not see.
OTHER = "(other)"
#: Sessions that ended this way count as drop-offs, by the stage they stopped at.
DROP_OFF = frozenset({EndReason.ABANDONED, EndReason.GUEST_ENDED})

SEARCHING = "searching"
CONNECTED = "connected"


def moment_of(value: Any) -> datetime | None:
    """A stored timestamp (ISO text, UTC if it names no zone), or None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One session as the operations view lists it (a row of chat history, of the live table
    and of the CSV export): facts, never message text."""

    session_id: str
    conversation_id: str
    tenant_id: str
    state: SessionState
    started_at: datetime
    ended_at: datetime | None
    last_activity_at: datetime
    hops: int
    pipeline: str | None
    stage: str | None
    end_reason: EndReason | None
    resolution: str | None
    came_from: str | None
    went_to: str | None
    agent_id: str | None
    agent_state: str | None
    queued_at: datetime | None
    connected_at: datetime | None
    wait_seconds: int | None
    handle_seconds: int | None
    rating: int | None
    guest_name: str | None
    guest_upn: str | None
    visit_started_at: datetime

    @property
    def waiting(self) -> bool:
        """Whether the chat waits for an agent now."""
        return self.state is SessionState.ACTIVE and self.agent_state == SEARCHING

    @property
    def with_agent(self) -> bool:
        """Whether an agent is in the chat now."""
        return self.state is SessionState.ACTIVE and self.agent_state == CONNECTED

    @property
    def seconds_to_department(self) -> float | None:
        """How long the visit took to reach this department (sessions a transfer opened)."""
        if self.hops == 0:
            return None
        return (self.started_at - self.visit_started_at).total_seconds()

    @property
    def seconds_in_department(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def idle(self, now: datetime, after: timedelta = IDLE_AFTER) -> bool:
        """Whether nothing was said for `after` in an active chat nobody answers (a chat
        waiting for an agent or with one is not idle)."""
        return (
            self.state is SessionState.ACTIVE
            and not self.waiting
            and not self.with_agent
            and now - self.last_activity_at >= after
        )


def guest_facts(session: Session) -> tuple[str | None, ...]:
    """What a guest search looks in: the guest's name, email and user principal name."""
    return tuple(_text(session.metadata.get(key)) for key in GUEST_SEARCHED)


@dataclass(frozen=True, slots=True)
class LiveFacts:
    """What the live view counts of a session, kept beside its record by a store that counts
    in SQL (the agent's id is chat history's agent filter). Times are UTC ISO text."""

    agent_id: str | None
    agent_state: str | None
    queued_at: str | None
    last_activity_at: str

    @classmethod
    def of(cls, session: Session) -> LiveFacts:
        """As `row_of` derives them (`SessionRow.agent_state`, `queued_at`, …)."""
        metadata = session.metadata
        queued = moment_of(metadata.get("Session.QueuedUtc"))
        return cls(
            agent_id_of(session),
            _text(metadata.get("Session.Agent.State")),
            utc_text(queued) if queued else None,
            utc_text(last_activity(session)),
        )


def last_activity(session: Session) -> datetime:
    """When the session last saw activity (a session stored before that was kept: its guest's
    last message, else its start)."""
    return session.last_activity_at or session.last_guest_at or session.started_at


def agent_id_of(session: Session) -> str | None:
    """The agent chat history's agent filter finds the session by."""
    agent = session.metadata.get("Session.Agent.Id")
    return agent if isinstance(agent, str) else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def row_of(session: Session) -> SessionRow:
    """The operations view's row of a session."""
    metadata = session.metadata
    agent_state = metadata.get("Session.Agent.State")
    connected_at = moment_of(metadata.get("Session.ConnectedUtc"))
    handle = _int(metadata.get("Session.ConnectedSeconds"))
    rating = _int(metadata.get("Session.Feedback.Rating"))
    resolution = metadata.get("Session.Status.Resolution")
    name = metadata.get("Guest.Name")
    upn = metadata.get("Guest.UserPrincipalName") or metadata.get("Guest.Email")
    return SessionRow(
        session_id=session.id,
        conversation_id=session.conversation_id,
        tenant_id=session.tenant_id,
        state=session.state,
        started_at=session.started_at,
        ended_at=session.ended_at,
        last_activity_at=last_activity(session),
        hops=session.hops,
        pipeline=session.position.pipeline if session.position else session.pipeline,
        stage=session.position.stage if session.position else session.stage,
        end_reason=session.end_reason,
        resolution=str(resolution) if resolution is not None else None,
        came_from=metadata.get("Session.TransferredFrom.TenantId"),
        went_to=metadata.get("Session.TransferredTo.TenantId"),
        agent_id=metadata.get("Session.Agent.Id") or metadata.get("Session.Agent.AadObjectId"),
        agent_state=str(agent_state) if agent_state is not None else None,
        queued_at=moment_of(metadata.get("Session.QueuedUtc")),
        connected_at=connected_at,
        wait_seconds=_int(metadata.get("Session.WaitSeconds")),
        handle_seconds=handle,
        rating=rating if rating is not None and 1 <= rating <= 5 else None,
        guest_name=str(name) if name is not None else None,
        guest_upn=str(upn) if upn is not None else None,
        visit_started_at=session.visit_started_at,
    )


# live


@dataclass(frozen=True, slots=True)
class DepartmentLive:
    """One department's tiles in the live view."""

    tenant_id: str
    active: int = 0
    waiting: int = 0
    #: How long the chat that has waited longest for an agent has waited (seconds).
    longest_wait_seconds: int = 0
    with_agent: int = 0
    idle: int = 0
    started_today: int = 0
    ended_today: int = 0
    transfers_in_today: int = 0
    transfers_out_today: int = 0


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """The live view at `at`: the departments' tiles and the active chats, newest activity
    first, at most `LIVE_CHATS` of each department. `day_start` is where "today" began;
    `active` is how many chats are active in the departments whose chats it lists (more than
    it lists when there are more than a page)."""

    at: datetime
    day_start: datetime
    departments: tuple[DepartmentLive, ...]
    chats: tuple[SessionRow, ...]
    active: int = 0

    def for_scope(self, scope: Scope) -> LiveSnapshot:
        """What `scope` sees of it: tiles of the departments it counts, the `LIVE_CHATS` most
        recently active chats of those it sees (one snapshot serves every viewer of an
        instance: it keeps that many of each department, so any viewer's page is in it)."""
        return replace(
            self,
            departments=tuple(d for d in self.departments if scope.reports_on(d.tenant_id)),
            chats=tuple(c for c in self.chats if scope.sees(c.tenant_id))[:LIVE_CHATS],
            active=sum(d.active for d in self.departments if scope.sees(d.tenant_id)),
        )

    def department(self, tenant_id: str) -> DepartmentLive:
        return next(
            (d for d in self.departments if d.tenant_id == tenant_id), DepartmentLive(tenant_id)
        )


@dataclass(frozen=True, slots=True)
class ActiveChat:
    """What the live view counts of an active chat (`SessionRow`'s facts of the same names):
    what a backend reads when it cannot count in its query."""

    tenant_id: str
    session_id: str
    started_at: datetime
    last_activity_at: datetime
    agent_state: str | None
    queued_at: datetime | None


@dataclass(frozen=True, slots=True)
class ActiveCounts:
    """One department's active chats as its tiles count them."""

    active: int = 0
    waiting: int = 0
    #: When the chat that has waited longest for an agent started waiting.
    waiting_since: datetime | None = None
    with_agent: int = 0
    idle: int = 0


def count_active(
    now: datetime, chats: Iterable[ActiveChat], idle_after: timedelta = IDLE_AFTER
) -> dict[str, ActiveCounts]:
    """The tiles' counts of `chats` by department, as `SessionRow.waiting`, `with_agent` and
    `idle` decide them."""
    counts: dict[str, ActiveCounts] = {}
    for chat in chats:
        was = counts.get(chat.tenant_id, ActiveCounts())
        waiting = chat.agent_state == SEARCHING
        with_agent = chat.agent_state == CONNECTED
        since = chat.queued_at or chat.started_at
        counts[chat.tenant_id] = ActiveCounts(
            was.active + 1,
            was.waiting + waiting,
            min(since, was.waiting_since or since) if waiting else was.waiting_since,
            was.with_agent + with_agent,
            was.idle
            + (not waiting and not with_agent and now - chat.last_activity_at >= idle_after),
        )
    return counts


def latest_active(chats: Iterable[ActiveChat], each: int = LIVE_CHATS) -> list[str]:
    """The session ids of the `each` most recently active chats of every department."""
    ordered = sorted(chats, key=lambda c: (c.last_activity_at, c.session_id), reverse=True)
    kept: Counter[str] = Counter()
    chosen = []
    for chat in ordered:
        if kept[chat.tenant_id] < each:
            kept[chat.tenant_id] += 1
            chosen.append(chat.session_id)
    return chosen


def build_live(
    now: datetime,
    day_start: datetime,
    active: Mapping[str, ActiveCounts],
    chats: Iterable[SessionRow],
    started: Mapping[str, int],
    ended: Mapping[str, int],
    transfers: Iterable[tuple[str, str, int]],
) -> LiveSnapshot:
    """The snapshot from what a backend counted: the active chats by department and the most
    recently active of each, sessions started and ended since `day_start` by tenant, transfers
    since then as (from, to, count)."""
    tiles: dict[str, dict[str, int]] = {}

    def tile(tenant: str) -> dict[str, int]:
        return tiles.setdefault(tenant, Counter())

    for tenant, counts in active.items():
        counted = tile(tenant)
        counted["active"] += counts.active
        counted["waiting"] += counts.waiting
        counted["with_agent"] += counts.with_agent
        counted["idle"] += counts.idle
        if counts.waiting_since is not None:
            waited = int((now - counts.waiting_since).total_seconds())
            counted["longest_wait_seconds"] = max(0, waited)
    for tenant, count in started.items():
        tile(tenant)["started_today"] += count
    for tenant, count in ended.items():
        tile(tenant)["ended_today"] += count
    for source, target, count in transfers:
        tile(source)["transfers_out_today"] += count
        tile(target)["transfers_in_today"] += count
    departments = tuple(
        DepartmentLive(tenant, **{key: int(value) for key, value in counts.items()})
        for tenant, counts in sorted(tiles.items())
    )
    listed = sorted(chats, key=lambda r: (r.last_activity_at, r.session_id), reverse=True)
    return LiveSnapshot(
        now, day_start, departments, tuple(listed), sum(c.active for c in active.values())
    )


def day_start_of(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day (the live view's "today" unless the asker says otherwise)."""
    moment = now.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# chat history


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """What chat history lists; every criterion given must hold. `tenants` narrows the
    departments further than the scope; `started_from` is inclusive, `started_before`
    exclusive; `guest` is part of the guest's name, email or user principal name."""

    tenants: frozenset[str] | None = None
    end_reason: EndReason | None = None
    state: SessionState | None = None
    started_from: datetime | None = None
    started_before: datetime | None = None
    stage: str | None = None
    hops: int | None = None
    min_hops: int | None = None
    agent: str | None = None
    guest: str | None = None

    def departments(self, scope: Scope) -> frozenset[str] | None:
        """The tenants to list (None: every tenant), as far as `scope` sees them."""
        wanted = self.tenants
        if scope.sees_all:
            return wanted
        visible = frozenset(t for t in scope.departments if t != "*")
        return visible if wanted is None else wanted & visible


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page of chat history ends: the last row's start and session id (rows are
    ordered newest start first, session id breaking ties)."""

    started_at: str
    session_id: str

    def encode(self) -> str:
        return f"{self.started_at}|{self.session_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        started, _, session = text.partition("|")
        if not session or moment_of(started) is None:
            raise ValueError(f"not a chat history cursor: {text!r}")
        return cls(started, session)

    @classmethod
    def after(cls, row: SessionRow) -> Cursor:
        return cls(row.started_at.isoformat(), row.session_id)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of chat history and the cursor of the next (None: the last page)."""

    rows: tuple[SessionRow, ...]
    next: Cursor | None


def page_of(rows: Sequence[SessionRow], limit: int) -> Page:
    """A page from up to `limit + 1` rows fetched in order."""
    if len(rows) > limit:
        return Page(tuple(rows[:limit]), Cursor.after(rows[limit - 1]))
    return Page(tuple(rows), None)


# reports


@dataclass(frozen=True, slots=True)
class Durations:
    """Durations in seconds: how many, median and 90th percentile (nearest rank)."""

    count: int = 0
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, values: Iterable[float]) -> Durations:
        ordered = sorted(values)
        if not ordered:
            return cls()
        return cls(len(ordered), _rank(ordered, 0.5), _rank(ordered, 0.9))


def _rank(ordered: Sequence[float], share: float) -> float:
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Summary:
    """Reports over the sessions that started in [`start`, `end`) in the departments asked
    for. Hours and days are UTC; `heatmap` is keyed by (weekday, hour), Monday 0."""

    start: datetime
    end: datetime
    sessions: int = 0
    by_hour: Mapping[int, int] = field(default_factory=dict)
    by_day: Mapping[str, int] = field(default_factory=dict)
    heatmap: Mapping[tuple[int, int], int] = field(default_factory=dict)
    #: Sessions by why they ended ("active" for those still going).
    outcomes: Mapping[str, int] = field(default_factory=dict)
    transferred: int = 0
    time_to_department: Durations = Durations()
    time_in_department: Durations = Durations()
    waiting: Durations = Durations()
    handling: Durations = Durations()
    #: Sessions abandoned or ended by the guest, by the stage they stopped at.
    drop_off: Mapping[str, int] = field(default_factory=dict)
    ratings: Mapping[int, int] = field(default_factory=dict)
    refused_transfers: int = 0

    @property
    def transfer_rate(self) -> float:
        return self.transferred / self.sessions if self.sessions else 0.0

    @property
    def rating_average(self) -> float | None:
        total = sum(self.ratings.values())
        if not total:
            return None
        return sum(r * n for r, n in self.ratings.items()) / total

    @property
    def busiest_hours(self) -> list[int]:
        """Hours of the day with the most sessions, busiest first (ties: earlier first)."""
        return sorted(self.by_hour, key=lambda hour: (-self.by_hour[hour], hour))


def summarize(
    start: datetime, end: datetime, rows: Iterable[SessionRow], refused: int = 0
) -> Summary:
    """The reports over `rows` (sessions started in the range)."""
    by_hour: Counter[int] = Counter()
    by_day: Counter[str] = Counter()
    heatmap: Counter[tuple[int, int]] = Counter()
    outcomes: Counter[str] = Counter()
    drop_off: Counter[str] = Counter()
    ratings: Counter[int] = Counter()
    to_department: list[float] = []
    in_department: list[float] = []
    waiting: list[float] = []
    handling: list[float] = []
    sessions = 0
    for row in rows:
        sessions += 1
        started = row.started_at.astimezone(UTC)
        by_hour[started.hour] += 1
        by_day[started.date().isoformat()] += 1
        heatmap[started.weekday(), started.hour] += 1
        reason = row.end_reason
        outcomes[reason.value if reason else "active"] += 1
        if reason in DROP_OFF:
            drop_off[row.stage or "?"] += 1
        if reason is not EndReason.TRANSFERRED and row.seconds_to_department is not None:
            to_department.append(row.seconds_to_department)
        if row.seconds_in_department is not None:
            in_department.append(row.seconds_in_department)
        if row.wait_seconds is not None and row.connected_at is not None:
            waiting.append(float(row.wait_seconds))
        if row.handle_seconds is not None:
            handling.append(float(row.handle_seconds))
        if row.rating is not None:
            ratings[row.rating] += 1
    return Summary(
        start=start,
        end=end,
        sessions=sessions,
        by_hour=dict(by_hour),
        by_day=dict(by_day),
        heatmap=dict(heatmap),
        outcomes=dict(outcomes),
        transferred=outcomes[EndReason.TRANSFERRED.value],
        time_to_department=Durations.of(to_department),
        time_in_department=Durations.of(in_department),
        waiting=Durations.of(waiting),
        handling=Durations.of(handling),
        drop_off=dict(drop_off),
        ratings=dict(ratings),
        refused_transfers=refused,
    )


# the transfer map


@dataclass(frozen=True, slots=True)
class TransferLink:
    """Chats that went from `source` at hop `source_hop` to `target` at `target_hop`; `loop`
    when the target is a department the visit had been to (A → B → A)."""

    source: str
    source_hop: int
    target: str
    target_hop: int
    count: int
    loop: bool = False


@dataclass(frozen=True, slots=True)
class RefusedLink:
    source: str
    target: str
    count: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransferMap:
    """How chats flowed between departments: a link per (department, hop) pair, so a chat
    that returns draws forward, never a cycle."""

    links: tuple[TransferLink, ...]
    refused: tuple[RefusedLink, ...]

    @property
    def nodes(self) -> list[tuple[str, int]]:
        found = {(link.source, link.source_hop) for link in self.links}
        found |= {(link.target, link.target_hop) for link in self.links}
        return sorted(found, key=lambda node: (node[1], node[0]))

    @property
    def transfers(self) -> int:
        return sum(link.count for link in self.links)

    @property
    def loops(self) -> int:
        """Transfers back into a department the chat had been to."""
        return sum(link.count for link in self.links if link.loop)


def transfer_map(
    scope: Scope, transfers: Iterable[TransferRecord], refused: Iterable[RefusedTransfer]
) -> TransferMap:
    """The map of `transfers` and `refused` (departments `scope` does not count show as
    `OTHER`; links between two of those are left out)."""
    records = sorted(transfers, key=lambda r: (r.at, r.hop))
    into = {r.to_session_id: r for r in records}
    links: Counter[tuple[str, int, str, int, bool]] = Counter()
    for record in records:
        visited = {record.from_tenant_id}
        earlier = into.get(record.from_session_id)
        while earlier is not None:
            visited.add(earlier.from_tenant_id)
            earlier = into.get(earlier.from_session_id)
        source, target = _named(scope, record.from_tenant_id), _named(scope, record.to_tenant_id)
        if source == target == OTHER:
            continue
        hop = record.hop or 1
        links[source, hop - 1, target, hop, record.to_tenant_id in visited] += 1
    refusals: dict[tuple[str, str], list[str]] = {}
    for refusal in refused:
        source, target = _named(scope, refusal.from_tenant_id), _named(scope, refusal.to_tenant_id)
        if source == target == OTHER:
            continue
        refusals.setdefault((source, target), []).append(refusal.reason)
    return TransferMap(
        tuple(
            TransferLink(s, sh, t, th, n, loop) for (s, sh, t, th, loop), n in sorted(links.items())
        ),
        tuple(
            RefusedLink(s, t, len(reasons), tuple(sorted(set(reasons))))
            for (s, t), reasons in sorted(refusals.items())
        ),
    )


def _named(scope: Scope, tenant_id: str) -> str:
    return tenant_id if scope.reports_on(tenant_id) else OTHER


# one chat's journey


@dataclass(frozen=True, slots=True)
class StageSpell:
    """A stage the session was at, from `entered_at` for `seconds` (None: still there)."""

    stage: str
    pipeline: str
    entered_at: datetime
    seconds: float | None


@dataclass(frozen=True, slots=True)
class JourneySession:
    """One session of a chat's timeline. A department the asker does not see shows only as
    "handled by X from … to …": `row` and `stages` are empty then."""

    tenant_id: str
    started_at: datetime
    ended_at: datetime | None
    visible: bool
    row: SessionRow | None = None
    stages: tuple[StageSpell, ...] = ()


@dataclass(frozen=True, slots=True)
class Journey:
    """One chat over all its sessions, oldest first, with the transfers between them."""

    conversation_id: str
    sessions: tuple[JourneySession, ...]
    transfers: tuple[TransferRecord, ...]


def journey_of(history: ChatHistory, scope: Scope, now: datetime) -> Journey | None:
    """The timeline of a chat as `scope` sees it; None when it sees none of its sessions
    (the chat is not theirs to know of)."""
    if not any(scope.sees(s.tenant_id) for s in history.sessions):
        return None
    sessions = []
    for session in history.sessions:
        if not scope.sees(session.tenant_id):
            sessions.append(
                JourneySession(session.tenant_id, session.started_at, session.ended_at, False)
            )
            continue
        end = session.ended_at or now
        sessions.append(
            JourneySession(
                session.tenant_id,
                session.started_at,
                session.ended_at,
                True,
                row_of(session),
                _spells(history.flows.get(session.id, ()), end, session.ended_at is None),
            )
        )
    return Journey(history.conversation_id, tuple(sessions), tuple(history.transfers))


def _spells(flow: Sequence[FlowStep], end: datetime, open_end: bool) -> tuple[StageSpell, ...]:
    spells = []
    for index, step in enumerate(flow):
        following = flow[index + 1].at if index + 1 < len(flow) else None
        until = following or (None if open_end else end)
        seconds = (until - step.at).total_seconds() if until is not None else None
        spells.append(StageSpell(step.stage_key, step.pipeline, step.at, seconds))
    return tuple(spells)


class ReportStore(Protocol):
    """The operations view's questions, answered by a backend within the asker's scope."""

    async def live(
        self, scope: Scope, now: datetime, *, day_start: datetime | None = None
    ) -> LiveSnapshot:
        """The departments' tiles and the active chats now (one snapshot query per call;
        `day_start`: where "today" began, midnight UTC by default)."""
        ...

    async def quiet(self, before: datetime, limit: int) -> list[SessionRow]:
        """Active sessions (of every tenant) with nothing said since before `before`, at most
        `limit`: the candidates of the idle check, found without reading every active session."""
        ...

    async def sessions(
        self,
        scope: Scope,
        filters: SessionFilter,
        *,
        before: Cursor | None = None,
        limit: int = 50,
    ) -> Page:
        """Sessions that match `filters`, newest start first, after `before` (keyset paging:
        no row twice, none skipped, however many share a start time)."""
        ...

    async def journey(self, scope: Scope, conversation_id: str, now: datetime) -> Journey | None:
        """One chat's timeline, or None if `scope` sees none of it."""
        ...

    async def summary(
        self, scope: Scope, start: datetime, end: datetime, *, tenant: str | None = None
    ) -> Summary:
        """Reports over the sessions started in [`start`, `end`) in the departments `scope`
        counts (only `tenant`, if given)."""
        ...

    async def transfers(self, scope: Scope, start: datetime, end: datetime) -> TransferMap:
        """How chats flowed between departments in [`start`, `end`)."""
        ...

    async def close(self) -> None: ...


def counted_tenants(scope: Scope, tenant: str | None) -> frozenset[str] | None:
    """The tenants a report covers (None: every tenant)."""
    if tenant is not None:
        return frozenset({tenant}) if scope.reports_on(tenant) else frozenset()
    if scope.reports_on_all:
        return None
    named = (scope.departments | scope.reports) - {"*"}
    return frozenset(named)


def utc_text(moment: datetime) -> str:
    """A moment as the stores compare timestamps: UTC ISO text (text order is time order)."""
    return moment.astimezone(UTC).isoformat()
