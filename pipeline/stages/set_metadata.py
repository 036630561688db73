"""`set_metadata`: compute metadata from what the chat collected, then go on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from pipeline.stages.base import (
    METADATA_KEY,
    CheckContext,
    Goto,
    Outcome,
    StageBase,
    StageContext,
    Stored,
    stored_key_problems,
)

MetadataKey = Annotated[str, StringConstraints(pattern=METADATA_KEY)]


class SetMetadataStage(StageBase):
    """Store each of `set` (metadata key → value, `${…}` bound to the metadata; a value that is
    one `${…}` keeps its type), then go on to `next`."""

    type: Literal["set_metadata"]
    set: Annotated[
        dict[MetadataKey, str],
        Field(
            min_length=1,
            description="Metadata key → value; values bind ${…} (one ${…} alone keeps its type).",
        ),
    ]
    next: Annotated[
        str | None, Field(description="The key of the stage to go on to; blank ends the chat.")
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        values = {key: context.evaluate(value) for key, value in self.set.items()}
        context.session.metadata.update(values)
        return Outcome([], Goto(self.next))

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        yield "next", self.next

    def texts(self) -> Iterator[tuple[str, str]]:
        for key, value in self.set.items():
            yield f"set.{key}", value

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        for key in self.set:
            yield from stored_key_problems(f"set.{key}", key)

    def stores(self) -> Iterator[Stored]:
        for key, value in self.set.items():
            yield Stored(f"set.{key}", key, None if "${" in value else value, self.next)
