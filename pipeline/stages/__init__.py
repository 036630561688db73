"""Stage types, one module each, and their registry.

To add a stage type: write its module here (a `StageBase` subclass with `type: Literal[…]`,
its settings and behaviour) and add the class to `AnyStage` below. Nothing else changes: the
configuration, its checks and the runtime find it through this registry.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import Field

from pipeline.stages.base import (
    GuestInput,
    Outcome,
    Reply,
    StageBase,
    StageContext,
    StageHelp,
)
from pipeline.stages.business_hours import BusinessHoursStage
from pipeline.stages.condition import Branch, ConditionStage
from pipeline.stages.connect_agent import ConnectAgentStage
from pipeline.stages.end import EndStage
from pipeline.stages.http_request import HttpRequestStage
from pipeline.stages.message import MessageStage
from pipeline.stages.options import Choice, OptionsStage
from pipeline.stages.question import QuestionStage
from pipeline.stages.rating import RatingStage
from pipeline.stages.set_metadata import SetMetadataStage
from pipeline.stages.tenant_transfer import TenantTransferStage

#: Every stage type there is.
AnyStage = (
    MessageStage
    | QuestionStage
    | OptionsStage
    | SetMetadataStage
    | ConditionStage
    | BusinessHoursStage
    | TenantTransferStage
    | ConnectAgentStage
    | HttpRequestStage
    | RatingStage
    | EndStage
)

#: A stage as the configuration declares it: its `type` picks the model.
Stage = Annotated[AnyStage, Field(discriminator="type")]

STAGE_TYPES: tuple[type[StageBase], ...] = get_args(AnyStage)


def type_name(stage_type: type[StageBase]) -> str:
    """The `type` a stage class answers to in the configuration."""
    (name,) = get_args(stage_type.model_fields["type"].annotation)
    return str(name)


#: Stage classes by their `type` in the configuration.
STAGE_TYPE_NAMES: dict[str, type[StageBase]] = {type_name(cls): cls for cls in STAGE_TYPES}

__all__ = [
    "STAGE_TYPES",
    "STAGE_TYPE_NAMES",
    "AnyStage",
    "Branch",
    "Choice",
    "GuestInput",
    "Outcome",
    "Reply",
    "Stage",
    "StageBase",
    "StageContext",
    "StageHelp",
    "type_name",
]
