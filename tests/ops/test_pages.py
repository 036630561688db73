"""Chat history, a chat's journey, reports and the transfer map over HTTP: what each person is
shown, page and API alike, and what they are never shown (another department's chats, message
text without `transcripts`)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from urllib.parse import quote

from storage.report_csv import SESSION_COLUMNS
from tests.ops.conftest import (
    RunningOps,
    StartOps,
    chat_straight_to_legal,
    chat_to_legal_through_hr,
)
from tests.support.teams import choice_value

TYPED = (
    "My payslip is wrong",
    "Overtime for March is missing",
    "Is my contract's overtime clause legal",
)


async def test_history_lists_only_the_departments_sessions_and_exports_them_without_text(
    ops: RunningOps,
) -> None:
    through_hr = await chat_to_legal_through_hr(ops)
    await chat_straight_to_legal(ops)
    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    status, body = await hana.json("/ops/api/v1/sessions")
    assert status == 200
    (row,) = body["sessions"]
    assert (row["tenant"], row["conversation"], row["endReason"]) == (
        "hr",
        through_hr.conversation_id,
        "transferred",
    )
    assert (row["cameFrom"], row["wentTo"], row["hops"]) == ("helpdesk", "legal", 1)

    response, page = await hana.get("/ops/chats")
    assert response.status == 200
    assert "Sessions, newest first (1 on this page)" in page
    assert "Human Resources" in page and "<td>Legal</td>" not in page

    response, text = await hana.get("/ops/api/v1/sessions?format=csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == SESSION_COLUMNS
    assert [r[SESSION_COLUMNS.index("tenant_id")] for r in rows] == ["hr"]
    for typed in (*TYPED, "NDA"):
        assert typed not in text and typed not in page

    status, body = await hana.json("/ops/api/v1/sessions?tenant=legal")
    assert (status, body) == (403, {"error": "not a department you may see"})


async def test_history_filters_and_pages_by_keyset(ops: RunningOps) -> None:
    for _ in range(3):
        await chat_straight_to_legal(ops)
    admin = ops.browser()
    await admin.sign_in("Ada Admin")
    status, first = await admin.json("/ops/api/v1/sessions?tenant=legal&limit=2")
    assert status == 200 and len(first["sessions"]) == 2 and first["next"]
    status, second = await admin.json(
        f"/ops/api/v1/sessions?tenant=legal&limit=2&before={quote(first['next'])}"
    )
    assert len(second["sessions"]) == 1 and second["next"] is None
    seen = {s["session"] for s in first["sessions"] + second["sessions"]}
    assert len(seen) == 3
    status, body = await admin.json("/ops/api/v1/sessions?outcome=transferred&hops=0")
    assert {s["tenant"] for s in body["sessions"]} == {"helpdesk"}
    for bad, message in (
        ("from=2026-13-01", "from: a date as YYYY-MM-DD, not '2026-13-01'"),
        ("from=2026-03-02&to=2026-03-01", "from: must not be after to"),
        ("from=2024-01-01&to=2026-01-01", "from, to: at most 366 days"),
        (
            "outcome=happy",
            "outcome: one of resolved, transferred, guest_ended, no_resolution, abandoned",
        ),
    ):
        status, body = await admin.json(f"/ops/api/v1/sessions?{bad}")
        assert (status, body) == (400, {"error": message}), bad


async def test_the_journey_shows_other_departments_as_who_handled_them_and_when(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    response, page = await hana.get(f"/ops/chats/{chat.conversation_id}")
    assert response.status == 200
    assert "<h2>Human Resources</h2>" in page
    assert "handled by Help Desk " in page and "handled by Legal " in page
    assert "<h2>Legal</h2>" not in page and "Messages in" not in page
    for typed in TYPED:
        assert typed not in page

    only_legal = await chat_straight_to_legal(ops)
    response, page = await hana.get(f"/ops/chats/{only_legal.conversation_id}")
    assert response.status == 404 and "No such chat" in page and "NDA" not in page


async def test_a_reader_sees_the_departments_messages_and_the_view_is_audited(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    rita = ops.browser()
    await rita.sign_in("Rita Reader")
    _response, page = await rita.get(f"/ops/chats/{chat.conversation_id}")
    assert "Messages in Human Resources" in page
    assert "Overtime for March is missing" in page
    assert "overtime clause legal" not in page, "Legal's messages are not Rita's to read"
    admin = ops.browser()
    await admin.sign_in("Ada Admin")
    _status, body = await admin.json("/ops/api/v1/audit")
    assert [(e["who"], e["tenants"]) for e in body["entries"]] == [("rita@contoso.example", ["hr"])]


async def test_reports_count_within_the_scope_with_tables_and_csv(ops: RunningOps) -> None:
    await chat_to_legal_through_hr(ops)
    analyst = ops.browser()
    await analyst.sign_in("Ana Lyst")
    status, body = await analyst.json("/ops/api/v1/reports/summary")
    assert status == 200
    assert body["sessions"] == 3 and body["transferred"] == 2
    assert body["outcomes"]["transferred"] == 2
    response, page = await analyst.get("/ops/reports")
    assert response.status == 200
    assert "<caption>Chats by day (the chart's data)</caption>" in page
    assert 'type="application/json"' in page
    response, text = await analyst.get("/ops/reports?format=csv")
    assert text.splitlines()[0] == "report,label,value"
    assert "transfers,Transferred,2" in text

    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    status, body = await hana.json("/ops/api/v1/reports/summary")
    assert body["sessions"] == 1
    status, body = await hana.json("/ops/api/v1/reports/summary?tenant=legal")
    assert status == 403


async def test_the_last_hour_includes_a_transfer_made_this_very_moment(
    start_ops: StartOps,
) -> None:
    """The last hour runs up to and including now: with the clock standing still, the transfer
    just made is on the map (the live map's stream asks at the moment a turn commits)."""
    moment = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    ops = await start_ops(clock=lambda: moment)
    ops.provider.clock = lambda: moment
    chat = ops.chat()
    await chat.install()
    options = await chat.say("My payslip is wrong")
    await chat.submit(choice_value(options, "HR"))
    admin = ops.browser()
    await admin.sign_in("Ada Admin")
    status, body = await admin.json("/ops/api/v1/reports/transfers?period=hour")
    assert status == 200
    assert [(link["source"], link["target"], link["count"]) for link in body["links"]] == [
        ("helpdesk@0", "hr@1", 1)
    ]


async def test_the_transfer_map_draws_each_hop_and_links_to_the_chats(ops: RunningOps) -> None:
    await chat_to_legal_through_hr(ops)
    admin = ops.browser()
    await admin.sign_in("Ada Admin")
    status, body = await admin.json("/ops/api/v1/reports/transfers?period=hour")
    assert status == 200
    assert [(link["source"], link["target"], link["count"]) for link in body["links"]] == [
        ("helpdesk@0", "hr@1", 1),
        ("hr@1", "legal@2", 1),
    ]
    assert body["links"][1]["chats"].startswith("/ops/chats?tenant=legal&hops=2")
    _response, page = await admin.get("/ops/flows?period=hour")
    assert "Human Resources (hop 1)" in page and "Chats from Human Resources to Legal" in page

    hana = ops.browser()
    await hana.sign_in("Hana Hr")
    status, body = await hana.json("/ops/api/v1/reports/transfers")
    assert {n["tenant"] for n in body["nodes"]} == {"hr", "(other)"}
    status, body = await hana.json("/ops/api/v1/reports/transfers?period=year")
    assert (status, body) == (400, {"error": "period: one of hour, day, week"})
