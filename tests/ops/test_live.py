"""The live view over HTTP: its JSON and its event stream show each person what their roles
allow, and however many watch, an instance asks its store once per interval."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ops.live import LiveHub
from ops.pages import LIVE
from storage.reports import LIVE_CHATS, LiveSnapshot
from tests.ops.conftest import RunningOps, chat_straight_to_legal, chat_to_legal_through_hr
from tests.storage.test_reports import active_chats
from tests.support.teams import choice_value


async def chat_waiting_in_hr(ops: RunningOps) -> None:
    chat = ops.chat()
    await chat.install()
    options = await chat.say("My payslip is wrong")
    await chat.submit(choice_value(options, "HR"))


async def test_live_json_shows_departments_and_chats_within_the_scope(ops: RunningOps) -> None:
    await chat_straight_to_legal(ops)
    await chat_waiting_in_hr(ops)
    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    status, body = await hana.json("/ops/api/v1/live")
    assert status == 200
    assert [d["tenant"] for d in body["departments"]] == ["hr"]
    (chat,) = body["chats"]
    assert (chat["tenant"], chat["cameFrom"], chat["hops"], chat["stage"]) == (
        "hr",
        "helpdesk",
        1,
        "detail",
    )
    assert "payslip" not in str(body)

    admin = ops.browser()
    await admin.sign_in("Ada Admin")
    status, body = await admin.json("/ops/api/v1/live")
    assert [c["tenant"] for c in body["chats"]] == ["hr"]
    legal = next(d for d in body["departments"] if d["tenant"] == "legal")
    assert (legal["active"], legal["startedToday"], legal["endedToday"]) == (0, 1, 1)
    assert legal["transfersInToday"] == 1

    analyst = ops.browser()
    await analyst.sign_in("Ana Lyst")
    status, body = await analyst.json("/ops/api/v1/live")
    assert body["chats"] == [], "reports alone show counts, never chats"
    assert next(d for d in body["departments"] if d["tenant"] == "hr")["active"] == 1


async def test_the_event_stream_sends_what_changed_for_this_viewer(ops: RunningOps) -> None:
    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    async with hana.http.get(hana.url("/ops/api/v1/stream")) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert await stream.content.readline() == b"retry: 5000\n"
        events = []
        chat = asyncio.ensure_future(chat_to_legal_through_hr(ops))
        while True:
            line = (await stream.content.readline()).decode()
            if line.startswith("data: ") and '"tenant": "hr"' in line:
                events.append(line)
                break
        await chat
    assert '"tenantName": "Human Resources"' in events[0]
    assert "payslip" not in events[0]


async def test_fifty_streams_cost_one_store_query_per_interval() -> None:
    asked: list[datetime] = []
    moment = datetime(2026, 3, 2, 10, tzinfo=UTC)
    gate = asyncio.Event()

    async def source() -> LiveSnapshot:
        asked.append(moment)
        if len(asked) == 3:
            gate.set()
        return LiveSnapshot(moment, moment, (), ())

    hub = LiveHub(source, lambda: moment, interval=0.05)
    received = [0] * 50

    async def watch(index: int) -> None:
        async with hub.subscribe() as subscriber:
            while not gate.is_set():
                if await subscriber.next(1.0) is not None:
                    received[index] += 1

    watchers = [asyncio.ensure_future(watch(i)) for i in range(50)]
    await gate.wait()
    await hub.close()
    await asyncio.gather(*watchers, return_exceptions=True)
    assert len(asked) == 3, "one query per interval, whoever watches"
    assert all(count >= 1 for count in received)
    assert hub.queries == 3 and hub.watching == 0


def test_the_hub_is_the_ops_app_s(ops: RunningOps) -> None:
    assert any(LIVE in getattr(resource, "_app", {}) for resource in ops.bot.app.router.resources())


async def test_the_live_page_announces_its_tiles_and_not_its_table(ops: RunningOps) -> None:
    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    _, page = await hana.get("/ops/")
    region = page.split('<div id="live-tiles" aria-live="polite">', 1)[1].split("</section>", 1)[0]
    assert '<article class="tile" aria-labelledby="tile-hr">' in region
    assert "<table" not in region and "Active chats" not in region

    async with hana.http.get(hana.url("/ops/live/stream")) as stream:
        lines: list[str] = []
        while True:
            line = (await stream.content.readline()).decode()
            if line.startswith("data: "):
                lines.append(line.removeprefix("data: "))
            elif line == "\n" and lines:
                break  # the end of the first event
        data = "".join(lines)
    # The first event brings the tiles out of band into the live region, then the chats.
    assert data.startswith('<div id="live-tiles" hx-swap-oob="innerHTML">')
    tiles, chats = data.split('<section aria-labelledby="chats-heading">', 1)
    assert 'aria-labelledby="tile-hr"' in tiles and "No active chats." in chats


async def test_a_busy_desk_shows_its_latest_chats_and_says_how_many_more(
    ops: RunningOps,
) -> None:
    await active_chats(ops.bot.store, "hr", [n / 60 for n in range(LIVE_CHATS + 3)])
    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    response, page = await hana.get("/ops/")
    assert response.status == 200
    assert "Showing the 200 most recently active of 203 active chats." in page
    assert '<a href="/ops/chats?state=active">All 203 in chat history</a>' in page
    assert "<caption>The 200 most recently active of 203 active chats" in page
    assert page.count('href="/ops/chats/a%3A1hr-') == LIVE_CHATS
    assert 'href="/ops/chats/a%3A1hr-202"' not in page, "the quietest three are not listed"
    status, body = await hana.json("/ops/api/v1/live")
    assert status == 200
    assert (body["activeChats"], len(body["chats"])) == (203, LIVE_CHATS)
    assert body["departments"][0]["active"] == 203
    # The link lists them all.
    status, listed = await hana.json("/ops/api/v1/sessions?state=active&limit=500")
    assert (status, len(listed["sessions"])) == (200, 203)
