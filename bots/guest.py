"""`Guest.*` metadata from a Teams activity (Chime's key names)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity
from botframework.connector import Channels

log = logging.getLogger(__name__)


def directory_tenant_id(activity: Activity) -> str | None:
    """The Microsoft Entra tenant of the chat: `channelData.tenant.id` (botbuilder-schema drops
    `conversation.tenantId`)."""
    channel_data = activity.channel_data
    if isinstance(channel_data, dict):
        tenant = channel_data.get("tenant")
        if isinstance(tenant, dict) and isinstance(tenant.get("id"), str):
            return str(tenant["id"])
    return None


def _client_info(activity: Activity, field: str) -> str | None:
    for entity in activity.entities or []:
        props = entity.additional_properties or {}
        if entity.type == "clientInfo" and isinstance(props.get(field), str):
            return str(props[field])
    return None


def guest_metadata(activity: Activity, *, is_new: bool | None = None) -> dict[str, Any]:
    """What the activity tells about the guest; absent facts are left out, not blanked."""
    sender = activity.from_property
    facts: dict[str, Any] = {
        "Guest.Id": sender.id if sender else None,
        "Guest.Name": sender.name if sender else None,
        "Guest.AadObjectId": sender.aad_object_id if sender else None,
        "Guest.ChannelId": activity.channel_id,
        "Guest.TenantId": directory_tenant_id(activity),
        "Guest.Locale": activity.locale,
        "Guest.Timezone": _client_info(activity, "timezone"),
        "Guest.Platform": _client_info(activity, "platform"),
        "Guest.IsNew": is_new,
    }
    return {key: value for key, value in facts.items() if value is not None}


#: Facts of a member, as Teams' look-up answers them (JSON key) and as Crossdesk keeps them.
_MEMBER_FACTS = {
    "name": "Guest.Name",
    "givenName": "Guest.GivenName",
    "surname": "Guest.Surname",
    "email": "Guest.Email",
    "userPrincipalName": "Guest.UserPrincipalName",
    "aadObjectId": "Guest.AadObjectId",
    "tenantId": "Guest.TenantId",
}


class MemberLookup:
    """Teams' member look-up, one direct call per guest, remembered for `seconds`.

    A chat's first turn asks Teams who the guest is (given name, surname, email, UPN). The
    answer is kept per (directory tenant, user id), for at most `size` guests (the least
    recently asked for go first) and `seconds` (a renamed guest is seen within that), so a
    guest who comes back is not looked up again; a look-up that fails is not kept. In a 1:1
    chat the call is the Bot Connector's GET of the member, on the kept client of the chat's
    service URL, read as JSON (`member_json`); elsewhere (a team's channel) it is
    `TeamsInfo.get_member`.
    """

    def __init__(
        self,
        *,
        size: int = 4096,
        seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.seconds = seconds
        self._clock = clock
        self._known: OrderedDict[tuple[str | None, str], tuple[float, dict[str, Any]]] = (
            OrderedDict()
        )

    async def facts(self, turn_context: TurnContext) -> dict[str, Any]:
        """What the member look-up adds (given name, surname, email, UPN); empty if it fails.

        A failed look-up (Teams down, a permission missing, another channel) degrades to what
        the activity carries: it never breaks the chat.
        """
        activity = turn_context.activity
        sender = activity.from_property
        if activity.channel_id != Channels.ms_teams or sender is None or not sender.id:
            return {}
        key = (directory_tenant_id(activity), str(sender.id))
        now = self._clock()
        known = self._known.get(key)
        if known is not None and known[0] > now:
            self._known.move_to_end(key)
            return dict(known[1])
        try:
            member = await _member(turn_context, str(sender.id))
        except Exception as error:
            log.warning(
                "Teams member look-up failed (%s); using the activity's data", type(error).__name__
            )
            return {}
        facts = {
            fact: value
            for key_, fact in _MEMBER_FACTS.items()
            if isinstance(value := member.get(key_), str) and value
        }
        self._known[key] = (now + self.seconds, facts)
        self._known.move_to_end(key)
        while len(self._known) > self.size:
            self._known.popitem(last=False)
        return dict(facts)


async def _member(turn_context: TurnContext, member_id: str) -> dict[str, Any]:
    """The member as JSON: straight from the Bot Connector in a chat outside a team, else
    through `TeamsInfo`."""
    client = turn_context.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
    conversations = getattr(client, "conversations", None)
    if TeamsInfo.get_team_id(turn_context) or not hasattr(conversations, "member_json"):
        member = await TeamsInfo.get_member(turn_context, member_id)
        return cast(dict[str, Any], member.serialize())
    conversation = turn_context.activity.conversation
    answer = await conversations.member_json(conversation.id, member_id)  # type: ignore[union-attr]
    return answer if isinstance(answer, dict) else {}
