"""Chat history as CSV: one row per session, in columns that stay put (new columns are only
ever added at the end). Times are UTC ISO 8601 with a `Z`; empty cells mean "not known".
No message text, ever; the guest's name and address are there because only a department's
managers may list its sessions."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from pipeline.session import iso
from storage.reports import SessionRow

#: The columns, in order (documented in README, "Operations view data").
SESSION_COLUMNS = (
    "session_id",
    "conversation_id",
    "tenant_id",
    "state",
    "end_reason",
    "resolution",
    "started_at",
    "ended_at",
    "last_activity_at",
    "hops",
    "came_from",
    "went_to",
    "pipeline",
    "stage",
    "agent_id",
    "queued_at",
    "connected_at",
    "wait_seconds",
    "handle_seconds",
    "rating",
    "visit_started_at",
    "guest_name",
    "guest_upn",
)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value).replace(".000Z", "Z")
    return str(value)


def session_cells(row: SessionRow) -> list[str]:
    """One session's cells, in `SESSION_COLUMNS` order."""
    values = {
        "state": row.state.value,
        "end_reason": row.end_reason.value if row.end_reason else None,
    }
    return [_cell(values[c] if c in values else getattr(row, c)) for c in SESSION_COLUMNS]


def sessions_csv(rows: Iterable[SessionRow], *, header: bool = True) -> str:
    """The CSV text of `rows` (with the header line unless `header` is False, for the pages
    after the first of a streamed export)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(SESSION_COLUMNS)
    for row in rows:
        writer.writerow(session_cells(row))
    return out.getvalue()
