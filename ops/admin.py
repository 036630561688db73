"""The Admin page `/ops/admin` and its API twin `/ops/api/v1/admin`, for admins only: the
tenants with their pipelines, who may transfer to whom (`accepts_transfers_from`), the role
mapping (`ops.roles` and the scope each role grants) and the audit log of transcript views and
exports, newest first, a page at a time. Anyone else gets a 403 (page or JSON)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ops.access import scope_of
from ops.pages import _names, _render
from ops.web import OPS, VIEWER, OpsView, audit_json
from pipeline.config import Tenant
from storage.base import AuditEntry

#: Audit entries on one page of the Admin page (the API takes `limit`, at most MAX_PAGE).
PAGE = 50
MAX_PAGE = 200
#: How far back the log pages (entries): past it, `crossdesk ops audit --limit` reads it all.
MAX_DEPTH = 10_000


class _Refused(ValueError):
    pass


def _accepts(receiving: Tenant, sending: str) -> bool:
    accepted = receiving.accepts_transfers_from
    return accepted is None or sending in accepted


def _tenants_json(view: OpsView) -> list[dict[str, Any]]:
    return [
        {
            "id": tenant.id,
            "name": tenant.name,
            "enabled": tenant.enabled,
            "primaryPipeline": tenant.primary_pipeline,
            "pipelines": {
                name: [stage.key for stage in pipeline.stages]
                for name, pipeline in tenant.pipelines.items()
            },
            "acceptsTransfersFrom": tenant.accepts_transfers_from,
        }
        for tenant in view.config.file.tenants
    ]


def _matrix_json(view: OpsView) -> list[dict[str, Any]]:
    """For each receiving tenant, the tenants it accepts transfers from."""
    tenants = view.config.file.tenants
    return [
        {
            "to": receiving.id,
            "from": [s.id for s in tenants if s.id != receiving.id and _accepts(receiving, s.id)],
        }
        for receiving in tenants
    ]


def _roles_json(view: OpsView) -> dict[str, dict[str, Any]]:
    mapping = view.config.file.ops.roles
    return {name: scope_of([name], mapping).as_json() for name in mapping}


def _paging(request: web.Request, default: int) -> tuple[int, int]:
    raw_page, raw_limit = request.query.get("page", "1"), request.query.get("limit", str(default))
    if not raw_page.isdigit() or int(raw_page) < 1:
        raise _Refused("page: a whole number from 1")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise _Refused(f"limit: a whole number from 1 to {MAX_PAGE}")
    page, limit = int(raw_page), int(raw_limit)
    if page * limit > MAX_DEPTH:
        raise _Refused(f"the log pages back {MAX_DEPTH} entries; `crossdesk ops audit` reads all")
    return page, limit


async def _audit_page(view: OpsView, page: int, limit: int) -> tuple[list[AuditEntry], bool]:
    """The entries of `page` (newest first) and whether an older page exists."""
    newest = await view.store.audit_log(page * limit + 1)
    return newest[(page - 1) * limit : page * limit], len(newest) > page * limit


async def admin_api(request: web.Request) -> web.StreamResponse:
    view, viewer = request.app[OPS], request[VIEWER]
    if not viewer.scope.admin:
        return web.json_response({"error": "the admin page is for admins"}, status=403)
    try:
        page, limit = _paging(request, PAGE)
    except _Refused as bad:
        return web.json_response({"error": str(bad)}, status=400)
    entries, older = await _audit_page(view, page, limit)
    return web.json_response(
        {
            "tenants": _tenants_json(view),
            "transfers": _matrix_json(view),
            "roles": _roles_json(view),
            "audit": {
                "page": page,
                "limit": limit,
                "older": older,
                "entries": [audit_json(entry) for entry in entries],
            },
        }
    )


def _role_rows(view: OpsView) -> list[dict[str, str]]:
    """Each role of `ops.roles` and what it grants, in words."""
    names = _names(view)
    tenants = list(view.config.tenant_names)

    def listed(granted: list[str]) -> str:
        if len(granted) == len(tenants):
            return "every department"
        return ", ".join(names[t] for t in granted) or "none"

    rows = []
    for name in view.config.file.ops.roles:
        scope = scope_of([name], view.config.file.ops.roles)
        rows.append(
            {
                "role": name,
                "admin": "yes" if scope.admin else "no",
                "chats": listed([t for t in tenants if scope.sees(t)]),
                "transcripts": listed([t for t in tenants if scope.reads_transcripts(t)]),
                "reports": listed([t for t in tenants if scope.reports_on(t)]),
            }
        )
    return rows


async def admin_page(request: web.Request) -> web.StreamResponse:
    view, viewer = request.app[OPS], request[VIEWER]
    if not viewer.scope.admin:
        return _render(request, "forbidden.html", "/ops/admin", status=403)
    try:
        page, limit = _paging(request, PAGE)
    except _Refused as bad:
        return web.json_response({"error": str(bad)}, status=400)
    entries, older = await _audit_page(view, page, limit)
    tenants = view.config.file.tenants
    return _render(
        request,
        "admin.html",
        "/ops/admin",
        tenants=tenants,
        matrix=[
            (receiving, [(s, _accepts(receiving, s.id)) for s in tenants]) for receiving in tenants
        ],
        roles=_role_rows(view),
        entries=entries,
        page=page,
        older=older,
    )


def add_admin(app: web.Application) -> None:
    app.router.add_get("/admin", admin_page)
    app.router.add_get("/api/v1/admin", admin_api)
