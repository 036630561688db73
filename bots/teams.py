"""The Teams activity handler.

A turn reads: claim the activity and lease the chat (the store de-duplicates and serializes
turns across every instance) → load the bound session (or open one at the front door) → run the
pipeline dialog → save the session and the dialog state.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from botbuilder.core import BotAdapter, BotState, InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.dialogs import DialogContext, DialogSet
from botbuilder.schema import (
    Activity,
    ActivityTypes,
)

from bots.guest import directory_tenant_id, guest_metadata, member_metadata
from dialogs import PipelineDialog, Turn, dialog_id
from dialogs.pipeline_dialog import TURN_KEY, send_replies
from pipeline.config import Directory, StageRef
from pipeline.engine import Command, GuestInput, command_of, help_step, prompt
from pipeline.session import Direction, Session, SessionState, TranscriptEntry, utc_now
from storage.base import SessionStore, session_state_key
from storage.state import StoreStateStorage

log = logging.getLogger(__name__)

_DEDUPED = {
    ActivityTypes.message,
    ActivityTypes.invoke,
    ActivityTypes.conversation_update,
    ActivityTypes.installation_update,
}


class SessionDialogState(BotState):
    """Dialog state kept per session, so rebinding a chat (a transfer) is the only switch."""

    def __init__(self, store: SessionStore) -> None:
        super().__init__(StoreStateStorage(store), "Crossdesk.SessionDialogState")

    def get_storage_key(self, turn_context: TurnContext) -> str:
        return session_state_key(Turn.of(turn_context).session, "dialog")


class CrossdeskBot(TeamsActivityHandler):
    """Feeds Teams messages, card submits and installs to the chat's current pipeline."""

    def __init__(
        self,
        directory: Directory,
        store: SessionStore,
        *,
        allowed_directory_tenants: frozenset[str] = frozenset(),
    ) -> None:
        self.directory = directory
        self.store = store
        self.allowed_directory_tenants = allowed_directory_tenants
        self.dialog_state = SessionDialogState(store)
        self.dialogs = DialogSet(self.dialog_state.create_property("stack"))
        for tenant, pipeline in directory.pipelines():
            self.dialogs.add(PipelineDialog(directory, store, tenant.id, pipeline))

    async def on_turn(self, turn_context: TurnContext) -> None:
        activity: Activity = turn_context.activity
        conversation_id = activity.conversation.id if activity.conversation else None
        if not conversation_id:
            log.warning("activity %s without a conversation ignored", activity.id)
            return
        if self.allowed_directory_tenants and (
            directory_tenant_id(activity) not in self.allowed_directory_tenants
        ):
            log.warning("activity from a directory tenant that is not allowed ignored")
            return
        activity_id = activity.id if activity.type in _DEDUPED and activity.id else None
        async with self.store.chat_turn(conversation_id, activity_id) as claimed:
            if not claimed:
                log.info("re-delivery of activity %s ignored", activity.id)
                if activity.type == ActivityTypes.invoke:
                    turn_context.turn_state[BotAdapter._INVOKE_RESPONSE_KEY] = _invoke_ok()
                return
            await super().on_turn(turn_context)

    # what Teams sends

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else None
        await self._run(turn_context, GuestInput(text=activity.text, value=value))

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # The SDK's Teams handler looks every added member up with TeamsInfo.get_member and
        # fails the turn when that call fails; starting a chat needs no look-up.
        if turn_context.activity.members_added:
            await self._run(turn_context, None)

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._run(turn_context, None, reinstalled=True)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse | None:
        if turn_context.activity.name != "adaptiveCard/action":
            return await super().on_invoke_activity(turn_context)
        # Handled here rather than in on_adaptive_card_invoke: the SDK types the response
        # value as an object, but a Universal Actions message response carries a string.
        value = turn_context.activity.value
        action = value.get("action") if isinstance(value, dict) else None
        if not isinstance(action, dict) or action.get("type") != "Action.Execute":
            return InvokeResponse(status=400, body=_ACTION_ERROR)
        data = action.get("data")
        await self._run(turn_context, GuestInput(value=data if isinstance(data, dict) else {}))
        return InvokeResponse(status=200, body=_ACTION_OK)

    # the turn

    async def _run(
        self, turn_context: TurnContext, guest: GuestInput | None, *, reinstalled: bool = False
    ) -> None:
        activity: Activity = turn_context.activity
        session = await self._session_for(turn_context)
        turn = Turn(session=session, guest=guest, activity_id=activity.id)
        turn_context.turn_state[TURN_KEY] = turn
        if guest is not None:
            # Install events carry less than messages (no name, no client info): complete.
            for key, value in guest_metadata(activity).items():
                session.metadata.setdefault(key, value)
            session.record(
                TranscriptEntry(
                    Direction.IN,
                    utc_now(),
                    text=guest.text,
                    value=dict(guest.value) if guest.value is not None else None,
                    activity_id=activity.id,
                )
            )
        turn_context.on_send_activities(_recorder(turn))

        await self.dialog_state.load(turn_context)
        dialog_context = await self.dialogs.create_context(turn_context)
        command = command_of(guest)
        if dialog_context.active_dialog is None:
            tenant = self.directory.tenants[session.tenant_id]
            await dialog_context.begin_dialog(dialog_id(tenant.id, tenant.primary_pipeline))
        elif command is Command.END_CHAT:
            await self._end_chat(turn_context, session)
            await dialog_context.cancel_all_dialogs()
        elif command is Command.HELP:
            ref = await self._waiting_stage(dialog_context)
            await send_replies(turn_context, help_step(ref, session).replies)
        elif reinstalled and await self._guest_has_spoken(session):
            # A re-install (or a client that reloads) shows an empty chat: show where it stands.
            await send_replies(
                turn_context, prompt(await self._waiting_stage(dialog_context), session)
            )
        else:
            await dialog_context.continue_dialog()
        await self.store.save_session(turn.session)
        if turn.session is not session:
            # Transferred: the stack now belongs to the receiving session, a new document.
            self.dialog_state.get(turn_context).pop("e_tag", None)
        await self.dialog_state.save_changes(turn_context)
        # The dialog context and its state manager refer to each other: unlinked, the finished
        # turn is freed by reference counting, not left to the cyclic garbage collector.
        dialog_context.state = None

    async def _waiting_stage(self, dialog_context: DialogContext) -> StageRef:
        dialog = await self.dialogs.find(dialog_context.active_dialog.id)
        key = dialog_context.active_dialog.state["stage"]
        return self.directory.stage(dialog.tenant_id, dialog.pipeline, key)

    async def _guest_has_spoken(self, session: Session) -> bool:
        if any(e.direction is Direction.IN for e in session.pending_transcript):
            return True
        return any(
            e.direction is Direction.IN
            for e in await self.store.transcript(session.conversation_id, session.id)
        )

    async def _end_chat(self, turn_context: TurnContext, session: Session) -> None:
        tenant = self.directory.tenants[session.tenant_id]
        await turn_context.send_activity(
            f"You ended the chat with {tenant.name}. Send a message any time to start a new one."
        )
        session.metadata["Session.Status.Resolution"] = "ended by guest"
        session.end(SessionState.ENDED)

    async def _session_for(self, turn_context: TurnContext) -> Session:
        """The chat's active session, or a new one at the front door."""
        activity: Activity = turn_context.activity
        bound = await self.store.bound_session(activity.conversation.id)
        if bound is not None and bound.is_active:
            return bound
        front_door = self.directory.front_door
        session = Session.open(
            conversation_id=activity.conversation.id,
            tenant_id=front_door.id,
            tenant_name=front_door.name,
            metadata={
                **guest_metadata(activity, is_new=bound is None),
                **await member_metadata(turn_context),
            },
        )
        reference = TurnContext.get_conversation_reference(activity).serialize()
        await self.store.start_session(session, reference)
        log.info("session %s opened at the front door %s", session.id, front_door.id)
        return session


_ACTION_OK = {
    "statusCode": 200,
    "type": "application/vnd.microsoft.activity.message",
    "value": "OK",
}
_ACTION_ERROR = {
    "statusCode": 400,
    "type": "application/vnd.microsoft.error",
    "value": {"code": "BadRequest", "message": "Expected an Action.Execute with data"},
}


def _invoke_ok() -> Activity:
    return Activity(
        type=ActivityTypes.invoke_response, value=InvokeResponse(status=200, body=_ACTION_OK)
    )


def _recorder(
    turn: Turn,
) -> Callable[[TurnContext, list[Activity], Callable[[], Awaitable[None]]], Awaitable[None]]:
    """An outbound hook appending every message the bot sends to the current session.

    The SDK runs the actual send only after every hook returned, so entries are recorded
    before it; a send that fails fails the turn, and the session is not saved.
    """

    async def record(
        context: TurnContext, activities: list[Activity], send: Callable[[], Awaitable[None]]
    ) -> None:
        for activity in activities:
            if activity.type != ActivityTypes.message:
                continue
            turn.session.record(
                TranscriptEntry(
                    Direction.OUT,
                    utc_now(),
                    text=activity.text,
                    attachments=tuple(
                        {"contentType": a.content_type, "content": a.content}
                        for a in activity.attachments or []
                    ),
                )
            )
        await send()

    return record
