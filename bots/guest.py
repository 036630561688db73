"""`Guest.*` metadata from a Teams activity (Chime's key names)."""

from __future__ import annotations

import logging
from typing import Any

from botbuilder.core import TurnContext
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


async def member_metadata(turn_context: TurnContext) -> dict[str, Any]:
    """What Teams' member look-up adds (given name, surname, email, UPN); empty if it fails.

    A failed look-up (Teams down, a permission missing, another channel) degrades to what the
    activity carries: it never breaks the chat.
    """
    activity = turn_context.activity
    if activity.channel_id != Channels.ms_teams or activity.from_property is None:
        return {}
    try:
        member = await TeamsInfo.get_member(turn_context, activity.from_property.id)
    except Exception as error:
        log.warning(
            "Teams member look-up failed (%s); using the activity's data", type(error).__name__
        )
        return {}
    facts = {
        "Guest.Name": member.name,
        "Guest.GivenName": member.given_name,
        "Guest.Surname": member.surname,
        "Guest.Email": member.email,
        "Guest.UserPrincipalName": member.user_principal_name,
        "Guest.AadObjectId": member.aad_object_id,
        "Guest.TenantId": member.tenant_id,
    }
    return {key: value for key, value in facts.items() if value}
