"""`condition`: branch on what the chat collected, with Adaptive Expressions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from cards.template import split_bindings
from pipeline.stages.base import CheckContext, Goto, Outcome, StageBase, StageContext


class Branch(BaseModel):
    """One way out of a condition: taken when `if` is true."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    if_: Annotated[
        str,
        Field(
            alias="if",
            min_length=1,
            description="An Adaptive Expression over metadata, as cards write it:"
            " ${HelpDesk.Department == 'hr'} (the ${ } may be left out).",
        ),
    ]
    next: Annotated[
        str | None, Field(description="The stage to go on to when it is true; blank ends.")
    ] = None

    @property
    def expression(self) -> str:
        """The condition as one `${…}` binding."""
        written = self.if_.strip()
        return written if written.startswith("${") else "${" + written + "}"


class ConditionStage(StageBase):
    """Go on at the `next` of the first branch whose `if` is true (exactly `true`, as `$when`
    in cards), else at `otherwise`; expressions are those of the cards' templates."""

    type: Literal["condition"]
    branches: Annotated[
        list[Branch],
        Field(min_length=1, description="Tried in order; the first true one wins."),
    ]
    otherwise: Annotated[
        str | None,
        Field(description="The stage to go on to when no branch is true; blank ends the chat."),
    ] = None

    def enter(self, context: StageContext) -> Outcome:
        for branch in self.branches:
            if context.evaluate(branch.expression) is True:
                return Outcome([], Goto(branch.next))
        return Outcome([], Goto(self.otherwise))

    def transitions(self) -> Iterator[tuple[str, str | None]]:
        for index, branch in enumerate(self.branches):
            yield f"branches[{index}].next", branch.next
        yield "otherwise", self.otherwise

    def texts(self) -> Iterator[tuple[str, str]]:
        for index, branch in enumerate(self.branches):
            yield f"branches[{index}].if", branch.expression

    def problems(self, check: CheckContext) -> Iterator[tuple[str, str]]:
        for index, branch in enumerate(self.branches):
            parts = split_bindings(branch.expression)
            if len(parts) != 1 or isinstance(parts[0], str):
                yield (
                    f"branches[{index}].if",
                    f"'{branch.if_}' is not one expression: write one ${{…}} such as"
                    " ${HelpDesk.Department == 'hr'}",
                )
