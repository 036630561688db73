"""What one person may see in the operations view: the departments (tenants) whose chats they
list, the departments whose message text they read, and the departments they see only as
aggregates. Every report and list query of the stores takes a `Scope`, so filtering happens in
the store layer and never in a page template."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: In a set of departments: every department.
EVERY = "*"


@dataclass(frozen=True, slots=True)
class Scope:
    """A person's view of the desk.

    `admin` sees every department's chats (never message text, unless `transcripts` names the
    department); `departments` are the tenants whose chats (sessions, guests, journeys) are
    listed; `transcripts` the tenants whose message text may be read; `reports` the tenants seen
    only as counts. `"*"` in a set stands for every department.
    """

    admin: bool = False
    departments: frozenset[str] = frozenset()
    transcripts: frozenset[str] = frozenset()
    reports: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        *,
        admin: bool = False,
        departments: Iterable[str] = (),
        transcripts: Iterable[str] = (),
        reports: Iterable[str] = (),
    ) -> Scope:
        """A scope from any iterables of tenant ids."""
        return cls(admin, frozenset(departments), frozenset(transcripts), frozenset(reports))

    @classmethod
    def everything(cls) -> Scope:
        """An administrator who also reads transcripts (the command line's view)."""
        return cls(True, frozenset({EVERY}), frozenset({EVERY}), frozenset({EVERY}))

    def union(self, other: Scope) -> Scope:
        """What someone holding both roles sees."""
        return Scope(
            self.admin or other.admin,
            self.departments | other.departments,
            self.transcripts | other.transcripts,
            self.reports | other.reports,
        )

    @property
    def empty(self) -> bool:
        """Whether the scope grants nothing at all."""
        return not (self.admin or self.departments or self.transcripts or self.reports)

    def as_json(self) -> dict[str, Any]:
        return {
            "admin": self.admin,
            "departments": sorted(self.departments),
            "transcripts": sorted(self.transcripts),
            "reports": sorted(self.reports),
        }

    def sees(self, tenant_id: str) -> bool:
        """Whether the department's chats (rows, guests, journeys) are visible."""
        return self.admin or _names(self.departments, tenant_id)

    def reads(self, tenant_id: str) -> bool:
        """Whether the department's message text (transcripts, `Guest.Question`) is visible."""
        return _names(self.transcripts, tenant_id)

    def reads_shown(self, tenant_id: str) -> bool:
        """Whether the department's message text is shown: read, and its chats seen."""
        return self.reads(tenant_id) and self.sees(tenant_id)

    def counts(self, tenant_id: str) -> bool:
        """Whether the department appears in reports (aggregates, never people)."""
        return self.sees(tenant_id) or _names(self.reports, tenant_id)

    @property
    def sees_all(self) -> bool:
        """Whether every department's chats are visible (no tenant filter needed)."""
        return self.admin or EVERY in self.departments

    @property
    def counts_all(self) -> bool:
        """Whether every department appears in reports."""
        return self.sees_all or EVERY in self.reports

    def visible(self, tenant_ids: Iterable[str]) -> list[str]:
        """Those of `tenant_ids` whose chats are visible, in order."""
        return [t for t in tenant_ids if self.sees(t)]

    def counted(self, tenant_ids: Iterable[str]) -> list[str]:
        """Those of `tenant_ids` that appear in reports, in order."""
        return [t for t in tenant_ids if self.counts(t)]


def _names(tenants: frozenset[str], tenant_id: str) -> bool:
    return EVERY in tenants or tenant_id in tenants
