"""The operations view's questions on Azure Cosmos DB (`storage.reports.ReportStore`).

Chats are partitioned by conversation, so a question across chats goes to every physical
partition; each is answered from the index, never by scanning every session. The live view
reads a few fields of each active session (`kind`, `state` indexed; its tiles are counted here),
the documents of only the chats it lists, and what started, ended and was transferred since
midnight (`startedAt`, `endedAt`, `at` range indexes); chat history is one
`TOP n … ORDER BY startedAt DESC, sessionId DESC` query per page with a keyset condition (the
composite index), so a page reads about `n` sessions however many there are; reports and the
transfer map read the sessions and transfers of their date range only. Costs measured on the
test server: storage/COSMOS.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from azure.cosmos.aio import ContainerProxy

from storage.base import ChatHistory
from storage.records import refused_of, session_of, transfer_of
from storage.reports import (
    MAX_PAGE,
    ActiveChat,
    Cursor,
    Journey,
    LiveSnapshot,
    Page,
    SessionFilter,
    SessionRow,
    Summary,
    TransferMap,
    build_live,
    count_active,
    counted_tenants,
    day_start_of,
    journey_of,
    latest_active,
    moment_of,
    page_of,
    row_of,
    summarize,
    transfer_map,
    utc_text,
)
from storage.scope import Scope

Document = dict[str, Any]
Parameters = list[dict[str, Any]]

#: The active chats as the live view counts them: a few fields of each, not the documents
#: (the SDK has no GROUP BY across partitions, so the counting is done here).
ACTIVE_QUERY = (
    "SELECT c.tenantId, c.sessionId, c.startedAt, c.lastActivityAt, c.lastGuestAt,"
    ' c.metadata["Session.Agent.State"] AS agentState,'
    ' c.metadata["Session.QueuedUtc"] AS queuedAt'
    " FROM c WHERE c.kind = 'session' AND c.state = 'active'"
)
#: The documents of the chats the live view lists (`LIVE_CHATS` of each department), so many at
#: a time (a query's text and parameters are limited to 512 KB).
LISTED_QUERY = "SELECT * FROM c WHERE c.kind = 'session' AND ARRAY_CONTAINS(@ids, c.sessionId)"
LISTED_AT_ONCE = 2000
QUIET_QUERY = (
    "SELECT TOP @limit * FROM c WHERE c.kind = 'session' AND c.state = 'active'"
    " AND c.lastActivityAt < @before"
)
STARTED_QUERY = "SELECT c.tenantId FROM c WHERE c.kind = 'session' AND c.startedAt >= @since"
ENDED_QUERY = "SELECT c.tenantId FROM c WHERE c.kind = 'session' AND c.endedAt >= @since"
MOVED_QUERY = (
    "SELECT c.fromTenantId, c.toTenantId FROM c WHERE c.kind = 'transfer' AND c.at >= @since"
)


def _active_chat(document: Document) -> ActiveChat:
    started = moment_of(document["startedAt"])
    assert started is not None, "a session document has its start"
    last = moment_of(document.get("lastActivityAt")) or moment_of(document.get("lastGuestAt"))
    state = document.get("agentState")
    return ActiveChat(
        str(document["tenantId"]),
        str(document["sessionId"]),
        started,
        last or started,
        str(state) if state is not None else None,
        moment_of(document.get("queuedAt")),
    )


def _ids(session_ids: list[str]) -> Parameters:
    return [{"name": "@ids", "value": session_ids}]


class CosmosReports:
    """`ReportStore` on the `chats` container; `history` reads one chat (the store's)."""

    def __init__(
        self,
        chats: ContainerProxy,
        history: Callable[[str], Awaitable[ChatHistory]],
    ) -> None:
        self.chats = chats
        self._history = history

    async def _query(self, query: str, parameters: Parameters) -> list[Document]:
        return [
            cast(Document, item)
            async for item in self.chats.query_items(query, parameters=parameters)
        ]

    async def live(
        self, scope: Scope, now: datetime, *, day_start: datetime | None = None
    ) -> LiveSnapshot:
        start = day_start or day_start_of(now)
        since = [{"name": "@since", "value": utc_text(start)}]
        active = [_active_chat(d) for d in await self._query(ACTIVE_QUERY, [])]
        listed = latest_active(active)
        chats = []
        for first in range(0, len(listed), LISTED_AT_ONCE):
            ids = _ids(listed[first : first + LISTED_AT_ONCE])
            chats += [row_of(session_of(d)) for d in await self._query(LISTED_QUERY, ids)]
        started = Counter(str(d["tenantId"]) for d in await self._query(STARTED_QUERY, since))
        ended = Counter(str(d["tenantId"]) for d in await self._query(ENDED_QUERY, since))
        moved = Counter(
            (str(d["fromTenantId"]), str(d["toTenantId"]))
            for d in await self._query(MOVED_QUERY, since)
        )
        snapshot = build_live(
            now,
            start,
            count_active(now, active),
            chats,
            started,
            ended,
            [(s, t, n) for (s, t), n in moved.items()],
        )
        return snapshot.for_scope(scope)

    async def quiet(self, before: datetime, limit: int) -> list[SessionRow]:
        parameters: Parameters = [
            {"name": "@before", "value": utc_text(before)},
            {"name": "@limit", "value": limit},
        ]
        return [row_of(session_of(d)) for d in await self._query(QUIET_QUERY, parameters)]

    async def sessions(
        self,
        scope: Scope,
        filters: SessionFilter,
        *,
        before: Cursor | None = None,
        limit: int = 50,
    ) -> Page:
        limit = max(1, min(limit, MAX_PAGE))
        tenants = filters.departments(scope)
        if tenants is not None and not tenants:
            return Page((), None)
        clauses = ["c.kind = 'session'"]
        parameters: Parameters = [{"name": "@limit", "value": limit + 1}]

        def where(clause: str, **values: Any) -> None:
            clauses.append(clause)
            parameters.extend({"name": f"@{k}", "value": v} for k, v in values.items())

        if tenants is not None:
            where("ARRAY_CONTAINS(@tenants, c.tenantId)", tenants=sorted(tenants))
        if filters.started_from is not None:
            where("c.startedAt >= @from", **{"from": utc_text(filters.started_from)})
        if filters.started_before is not None:
            where("c.startedAt < @until", until=utc_text(filters.started_before))
        if filters.end_reason is not None:
            where("c.endReason = @reason", reason=filters.end_reason.value)
        if filters.state is not None:
            where("c.state = @state", state=filters.state.value)
        if filters.stage is not None:
            where(
                "(c.position.stage = @stage OR (IS_NULL(c.position) AND c.stage = @stage))",
                stage=filters.stage,
            )
        if filters.hops is not None:
            where("c.hops = @hops", hops=filters.hops)
        if filters.min_hops is not None:
            where("c.hops >= @minhops", minhops=filters.min_hops)
        if filters.agent is not None:
            where('c.metadata["Session.Agent.Id"] = @agent', agent=filters.agent)
        if filters.guest:
            facts = " OR ".join(
                f'CONTAINS(LOWER(c.metadata["{key}"]), @guest)'
                for key in ("Guest.Name", "Guest.Email", "Guest.UserPrincipalName")
            )
            where(f"({facts})", guest=filters.guest.lower())
        if before is not None:
            where(
                "(c.startedAt < @at OR (c.startedAt = @at AND c.sessionId < @after))",
                at=before.started_at,
                after=before.session_id,
            )
        query = (
            f"SELECT TOP @limit * FROM c WHERE {' AND '.join(clauses)}"
            " ORDER BY c.startedAt DESC, c.sessionId DESC"
        )
        rows = [row_of(session_of(d)) for d in await self._query(query, parameters)]
        return page_of(rows, limit)

    async def journey(self, scope: Scope, conversation_id: str, now: datetime) -> Journey | None:
        return journey_of(await self._history(conversation_id), scope, now)

    async def summary(
        self, scope: Scope, start: datetime, end: datetime, *, tenant: str | None = None
    ) -> Summary:
        tenants = counted_tenants(scope, tenant)
        if tenants is not None and not tenants:
            return Summary(start, end)
        bounds: Parameters = [
            {"name": "@start", "value": utc_text(start)},
            {"name": "@end", "value": utc_text(end)},
        ]
        narrowed = ""
        if tenants is not None:
            narrowed = " AND ARRAY_CONTAINS(@tenants, c.tenantId)"
            bounds_tenants = [*bounds, {"name": "@tenants", "value": sorted(tenants)}]
        else:
            bounds_tenants = bounds
        rows: list[SessionRow] = [
            row_of(session_of(d))
            for d in await self._query(
                "SELECT * FROM c WHERE c.kind = 'session' AND c.startedAt >= @start"
                f" AND c.startedAt < @end{narrowed}",
                bounds_tenants,
            )
        ]
        refused = [
            refused_of(d)
            for d in await self._query(
                "SELECT * FROM c WHERE c.kind = 'refused' AND c.at >= @start AND c.at < @end",
                bounds,
            )
        ]
        counted = sum(1 for r in refused if tenants is None or r.from_tenant_id in tenants)
        return summarize(start, end, rows, counted)

    async def transfers(self, scope: Scope, start: datetime, end: datetime) -> TransferMap:
        bounds: Parameters = [
            {"name": "@start", "value": utc_text(start)},
            {"name": "@end", "value": utc_text(end)},
        ]
        moved = [
            transfer_of(d)
            for d in await self._query(
                "SELECT * FROM c WHERE c.kind = 'transfer' AND c.at >= @start AND c.at < @end",
                bounds,
            )
        ]
        refused = [
            refused_of(d)
            for d in await self._query(
                "SELECT * FROM c WHERE c.kind = 'refused' AND c.at >= @start AND c.at < @end",
                bounds,
            )
        ]
        return transfer_map(scope, moved, refused)

    async def close(self) -> None:
        return None
