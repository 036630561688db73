"""The JSON API under /ops/api/v1: each person sees a chat as their roles allow; another
department's part shows only who handled it and when; message text only with `transcripts`,
and every view of it is in the audit log an admin reads."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app import STORE, main
from tests.ops.conftest import (
    RunningOps,
    chat_straight_to_legal,
    chat_to_legal_through_hr,
)
from tests.support.teams import TeamsChat

#: What the guest typed in the chat that went Help Desk → HR → Legal.
TYPED = (
    "My payslip is wrong",
    "Overtime for March is missing",
    "Is my contract's overtime clause legal",
)


async def chat_as(ops: RunningOps, persona: str, chat: TeamsChat) -> tuple[int, Any, str]:
    browser = ops.browser()
    await browser.sign_in(persona)
    response, text = await browser.get(f"/ops/api/v1/conversations/{chat.conversation_id}")
    return response.status, json.loads(text), text


async def audit_as_admin(ops: RunningOps) -> list[dict[str, Any]]:
    admin = ops.browser()
    await admin.sign_in("Ada Admin")
    status, body = await admin.json("/ops/api/v1/audit")
    assert status == 200
    entries: list[dict[str, Any]] = body["entries"]
    return entries


async def test_a_manager_of_hr_gets_404_for_a_chat_hr_never_had(ops: RunningOps) -> None:
    chat = await chat_straight_to_legal(ops)
    status, body, text = await chat_as(ops, "Hana Hr", chat)
    assert (status, body) == (404, {"error": "no such chat"})
    assert "NDA" not in text


async def test_a_manager_of_hr_sees_hr_s_part_without_text_and_who_handled_the_rest(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    status, body, text = await chat_as(ops, "Hana Hr", chat)
    assert status == 200
    helpdesk, hr, legal = body["sessions"]

    assert helpdesk["summary"].startswith("handled by Help Desk from ")
    assert legal["summary"].startswith("handled by Legal from ")
    for other in (helpdesk, legal):
        assert other["redacted"] is True
        assert not {"id", "metadata", "flow", "transcript"} & set(other)

    assert hr["tenant"] == "hr" and hr["tenantName"] == "Human Resources"
    assert hr["transcript"] is None
    assert hr["metadata"]["Guest.Name"] == "Megan Bowen"
    assert hr["metadata"]["Session.TenantName"] == "Human Resources"
    assert "HR.Detail" not in hr["metadata"] and "Guest.Question" not in hr["metadata"]
    assert [step["stage"] for step in hr["flow"]][:2] == ["hello", "detail"]
    for typed in TYPED:
        assert typed not in text
    assert [(t["fromTenant"], t["toTenant"]) for t in body["transfers"]] == [
        ("helpdesk", "hr"),
        ("hr", "legal"),
    ]
    assert body["transfers"][0]["from"] is None and body["transfers"][0]["to"] == hr["id"]
    assert body["transcripts_shown"] == []
    assert await audit_as_admin(ops) == []


async def test_a_reader_of_hr_sees_hr_s_messages_only_and_the_view_is_audited(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    status, body, text = await chat_as(ops, "Rita Reader", chat)
    assert status == 200
    hr = body["sessions"][1]
    said = [entry["text"] for entry in hr["transcript"] if entry["direction"] == "in"]
    assert "Overtime for March is missing" in said
    assert hr["metadata"]["HR.Detail"] == "Overtime for March is missing"
    assert "Is my contract's overtime clause legal" not in text
    assert "My payslip is wrong" not in json.dumps(body["sessions"][0])
    assert body["transcripts_shown"] == ["hr"]

    (entry,) = await audit_as_admin(ops)
    assert entry["who"] == "rita@contoso.example"
    assert entry["action"] == "view"
    assert entry["conversation"] == chat.conversation_id
    assert entry["tenants"] == ["hr"]


async def test_an_admin_sees_every_department_but_no_message_text(ops: RunningOps) -> None:
    chat = await chat_to_legal_through_hr(ops)
    status, body, text = await chat_as(ops, "Ada Admin", chat)
    assert status == 200
    assert [s["tenant"] for s in body["sessions"]] == ["helpdesk", "hr", "legal"]
    assert all("redacted" not in s and s["transcript"] is None for s in body["sessions"])
    for typed in TYPED:
        assert typed not in text


async def test_reports_alone_open_no_chat_and_no_audit_log(ops: RunningOps) -> None:
    chat = await chat_to_legal_through_hr(ops)
    status, body, _ = await chat_as(ops, "Ana Lyst", chat)
    assert (status, body) == (404, {"error": "no such chat"})
    analyst = ops.browser()
    await analyst.sign_in("Ana Lyst")
    status, body = await analyst.json("/ops/api/v1/audit")
    assert (status, body) == (403, {"error": "the audit log is for admins"})


async def test_every_ops_answer_carries_a_strict_content_security_policy(
    ops: RunningOps,
) -> None:
    browser = ops.browser()
    for path in ("/ops/", "/ops/api/v1/me", "/ops/auth/signed-out"):
        response, _ = await browser.get(path)
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["Cache-Control"] == "no-store"
    await browser.sign_in("Ada Admin")
    response, _ = await browser.get("/ops/api/v1/conversations/a:1nothing-here")
    assert response.status == 404
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


async def test_the_audit_command_lists_who_read_what(
    ops: RunningOps, capsys: pytest.CaptureFixture[str]
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    await chat_as(ops, "Rita Reader", chat)
    store_file = str(ops.bot.app[STORE].path)  # type: ignore[attr-defined]
    # The command runs its own event loop, as an admin's shell would.
    assert await asyncio.to_thread(main, ["ops", "audit", "--sqlite", store_file]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["WHEN", "(UTC)", "WHO", "ACTION", "TENANTS", "CHAT"]
    assert out[1].split()[2:] == ["rita@contoso.example", "view", "hr", chat.conversation_id]
    assert await asyncio.to_thread(main, ["ops", "audit", "--sqlite", store_file, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["tenants"] == ["hr"] and entry["who"] == "rita@contoso.example"
