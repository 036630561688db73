"""What one person of the operations view may see: the filter every read for it takes.

A `Scope` is plain data (no web code, no SDK), so the store and its report queries take it
without importing the operations view; `ops/` builds one from the roles in a person's sign-in
token and the configuration's `ops.roles`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: In a role's `departments`, `transcripts` or `reports`: every tenant.
EVERY = "*"


def _named(tenants: Iterable[str]) -> frozenset[str]:
    return frozenset(tenants)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which tenants' chats a person sees, whose message text they may read, and which tenants'
    aggregate reports they may open. `admin` sees every tenant and the audit log, but no
    message text unless `transcripts` grants it too.

    Sets hold tenant ids or `EVERY`; an empty scope sees nothing."""

    departments: frozenset[str] = field(default_factory=frozenset)
    transcripts: frozenset[str] = field(default_factory=frozenset)
    reports: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False

    @classmethod
    def of(
        cls,
        *,
        departments: Iterable[str] = (),
        transcripts: Iterable[str] = (),
        reports: Iterable[str] = (),
        admin: bool = False,
    ) -> Scope:
        return cls(_named(departments), _named(transcripts), _named(reports), admin)

    def union(self, other: Scope) -> Scope:
        """What someone holding both roles sees."""
        return Scope(
            self.departments | other.departments,
            self.transcripts | other.transcripts,
            self.reports | other.reports,
            self.admin or other.admin,
        )

    def sees(self, tenant_id: str) -> bool:
        """Whether the chats (sessions, metadata, flow) of `tenant_id` are visible."""
        return self.admin or EVERY in self.departments or tenant_id in self.departments

    def reads_transcripts(self, tenant_id: str) -> bool:
        """Whether the message text of `tenant_id`'s sessions is visible (never without seeing
        the tenant's chats)."""
        granted = EVERY in self.transcripts or tenant_id in self.transcripts
        return granted and self.sees(tenant_id)

    def reports_on(self, tenant_id: str) -> bool:
        """Whether aggregate reports (counts, never people) of `tenant_id` are visible: to
        those who see its chats, and to those granted its reports."""
        return self.sees(tenant_id) or EVERY in self.reports or tenant_id in self.reports

    @property
    def sees_all(self) -> bool:
        """Whether every tenant's chats are visible (a store needs no tenant filter)."""
        return self.admin or EVERY in self.departments

    @property
    def reports_on_all(self) -> bool:
        """Whether every tenant's aggregate reports are visible."""
        return self.sees_all or EVERY in self.reports

    @property
    def empty(self) -> bool:
        return not (self.admin or self.departments or self.transcripts or self.reports)

    def visible(self, tenant_ids: Iterable[str]) -> list[str]:
        """Those of `tenant_ids` whose chats are visible, in order."""
        return [tenant_id for tenant_id in tenant_ids if self.sees(tenant_id)]

    def as_json(self) -> dict[str, Any]:
        return {
            "admin": self.admin,
            "departments": sorted(self.departments),
            "transcripts": sorted(self.transcripts),
            "reports": sorted(self.reports),
        }
