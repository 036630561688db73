"""Who sees what: a signed-in person's app roles mapped to a `Scope` by `ops.roles`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.config import OpsRole
from storage.scope import Scope


def scope_of(roles: Iterable[str], mapping: Mapping[str, OpsRole]) -> Scope:
    """What someone holding `roles` sees: the union of what each mapped role grants (roles the
    configuration does not name grant nothing)."""
    scope = Scope()
    for name in roles:
        role = mapping.get(name)
        if role is not None:
            scope = scope.union(
                Scope.of(
                    departments=role.departments,
                    transcripts=role.transcripts,
                    reports=role.reports,
                    admin=role.admin,
                )
            )
    return scope
