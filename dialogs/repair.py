"""Where an active chat waits, checked against the configuration running now.

A chat's position names its tenant, pipeline and stage. After a configuration change any of
them may be gone (or the stage may have become another type): such a chat is *stranded*, and
its next turn moves it on instead of failing: to its tenant's primary pipeline, or to the front
door when the tenant itself is gone, keeping its data. `python app.py check --store` lists the
live chats a new configuration would move this way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pipeline.config import Config, StageRef
from pipeline.session import Session


class Why(enum.Enum):
    """Why a chat cannot resume where it waits."""

    TENANT_GONE = "tenant gone"
    PIPELINE_GONE = "pipeline gone"
    STAGE_GONE = "stage gone"
    STAGE_CHANGED = "stage changed type"
    NO_POSITION = "no position"


@dataclass(frozen=True, slots=True)
class Stranded:
    """A chat that cannot resume where it waits, and what its next turn does instead."""

    session: Session
    why: Why

    @property
    def to_front_door(self) -> bool:
        """Whether the chat leaves its tenant (gone) for the front door."""
        return self.why is Why.TENANT_GONE

    def describe(self, config: Config) -> str:
        """One line for an admin: the chat, where it waits, what happens to it."""
        session, position = self.session, self.session.position
        where = (
            f"{session.tenant_id}/{position.pipeline}/{position.stage}"
            if position
            else f"{session.tenant_id} (position unknown)"
        )
        if self.to_front_door:
            then = f"moves to the front door '{config.front_door.id}'"
        else:
            tenant = config.tenants[session.tenant_id]
            then = f"restarts at '{tenant.id}/{tenant.primary_pipeline}'"
        return (
            f"chat {session.conversation_id} (session {session.id}) waits at {where}:"
            f" {self.why.value}; its next turn {then}"
        )


def locate(config: Config, session: Session) -> StageRef | Stranded:
    """The stage `session`'s chat waits at, or why it cannot resume there."""
    tenant = config.tenants.get(session.tenant_id)
    if tenant is None:
        return Stranded(session, Why.TENANT_GONE)
    position = session.position
    if position is None:
        return Stranded(session, Why.NO_POSITION)
    if position.pipeline not in tenant.pipelines:
        return Stranded(session, Why.PIPELINE_GONE)
    ref = config.find_stage(tenant.id, position.pipeline, position.stage)
    if ref is None:
        return Stranded(session, Why.STAGE_GONE)
    # Sessions of the first release did not keep the type (""): the stage must still wait.
    if not ref.stage.waits or position.stage_type not in ("", ref.stage.type_name):
        return Stranded(session, Why.STAGE_CHANGED)
    return ref
