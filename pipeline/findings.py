"""What a configuration check finds: where (file, line, tenant, pipeline, stage, field), how bad,
and what to do about it, in words an admin acts on.

Errors stop start-up: the configuration would break in front of a guest. Warnings do not (the
runtime handles the case, but it is most likely a mistake); `--strict` makes them errors.
Information says something worth knowing that is not a mistake (e.g. a transfer cycle).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Where:
    """A place in the configuration: the file and line, and the tenant, pipeline, stage and field
    it belongs to (each when known)."""

    file: Path | str
    line: int | None = None
    tenant: str | None = None
    pipeline: str | None = None
    stage: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line else str(self.file)]
        if self.tenant is not None:
            parts.append(f"tenant {_label(self.tenant)}")
        if self.pipeline is not None:
            parts.append(f"pipeline {_label(self.pipeline)}")
        if self.stage is not None:
            parts.append(f"stage {_label(self.stage)}")
        if self.field is not None:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)


def _label(name: str) -> str:
    """`'hr'`, or `#2` for an item that has no name of its own (the second tenant)."""
    return name if name.startswith("#") else f"'{name}'"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check found."""

    severity: Severity
    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def error(where: Where, message: str) -> Finding:
    return Finding(Severity.ERROR, where, message)


def warning(where: Where, message: str) -> Finding:
    return Finding(Severity.WARNING, where, message)


def info(where: Where, message: str) -> Finding:
    return Finding(Severity.INFO, where, message)


def of_severity(findings: Iterable[Finding], severity: Severity) -> list[Finding]:
    return [finding for finding in findings if finding.severity is severity]


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`1 error`, `2 errors`, `0 warnings`."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def one_of(names: Sequence[str], conjunction: str = "or") -> str:
    """`a`, `a or b`, `a, b or c` (quoted)."""
    quoted = [f"'{name}'" for name in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"
