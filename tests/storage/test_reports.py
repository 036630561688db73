"""The operations view's questions (`storage.reports.ReportStore`), on every backend of
`conftest.BACKENDS`, with exact numbers on one seeded morning of a help desk.

The morning is played through the runtime (the tests' desk: a Help Desk front door that hands
chats to HR, HR that can send them back, Legal that takes chats only from HR, IT switched off)
on a clock the test moves; the agents' chats (waiting, connected, handled and rated) are
written as the `connect_agent` stage leaves them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.session import EndReason, Position, Session, SessionState, iso
from storage.base import Store, TurnWrites
from storage.report_csv import SESSION_COLUMNS, sessions_csv
from storage.reports import LIVE_CHATS, Cursor, ReportStore, SessionFilter, TransferLink
from storage.scope import Scope
from storage.sqlite import SqliteStore
from tests.support.desk import REFERENCE, Desk, desk, write_config

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
DAY = (datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
ADMIN = Scope.of(admin=True)
HR = Scope.of(departments=["hr"])
LEGAL = Scope.of(departments=["legal"])
ANALYST = Scope.of(reports=["*"])


class MovingClock:
    """The bot's clock: a moment the test sets."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, minutes: float) -> None:
        self.now = T0 + timedelta(minutes=minutes)


def reports(store: Store) -> ReportStore:
    return store.reports


class Morning:
    """Chats played on one store, each on its own conversation, on one clock."""

    def __init__(self, store: Store, folder: Path) -> None:
        config = desk()
        config["idle_timeout"] = "30m"
        self.config = write_config(folder, config)
        self.store = store
        self.clock = MovingClock()

    def chat(self, name: str) -> Desk:
        played = Desk(self.config, self.store, chat=f"a:1{name}")
        played.runtime.clock = self.clock
        return played

    async def play(self, name: str, start: float, *steps: Callable[[Desk], Any]) -> None:
        """Open the chat at minute `start`, then one step a minute."""
        chat = self.chat(name)
        self.clock.at(start)
        await chat.open()
        for minute, step in enumerate(steps, start=1):
            self.clock.at(start + minute)
            await step(chat)


async def agent_chat(
    store: Store,
    name: str,
    minute: float,
    metadata: dict[str, Any],
    *,
    ended: float | None = None,
) -> None:
    """An HR chat at the `connect_agent` stage as the stage leaves it."""
    at = T0 + timedelta(minutes=minute)
    chat = f"a:1{name}"
    session = Session.open(
        conversation_id=chat,
        tenant_id="hr",
        tenant_name="Human Resources",
        metadata={"Guest.Name": "Lynne Robbins", **metadata},
        now=at,
    )
    session.enter("agent", "connect_agent", "intake", at)
    session.position = Position("intake", "agent", "connect_agent", at)
    if ended is not None:
        session.metadata["Session.Status.Resolution"] = "answered by an agent"
        session.end(SessionState.ENDED, T0 + timedelta(minutes=ended), EndReason.RESOLVED)
    async with store.chat_turn(chat, f"1:{name}") as turn:
        assert turn is not None
        reference = {**REFERENCE, "conversation": {"id": chat}}
        await turn.commit(TurnWrites([session], bound_session_id=session.id, reference=reference))


async def seed(store: Store, folder: Path) -> Morning:
    """The morning: five guests through the runtime, three HR chats with agents."""
    morning = Morning(store, folder)

    def say(text: str) -> Callable[[Desk], Any]:
        return lambda chat: chat.say(text)

    def click(title: str) -> Callable[[Desk], Any]:
        return lambda chat: chat.click(title)

    # Help Desk → HR, resolved in HR.
    await morning.play(
        "resolved", 0, say("My payslip is wrong"), click("HR"), say("Pay"), click("That's all")
    )
    # Help Desk → HR → Help Desk: a loop; waits at the Help Desk's question since minute 14.
    await morning.play(
        "loop",
        10,
        say("Where is my contract?"),
        click("HR"),
        say("Something else"),
        click("Back to the Help Desk"),
    )
    # Legal takes no chats from the Help Desk, IT is switched off: two refused transfers.
    await morning.play("refused", 20, say("A legal question"), click("Legal"), click("IT Support"))
    # Asks, then goes silent at the team choice (closed as abandoned later).
    await morning.play("silent", 30, say("My laptop is slow"))
    # Ends the chat at the team choice.
    await morning.play("leaver", 40, say("Never mind"), say("end chat"))
    await agent_chat(
        store,
        "waiting",
        50,
        {"Session.Agent.State": "searching", "Session.QueuedUtc": iso(T0 + timedelta(minutes=50))},
    )
    await agent_chat(
        store,
        "connected",
        51,
        {
            "Session.Agent.State": "connected",
            "Session.Agent.Id": "alex",
            "Session.QueuedUtc": iso(T0 + timedelta(minutes=51)),
            "Session.ConnectedUtc": iso(T0 + timedelta(minutes=52)),
            "Session.WaitSeconds": 60,
        },
    )
    await agent_chat(
        store,
        "handled",
        52,
        {
            "Session.Agent.State": "ended",
            "Session.Agent.Id": "alex",
            "Session.ConnectedUtc": iso(T0 + timedelta(minutes=52, seconds=30)),
            "Session.WaitSeconds": 30,
            "Session.ConnectedSeconds": 300,
            "Session.Feedback.Rating": 4,
        },
        ended=58,
    )
    return morning


@pytest.fixture
async def morning(store: Store, tmp_path: Path) -> Morning:
    return await seed(store, tmp_path)


async def test_live_counts_each_department_as_of_now(morning: Morning) -> None:
    live = await reports(morning.store).live(ADMIN, NOW)
    helpdesk, hr = live.department("helpdesk"), live.department("hr")
    assert (helpdesk.active, helpdesk.idle, helpdesk.waiting, helpdesk.with_agent) == (3, 3, 0, 0)
    assert (helpdesk.started_today, helpdesk.ended_today) == (6, 3)
    assert (helpdesk.transfers_out_today, helpdesk.transfers_in_today) == (2, 1)
    assert (hr.active, hr.idle, hr.waiting, hr.with_agent) == (2, 0, 1, 1)
    assert hr.longest_wait_seconds == 600, "waiting since 09:50, it is 10:00"
    assert (hr.started_today, hr.ended_today) == (5, 3)
    assert (hr.transfers_out_today, hr.transfers_in_today) == (1, 2)
    # The active chats, latest activity first, with where they stand and came from.
    chats = [(c.conversation_id, c.tenant_id, c.stage, c.hops, c.came_from) for c in live.chats]
    assert chats == [
        ("a:1connected", "hr", "agent", 0, None),
        ("a:1waiting", "hr", "agent", 0, None),
        ("a:1silent", "helpdesk", "route", 0, None),
        ("a:1refused", "helpdesk", "route", 0, None),
        ("a:1loop", "helpdesk", "ask", 2, "hr"),
    ]
    assert live.chats[2].last_activity_at == T0 + timedelta(minutes=31)


async def test_the_idle_check_finds_the_active_chats_quiet_since_a_moment(
    morning: Morning,
) -> None:
    live = await reports(morning.store).live(ADMIN, NOW)
    before = T0 + timedelta(minutes=31, seconds=1)
    quiet = await reports(morning.store).quiet(before, 10)
    expected = {c.session_id for c in live.chats if c.last_activity_at < before}
    assert {row.session_id for row in quiet} == expected
    assert "a:1silent" in {row.conversation_id for row in quiet}
    assert "a:1connected" not in {row.conversation_id for row in quiet}
    assert all(row.state is SessionState.ACTIVE for row in quiet), "ended chats are not idle"
    assert len(await reports(morning.store).quiet(before, 1)) == 1


async def test_today_starts_where_the_asker_says(morning: Morning) -> None:
    live = await reports(morning.store).live(ADMIN, NOW, day_start=T0 + timedelta(minutes=45))
    assert live.department("hr").started_today == 3
    assert live.department("helpdesk").started_today == 0
    assert live.department("helpdesk").active == 3, "active chats are active whenever they began"


async def test_a_manager_of_hr_never_sees_another_department(morning: Morning) -> None:
    store = reports(morning.store)
    live = await store.live(HR, NOW)
    assert [d.tenant_id for d in live.departments] == ["hr"]
    assert {c.tenant_id for c in live.chats} == {"hr"}
    page = await store.sessions(HR, SessionFilter(), limit=100)
    assert len(page.rows) == 5 and {r.tenant_id for r in page.rows} == {"hr"}
    asked_for_helpdesk = await store.sessions(
        HR, SessionFilter(tenants=frozenset({"helpdesk"})), limit=100
    )
    assert asked_for_helpdesk.rows == ()
    assert (await store.summary(HR, *DAY, tenant="helpdesk")).sessions == 0
    assert (await store.sessions(LEGAL, SessionFilter(), limit=100)).rows == ()


async def test_an_analyst_gets_counts_and_no_chats(morning: Morning) -> None:
    store = reports(morning.store)
    live = await store.live(ANALYST, NOW)
    assert [d.tenant_id for d in live.departments] == ["helpdesk", "hr"]
    assert live.chats == ()
    assert (await store.sessions(ANALYST, SessionFilter(), limit=100)).rows == ()
    assert (await store.summary(ANALYST, *DAY)).sessions == 11


async def test_reports_count_outcomes_transfers_drop_off_times_and_ratings(
    morning: Morning,
) -> None:
    # The silent guest's chat is closed as abandoned when Crossdesk next looks at it.
    morning.clock.at(120)
    await morning.chat("silent").wake("1:wake")
    summary = await reports(morning.store).summary(ADMIN, *DAY)
    assert summary.sessions == 11
    assert summary.outcomes == {
        "transferred": 3,
        "resolved": 2,
        "guest_ended": 1,
        "abandoned": 1,
        "active": 4,
    }
    assert summary.transferred == 3 and summary.transfer_rate == pytest.approx(3 / 11)
    assert summary.drop_off == {"route": 2}
    assert summary.refused_transfers == 2
    assert summary.by_hour == {9: 11} and summary.busiest_hours == [9]
    assert summary.by_day == {"2026-03-02": 11}
    assert summary.heatmap == {(0, 9): 11}, "2 March 2026 is a Monday"
    # Reaching the right department: HR two minutes after the chat began; the loop's Help
    # Desk four minutes after.
    assert (summary.time_to_department.count, summary.time_to_department.median) == (2, 120)
    assert summary.time_to_department.p90 == 240
    assert (summary.waiting.count, summary.waiting.median, summary.waiting.p90) == (2, 30, 60)
    assert (summary.handling.count, summary.handling.median) == (1, 300)
    assert summary.ratings == {4: 1} and summary.rating_average == 4
    hr = await reports(morning.store).summary(HR, *DAY)
    assert hr.sessions == 5
    assert hr.outcomes == {"transferred": 1, "resolved": 2, "active": 2}
    assert hr.refused_transfers == 0, "both refusals were the Help Desk's"


async def test_abandoned_chats_end_when_they_went_idle(morning: Morning) -> None:
    morning.clock.at(120)
    await morning.chat("silent").wake("1:wake")
    page = await reports(morning.store).sessions(
        ADMIN, SessionFilter(end_reason=EndReason.ABANDONED)
    )
    [row] = page.rows
    assert row.conversation_id == "a:1silent"
    assert row.ended_at == T0 + timedelta(minutes=61), "silent since 09:31, 30 minutes allowed"
    assert row.stage == "route"
    live = await reports(morning.store).live(ADMIN, T0 + timedelta(minutes=120))
    assert live.department("helpdesk").active == 2


async def test_the_transfer_map_draws_a_loop_forward_and_shows_refusals(
    morning: Morning,
) -> None:
    flows = await reports(morning.store).transfers(ADMIN, *DAY)
    assert flows.links == (
        TransferLink("helpdesk", 0, "hr", 1, 2, loop=False),
        TransferLink("hr", 1, "helpdesk", 2, 1, loop=True),
    )
    assert flows.nodes == [("helpdesk", 0), ("hr", 1), ("helpdesk", 2)]
    assert (flows.transfers, flows.loops) == (3, 1)
    refused = [(r.source, r.target, r.count) for r in flows.refused]
    assert refused == [("helpdesk", "it", 1), ("helpdesk", "legal", 1)]
    assert flows.refused[1].reasons == ("tenant 'legal' accepts no transfers from 'helpdesk'",)
    # A manager of HR sees where HR's chats came from and went, not whose.
    hr = await reports(morning.store).transfers(HR, *DAY)
    assert [(link.source, link.target, link.count) for link in hr.links] == [
        ("(other)", "hr", 2),
        ("hr", "(other)", 1),
    ]
    assert hr.refused == ()
    earlier = await reports(morning.store).transfers(ADMIN, DAY[0] - timedelta(days=1), DAY[0])
    assert earlier.links == () and earlier.refused == ()


async def test_history_filters_by_outcome_stage_hops_agent_and_guest(morning: Morning) -> None:
    store = reports(morning.store)

    async def chats(**criteria: Any) -> list[tuple[str, str]]:
        page = await store.sessions(ADMIN, SessionFilter(**criteria), limit=100)
        return [(r.conversation_id, r.tenant_id) for r in page.rows]

    assert await chats(end_reason=EndReason.RESOLVED) == [
        ("a:1handled", "hr"),
        ("a:1resolved", "hr"),
    ]
    assert await chats(end_reason=EndReason.GUEST_ENDED) == [("a:1leaver", "helpdesk")]
    assert await chats(hops=2) == [("a:1loop", "helpdesk")]
    assert await chats(min_hops=1) == [
        ("a:1loop", "helpdesk"),
        ("a:1loop", "hr"),
        ("a:1resolved", "hr"),
    ]
    assert await chats(stage="route") == [
        ("a:1leaver", "helpdesk"),
        ("a:1silent", "helpdesk"),
        ("a:1refused", "helpdesk"),
    ]
    assert await chats(agent="alex") == [("a:1handled", "hr"), ("a:1connected", "hr")]
    assert len(await chats(guest="LYNNE")) == 3
    assert len(await chats(guest="megan")) == 8
    assert await chats(
        state=SessionState.ACTIVE,
        started_from=T0 + timedelta(minutes=20),
        started_before=T0 + timedelta(minutes=50),
    ) == [("a:1silent", "helpdesk"), ("a:1refused", "helpdesk")]


async def test_a_journey_is_one_timeline_over_the_chats_sessions(morning: Morning) -> None:
    store = reports(morning.store)
    journey = await store.journey(ADMIN, "a:1loop", NOW)
    assert journey is not None
    assert [(s.tenant_id, s.visible) for s in journey.sessions] == [
        ("helpdesk", True),
        ("hr", True),
        ("helpdesk", True),
    ]
    hr = journey.sessions[1]
    assert [(s.stage, s.seconds) for s in hr.stages] == [
        ("hello", 0),
        ("detail", 60),
        ("next_step", 60),
        ("to_helpdesk", 0),
    ]
    assert hr.row is not None and hr.row.end_reason is EndReason.TRANSFERRED
    assert [(t.from_tenant_id, t.to_tenant_id, t.hop) for t in journey.transfers] == [
        ("helpdesk", "hr", 1),
        ("hr", "helpdesk", 2),
    ]
    assert journey.sessions[2].stages[-1].seconds is None, "still waiting there"
    # A manager of HR sees the Help Desk's part only as "handled by the Help Desk, from… to…".
    seen_by_hr = await store.journey(HR, "a:1loop", NOW)
    assert seen_by_hr is not None
    hidden = seen_by_hr.sessions[0]
    assert (hidden.visible, hidden.row, hidden.stages) == (False, None, ())
    assert hidden.ended_at == T0 + timedelta(minutes=12)
    assert await store.journey(LEGAL, "a:1loop", NOW) is None


async def test_the_csv_has_one_row_per_session_in_stable_columns(morning: Morning) -> None:
    page = await reports(morning.store).sessions(
        ADMIN, SessionFilter(tenants=frozenset({"hr"})), limit=100
    )
    lines = sessions_csv(page.rows).splitlines()
    assert lines[0].split(",") == list(SESSION_COLUMNS)
    assert len(lines) == 1 + 5
    handled = dict(zip(SESSION_COLUMNS, lines[1].split(","), strict=True))
    assert handled["conversation_id"] == "a:1handled"
    assert handled["end_reason"] == "resolved" and handled["rating"] == "4"
    assert handled["wait_seconds"] == "30" and handled["handle_seconds"] == "300"
    assert handled["started_at"] == "2026-03-02T09:52:00Z"


async def _sessions_at(store: Store, starts: list[datetime]) -> None:
    for number, start in enumerate(starts):
        chat = f"a:1paged-{number:02d}"
        session = Session.open(conversation_id=chat, tenant_id="hr", tenant_name="HR", now=start)
        async with store.chat_turn(chat, "1:paged") as turn:
            assert turn is not None
            await turn.commit(TurnWrites([session], bound_session_id=session.id))


async def test_pages_neither_repeat_nor_skip_sessions_that_started_together(
    store: Store,
) -> None:
    same = T0 + timedelta(minutes=5)
    await _sessions_at(
        store, [T0, *[same] * 7, T0 + timedelta(minutes=9), T0 + timedelta(minutes=1)]
    )
    every = await reports(store).sessions(ADMIN, SessionFilter(), limit=100)
    assert len(every.rows) == 10 and every.next is None
    seen = []
    cursor: Cursor | None = None
    pages = 0
    for _ in range(6):  # a paging that repeats itself would go on forever
        page = await reports(store).sessions(ADMIN, SessionFilter(), before=cursor, limit=3)
        pages += 1
        seen += [row.session_id for row in page.rows]
        if page.next is None:
            break
        cursor = Cursor.decode(page.next.encode())
    assert pages == 4
    assert seen == [row.session_id for row in every.rows]
    assert len(set(seen)) == 10
    starts = [row.started_at for row in every.rows]
    assert starts == sorted(starts, reverse=True)


async def test_sqlite_answers_reports_off_the_event_loop_read_only(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    try:
        await _sessions_at(store, [T0])
        page = await store.reports.sessions(ADMIN, SessionFilter())
        assert len(page.rows) == 1
        assert store.reports.thread_id not in (None, threading.get_ident())
        # Its connection refuses writes, whatever a query would try.
        refused = await store.reports._run(lambda db: _write_refused(db))
        assert refused
    finally:
        await store.close()


def _write_refused(db: Any) -> bool:
    import sqlite3

    try:
        db.execute("DELETE FROM sessions")
    except sqlite3.OperationalError:
        return True
    return False


async def active_chats(store: Store, tenant: str, quiet_minutes: list[float]) -> list[str]:
    """Active chats of `tenant`, one per entry, last active that many minutes before `NOW`;
    their session ids in that order."""
    ids = []
    for number, quiet in enumerate(quiet_minutes):
        chat = f"a:1{tenant}-{number:03d}"
        session = Session.open(
            conversation_id=chat, tenant_id=tenant, tenant_name=tenant, now=T0, metadata={}
        )
        session.last_activity_at = NOW - timedelta(minutes=quiet)
        async with store.chat_turn(chat, "1:busy") as turn:
            assert turn is not None
            await turn.commit(TurnWrites([session], bound_session_id=session.id))
        ids.append(session.id)
    return ids


async def test_live_lists_the_latest_chats_of_a_busy_desk_and_counts_every_one(
    store: Store,
) -> None:
    # HR: more active chats than the live view lists, each a second quieter than the last
    # (the first 4 are the most recent); Legal: 2, quieter than all of HR's.
    hr = await active_chats(store, "hr", [n / 60 for n in range(LIVE_CHATS + 3)])
    legal = await active_chats(store, "legal", [10, 20])
    live = await reports(store).live(ADMIN, NOW)
    assert [(d.tenant_id, d.active, d.idle) for d in live.departments] == [
        ("hr", 203, 0),
        ("legal", 2, 2),
    ]
    assert live.active == 205
    assert [c.session_id for c in live.chats] == hr[:LIVE_CHATS]
    # Each department's page is its own latest, however busy another department is.
    for_hr = await reports(store).live(HR, NOW)
    assert (for_hr.active, len(for_hr.chats)) == (203, LIVE_CHATS)
    assert [c.session_id for c in for_hr.chats] == hr[:LIVE_CHATS]
    for_legal = await reports(store).live(LEGAL, NOW)
    assert for_legal.active == 2
    assert [c.session_id for c in for_legal.chats] == legal
    both = await reports(store).live(Scope.of(departments=["hr", "legal"]), NOW)
    assert both.active == 205 and len(both.chats) == LIVE_CHATS
    analyst = await reports(store).live(ANALYST, NOW)
    assert (analyst.active, analyst.chats) == (0, ())
    assert analyst.department("hr").active == 203


async def _guest(store: Store, chat: str, metadata: dict[str, Any]) -> Session:
    session = Session.open(
        conversation_id=chat, tenant_id="hr", tenant_name="HR", now=T0, metadata=metadata
    )
    async with store.chat_turn(chat, "1:guest") as turn:
        assert turn is not None
        await turn.commit(TurnWrites([session], bound_session_id=session.id))
    return session


async def test_a_guest_is_found_by_any_part_of_one_of_their_names(store: Store) -> None:
    await _guest(
        store,
        "a:1lynne",
        {"Guest.Name": "Lynne Robbins", "Guest.UserPrincipalName": "LynneR@contoso.example"},
    )
    await _guest(store, "a:1megan", {"Guest.Name": "Megan Bowen", "Guest.Email": "mb@fabrikam.io"})
    await _guest(store, "a:1nobody", {})
    await _guest(store, "a:1zoe", {"Guest.Name": "Zoë Ölund"})

    async def found(part: str) -> list[str]:
        page = await reports(store).sessions(ADMIN, SessionFilter(guest=part))
        return sorted(row.conversation_id for row in page.rows)

    assert await found("ROBBINS") == ["a:1lynne"]
    assert await found("ner@CONTOSO") == ["a:1lynne"]
    assert await found("b@fab") == ["a:1megan"]
    assert await found("n") == ["a:1lynne", "a:1megan", "a:1zoe"]
    assert await found("bo") == ["a:1megan"]
    assert await found("contoso.example") == ["a:1lynne"]
    # Each of name, email and user principal name on its own: no match across two of them.
    assert await found("bowen mb") == []
    assert await found("robbins lynner") == []
    assert await found('"') == []
    # Case is folded beyond ASCII, for a short part as for a long one.
    assert await found("ÖLUND") == await found("ö") == await found("ZOË") == ["a:1zoe"]


async def test_a_guest_is_found_by_what_a_later_turn_learnt_of_them(store: Store) -> None:
    session = await _guest(store, "a:1later", {"Guest.Name": "A guest"})
    async with store.chat_turn("a:1later", "2:guest") as turn:
        assert turn is not None and turn.session is not None
        turn.session.metadata["Guest.Name"] = "Adele Vance"
        turn.session.metadata["Guest.Email"] = "adelev@contoso.example"
        await turn.commit(TurnWrites([turn.session]))
    by_email = await reports(store).sessions(ADMIN, SessionFilter(guest="adelev@"))
    assert [row.session_id for row in by_email.rows] == [session.id]
    assert [r.guest_name for r in by_email.rows] == ["Adele Vance"]
    assert (await reports(store).sessions(ADMIN, SessionFilter(guest="a guest"))).rows == ()
