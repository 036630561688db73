"""`end`: close the chat with an optional message and a resolution."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import Field

from pipeline.stages.base import (
    Finish,
    Localized,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    variants,
)


class EndStage(StageBase):
    """Close the chat with `text` (optional); the session ends as `ended` with `resolution`
    stored as `Session.Status.Resolution`."""

    type: Literal["end"]
    text: Annotated[
        Localized | None,
        Field(description="The closing message; binds metadata with ${…}; or per language."),
    ] = None
    resolution: Annotated[
        str, Field(description="Stored as Session.Status.Resolution when the chat ends here.")
    ] = "resolved"

    def enter(self, context: StageContext) -> Outcome:
        replies = [Reply(text=context.render(self.text))] if self.text else []
        return Outcome(replies, Finish(self.resolution))

    def texts(self) -> Iterator[tuple[str, str]]:
        yield from variants("text", self.text)
