"""The Teams activity handler: what Teams sends, as events for the runtime.

A turn reads: is the sender's directory tenant allowed → which event is it (a message, a card
click, the chat shown) → `Runtime.run_turn` with a channel that knows the guest and the chat
from the activity. Everything else, de-duplication and sending the replies included, is the
runtime's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from botbuilder.core import InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity, ActivityTypes

from agents.model import Agent
from bots.agent_console import AgentConsole
from bots.edge.wire import reference_json
from bots.guest import MemberLookup, directory_tenant_id, guest_metadata
from dialogs import ChatOpened, Event, GuestMessage, Runtime

log = logging.getLogger(__name__)

#: Activities that change a chat, each run at most once (Teams re-delivers them).
_EXACTLY_ONCE = {
    ActivityTypes.message,
    ActivityTypes.invoke,
    ActivityTypes.conversation_update,
    ActivityTypes.installation_update,
}


class TeamsChannel:
    """The runtime's `Channel` for a turn Teams started: the guest and the chat as the
    activity tells them."""

    def __init__(self, turn_context: TurnContext, members: MemberLookup) -> None:
        self._context = turn_context
        self._members = members

    def facts(self) -> Mapping[str, Any]:
        return guest_metadata(self._context.activity)

    async def profile(self) -> Mapping[str, Any]:
        return await self._members.facts(self._context)

    def reference(self) -> Mapping[str, Any] | None:
        return reference_json(self._context.activity)

    def reply_to(self) -> str | None:
        activity_id: str | None = self._context.activity.id
        return activity_id


class CrossdeskBot(TeamsActivityHandler):
    """Feeds Teams messages, card clicks and installs to the runtime."""

    def __init__(
        self, runtime: Runtime, *, allowed_directory_tenants: frozenset[str] = frozenset()
    ) -> None:
        self.runtime = runtime
        self.allowed_directory_tenants = allowed_directory_tenants
        self.console = AgentConsole(runtime)
        self.members = MemberLookup()

    async def on_turn(self, turn_context: TurnContext) -> None:
        if self.allowed_directory_tenants and (
            directory_tenant_id(turn_context.activity) not in self.allowed_directory_tenants
        ):
            log.warning("activity from a directory tenant that is not allowed ignored")
            return
        agent = await self._agent(turn_context)
        if agent is not None:
            await self._agent_turn(turn_context, agent)
            return
        await super().on_turn(turn_context)

    # an agent's own chat

    async def _agent(self, turn_context: TurnContext) -> Agent | None:
        """The configured agent who wrote, in their personal chat with the bot: by Entra object
        id, or for agents configured by sign-in name only, by the name Teams' member look-up
        gives (the guests' look-up, remembered for an hour)."""
        activity = turn_context.activity
        sender, agents = activity.from_property, self.runtime.config.agents
        if sender is None or not agents.by_id:
            return None
        conversation = activity.conversation
        if conversation is not None and conversation.conversation_type not in (None, "personal"):
            return None
        agent = agents.identify(sender.aad_object_id)
        if agent is not None or not agents.by_upn or not sender.id:
            return agent
        member = await self.members.facts(turn_context)
        upn = member.get("Guest.UserPrincipalName")
        return agents.identify(None, upn) if isinstance(upn, str) else None

    async def _agent_turn(self, turn_context: TurnContext, agent: Agent) -> None:
        activity = turn_context.activity
        event_id = activity.id if activity.type in _EXACTLY_ONCE and activity.id else None
        reference = reference_json(activity)
        match activity.type:
            case ActivityTypes.message:
                value = activity.value if isinstance(activity.value, dict) else None
                await self.console.message(agent, reference, event_id, activity.text, value)
            case ActivityTypes.invoke if activity.name == "adaptiveCard/action":
                invoked: dict[str, Any] = activity.value if isinstance(activity.value, dict) else {}
                action = invoked.get("action")
                data = action.get("data") if isinstance(action, dict) else None
                await self.console.message(
                    agent, reference, event_id, None, data if isinstance(data, dict) else {}
                )
                await turn_context.send_activity(
                    Activity(
                        type=ActivityTypes.invoke_response,
                        value=InvokeResponse(status=200, body=_ACTION_OK),
                    )
                )
            case ActivityTypes.conversation_update if activity.members_added:
                await self.console.opened(agent, reference, event_id)
            case ActivityTypes.installation_update if activity.action in (None, "add"):
                await self.console.opened(agent, reference, event_id)
            case _:
                pass

    # what Teams sends

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else None
        await self._run(turn_context, GuestMessage(text=activity.text, value=value))

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        # The SDK's Teams handler looks every added member up with TeamsInfo.get_member and
        # fails the turn when that call fails; starting a chat needs no look-up.
        if turn_context.activity.members_added:
            await self._run(turn_context, ChatOpened())

    async def on_installation_update_add(self, turn_context: TurnContext) -> None:
        await self._run(turn_context, ChatOpened(reinstalled=True))

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
        await self._run(turn_context, GuestMessage(value=data if isinstance(data, dict) else {}))
        return InvokeResponse(status=200, body=_ACTION_OK)

    async def _run(self, turn_context: TurnContext, event: Event) -> None:
        activity: Activity = turn_context.activity
        event_id = activity.id if activity.type in _EXACTLY_ONCE and activity.id else None
        await self.runtime.run_turn(
            activity.conversation.id,
            event,
            event_id=event_id,
            channel=TeamsChannel(turn_context, self.members),
        )


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
