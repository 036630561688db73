"""One `Dialog` per tenant pipeline; the transfer stage replaces the stack with another's.

The dialog's own state is only where the pipeline waits (`stage`); everything the chat knows
lives in the session (`Turn.session`), which the bot loads before and saves after the turn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.dialogs import Dialog, DialogContext, DialogTurnResult

from cards import nest
from errors import PipelineError
from pipeline import engine
from pipeline.config import Directory, StageRef, TenantTransferStage
from pipeline.engine import GuestInput, Reply, Step
from pipeline.session import Session, SessionState
from pipeline.transfer import TransferRefused, plan_transfer
from storage.base import SessionStore

log = logging.getLogger(__name__)

TURN_KEY = "crossdesk.turn"
#: Stages entered in one turn before the runtime stops a pipeline that never waits.
MAX_STAGES_PER_TURN = 100


@dataclass(slots=True)
class Turn:
    """What the runtime needs of the current turn: the session (replaced by a transfer), the
    guest's input (None when the turn only starts the chat) and the inbound activity id."""

    session: Session
    guest: GuestInput | None
    activity_id: str | None
    stages_entered: int = 0

    @staticmethod
    def of(context: TurnContext) -> Turn:
        turn = context.turn_state.get(TURN_KEY)
        if not isinstance(turn, Turn):
            raise PipelineError("the pipeline runtime was called outside a Crossdesk turn")
        return turn


def dialog_id(tenant_id: str, pipeline: str) -> str:
    return f"pipeline:{tenant_id}:{pipeline}"


class PipelineDialog(Dialog):
    """Runs one pipeline of one tenant, stage by stage, pausing where a stage waits."""

    def __init__(
        self, directory: Directory, store: SessionStore, tenant_id: str, pipeline: str
    ) -> None:
        super().__init__(dialog_id(tenant_id, pipeline))
        self.directory = directory
        self.store = store
        self.tenant_id = tenant_id
        self.pipeline = pipeline

    async def begin_dialog(
        self, dialog_context: DialogContext, options: object = None
    ) -> DialogTurnResult:
        first = self.directory.first_stage(self.tenant_id, self.pipeline)
        return await self._enter(dialog_context, first)

    async def continue_dialog(self, dialog_context: DialogContext) -> DialogTurnResult:
        turn = Turn.of(dialog_context.context)
        if turn.guest is None:
            return Dialog.end_of_turn
        key = dialog_context.active_dialog.state["stage"]
        ref = self.directory.stage(self.tenant_id, self.pipeline, key)
        return await self._follow(dialog_context, ref, engine.resume(ref, turn.session, turn.guest))

    async def _enter(self, dialog_context: DialogContext, ref: StageRef) -> DialogTurnResult:
        turn = Turn.of(dialog_context.context)
        turn.stages_entered += 1
        if turn.stages_entered > MAX_STAGES_PER_TURN:
            raise PipelineError(
                f"pipeline {self.tenant_id}/{self.pipeline} entered {MAX_STAGES_PER_TURN} stages"
                f" in one turn without waiting for the guest (last: {ref.stage.key})"
            )
        turn.session.enter(ref.stage.key, ref.stage.type, self.pipeline)
        return await self._follow(
            dialog_context, ref, engine.enter(ref, turn.session, self.directory)
        )

    async def _follow(
        self, dialog_context: DialogContext, ref: StageRef, step: Step
    ) -> DialogTurnResult:
        turn = Turn.of(dialog_context.context)
        await send_replies(dialog_context.context, step.replies)
        match step.next:
            case engine.Wait():
                dialog_context.active_dialog.state["stage"] = ref.stage.key
                return Dialog.end_of_turn
            case engine.Goto(key=None):
                turn.session.end(SessionState.ENDED)
                return await dialog_context.end_dialog()
            case engine.Goto(key=str(key)):
                return await self._enter(
                    dialog_context, self.directory.stage(self.tenant_id, self.pipeline, key)
                )
            case engine.Finish(resolution=resolution):
                turn.session.metadata["Session.Status.Resolution"] = resolution
                turn.session.end(SessionState.ENDED)
                return await dialog_context.end_dialog()
            case engine.Transfer(stage=stage, target_tenant_id=target):
                return await self._transfer(dialog_context, stage, target)
        raise AssertionError(f"unhandled step {step.next!r}")

    async def _transfer(
        self, dialog_context: DialogContext, stage: TenantTransferStage, target_tenant_id: str
    ) -> DialogTurnResult:
        turn = Turn.of(dialog_context.context)
        plan = plan_transfer(
            self.directory, turn.session, target_tenant_id, activity_id=turn.activity_id
        )
        if isinstance(plan, TransferRefused):
            log.warning(
                "transfer refused: session %s, stage %s/%s: %s",
                turn.session.id,
                self.tenant_id,
                stage.key,
                plan.reason,
            )
            step = Step([Reply(text=stage.failure_text)], engine.Goto(stage.on_failure))
            ref = self.directory.stage(self.tenant_id, self.pipeline, stage.key)
            return await self._follow(dialog_context, ref, step)

        await self.store.commit_transfer(plan)
        log.info(
            "transferred session %s (%s) to session %s (%s)",
            plan.sending.id,
            plan.sending.tenant_id,
            plan.receiving.id,
            plan.receiving.tenant_id,
        )
        turn.session = plan.receiving
        card = self.directory.template(stage.template).expand(nest(plan.card_data()))
        await send_replies(dialog_context.context, [Reply(card=card)])
        target = self.directory.tenants[plan.receiving.tenant_id]
        return await dialog_context.replace_dialog(dialog_id(target.id, target.primary_pipeline))


async def send_replies(context: TurnContext, replies: list[Reply]) -> None:
    activities = []
    for reply in replies:
        if reply.card is not None:
            activity = MessageFactory.attachment(CardFactory.adaptive_card(reply.card))
            activity.text = reply.text or None
        elif reply.text:
            activity = MessageFactory.text(reply.text)
        else:
            continue
        activities.append(activity)
    if activities:
        await context.send_activities(activities)
