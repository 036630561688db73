"""Crossdesk's own exceptions, each with a message a person can act on."""

from __future__ import annotations


class CrossdeskError(Exception):
    """Base of every error Crossdesk raises on purpose."""


class ConfigError(CrossdeskError):
    """The configuration cannot be used; every line names file, tenant, stage and field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class PipelineError(CrossdeskError):
    """A pipeline did something the runtime refuses (e.g. loops without waiting for the guest)."""


class StorageError(CrossdeskError):
    """The store cannot do what was asked (unreachable, misconfigured, corrupt)."""


class ConflictError(StorageError):
    """Someone else changed the chat since this turn read it (a version or ETag mismatch)."""
