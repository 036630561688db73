"""The Admin page and its API: for admins only; the departments with their pipelines, who may
transfer to whom, the role mapping, and the audit log of transcript views, newest first, paged."""

from __future__ import annotations

from html.parser import HTMLParser

from tests.ops.conftest import Browser, RunningOps, chat_to_legal_through_hr


class _Tables(HTMLParser):
    """Each table of a page by its caption: its rows as the texts of their cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] = []
        self._cell: str | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._caption, self._rows = "", []
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data: str) -> None:
        if self._in_caption and self._caption is not None:
            self._caption += data
        elif self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "table" and self._caption is not None:
            self.tables[self._caption.strip()] = self._rows
            self._caption = None


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


async def signed_in(ops: RunningOps, persona: str) -> Browser:
    browser = ops.browser()
    await browser.sign_in(persona)
    return browser


async def test_the_admin_page_and_its_api_are_for_admins_only(ops: RunningOps) -> None:
    for persona in ("Hana Hr", "Rita Reader", "Ana Lyst"):
        browser = await signed_in(ops, persona)
        response, page = await browser.get("/ops/admin")
        assert response.status == 403
        assert "<h1>Not for your roles</h1>" in page
        assert 'href="/ops/admin"' not in page, "no Admin link for them"
        status, body = await browser.json("/ops/api/v1/admin")
        assert (status, body) == (403, {"error": "the admin page is for admins"})
        _, live = await browser.get("/ops/")
        assert 'href="/ops/admin"' not in live

    ada = await signed_in(ops, "Ada Admin")
    _, live = await ada.get("/ops/")
    assert '<a href="/ops/admin">Admin</a>' in live
    response, page = await ada.get("/ops/admin")
    assert response.status == 200
    assert '<a href="/ops/admin" aria-current="page">Admin</a>' in page


async def test_an_admin_sees_departments_transfers_roles_and_who_read_what(
    ops: RunningOps,
) -> None:
    chat = await chat_to_legal_through_hr(ops)
    rita = await signed_in(ops, "Rita Reader")
    status, _ = await rita.json(f"/ops/api/v1/conversations/{chat.conversation_id}")
    assert status == 200

    ada = await signed_in(ops, "Ada Admin")
    _, page = await ada.get("/ops/admin")
    shown = tables(page)

    departments = shown["4 departments"]
    hr = next(row for row in departments if row[0] == "Human Resources")
    assert hr[1:] == ["hr", "yes", "intake", "intake: hello → detail → next_step → to_legal → bye"]

    header, *matrix = shown["Transfers accepted: rows receive, columns send"]
    assert header == ["To \\ from", "Help Desk", "IT Support", "Human Resources", "Legal"]
    legal = next(row for row in matrix if row[0] == "Legal")
    assert legal[1:] == ["accepted", "refused", "accepted", "\N{EN DASH}"]
    it = next(row for row in matrix if row[0] == "IT Support")
    assert it[1:] == ["accepted", "\N{EN DASH}", "accepted", "accepted"]

    _, *roles = shown["4 roles"]
    assert [
        "Crossdesk.Reader.HR",
        "no",
        "Human Resources",
        "Human Resources",
        "Human Resources",
    ] in roles
    assert ["Crossdesk.Admin", "yes", "every department", "none", "every department"] in roles
    assert ["Crossdesk.Analyst", "no", "none", "none", "every department"] in roles

    _, *audit = shown["Transcript views and exports, newest first (page 1)"]
    ((_, who, action, departments_read, link),) = audit
    assert (who, action, departments_read) == ("rita@contoso.example", "view", "Human Resources")
    assert link.startswith("Journey")
    assert f'href="/ops/chats/{chat.conversation_id.replace(":", "%3A")}"' in page
    assert "Overtime for March is missing" not in page

    status, body = await ada.json("/ops/api/v1/admin")
    assert status == 200
    by_id = {t["id"]: t for t in body["tenants"]}
    assert by_id["legal"]["acceptsTransfersFrom"] == ["helpdesk", "hr"]
    assert by_id["hr"]["acceptsTransfersFrom"] is None
    assert by_id["hr"]["primaryPipeline"] in by_id["hr"]["pipelines"]
    assert {"to": "legal", "from": ["helpdesk", "hr"]} in body["transfers"]
    assert body["roles"]["Crossdesk.Reader.HR"] == {
        "admin": False,
        "departments": ["hr"],
        "transcripts": ["hr"],
        "reports": [],
    }
    (entry,) = body["audit"]["entries"]
    assert (entry["who"], entry["conversation"], entry["tenants"]) == (
        "rita@contoso.example",
        chat.conversation_id,
        ["hr"],
    )
    assert body["audit"]["older"] is False


async def test_the_audit_log_pages_newest_first(ops: RunningOps) -> None:
    chats = [await chat_to_legal_through_hr(ops) for _ in range(3)]
    rita = await signed_in(ops, "Rita Reader")
    for chat in chats:
        status, _ = await rita.json(f"/ops/api/v1/conversations/{chat.conversation_id}")
        assert status == 200
    ada = await signed_in(ops, "Ada Admin")

    status, first = await ada.json("/ops/api/v1/admin?limit=2")
    assert [e["conversation"] for e in first["audit"]["entries"]] == [
        chats[2].conversation_id,
        chats[1].conversation_id,
    ]
    assert first["audit"]["older"] is True
    status, second = await ada.json("/ops/api/v1/admin?limit=2&page=2")
    assert [e["conversation"] for e in second["audit"]["entries"]] == [chats[0].conversation_id]
    assert second["audit"]["older"] is False

    status, body = await ada.json("/ops/api/v1/admin?page=0")
    assert (status, body) == (400, {"error": "page: a whole number from 1"})
    status, body = await ada.json("/ops/api/v1/admin?limit=201")
    assert (status, body) == (400, {"error": "limit: a whole number from 1 to 200"})

    _, page = await ada.get("/ops/admin")
    assert "Older entries" not in page and "Newer entries" not in page
    _, page = await ada.get("/ops/admin?page=2")
    assert "No older entries." in page
    assert '<a href="/ops/admin?page=1#audit-heading">Newer entries</a>' in page
