"""Sending to a chat without an inbound activity: through its stored conversation reference.

The runtime runs such a turn (a timer, an admin's command, an agent's action in another chat)
like any other; its replies go out with the SDK's `continue_conversation`, as new messages in
the chat the reference names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botbuilder.core import BotAdapter, CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ConversationReference

from errors import CrossdeskError
from pipeline.stages import Reply


def activities_of(replies: Sequence[Reply]) -> list[Activity]:
    """The Bot Framework messages for `replies`: text, an Adaptive Card, or both."""
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
    return activities


class ProactiveChannel:
    """The runtime's `Channel` for a turn Crossdesk starts itself."""

    def __init__(self, adapter: BotAdapter, app_id: str) -> None:
        self._adapter = adapter
        self._app_id = app_id

    def facts(self) -> Mapping[str, Any]:
        return {}

    async def profile(self) -> Mapping[str, Any]:
        return {}

    def reference(self) -> Mapping[str, Any] | None:
        return None

    async def send(self, reference: Mapping[str, Any] | None, replies: Sequence[Reply]) -> None:
        activities = activities_of(replies)
        if not activities:
            return
        if reference is None:
            raise CrossdeskError("no conversation reference is stored for this chat")
        conversation = ConversationReference().deserialize(dict(reference))

        async def deliver(context: TurnContext) -> None:
            # The SDK gives the continuation a made-up activity id and would send every
            # message as a reply to it; without one they are new messages in the chat.
            context.activity.id = None
            await context.send_activities(activities)

        # With auth on, the SDK needs the bot's app id to mint the outbound token.
        await self._adapter.continue_conversation(conversation, deliver, bot_app_id=self._app_id)
